"""Image quality measures."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from napari_gan.data.degradation import crop_to_multiple, resize_array


def data_range(image: np.ndarray) -> float:
    """Return the range PSNR and SSIM are computed over: 255 for uint8, the data's own range otherwise."""
    if image.dtype == np.uint8:
        return 255.0
    return float(image.max()) - float(image.min()) or 1.0


def psnr(reference: np.ndarray, test: np.ndarray) -> float:
    """Return the peak signal-to-noise ratio of ``test`` against ``reference`` in dB."""
    return float(peak_signal_noise_ratio(reference.astype(np.float64), test.astype(np.float64), data_range=data_range(reference)))


def ssim(reference: np.ndarray, test: np.ndarray) -> float:
    """Return the structural similarity of ``test`` against ``reference``; colour images average their channels."""
    channel_axis = -1 if reference.ndim == 3 else None
    return float(
        structural_similarity(
            reference.astype(np.float64),
            test.astype(np.float64),
            data_range=data_range(reference),
            channel_axis=channel_axis,
        )
    )


@dataclass(frozen=True)
class SuperResolutionScore:
    """PSNR (dB) and SSIM of a generator and of bicubic upscaling against the original image."""

    psnr: float
    ssim: float
    bicubic_psnr: float
    bicubic_ssim: float


def score_superresolution(generator, original: np.ndarray, **apply_options) -> SuperResolutionScore:
    """Measure ``generator`` the standard way on a 2D or ``(H, W, C)`` image.

    The original is cropped to a multiple of the scale, down-scaled with antialiased bicubic
    interpolation, then upscaled back by the generator and by bicubic interpolation; both are
    compared with the original.
    """
    scale = generator.scale
    original = crop_to_multiple(original, scale)
    low = resize_array(original, 1 / scale)
    restored = generator.apply(low, rgb=original.ndim == 3, **apply_options)
    bicubic = resize_array(low, scale)
    return SuperResolutionScore(psnr(original, restored), ssim(original, restored), psnr(original, bicubic), ssim(original, bicubic))
