"""Reading and writing image files for the command line and scripts."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from napari_gan.errors import NapariGanError
from napari_gan.weights.native import atomic_write

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".npy")


def _check_suffix(path: Path, role: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise NapariGanError(
            f"{role} {str(path)!r} has unsupported extension {path.suffix or '(none)'!r}; use one of {', '.join(IMAGE_SUFFIXES)}"
        )
    return suffix


def read_image(path: str | Path) -> np.ndarray:
    """Read a .png, .jpg, .tif/.tiff or .npy image as a numpy array in its stored dtype.

    TIFF files keep all their pages and axes, so stacks read as ``(Z, H, W)`` and similar.
    """
    path = Path(path)
    suffix = _check_suffix(path, "input")
    if not path.is_file():
        raise NapariGanError(f"input image {str(path)!r} not found; check the path")
    try:
        if suffix in (".tif", ".tiff"):
            import tifffile

            return tifffile.imread(path)
        if suffix == ".npy":
            return np.load(path, allow_pickle=False)
        import imageio.v3 as iio

        return np.asarray(iio.imread(path))
    except Exception as error:  # the readers raise many types for damaged files
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise NapariGanError(
            f"cannot read image {str(path)!r}: {reason}; the file may be truncated or not a {suffix} image"
        ) from None


def check_output_path(output: str | Path, inputs: tuple[str | Path, ...] = ()) -> Path:
    """Raise ``NapariGanError`` unless ``output`` can be written without touching any of ``inputs``."""
    output = Path(output)
    _check_suffix(output, "output")
    if not output.parent.is_dir():
        raise NapariGanError(f"output folder {str(output.parent)!r} does not exist; create it or pick another output path")
    for source in inputs:
        if output.exists() and Path(source).exists() and output.resolve() == Path(source).resolve():
            raise NapariGanError(f"output {str(output)!r} is the input file; pick another output path so the input is kept")
    return output


def write_image(path: str | Path, image: np.ndarray) -> Path:
    """Write ``image`` to ``path`` in its dtype, through a temporary file so no partial file is left.

    JPEG stores 8-bit values only, and PNG 8- or 16-bit unsigned integers; other dtypes need
    .tif or .npy, and the error message names them.
    """
    path = check_output_path(path)
    suffix = path.suffix.lower()
    if suffix in (".jpg", ".jpeg") and image.dtype != np.uint8:
        raise NapariGanError(f"JPEG stores 8-bit images only, but the result is {image.dtype}; write .tif, .png or .npy")
    if suffix == ".png" and image.dtype not in (np.uint8, np.uint16):
        raise NapariGanError(f"PNG stores 8- or 16-bit unsigned integers only, but the result is {image.dtype}; write .tif or .npy")
    is_colour = image.ndim == 3 and image.shape[-1] in (3, 4)
    if suffix in (".png", ".jpg", ".jpeg") and not (image.ndim == 2 or is_colour):
        raise NapariGanError(f"{suffix} stores one 2D image, but the result has shape {image.shape}; write .tif or .npy")
    if suffix in (".jpg", ".jpeg") and is_colour and image.shape[-1] == 4:
        raise NapariGanError("JPEG has no alpha channel, but the result is RGBA; write .png or .tif")

    def write(temporary: str) -> None:
        if suffix in (".tif", ".tiff"):
            import tifffile

            # Only a last axis of 3 or 4 is colour; (3, H, W) is a stack of three planes.
            colour = image.ndim >= 3 and image.shape[-1] in (3, 4)
            tifffile.imwrite(temporary, image, photometric="rgb" if colour else "minisblack")
        elif suffix == ".npy":
            with open(temporary, "wb") as stream:
                np.save(stream, image, allow_pickle=False)
        else:
            import imageio.v3 as iio

            iio.imwrite(temporary, image, extension=suffix)

    try:
        atomic_write(path, write)
    except OSError as error:
        raise NapariGanError(f"cannot write {str(path)!r}: {error.strerror or error}; check the folder's permissions and free space") from None
    return path
