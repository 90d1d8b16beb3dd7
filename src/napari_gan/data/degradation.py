"""Low-resolution images made from high-resolution ones."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def bicubic_resize(batch: torch.Tensor, scale: float) -> torch.Tensor:
    """Resize a float tensor ``(B, C, H, W)`` by ``scale`` with bicubic interpolation.

    Down-scaling is antialiased (the filter is widened by the factor, as MATLAB's ``imresize``
    and Pillow do), which is how super-resolution benchmarks make their low-resolution inputs.
    """
    return F.interpolate(batch, scale_factor=scale, mode="bicubic", align_corners=False, antialias=scale < 1)


def resize_array(image: np.ndarray, scale: float) -> np.ndarray:
    """Resize a 2D ``(H, W)`` or colour ``(H, W, C)`` image with :func:`bicubic_resize`, keeping its dtype.

    Integer results are rounded and clipped to the type's limits.
    """
    from napari_gan.data.ranges import restore_dtype

    planar = image[..., None] if image.ndim == 2 else image
    batch = torch.from_numpy(np.ascontiguousarray(planar.transpose(2, 0, 1), dtype=np.float32))[None]
    resized = bicubic_resize(batch, scale)[0].permute(1, 2, 0).numpy().astype(np.float64)
    if image.ndim == 2:
        resized = resized[..., 0]
    return restore_dtype(resized, image.dtype)


def crop_to_multiple(image: np.ndarray, multiple: int) -> np.ndarray:
    """Crop the bottom and right edges of ``image`` so that height and width divide by ``multiple``."""
    height, width = image.shape[0], image.shape[1]
    return image[: height - height % multiple, : width - width % multiple]
