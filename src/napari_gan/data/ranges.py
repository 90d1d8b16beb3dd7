"""Value ranges and dtypes: user arrays to floats in [0, 1] and back."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from napari_gan.errors import NapariGanError


@dataclass(frozen=True)
class ValueRange:
    """The interval ``[low, high]`` of input values that maps to ``[0, 1]`` for a network."""

    low: float
    high: float

    @property
    def width(self) -> float:
        # A constant image maps to 0 rather than dividing by zero.
        return self.high - self.low if self.high > self.low else 1.0

    def normalise(self, values: np.ndarray) -> np.ndarray:
        """Map ``values`` to float32 so that ``low`` becomes 0 and ``high`` becomes 1."""
        normalised = np.array(values, dtype=np.float32)  # a copy, so the operations below can work in place
        normalised -= np.float32(self.low)
        normalised /= np.float32(self.width)
        return normalised

    def denormalise(self, values: np.ndarray) -> np.ndarray:
        """Map floats in ``[0, 1]`` back to ``[low, high]`` as float64."""
        return np.asarray(values, dtype=np.float64) * self.width + self.low


def _is_dask(array: object) -> bool:
    return type(array).__module__.split(".")[0] == "dask"


def check_image(array: object, name: str = "image") -> None:
    """Raise ``NapariGanError`` unless ``array`` is a non-empty numeric image of at least 2x2 pixels.

    ``name`` is used in the message, for example ``"layer 'cells'"``.
    """
    shape = tuple(getattr(array, "shape", ()))
    dtype = getattr(array, "dtype", None)
    if dtype is None or len(shape) < 2:
        raise NapariGanError(f"{name} has shape {shape}: it needs at least two dimensions (height, width)")
    if 0 in shape:
        raise NapariGanError(f"{name} has shape {shape}: it is empty; pick an image with data")
    if np.dtype(dtype).kind not in "uif":
        raise NapariGanError(
            f"{name} has dtype {np.dtype(dtype)}: expected integers or floats; convert it with astype(np.float32)"
        )


def measure_range(array: object, name: str = "image") -> ValueRange:
    """Return the value range that normalises ``array``; one pass over the data, read chunk by chunk for dask.

    uint8 images use the full type range 0-255. Every other dtype uses the data's own minimum
    and maximum, so that a 12-bit camera image in a uint16 array, or floats in any units, use
    the network's whole input range.

    Raises
    ------
    NapariGanError
        If the array contains NaN or infinite values.
    """
    if np.dtype(array.dtype) == np.uint8:  # type: ignore[attr-defined]
        return ValueRange(0.0, 255.0)
    if _is_dask(array):
        import dask

        low, high = dask.compute(array.min(), array.max())  # type: ignore[attr-defined]
    else:
        values = np.asarray(array)
        low, high = values.min(), values.max()
    low, high = float(low), float(high)
    if not (np.isfinite(low) and np.isfinite(high)):
        raise NapariGanError(
            f"{name} contains NaN or infinite values; replace them first, for example with numpy.nan_to_num"
        )
    return ValueRange(low, high)


def restore_dtype(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Cast float ``values`` to ``dtype``, rounding and clipping to its limits for integer types."""
    dtype = np.dtype(dtype)
    if dtype.kind in "ui":
        limits = np.iinfo(dtype)
        return np.clip(np.rint(values), limits.min, limits.max).astype(dtype)
    return values.astype(dtype)
