"""The compact super-resolution network of Real-ESRGAN (SRVGGNetCompact).

Wang et al., "Real-ESRGAN: Training Real-World Blind Super-Resolution with Pure Synthetic
Data", ICCVW 2021. The module and parameter names follow the Real-ESRGAN release so that its
``realesr-general-x4v3`` and ``realesr-animevideov3`` files load without renaming.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from napari_gan.archs.registry import register_arch

ACTIVATIONS = ("prelu", "relu", "leakyrelu")
BASE_UPSAMPLING = ("nearest", "bilinear", "bicubic")


@register_arch("srvgg")
class SRVGGNetCompact(nn.Module):
    """A plain stack of 3x3 convolutions on the low-resolution grid, then a pixel shuffle.

    The network predicts the residual over an upsampled copy of its input, so it only
    learns the detail that interpolation misses.

    Parameters
    ----------
    num_in_ch, num_out_ch : int
        Channels of the input ``(B, num_in_ch, H, W)`` and of the output
        ``(B, num_out_ch, H * upscale, W * upscale)``.
    num_feat : int
        Feature channels of every hidden convolution.
    num_conv : int
        Hidden convolutions between the first and the last one.
    upscale : int
        Integer scale factor.
    act_type : str
        ``"prelu"`` (one slope per channel, as Real-ESRGAN ships), ``"relu"`` or ``"leakyrelu"``
        (slope 0.1).
    base_upsampling : str
        How the input is upsampled before the residual is added. Real-ESRGAN files use
        ``"nearest"``; the bundled generators use ``"bicubic"``, which gives a good result
        from the first step and leaves less for a small network to learn.
    """

    def __init__(
        self,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        num_feat: int = 64,
        num_conv: int = 16,
        upscale: int = 4,
        act_type: str = "prelu",
        base_upsampling: str = "nearest",
        img_range: float = 1.0,
    ) -> None:
        super().__init__()
        if act_type not in ACTIVATIONS:
            raise TypeError(f"act_type must be one of {ACTIVATIONS}, got {act_type!r}")
        if base_upsampling not in BASE_UPSAMPLING:
            raise TypeError(f"base_upsampling must be one of {BASE_UPSAMPLING}, got {base_upsampling!r}")
        self.num_in_ch = num_in_ch
        self.num_out_ch = num_out_ch
        self.upscale = upscale
        self.base_upsampling = base_upsampling
        self.img_range = img_range

        self.body = nn.ModuleList([nn.Conv2d(num_in_ch, num_feat, 3, 1, 1), self._activation(act_type, num_feat)])
        for _ in range(num_conv):
            self.body.append(nn.Conv2d(num_feat, num_feat, 3, 1, 1))
            self.body.append(self._activation(act_type, num_feat))
        self.body.append(nn.Conv2d(num_feat, num_out_ch * upscale * upscale, 3, 1, 1))
        self.upsampler = nn.PixelShuffle(upscale)

    @staticmethod
    def _activation(act_type: str, num_feat: int) -> nn.Module:
        if act_type == "prelu":
            return nn.PReLU(num_parameters=num_feat)
        if act_type == "relu":
            return nn.ReLU(inplace=True)
        return nn.LeakyReLU(negative_slope=0.1, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x * self.img_range if self.img_range != 1 else x
        for layer in self.body:
            out = layer(out)
        out = self.upsampler(out)
        if self.img_range != 1:
            out = out / self.img_range

        if self.base_upsampling == "nearest":
            base = F.interpolate(x, scale_factor=self.upscale, mode="nearest")
        else:
            base = F.interpolate(x, scale_factor=self.upscale, mode=self.base_upsampling, align_corners=False)
        if self.num_out_ch != self.num_in_ch:
            # Only a network with as many output as input channels has a meaningful base.
            return out
        return out + base
