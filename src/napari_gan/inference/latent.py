"""Latent vectors for synthesis generators: seeded sampling and interpolation between latents."""

from __future__ import annotations

import numpy as np
import torch

from napari_gan.errors import NapariGanError

INTERPOLATIONS = ("slerp", "linear")
SLERP_PARALLEL_EPSILON = 1e-6
"""Below this angle (radians) two latents count as parallel and slerp falls back to linear."""


def sample_latents(n: int, z_dim: int, seed: int | None = None) -> torch.Tensor:
    """Return ``n`` standard normal latents ``(n, z_dim)`` in float32 on the CPU.

    The same ``seed`` always gives the same latents, on any device the generator runs on,
    because they are drawn from a CPU ``torch.Generator``. None draws a fresh seed.
    """
    if n < 1:
        raise NapariGanError(f"number of samples must be at least 1, got {n}")
    rng = torch.Generator()
    if seed is None:
        rng.seed()
    else:
        rng.manual_seed(int(seed))
    return torch.randn(n, z_dim, generator=rng)


def slerp(start: torch.Tensor, end: torch.Tensor, fractions: torch.Tensor) -> torch.Tensor:
    """Interpolate along the great circle between latents, scaling the norm linearly.

    Parameters
    ----------
    start, end : torch.Tensor
        ``(z_dim,)`` latents.
    fractions : torch.Tensor
        ``(steps,)`` positions in [0, 1]; 0 gives ``start`` and 1 gives ``end``.

    Returns
    -------
    torch.Tensor
        ``(steps, z_dim)``. Gaussian latents have norms near sqrt(z_dim), and slerp keeps the
        path there instead of cutting through the low-density centre as a straight line does.
    """
    t = fractions[:, None]
    norm_start, norm_end = start.norm(), end.norm()
    unit_start, unit_end = start / norm_start, end / norm_end
    angle = torch.arccos(torch.clamp((unit_start * unit_end).sum(), -1.0, 1.0))
    if float(angle) < SLERP_PARALLEL_EPSILON:
        return lerp(start, end, fractions)
    direction = (torch.sin((1 - t) * angle) * unit_start + torch.sin(t * angle) * unit_end) / torch.sin(angle)
    return direction * ((1 - t) * norm_start + t * norm_end)


def lerp(start: torch.Tensor, end: torch.Tensor, fractions: torch.Tensor) -> torch.Tensor:
    """Interpolate linearly between latents ``(z_dim,)``; return ``(steps, z_dim)``."""
    t = fractions[:, None]
    return (1 - t) * start + t * end


def interpolate_latents(
    start: torch.Tensor, end: torch.Tensor, steps: int, method: str = "slerp"
) -> torch.Tensor:
    """Return ``steps`` latents ``(steps, z_dim)`` from ``start`` to ``end``, both included.

    ``method`` is ``"slerp"`` (spherical, the default) or ``"linear"``.
    """
    if steps < 2:
        raise NapariGanError(f"an interpolation needs at least 2 steps, got {steps}")
    if method not in INTERPOLATIONS:
        raise NapariGanError(f"unknown interpolation {method!r}; valid: {', '.join(INTERPOLATIONS)}")
    fractions = torch.linspace(0.0, 1.0, steps)
    interpolate = slerp if method == "slerp" else lerp
    start, end = start.flatten().float(), end.flatten().float()
    path = interpolate(start, end, fractions)
    # The ends are set exactly, so the first and last frames equal the samples of those latents.
    path[0], path[-1] = start, end
    return path


def check_truncation(truncation: float) -> float:
    """Return ``truncation`` as a float; raise unless it lies in [0, 2] (1 means no truncation)."""
    value = float(truncation)
    if not 0.0 <= value <= 2.0:
        raise NapariGanError(
            f"truncation must be between 0 (the average image) and 2, got {truncation}; 1 samples without truncation"
        )
    return value


SAMPLE_BATCH = 64
"""Latents per forward pass when sampling; memory grows with it, speed barely does beyond."""


def images_to_uint8(images: torch.Tensor) -> np.ndarray:
    """Map generator outputs ``(B, C, H, W)`` in [-1, 1] to uint8 ``(B, H, W)`` or ``(B, H, W, 3)``.

    The mapping is ``round((x + 1) * 127.5)`` after clipping to [-1, 1], so -1 is 0 and 1 is 255.
    """
    values = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu().numpy()
    values = values.transpose(0, 2, 3, 1)
    return np.ascontiguousarray(values[..., 0] if values.shape[-1] == 1 else values)


def synthesise(
    net: torch.nn.Module, latents: torch.Tensor, truncation: float = 1.0, device: torch.device | None = None
) -> np.ndarray:
    """Run a synthesis network on ``latents`` ``(N, z_dim)``; return uint8 images as :func:`images_to_uint8`.

    Latents go through the network :data:`SAMPLE_BATCH` at a time, in eval mode and without
    gradients. ``truncation`` is passed to the network, which moves each latent (DCGAN) or each
    intermediate latent w (style-based) that share of the way from the average.
    """
    truncation = check_truncation(truncation)
    device = device or next(net.parameters()).device
    net = net.to(device).eval()
    parts = []
    with torch.no_grad():
        for start in range(0, len(latents), SAMPLE_BATCH):
            chunk = latents[start : start + SAMPLE_BATCH].to(device)
            parts.append(images_to_uint8(net(chunk, truncation=truncation)))
    return np.concatenate(parts)
