"""napari-gan: generative adversarial networks for napari users.

The engine (``archs``, ``weights``, ``data``, ``inference``) imports neither napari nor Qt,
so the same code runs in the viewer, on the command line and in scripts::

    import napari_gan
    generator = napari_gan.load_generator("superres-x2")
    sharper = generator.apply(image)
"""

from importlib.metadata import PackageNotFoundError, version

from napari_gan.errors import NapariGanError
from napari_gan.generator import ApplyProgress, Generator, GeneratorInfo
from napari_gan.weights import list_models, load_generator

try:
    __version__ = version("napari-gan")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

__all__ = [
    "ApplyProgress",
    "Generator",
    "GeneratorInfo",
    "NapariGanError",
    "__version__",
    "list_models",
    "load_generator",
]
