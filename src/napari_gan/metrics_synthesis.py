"""Measures of a synthesis generator that need no downloads, and FID with local Inception weights.

- Sliced Wasserstein distance (SWD) between 7x7 patches of the Laplacian pyramids of generated and
  real images, as Karras et al. (2018, "Progressive growing of GANs", appendix D) measure it:
  small when the generated images have the real images' local statistics at every scale.
- Diversity: the mean pairwise distance between generated images divided by that between real
  images. It is near 1 when the samples vary as much as the data, and far below 1 under mode collapse.
- The discriminator's accuracy on held-out real images and on generated images; near 0.5 on both
  when generator and discriminator are balanced.
- FID (Heusel et al., 2017) from the 2048-dimensional pool features of a torchvision Inception v3
  whose state dict the user has locally; nothing is downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from napari_gan.errors import NapariGanError

SWD_PATCH = 7
"""Edge of the pyramid patches compared by SWD, from Karras et al. (2018)."""
SWD_PATCHES_PER_IMAGE = 128
"""Patches drawn from every image at every pyramid level, from Karras et al. (2018)."""
SWD_DIRECTIONS = 512
"""Random projection directions per repeat, from Karras et al. (2018)."""
SWD_REPEATS = 4
"""Repeats of the projection, averaged, from Karras et al. (2018)."""
SWD_MIN_LEVEL = 16
"""Smallest pyramid level in pixels; Karras et al. (2018) stop at 16x16."""
SWD_SCALE = 1e3
"""SWD values are reported multiplied by 1000, as in Karras et al. (2018)."""
GAUSSIAN_TAPS = (1.0, 4.0, 6.0, 4.0, 1.0)
"""Binomial filter of the Laplacian pyramid (Burt and Adelson, 1983)."""
DIVERSITY_MAX_IMAGES = 256
"""Images per set for the pairwise distances; the mean is stable well before this many."""
INCEPTION_SIZE = 299
"""Input edge of Inception v3."""
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class SynthesisScore:
    """Measured quality of a synthesis generator against real images."""

    swd: dict[int, float]
    """SWD x 1000 per pyramid level, keyed by the level's edge in pixels."""
    diversity: float
    """Mean pairwise RMS distance of samples divided by that of the real images."""
    sample_distance: float
    real_distance: float
    """Mean pairwise RMS distances in [0, 1] intensity units."""
    n_samples: int
    n_real: int
    d_accuracy_real: float | None = None
    """Fraction of held-out real images the discriminator calls real."""
    d_accuracy_fake: float | None = None
    """Fraction of generated images the discriminator calls generated."""
    fid: float | None = None
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def swd_mean(self) -> float:
        """SWD x 1000 averaged over the pyramid levels."""
        return float(np.mean(list(self.swd.values())))

    def rows(self) -> list[tuple[str, str]]:
        """Return (metric, value) pairs for tables and the command line."""
        rows = [(f"SWD x1e3, {size}x{size} level", f"{value:.1f}") for size, value in sorted(self.swd.items(), reverse=True)]
        rows.append(("SWD x1e3, average", f"{self.swd_mean:.1f}"))
        rows.append(("diversity (samples / real, 1 = as varied as the data)", f"{self.diversity:.2f}"))
        rows.append(("mean pairwise RMS distance, samples / real", f"{self.sample_distance:.3f} / {self.real_distance:.3f}"))
        if self.d_accuracy_real is not None:
            rows.append(("discriminator accuracy on real images (held out where given)", f"{self.d_accuracy_real:.2f}"))
            rows.append(("discriminator accuracy on generated images", f"{self.d_accuracy_fake:.2f}"))
        if self.fid is not None:
            rows.append(("FID (torchvision Inception v3 features)", f"{self.fid:.1f}"))
        rows.append(("samples / real images", f"{self.n_samples} / {self.n_real}"))
        return rows

    def to_markdown(self) -> str:
        """Return the scores as a Markdown table."""
        lines = ["| metric | value |", "| --- | --- |"]
        lines += [f"| {name} | {value} |" for name, value in self.rows()]
        return "\n".join(lines)


def to_float_batch(images: np.ndarray) -> torch.Tensor:
    """Convert uint8 ``(N, H, W)`` or ``(N, H, W, C)`` images to float32 ``(N, C, H, W)`` in [0, 1]."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise NapariGanError(f"metrics take uint8 images as Generator.sample returns them, got {images.dtype}")
    batch = torch.from_numpy(np.ascontiguousarray(images)).float() / 255
    return batch[:, None] if batch.ndim == 3 else batch.permute(0, 3, 1, 2)


def real_images_uint8(images: list, resolution: int) -> np.ndarray:
    """Map training images to uint8 ``(N, R, R[, 3])`` with the synthesis task's size rule, for scoring.

    ``images`` is a list of :class:`~napari_gan.training.TrainingImage`; each plane is normalised,
    centre-cropped to a square and resized to ``resolution`` as training does.
    """
    from napari_gan.training.data import to_planes
    from napari_gan.training.synthesis import fit_to_resolution

    planes, channels = to_planes(images, 0)
    fitted = torch.stack([fit_to_resolution(plane, resolution) for plane in planes]).numpy()
    values = np.rint(fitted * 255).astype(np.uint8).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(values[..., 0] if channels == 1 else values)


def laplacian_pyramid(images: torch.Tensor, min_size: int = SWD_MIN_LEVEL) -> list[torch.Tensor]:
    """Return the Laplacian pyramid of ``(N, C, H, W)``, finest level first, down to ``min_size``.

    Each level but the last contains the detail lost by blurring and halving; the last level is the
    blurred low-pass image itself.
    """
    taps = torch.tensor(GAUSSIAN_TAPS)
    kernel = (taps[:, None] * taps[None, :]) / taps.sum() ** 2
    channels = images.shape[1]
    kernel = kernel.expand(channels, 1, 5, 5).to(images)

    def blur(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(x, [2, 2, 2, 2], mode="reflect"), kernel, groups=channels)

    levels = []
    current = images
    while current.shape[-1] // 2 >= min_size:
        smaller = blur(current)[..., ::2, ::2]
        expanded = blur(F.interpolate(smaller, scale_factor=2, mode="nearest"))
        levels.append(current - expanded)
        current = smaller
    levels.append(current)
    return levels


def _patch_descriptors(level: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    count, channels, height, width = level.shape
    top = torch.randint(height - SWD_PATCH + 1, (count, SWD_PATCHES_PER_IMAGE), generator=rng)
    left = torch.randint(width - SWD_PATCH + 1, (count, SWD_PATCHES_PER_IMAGE), generator=rng)
    offsets = torch.arange(SWD_PATCH)
    rows = (top[..., None] + offsets)[..., :, None].expand(-1, -1, SWD_PATCH, SWD_PATCH)
    columns = (left[..., None] + offsets)[..., None, :].expand(-1, -1, SWD_PATCH, SWD_PATCH)
    image_index = torch.arange(count)[:, None, None, None].expand_as(rows)
    patches = level.permute(0, 2, 3, 1)[image_index, rows, columns]
    return patches.reshape(-1, SWD_PATCH * SWD_PATCH * channels)


def _normalise(descriptors: torch.Tensor) -> torch.Tensor:
    # Each set is normalised by its own per-value mean and deviation, as in Karras et al. (2018).
    return (descriptors - descriptors.mean(0)) / descriptors.std(0).clamp_min(1e-8)


def sliced_wasserstein(first: torch.Tensor, second: torch.Tensor, rng: torch.Generator) -> float:
    """Return the sliced Wasserstein distance between two equally sized sets of descriptors ``(M, D)``."""
    distances = []
    for _ in range(SWD_REPEATS):
        directions = torch.randn(first.shape[1], SWD_DIRECTIONS, generator=rng)
        directions = directions / directions.norm(dim=0, keepdim=True)
        # numpy sorts rows several times faster than torch.sort on the CPU.
        projected_first = np.sort((first @ directions).T.contiguous().numpy(), axis=1)
        projected_second = np.sort((second @ directions).T.contiguous().numpy(), axis=1)
        distances.append(float(np.abs(projected_first - projected_second).mean()))
    return float(np.mean(distances))


def swd_per_level(generated: torch.Tensor, real: torch.Tensor, seed: int = 0) -> dict[int, float]:
    """Return SWD x 1000 per Laplacian level between float image batches ``(N, C, H, W)`` in [0, 1]."""
    rng = torch.Generator().manual_seed(seed)
    result = {}
    for level_generated, level_real in zip(laplacian_pyramid(generated), laplacian_pyramid(real)):
        descriptors_generated = _normalise(_patch_descriptors(level_generated, rng))
        descriptors_real = _normalise(_patch_descriptors(level_real, rng))
        # Sorting pairs the projections one to one, so both sets are cut to the same size.
        count = min(len(descriptors_generated), len(descriptors_real))
        keep_generated = torch.randperm(len(descriptors_generated), generator=rng)[:count]
        keep_real = torch.randperm(len(descriptors_real), generator=rng)[:count]
        distance = sliced_wasserstein(descriptors_generated[keep_generated], descriptors_real[keep_real], rng)
        result[int(level_real.shape[-1])] = distance * SWD_SCALE
    return result


def mean_pairwise_distance(images: torch.Tensor) -> float:
    """Return the mean RMS intensity distance over all pairs of different images ``(N, C, H, W)``."""
    flat = images[:DIVERSITY_MAX_IMAGES].flatten(1).double()
    if len(flat) < 2:
        raise NapariGanError("the diversity figure needs at least 2 images")
    distances = torch.cdist(flat, flat) / np.sqrt(flat.shape[1])
    count = len(flat)
    return float(distances.sum() / (count * (count - 1)))


def discriminator_accuracy(discriminator: torch.nn.Module, images: torch.Tensor, real: bool) -> float:
    """Return the fraction of ``images`` (``(N, C, H, W)`` in [0, 1]) the discriminator classifies correctly.

    Logits above 0 mean "real", as for the non-saturating loss.
    """
    device = next(discriminator.parameters()).device
    discriminator.eval()
    with torch.no_grad():
        logits = torch.cat([discriminator((chunk * 2 - 1).to(device)).flatten().cpu() for chunk in images.split(64)])
    correct = logits > 0 if real else logits <= 0
    return float(correct.float().mean())


def load_inception(path: str | Path) -> torch.nn.Module:
    """Build torchvision's Inception v3 from a local state dict, with the classifier removed.

    ``path`` is a ``.pth`` file such as torchvision's ``inception_v3_google-0cc3c7bd.pth``; it is
    read with ``torch.load(weights_only=True)``, so no code in it runs.
    """
    from torchvision.models import inception_v3

    path = Path(path).expanduser()
    if not path.is_file():
        raise NapariGanError(f"Inception weights file {str(path)!r} not found; give the path of a torchvision inception_v3 .pth state dict")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch.load raises many types for damaged or foreign files
        raise NapariGanError(f"cannot read Inception weights {str(path)!r}: {str(error).splitlines()[0]}; give a torchvision inception_v3 state dict") from None
    net = inception_v3(weights=None, aux_logits=True, init_weights=False, transform_input=False)
    try:
        net.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as error:
        raise NapariGanError(f"{str(path)!r} is not a torchvision inception_v3 state dict: {str(error).splitlines()[0]}") from None
    net.fc = torch.nn.Identity()
    return net.eval()


def inception_features(net: torch.nn.Module, images: torch.Tensor) -> np.ndarray:
    """Return the 2048 pool features ``(N, 2048)`` of images ``(N, C, H, W)`` in [0, 1]."""
    mean = torch.tensor(IMAGENET_MEAN)[None, :, None, None]
    std = torch.tensor(IMAGENET_STD)[None, :, None, None]
    features = []
    with torch.no_grad():
        for chunk in images.split(32):
            if chunk.shape[1] == 1:
                chunk = chunk.expand(-1, 3, -1, -1)
            chunk = F.interpolate(chunk, size=(INCEPTION_SIZE, INCEPTION_SIZE), mode="bilinear", align_corners=False)
            features.append(net((chunk - mean) / std).numpy().astype(np.float64))
    return np.concatenate(features)


def frechet_distance(first: np.ndarray, second: np.ndarray) -> float:
    """Return the Fréchet distance between Gaussians fitted to two feature sets ``(N, D)``."""
    from scipy import linalg

    mean_first, mean_second = first.mean(0), second.mean(0)
    cov_first, cov_second = np.cov(first, rowvar=False), np.cov(second, rowvar=False)
    root, _ = linalg.sqrtm(cov_first @ cov_second, disp=False)
    root = np.real(root)
    return float(((mean_first - mean_second) ** 2).sum() + np.trace(cov_first + cov_second - 2 * root))


def score_synthesis(
    generator,
    real: np.ndarray,
    *,
    held_out: np.ndarray | None = None,
    discriminator: torch.nn.Module | None = None,
    n_samples: int = 256,
    seed: int = 0,
    truncation: float = 1.0,
    inception_weights: str | Path | None = None,
) -> SynthesisScore:
    """Measure a synthesis generator against real images.

    Parameters
    ----------
    generator : napari_gan.Generator
        A synthesis generator.
    real : numpy.ndarray
        uint8 real images ``(N, H, W[, C])`` at the generator's resolution, at least 2.
    held_out : numpy.ndarray, optional
        uint8 real images never trained on, for the discriminator's accuracy on real images;
        ``real`` is used when None.
    discriminator : torch.nn.Module, optional
        The trained discriminator, taking ``(B, C, H, W)`` in [-1, 1]; without it the accuracies are None.
    n_samples : int
        Generated images to score, from ``seed``.
    inception_weights : str or pathlib.Path, optional
        A local torchvision ``inception_v3`` state dict; with it, FID is computed too.
        NOTE: FID from torchvision's Inception weights is not comparable with published FID
        figures, which use the TensorFlow Inception graph.
    """
    real = np.asarray(real)
    samples = generator.sample(n_samples, seed=seed, truncation=truncation, device="cpu")
    if real.shape[1:] != samples.shape[1:]:
        raise NapariGanError(
            f"real images have shape {real.shape[1:]} but the generator makes {samples.shape[1:]}; "
            "resize the real images to the generator's resolution and channels"
        )
    if len(real) < 2:
        raise NapariGanError(f"scoring needs at least 2 real images, got {len(real)}")
    generated_batch, real_batch = to_float_batch(samples), to_float_batch(real)
    sample_distance = mean_pairwise_distance(generated_batch)
    real_distance = mean_pairwise_distance(real_batch)
    score = SynthesisScore(
        swd=swd_per_level(generated_batch, real_batch, seed),
        diversity=sample_distance / max(real_distance, 1e-12),
        sample_distance=sample_distance,
        real_distance=real_distance,
        n_samples=len(samples),
        n_real=len(real),
    )
    if discriminator is not None:
        reference = to_float_batch(np.asarray(held_out)) if held_out is not None else real_batch
        score.d_accuracy_real = discriminator_accuracy(discriminator, reference, real=True)
        score.d_accuracy_fake = discriminator_accuracy(discriminator, generated_batch, real=False)
    if inception_weights:
        net = load_inception(inception_weights)
        score.fid = frechet_distance(inception_features(net, generated_batch), inception_features(net, real_batch))
    return score
