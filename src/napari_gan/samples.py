"""Real sample images for each task, made from images that scikit-image ships."""

from __future__ import annotations

import numpy as np
import skimage.data

from napari_gan.data.degradation import resize_array


def to_uint16_camera_range(image: np.ndarray) -> np.ndarray:
    """Return a grayscale ``image`` as uint16 spanning 100-4000, as a 12-bit microscope camera writes it."""
    values = image.astype(np.float64)
    values = (values - values.min()) / max(float(values.max() - values.min()), 1e-12)
    return np.round(100 + values * 3900).astype(np.uint16)


def astronaut_lowres() -> np.ndarray:
    """Return scikit-image's astronaut photograph down-scaled x4 to 128x128 RGB uint8."""
    return resize_array(skimage.data.astronaut(), 1 / 4)


def cells_lowres_uint16() -> np.ndarray:
    """Return scikit-image's microscopy ``cell`` image as 16-bit, down-scaled x2 to 330x275."""
    return resize_array(to_uint16_camera_range(skimage.data.cell()), 1 / 2)


def retina_lowres() -> np.ndarray:
    """Return scikit-image's retina fundus photograph down-scaled x4 to 352x352 RGB uint8."""
    return resize_array(skimage.data.retina(), 1 / 4)


SUPERRES_SAMPLES = {
    "astronaut (x4 down-scaled)": astronaut_lowres,
    "cells 16-bit (x2 down-scaled)": cells_lowres_uint16,
    "retina (x4 down-scaled)": retina_lowres,
}


LFW_FACE_COUNT = 100
"""``skimage.data.lfw_subset()`` holds 100 faces followed by 100 images that are not faces."""


def lfw_faces() -> np.ndarray:
    """Return the 100 faces of scikit-image's ``lfw_subset`` as a uint8 stack ``(100, 25, 25)``.

    The float values in [0, 1] map to 0-255 by rounding ``x * 255``.
    """
    faces = skimage.data.lfw_subset()[:LFW_FACE_COUNT]
    return np.round(faces * 255).astype(np.uint8)
