import sys

from napari_gan.cli import main

sys.exit(main())
