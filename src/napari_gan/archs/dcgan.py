"""DCGAN generator and discriminator for 32, 64 or 128 pixel images (Radford et al., 2016)."""

from __future__ import annotations

import math

import torch
from torch import nn

from napari_gan.archs.registry import register_arch
from napari_gan.errors import NapariGanError

DCGAN_RESOLUTIONS = (32, 64, 128)
BASE_SIZE = 4
"""Edge of the first feature map: the latent is projected to 4x4, as in the DCGAN paper."""
MAX_CHANNEL_MULTIPLIER = 8
"""Widest layer as a multiple of ``num_feat``; DCGAN's 64-pixel generator goes 8x, 4x, 2x, 1x."""
LEAKY_SLOPE = 0.2
"""Negative slope of the discriminator's LeakyReLU, from the DCGAN paper."""


def _check_resolution(resolution: int) -> int:
    if resolution not in DCGAN_RESOLUTIONS:
        raise NapariGanError(f"resolution must be one of {DCGAN_RESOLUTIONS}, got {resolution}")
    return int(math.log2(resolution // BASE_SIZE))


@register_arch("dcgan")
class DCGANGenerator(nn.Module):
    """Map a latent vector to an image with transposed convolutions, batch norm and ReLU.

    Parameters
    ----------
    z_dim : int
        Length of the latent vector.
    resolution : int
        Output height and width: 32, 64 or 128.
    out_channels : int
        1 for grayscale, 3 for RGB.
    num_feat : int
        Channels of the last hidden layer; earlier layers have up to 8 times as many.
    """

    def __init__(self, z_dim: int = 128, resolution: int = 32, out_channels: int = 3, num_feat: int = 64) -> None:
        super().__init__()
        upsamplings = _check_resolution(resolution)
        self.z_dim = z_dim
        self.resolution = resolution
        self.out_channels = out_channels
        widths = [num_feat * min(2 ** (upsamplings - 1 - i), MAX_CHANNEL_MULTIPLIER) for i in range(upsamplings)]
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(z_dim, widths[0], BASE_SIZE, 1, 0, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        ]
        for width_in, width_out in zip(widths, widths[1:]):
            layers += [
                nn.ConvTranspose2d(width_in, width_out, 4, 2, 1, bias=False),
                nn.BatchNorm2d(width_out),
                nn.ReLU(inplace=True),
            ]
        layers += [nn.ConvTranspose2d(widths[-1], out_channels, 4, 2, 1), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, truncation: float = 1.0) -> torch.Tensor:
        """Return images ``(B, out_channels, R, R)`` in [-1, 1] for latents ``z`` of shape ``(B, z_dim)``.

        ``truncation`` below 1 moves each latent towards the mean latent (zero), trading variety
        for typical-looking images.
        """
        return self.main((z * truncation)[:, :, None, None])


@register_arch("dcgan_d")
class DCGANDiscriminator(nn.Module):
    """Strided convolutions with LeakyReLU from an image to one real/fake logit.

    Batch norm is left out so that real and generated batches do not share statistics and the
    R1 gradient penalty is taken per image.

    Parameters
    ----------
    resolution : int
        Input height and width: 32, 64 or 128.
    in_channels : int
        1 for grayscale, 3 for RGB.
    num_feat : int
        Channels of the first layer; later layers have up to 8 times as many.
    """

    def __init__(self, resolution: int = 32, in_channels: int = 3, num_feat: int = 64) -> None:
        super().__init__()
        downsamplings = _check_resolution(resolution)
        widths = [num_feat * min(2**i, MAX_CHANNEL_MULTIPLIER) for i in range(downsamplings)]
        layers: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 4, 2, 1), nn.LeakyReLU(LEAKY_SLOPE, inplace=True)]
        for width_in, width_out in zip(widths, widths[1:]):
            layers += [nn.Conv2d(width_in, width_out, 4, 2, 1), nn.LeakyReLU(LEAKY_SLOPE, inplace=True)]
        layers.append(nn.Conv2d(widths[-1], 1, BASE_SIZE, 1, 0))
        self.main = nn.Sequential(*layers)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Return logits ``(B,)`` for images ``(B, C, R, R)`` in [-1, 1]."""
        return self.main(image).flatten()
