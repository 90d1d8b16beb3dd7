"""The napari face of napari-gan: dock widgets, workers and sample data.

This package is the only one that imports napari, Qt or magicgui.
"""

import importlib.util
import os
import sys


def _load_triton_with_own_symbols() -> None:
    """Import triton with ``RTLD_DEEPBIND`` so its bundled LLVM does not clash with Mesa's.

    torch's optimisers import triton when it is installed. Where Mesa's OpenGL driver has
    already loaded its own libLLVM into napari's process (llvmpipe, radeonsi), loading triton
    with default symbol binding segfaults (seen with torch 2.14.1, triton 3.8, Mesa's
    libLLVM-15 under Xvfb). Binding triton's symbols to its own library avoids that.
    """
    if "triton" in sys.modules or not hasattr(os, "RTLD_DEEPBIND"):
        return
    if importlib.util.find_spec("triton") is None:
        return
    flags = sys.getdlopenflags()
    sys.setdlopenflags(flags | os.RTLD_DEEPBIND)
    try:
        import triton  # noqa: F401
    except Exception:  # noqa: BLE001, a broken triton only matters to torch.compile, which napari-gan does not use
        pass
    finally:
        sys.setdlopenflags(flags)


_load_triton_with_own_symbols()
