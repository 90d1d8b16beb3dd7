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


TEXTURE_CROP = 128
"""Edge of each texture crop in the unpaired texture sets, in pixels."""


def virtual_staining_pair() -> tuple[np.ndarray, np.ndarray]:
    """Return a hematoxylin image and the stained colour image it comes from, for pix2pix.

    The input is the hematoxylin channel of scikit-image's immunohistochemistry image (colour
    deconvolution by ``skimage.color.rgb2hed``), scaled to uint8 by its minimum and maximum,
    ``(512, 512)``. The target is the colour image, ``(512, 512, 3)`` uint8.
    """
    from skimage.color import rgb2hed

    stained = skimage.data.immunohistochemistry()
    hematoxylin = rgb2hed(stained)[..., 0]
    hematoxylin = (hematoxylin - hematoxylin.min()) / (hematoxylin.max() - hematoxylin.min())
    return np.round(hematoxylin * 255).astype(np.uint8), stained


def edges_to_photo_pair() -> tuple[np.ndarray, np.ndarray]:
    """Return Canny edges of scikit-image's astronaut photograph and the photograph, both 256x256.

    The edges are uint8 0 or 255, ``(256, 256)``; the photograph is x2 down-scaled RGB uint8.
    """
    from skimage.color import rgb2gray
    from skimage.feature import canny

    photo = resize_array(skimage.data.astronaut(), 1 / 2)
    edges = canny(rgb2gray(photo), sigma=1.5)
    return (edges * 255).astype(np.uint8), photo


def texture_sets() -> tuple[np.ndarray, np.ndarray]:
    """Return two unpaired stacks of texture crops for CycleGAN: brick and gravel.

    Each is ``(4, 128, 128)`` uint8: the four quadrant-centre crops of scikit-image's 512x512
    ``brick`` and ``gravel`` images.
    """
    starts = (64, 320)
    size = TEXTURE_CROP

    def crops(image: np.ndarray) -> np.ndarray:
        return np.stack([image[top : top + size, left : left + size] for top in starts for left in starts])

    return crops(skimage.data.brick()), crops(skimage.data.gravel())


LFW_FACE_COUNT = 100
"""``skimage.data.lfw_subset()`` contains 100 faces followed by 100 images that are not faces."""


def lfw_faces() -> np.ndarray:
    """Return the 100 faces of scikit-image's ``lfw_subset`` as a uint8 stack ``(100, 25, 25)``.

    The float values in [0, 1] map to 0-255 by rounding ``x * 255``.
    """
    faces = skimage.data.lfw_subset()[:LFW_FACE_COUNT]
    return np.round(faces * 255).astype(np.uint8)
