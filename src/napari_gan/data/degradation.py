"""Low-resolution images made from high-resolution ones.

The ``"realistic"`` and ``"second_order"`` degradations of :func:`degrade` follow Wang et al.,
"Real-ESRGAN: Training Real-World Blind Super-Resolution with Pure Synthetic Data", ICCVW 2021.
Their ranges are those of Real-ESRGAN's ``options/train_realesrgan_x4plus.yml`` and
``train_realesrgan_x2plus.yml``, which use the same values for both scales.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from napari_gan.errors import NapariGanError


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


DEGRADATIONS = ("bicubic", "realistic", "second_order")

# Odd Gaussian kernel sizes 7, 9, ..., 21, as Real-ESRGAN's dataset draws them.
BLUR_KERNEL_SIZES = tuple(range(7, 22, 2))
# Real-ESRGAN draws isotropic kernels with probability 0.45 and anisotropic ones with 0.25. The
# generalised and plateau kernels that make up the rest are not used here, so the two are renormalised.
ISOTROPIC_KERNEL_PROBABILITY = 0.45 / (0.45 + 0.25)
# Area averages, bilinear keeps the aliasing of PyTorch's plain resize as in Real-ESRGAN, and bicubic
# is antialiased like bicubic_resize, so the generator learns from both aliased and clean down-scaling.
RESIZE_MODES = ("area", "bilinear", "bicubic")
# Real-ESRGAN adds Gaussian noise with probability 0.5 and Poisson noise otherwise.
GAUSSIAN_NOISE_PROBABILITY = 0.5
# Real-ESRGAN's probability that colour images get the same noise in every channel.
GRAY_NOISE_PROBABILITY = 0.4
# Levels of 8-bit images, which the JPEG step and most camera files use.
QUANTISATION_LEVELS = 255


@dataclass(frozen=True)
class DegradationStage:
    """Random ranges of one blur, resize, noise and JPEG stage, each range as ``(low, high)``."""

    blur_probability: float
    """Probability that the stage blurs at all."""
    blur_sigma: tuple[float, float]
    """Standard deviations of the Gaussian kernel along its two axes, in input pixels."""
    noise_sigma: tuple[float, float]
    """Standard deviation of the additive Gaussian noise on the 0-255 scale."""
    poisson_scale: tuple[float, float]
    """Factor on Poisson noise whose full-scale photon count is the image's number of 8-bit levels."""
    jpeg_quality: tuple[int, int]
    """JPEG quality, both ends included."""


# Real-ESRGAN's first stage, from its options blur_sigma, noise_range, poisson_scale_range and jpeg_range.
FIRST_STAGE = DegradationStage(
    blur_probability=1.0,
    blur_sigma=(0.2, 3.0),
    noise_sigma=(1.0, 30.0),
    poisson_scale=(0.05, 3.0),
    jpeg_quality=(30, 95),
)
# Real-ESRGAN's milder second stage, from its options second_blur_prob, blur_sigma2, noise_range2,
# poisson_scale_range2 and jpeg_range2.
SECOND_STAGE = DegradationStage(
    blur_probability=0.8,
    blur_sigma=(0.2, 1.5),
    noise_sigma=(1.0, 25.0),
    poisson_scale=(0.05, 2.5),
    jpeg_quality=(30, 95),
)


def degrade(high: torch.Tensor, scale: int, kind: str, rng: torch.Generator) -> torch.Tensor:
    """Make the low-resolution training input for each high-resolution image of a batch.

    Parameters
    ----------
    high : torch.Tensor
        float32 CPU batch ``(B, C, H, W)`` in [0, 1], with ``C`` 1 or 3 and ``H`` and ``W``
        divisible by ``scale``.
    scale : int
        Integer down-scaling factor, at least 1.
    kind : str
        One of :data:`DEGRADATIONS`:

        - ``"bicubic"``: :func:`bicubic_resize` by ``1 / scale``, then rounded to 8-bit levels.
          ``rng`` is not used.
        - ``"realistic"``: the first-order chain of Real-ESRGAN with parameters drawn per image:
          a random Gaussian blur (isotropic or rotated anisotropic), a resize to the
          low-resolution size with a random mode, Gaussian or Poisson noise, then JPEG compression.
        - ``"second_order"``: that chain twice. The first stage ends at a random size between the
          high and the low resolution. The second stage is milder, blurs with probability 0.8 and
          ends at the low-resolution size.
    rng : torch.Generator
        CPU generator; every random draw comes from it, so the same state gives the same output.

    Returns
    -------
    torch.Tensor
        float32 batch ``(B, C, H // scale, W // scale)`` in [0, 1], rounded to 8-bit levels.

    Raises
    ------
    NapariGanError
        If ``kind`` is unknown; the message lists the valid kinds.
    ValueError
        If ``high`` or ``scale`` break the contract above.

    Notes
    -----
    Real-ESRGAN also uses generalised and plateau Gaussian kernels and sinc filters, resizes its
    first stage up or down by 0.15 to 1.5 and sharpens the ground truth with an unsharp mask.
    These steps are left out here. JPEG qualities are whole numbers because
    :func:`torchvision.io.encode_jpeg` takes an integer.
    """
    if kind not in DEGRADATIONS:
        raise NapariGanError(f"unknown degradation {kind!r}; valid kinds: {', '.join(DEGRADATIONS)}")
    _check_high_batch(high, scale)
    height, width = high.shape[-2:]
    low_size = (height // scale, width // scale)

    if kind == "bicubic":
        low = _quantise(bicubic_resize(high, 1 / scale))
    else:
        samples = []
        for image in high.split(1):
            if kind == "second_order":
                middle_size = _random_size_between(low_size, (height, width), rng)
                image = _degradation_stage(image, middle_size, FIRST_STAGE, rng)
                image = _degradation_stage(image, low_size, SECOND_STAGE, rng)
            else:
                image = _degradation_stage(image, low_size, FIRST_STAGE, rng)
            samples.append(image)
        low = torch.cat(samples)

    if tuple(low.shape[-2:]) != low_size:
        raise RuntimeError(f"degradation {kind!r} made size {tuple(low.shape[-2:])} instead of {low_size}")
    return low


def _check_high_batch(high: torch.Tensor, scale: int) -> None:
    if not isinstance(scale, int) or scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale!r}")
    if high.ndim != 4 or high.shape[1] not in (1, 3):
        raise ValueError(f"expected a batch (B, C, H, W) with C = 1 or 3, got shape {tuple(high.shape)}")
    if high.dtype != torch.float32 or high.device.type != "cpu":
        raise ValueError(f"expected a float32 CPU tensor, got {high.dtype} on {high.device}")
    height, width = high.shape[-2:]
    if height % scale or width % scale:
        raise ValueError(f"height and width ({height}, {width}) must be divisible by the scale {scale}")


def _quantise(batch: torch.Tensor) -> torch.Tensor:
    """Clip to [0, 1] and round to 8-bit levels."""
    return torch.round(batch.clamp(0, 1) * QUANTISATION_LEVELS) / QUANTISATION_LEVELS


def _uniform(rng: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=rng))


def _randint(rng: torch.Generator, low: int, high: int) -> int:
    """Draw an integer from ``low`` to ``high``, both included."""
    return int(torch.randint(low, high + 1, (), generator=rng))


def _random_size_between(
    low_size: tuple[int, int], high_size: tuple[int, int], rng: torch.Generator
) -> tuple[int, int]:
    """Draw one factor between the two resolutions and apply it to both axes, keeping the aspect ratio."""
    factor = _uniform(rng, low_size[0] / high_size[0], 1.0)
    return tuple(min(high, max(low, round(high * factor))) for low, high in zip(low_size, high_size))


def _degradation_stage(
    image: torch.Tensor, size: tuple[int, int], stage: DegradationStage, rng: torch.Generator
) -> torch.Tensor:
    """Blur, resize to ``size``, add noise and JPEG-compress one image ``(1, C, h, w)`` in [0, 1]."""
    if _uniform(rng, 0.0, 1.0) < stage.blur_probability:
        image = _blur(image, _random_gaussian_kernel(stage.blur_sigma, rng))
    image = _random_resize(image, size, rng)
    image = _add_random_noise(image, stage, rng)
    return _jpeg_compress(image, _randint(rng, *stage.jpeg_quality))


def _random_gaussian_kernel(sigma_range: tuple[float, float], rng: torch.Generator) -> torch.Tensor:
    """Draw a normalised Gaussian kernel ``(k, k)``, isotropic or anisotropic with a random rotation."""
    size = BLUR_KERNEL_SIZES[_randint(rng, 0, len(BLUR_KERNEL_SIZES) - 1)]
    sigma_x = _uniform(rng, *sigma_range)
    if _uniform(rng, 0.0, 1.0) < ISOTROPIC_KERNEL_PROBABILITY:
        sigma_y, angle = sigma_x, 0.0
    else:
        sigma_y = _uniform(rng, *sigma_range)
        angle = _uniform(rng, -math.pi, math.pi)

    radius = size // 2
    axis = torch.arange(-radius, radius + 1, dtype=torch.float64)
    y, x = torch.meshgrid(axis, axis, indexing="ij")
    # Coordinates along the kernel's principal axes, which are rotated by ``angle``.
    u = math.cos(angle) * x + math.sin(angle) * y
    v = -math.sin(angle) * x + math.cos(angle) * y
    kernel = torch.exp(-0.5 * ((u / sigma_x) ** 2 + (v / sigma_y) ** 2))
    return (kernel / kernel.sum()).float()


def _blur(image: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Convolve each channel of ``(1, C, h, w)`` with ``kernel``, reflecting at the edges.

    Reflection needs a kernel radius below the image size, so on small images the kernel is cropped
    to its centre and renormalised.
    """
    radius = kernel.shape[-1] // 2
    max_radius = min(image.shape[-2:]) - 1
    if radius > max_radius:
        kernel = kernel[radius - max_radius : radius + max_radius + 1, radius - max_radius : radius + max_radius + 1]
        kernel = kernel / kernel.sum()
        radius = max_radius
    channels = image.shape[1]
    weight = kernel.expand(channels, 1, *kernel.shape)
    padded = F.pad(image, (radius, radius, radius, radius), mode="reflect")
    return F.conv2d(padded, weight, groups=channels)


def _random_resize(image: torch.Tensor, size: tuple[int, int], rng: torch.Generator) -> torch.Tensor:
    mode = RESIZE_MODES[_randint(rng, 0, len(RESIZE_MODES) - 1)]
    if mode == "area":
        return F.interpolate(image, size=size, mode="area")
    return F.interpolate(image, size=size, mode=mode, align_corners=False, antialias=mode == "bicubic")


def _add_random_noise(image: torch.Tensor, stage: DegradationStage, rng: torch.Generator) -> torch.Tensor:
    """Add Gaussian or Poisson noise to ``(1, C, h, w)``, the same in every channel when drawn so."""
    from torchvision.transforms.v2.functional import rgb_to_grayscale

    gray = image.shape[1] == 3 and _uniform(rng, 0.0, 1.0) < GRAY_NOISE_PROBABILITY
    if _uniform(rng, 0.0, 1.0) < GAUSSIAN_NOISE_PROBABILITY:
        sigma = _uniform(rng, *stage.noise_sigma) / QUANTISATION_LEVELS
        shape = (1, 1, *image.shape[-2:]) if gray else image.shape
        noise = torch.randn(shape, generator=rng) * sigma
    else:
        noise_scale = _uniform(rng, *stage.poisson_scale)
        source = rgb_to_grayscale(image) if gray else image
        noise = _poisson_noise(source, rng) * noise_scale
    return (image + noise).clamp(0, 1)


def _poisson_noise(image: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    """Return Poisson noise for ``image`` in [0, 1], as Real-ESRGAN computes it.

    The image is rounded to 8-bit levels, and its distinct values, rounded up to a power of two,
    are the photon count of full scale. Fewer distinct values therefore give stronger noise.
    """
    quantised = _quantise(image)
    levels = 2 ** math.ceil(math.log2(torch.unique(quantised).numel()))
    return torch.poisson(quantised * levels, generator=rng) / levels - quantised


def _jpeg_compress(image: torch.Tensor, quality: int) -> torch.Tensor:
    """Encode ``(1, C, h, w)`` in [0, 1] as an 8-bit JPEG of ``quality`` and decode it again."""
    # Imported here because importing torchvision takes about a second, which every user of
    # bicubic_resize, such as the sample data, would otherwise pay.
    # NOTE: torchvision 0.29 deprecates its JPEG encoder and decoder in favour of TorchCodec, so each
    # call warns with a DeprecationWarning. A later torchvision may remove them.
    from torchvision.io import ImageReadMode, decode_jpeg, encode_jpeg

    pixels = (image[0].clamp(0, 1) * QUANTISATION_LEVELS).round().to(torch.uint8).contiguous()
    decoded = decode_jpeg(encode_jpeg(pixels, quality=quality), mode=ImageReadMode.UNCHANGED)
    return decoded[None].to(torch.float32) / QUANTISATION_LEVELS
