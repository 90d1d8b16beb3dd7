"""A compact style-based generator and residual discriminator in the manner of StyleGAN2.

The design follows Karras et al., "Analyzing and Improving the Image Quality of StyleGAN" (CVPR
2020). A mapping network turns the latent z into an intermediate latent w. Each convolution's
weights are modulated by a style computed from w and then demodulated to unit norm. Every layer
adds scaled per-pixel noise, synthesis starts from a learned constant, and the image is the sum
of the RGB outputs of every resolution (skip architecture). The discriminator is residual with a
minibatch standard deviation layer. Both use equalised learning rates.

Simplifications against the paper: upsampling and downsampling are bilinear and average
pooling instead of FIR filters, and there is no path length regularisation.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from napari_gan.archs.registry import register_arch
from napari_gan.errors import NapariGanError

STYLE_RESOLUTIONS = (32, 64, 128)
BASE_SIZE = 4
"""Edge of the learned constant input, in pixels, as in StyleGAN2."""
MAX_CHANNEL_MULTIPLIER = 4
"""Widest layer as a multiple of ``num_feat``; the low resolutions are capped at this width."""
MAPPING_LR_MULTIPLIER = 0.01
"""Learning rate multiplier of the mapping network, from StyleGAN."""
W_AVG_BETA = 0.995
"""Decay of the running average of w that truncation moves towards, from StyleGAN2."""
LEAKY_SLOPE = 0.2
ACTIVATION_GAIN = math.sqrt(2)
"""Gain after each leaky ReLU that keeps the signal's variance, as in StyleGAN2."""
DEMODULATION_EPSILON = 1e-8
MINIBATCH_STD_GROUP = 4
"""Images per group of the minibatch standard deviation layer, from StyleGAN2."""


def _levels(resolution: int) -> int:
    if resolution not in STYLE_RESOLUTIONS:
        raise NapariGanError(f"resolution must be one of {STYLE_RESOLUTIONS}, got {resolution}")
    return int(math.log2(resolution)) - 1


def _channels(num_feat: int, resolution: int, size: int) -> int:
    return num_feat * min(resolution // size, MAX_CHANNEL_MULTIPLIER)


class EqualLinear(nn.Module):
    """Fully connected layer with an equalised learning rate: weights stored N(0, 1), scaled at run time."""

    def __init__(self, in_features: int, out_features: int, bias_init: float = 0.0, lr_multiplier: float = 1.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init)))
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.lr_multiplier = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.weight_gain, self.bias * self.lr_multiplier)


class EqualConv2d(nn.Module):
    """Convolution with an equalised learning rate and "same" padding."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size**2)
        self.padding = kernel_size // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.weight_gain, self.bias, padding=self.padding)


class MappingNetwork(nn.Module):
    """Map latents z ``(B, z_dim)`` to intermediate latents w ``(B, w_dim)`` through leaky-ReLU layers."""

    def __init__(self, z_dim: int, w_dim: int, num_layers: int) -> None:
        super().__init__()
        widths = [z_dim] + [w_dim] * num_layers
        self.layers = nn.ModuleList(
            EqualLinear(width_in, width_out, lr_multiplier=MAPPING_LR_MULTIPLIER) for width_in, width_out in zip(widths, widths[1:])
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        # Normalise each latent to unit root mean square, as StyleGAN's pixel norm does.
        x = z * torch.rsqrt(z.pow(2).mean(dim=1, keepdim=True) + DEMODULATION_EPSILON)
        for layer in self.layers:
            x = F.leaky_relu(layer(x), LEAKY_SLOPE) * ACTIVATION_GAIN
        return x


class ModulatedConv2d(nn.Module):
    """Convolution whose weights are scaled per input channel by a style and, optionally, demodulated.

    Demodulation rescales each output channel's weights to unit norm, which replaces StyleGAN's
    instance normalisation and removes its droplet artefacts.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, w_dim: int, demodulate: bool = True, upsample: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size**2)
        self.demodulate = demodulate
        self.upsample = upsample
        self.padding = kernel_size // 2

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        batch, in_channels, _, _ = x.shape
        styles = self.affine(w)
        weight = self.weight[None] * self.weight_gain * styles[:, None, :, None, None]
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum(dim=(2, 3, 4), keepdim=True) + DEMODULATION_EPSILON)
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        # One grouped convolution applies each image's own weights.
        out_channels = weight.shape[1]
        x = x.reshape(1, batch * in_channels, *x.shape[-2:])
        weight = weight.reshape(batch * out_channels, in_channels, *weight.shape[-2:])
        x = F.conv2d(x, weight, padding=self.padding, groups=batch)
        return x.reshape(batch, out_channels, *x.shape[-2:])


class StyledLayer(nn.Module):
    """Modulated 3x3 convolution, per-pixel noise with a learned strength, bias and leaky ReLU.

    In training mode the noise is drawn anew from the global torch RNG for every call. In eval
    mode the layer uses its fixed ``noise_const`` buffer, so that a seed always gives the same image.
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, size: int, upsample: bool = False) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, 3, w_dim, upsample=upsample)
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.register_buffer("noise_const", torch.randn(1, 1, size, size))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        x = self.conv(x, w)
        if self.training:
            noise = torch.randn(x.shape[0], 1, *x.shape[-2:], device=x.device, dtype=x.dtype)
        else:
            noise = self.noise_const
        x = x + noise * self.noise_strength + self.bias[None, :, None, None]
        return F.leaky_relu(x, LEAKY_SLOPE) * ACTIVATION_GAIN


class ToRGB(nn.Module):
    """Modulated 1x1 convolution to image channels, without demodulation, plus a bias."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.conv(x, w) + self.bias[None, :, None, None]


@register_arch("style")
class StyleGenerator(nn.Module):
    """Style-based generator: mapping network, constant input, modulated convolutions, noise, skip outputs.

    Parameters
    ----------
    z_dim : int
        Length of the latent z.
    resolution : int
        Output height and width: 32, 64 or 128.
    out_channels : int
        1 for grayscale, 3 for RGB.
    num_feat : int
        Channels at the output resolution; lower resolutions have up to 4 times as many.
    w_dim : int
        Length of the intermediate latent w; 0 uses ``z_dim``.
    mapping_layers : int
        Layers of the mapping network (StyleGAN2 uses 8).
    """

    def __init__(
        self, z_dim: int = 128, resolution: int = 64, out_channels: int = 3, num_feat: int = 64, w_dim: int = 0, mapping_layers: int = 4
    ) -> None:
        super().__init__()
        levels = _levels(resolution)
        self.z_dim = z_dim
        self.w_dim = w_dim or z_dim
        self.resolution = resolution
        self.out_channels = out_channels
        self.mapping = MappingNetwork(z_dim, self.w_dim, mapping_layers)
        self.register_buffer("w_avg", torch.zeros(self.w_dim))

        base_channels = _channels(num_feat, resolution, BASE_SIZE)
        self.const = nn.Parameter(torch.randn(1, base_channels, BASE_SIZE, BASE_SIZE))
        self.layers = nn.ModuleList([StyledLayer(base_channels, base_channels, self.w_dim, BASE_SIZE)])
        self.to_rgbs = nn.ModuleList([ToRGB(base_channels, out_channels, self.w_dim)])
        channels = base_channels
        for level in range(1, levels):
            size = BASE_SIZE * 2**level
            width = _channels(num_feat, resolution, size)
            self.layers.append(StyledLayer(channels, width, self.w_dim, size, upsample=True))
            self.layers.append(StyledLayer(width, width, self.w_dim, size))
            self.to_rgbs.append(ToRGB(width, out_channels, self.w_dim))
            channels = width
        self.num_ws = len(self.layers) + 1
        """Number of w vectors one image uses: one per styled layer, plus one for the last RGB output."""

    def map(self, z: torch.Tensor, truncation: float = 1.0) -> torch.Tensor:
        """Return w ``(B, w_dim)`` for z; ``truncation`` below 1 moves w towards the running average.

        In training mode the running average ``w_avg`` follows the batch mean of w.
        """
        w = self.mapping(z)
        if self.training:
            self.w_avg.copy_(w.detach().mean(0).lerp(self.w_avg, W_AVG_BETA))
        if truncation != 1:
            w = self.w_avg.lerp(w, truncation)
        return w

    def forward(
        self, z: torch.Tensor, truncation: float = 1.0, z_mix: torch.Tensor | None = None, crossover: int | None = None
    ) -> torch.Tensor:
        """Return images ``(B, out_channels, R, R)``, roughly in [-1, 1], for latents ``z`` ``(B, z_dim)``.

        Style mixing: with ``z_mix`` and ``crossover`` in ``[1, num_ws)``, the layers from
        ``crossover`` on take their styles from ``z_mix``, so the image mixes the coarse
        features of ``z`` with the finer ones of ``z_mix``.
        """
        ws = self.map(z, truncation)[:, None].repeat(1, self.num_ws, 1)
        if z_mix is not None and crossover is not None and 0 < crossover < self.num_ws:
            ws[:, crossover:] = self.map(z_mix, truncation)[:, None]
        x = self.const.expand(z.shape[0], -1, -1, -1)
        x = self.layers[0](x, ws[:, 0])
        image = self.to_rgbs[0](x, ws[:, 1])
        for level, to_rgb in enumerate(self.to_rgbs[1:], start=1):
            index = 2 * level - 1
            x = self.layers[index](x, ws[:, index])
            x = self.layers[index + 1](x, ws[:, index + 1])
            image = F.interpolate(image, scale_factor=2, mode="bilinear", align_corners=False) + to_rgb(x, ws[:, index + 2])
        return image


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions and a 2x average-pool, added to a pooled 1x1 skip, scaled by 1/sqrt(2)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv0 = EqualConv2d(in_channels, in_channels, 3)
        self.conv1 = EqualConv2d(in_channels, out_channels, 3)
        self.skip = EqualConv2d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = self.skip(F.avg_pool2d(x, 2))
        x = F.leaky_relu(self.conv0(x), LEAKY_SLOPE) * ACTIVATION_GAIN
        x = F.avg_pool2d(F.leaky_relu(self.conv1(x), LEAKY_SLOPE) * ACTIVATION_GAIN, 2)
        return (x + skip) / math.sqrt(2)


@register_arch("style_d")
class StyleDiscriminator(nn.Module):
    """Residual discriminator with a minibatch standard deviation layer, as in StyleGAN2.

    Parameters
    ----------
    resolution : int
        Input height and width: 32, 64 or 128.
    in_channels : int
        1 for grayscale, 3 for RGB.
    num_feat : int
        Channels at the input resolution; lower resolutions have up to 4 times as many.
    """

    def __init__(self, resolution: int = 64, in_channels: int = 3, num_feat: int = 64) -> None:
        super().__init__()
        levels = _levels(resolution)
        self.from_rgb = EqualConv2d(in_channels, _channels(num_feat, resolution, resolution), 1)
        blocks = []
        for level in range(levels - 1, 0, -1):
            size = BASE_SIZE * 2**level
            blocks.append(ResidualBlock(_channels(num_feat, resolution, size), _channels(num_feat, resolution, size // 2)))
        self.blocks = nn.Sequential(*blocks)
        channels = _channels(num_feat, resolution, BASE_SIZE)
        self.conv = EqualConv2d(channels + 1, channels, 3)
        self.fc = EqualLinear(channels * BASE_SIZE**2, channels)
        self.out = EqualLinear(channels, 1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Return logits ``(B,)`` for images ``(B, C, R, R)`` in [-1, 1]."""
        x = F.leaky_relu(self.from_rgb(image), LEAKY_SLOPE) * ACTIVATION_GAIN
        x = self.blocks(x)
        x = torch.cat([x, _minibatch_std(x)], dim=1)
        x = F.leaky_relu(self.conv(x), LEAKY_SLOPE) * ACTIVATION_GAIN
        x = F.leaky_relu(self.fc(x.flatten(1)), LEAKY_SLOPE) * ACTIVATION_GAIN
        return self.out(x).flatten()


def _minibatch_std(x: torch.Tensor) -> torch.Tensor:
    """Return one feature map ``(B, 1, H, W)``: the mean standard deviation over each group of images.

    It lets the discriminator see the variety within a batch, which penalises mode collapse.
    """
    batch, channels, height, width = x.shape
    group = min(MINIBATCH_STD_GROUP, batch)
    while batch % group:
        group -= 1
    grouped = x.reshape(group, batch // group, channels, height, width)
    deviation = (grouped.var(dim=0, unbiased=False) + DEMODULATION_EPSILON).sqrt().mean(dim=(1, 2, 3))
    return deviation.repeat(group)[:, None, None, None].expand(batch, 1, height, width)
