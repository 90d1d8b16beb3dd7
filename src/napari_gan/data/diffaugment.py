"""Differentiable augmentation for GANs trained on little data (Zhao et al., 2020, "DiffAugment").

The same random transforms are applied to real and generated images before the discriminator,
in the discriminator and the generator steps, so D cannot memorise the few real images and G
still receives gradients through the transforms. Every random number comes from torch ops on
the global RNG (or the device's), so a seeded or resumed run repeats the same augmentations.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

DIFFAUGMENT_POLICIES = ("color", "translation", "cutout")
TRANSLATION_RATIO = 0.125
"""Largest shift as a fraction of the image size, from the DiffAugment reference code."""
CUTOUT_RATIO = 0.5
"""Edge of the cut-out square as a fraction of the image size, from the DiffAugment reference code."""


def diff_augment(images: torch.Tensor, policy: tuple[str, ...] | str = DIFFAUGMENT_POLICIES) -> torch.Tensor:
    """Apply the DiffAugment transforms of ``policy`` in order, independently per image.

    Parameters
    ----------
    images : torch.Tensor
        ``(B, C, H, W)`` in [-1, 1].
    policy : tuple of str or str
        Any of ``"color"`` (brightness, saturation, contrast), ``"translation"`` (shift with
        zero padding by up to 1/8 of the size) and ``"cutout"`` (a zeroed square of half the
        size). A string is split at commas, and an empty policy means no augmentation.

    Returns
    -------
    torch.Tensor
        Same shape; differentiable with respect to ``images``.
    """
    if isinstance(policy, str):
        policy = tuple(name for name in policy.split(",") if name)
    unknown = [name for name in policy if name not in DIFFAUGMENT_POLICIES]
    if unknown:
        raise ValueError(f"unknown DiffAugment policy {unknown[0]!r}; valid: {', '.join(DIFFAUGMENT_POLICIES)}")
    for name in policy:
        images = _TRANSFORMS[name](images)
    return images.contiguous()


def _color(x: torch.Tensor) -> torch.Tensor:
    batch = (x.shape[0], 1, 1, 1)
    x = x + (torch.rand(batch, dtype=x.dtype, device=x.device) - 0.5)
    if x.shape[1] > 1:
        mean = x.mean(dim=1, keepdim=True)
        x = (x - mean) * (torch.rand(batch, dtype=x.dtype, device=x.device) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (torch.rand(batch, dtype=x.dtype, device=x.device) + 0.5) + mean


def _translation(x: torch.Tensor) -> torch.Tensor:
    batch, _, height, width = x.shape
    shift_y, shift_x = int(height * TRANSLATION_RATIO + 0.5), int(width * TRANSLATION_RATIO + 0.5)
    dy = torch.randint(-shift_y, shift_y + 1, (batch, 1, 1), device=x.device)
    dx = torch.randint(-shift_x, shift_x + 1, (batch, 1, 1), device=x.device)
    index_b, index_y, index_x = torch.meshgrid(
        torch.arange(batch, device=x.device),
        torch.arange(height, device=x.device),
        torch.arange(width, device=x.device),
        indexing="ij",
    )
    # Pad by one pixel of zeros and read from the shifted position, clamped into that border.
    index_y = torch.clamp(index_y + dy + 1, 0, height + 1)
    index_x = torch.clamp(index_x + dx + 1, 0, width + 1)
    padded = F.pad(x, [1, 1, 1, 1])
    return padded.permute(0, 2, 3, 1)[index_b, index_y, index_x].permute(0, 3, 1, 2)


def _cutout(x: torch.Tensor) -> torch.Tensor:
    batch, _, height, width = x.shape
    cut_y, cut_x = int(height * CUTOUT_RATIO + 0.5), int(width * CUTOUT_RATIO + 0.5)
    offset_y = torch.randint(0, height + (1 - cut_y % 2), (batch, 1, 1), device=x.device)
    offset_x = torch.randint(0, width + (1 - cut_x % 2), (batch, 1, 1), device=x.device)
    index_b, index_y, index_x = torch.meshgrid(
        torch.arange(batch, device=x.device),
        torch.arange(cut_y, device=x.device),
        torch.arange(cut_x, device=x.device),
        indexing="ij",
    )
    index_y = torch.clamp(index_y + offset_y - cut_y // 2, 0, height - 1)
    index_x = torch.clamp(index_x + offset_x - cut_x // 2, 0, width - 1)
    mask = torch.ones(batch, height, width, dtype=x.dtype, device=x.device)
    mask[index_b, index_y, index_x] = 0
    return x * mask.unsqueeze(1)


_TRANSFORMS = {"color": _color, "translation": _translation, "cutout": _cutout}
