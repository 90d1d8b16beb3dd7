"""Generators of pix2pix and CycleGAN: the U-Net and the ResNet image-to-image networks.

From Isola et al., "Image-to-Image Translation with Conditional Adversarial Networks", CVPR 2017,
and Zhu et al., "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial Networks",
ICCV 2017. Module order and names follow the pytorch-CycleGAN-and-pix2pix repository
(``models/networks.py``), so its ``latest_net_G*.pth`` state dicts load without renaming.

- ``"unet"``: :class:`UnetGenerator`, ``num_downs`` 7 is its ``unet_128`` and 8 its ``unet_256``.
- ``"resnet"``: :class:`ResnetGenerator`, ``n_blocks`` 6 is ``resnet_6blocks`` and 9 ``resnet_9blocks``.
- ``"translation_pair"``: :class:`TranslationPair`, the two generators of a CycleGAN run in one module.

Every generator maps ``(B, input_nc, H, W)`` in ``[-1, 1]`` to ``(B, output_nc, H, W)`` in ``[-1, 1]``
(Tanh output).
"""

from __future__ import annotations

import torch
from torch import nn

from napari_gan.archs.discriminators import LEAKY_SLOPE, _check_norm, _norm_layer
from napari_gan.archs.registry import build_arch, register_arch

DROPOUT = 0.5
"""Dropout probability of pix2pix's generators, which use it as their noise source."""
UNET_MIN_DOWNS = 5
"""The U-Net's outer four blocks change the width; deeper ones repeat ``8 * ngf`` channels."""
RESNET_DOWNSAMPLINGS = 2
"""Stride-2 convolutions of the ResNet generator, so inputs must divide by 4."""
DIRECTIONS = ("AtoB", "BtoA")


def _uses_bias(norm: str) -> bool:
    # pix2pix adds convolution biases only before instance normalisation, which has no shift of
    # its own; batch normalisation has one, and its test is false for norm="none" too.
    return norm == "instance"


class UnetSkipConnectionBlock(nn.Module):
    """One level of the U-Net: downsample, the inner levels, upsample, and the skip connection.

    Parameters
    ----------
    outer_nc, inner_nc : int
        Channels outside (the block's output, before the skip concatenation) and inside.
    input_nc : int, optional
        Input channels; ``outer_nc`` when None.
    submodule : UnetSkipConnectionBlock, optional
        The next inner level; None for the innermost block.
    outermost, innermost : bool
        The outermost block ends with Tanh and has no skip; the innermost has no submodule.
    norm : str
        ``"batch"``, ``"instance"`` or ``"none"``.
    use_dropout : bool
        Dropout after the upsampling of intermediate blocks.
    """

    def __init__(
        self,
        outer_nc: int,
        inner_nc: int,
        input_nc: int | None = None,
        submodule: nn.Module | None = None,
        outermost: bool = False,
        innermost: bool = False,
        norm: str = "batch",
        use_dropout: bool = False,
    ) -> None:
        super().__init__()
        self.outermost = outermost
        use_bias = _uses_bias(norm)
        if input_nc is None:
            input_nc = outer_nc
        downconv = nn.Conv2d(input_nc, inner_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
        downrelu = nn.LeakyReLU(LEAKY_SLOPE, True)
        downnorm = _norm_layer(norm, inner_nc)
        uprelu = nn.ReLU(True)
        upnorm = _norm_layer(norm, outer_nc)

        if outermost:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1)
            model = [downconv, submodule, uprelu, upconv, nn.Tanh()]
        elif innermost:
            upconv = nn.ConvTranspose2d(inner_nc, outer_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
            model = [downrelu, downconv, uprelu, upconv, upnorm]
        else:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
            model = [downrelu, downconv, downnorm, submodule, uprelu, upconv, upnorm]
            if use_dropout:
                model.append(nn.Dropout(DROPOUT))
        self.model = nn.Sequential(*model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``(B, outer_nc, H, W)`` for the outermost block, else the skip concatenation."""
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


@register_arch("unet")
class UnetGenerator(nn.Module):
    """U-Net generator of pix2pix with ``num_downs`` stride-2 levels and skip connections.

    Parameters
    ----------
    input_nc, output_nc : int
        Channels of the input and the output.
    num_downs : int
        Downsamplings, at least 5: 7 is pix2pix's ``unet_128`` and 8 its ``unet_256``. Input
        heights and widths must divide by ``2**num_downs``.
    ngf : int
        Feature channels of the outermost level, doubled per level up to ``8 * ngf``.
    norm : str
        ``"batch"``, ``"instance"`` (no affine parameters, no running statistics) or ``"none"``.
    use_dropout : bool
        Dropout (p=0.5) in the ``num_downs - 5`` intermediate blocks with ``8 * ngf`` channels. Dropout
        follows every parameter of its block, so it changes no state dict key.
    """

    def __init__(
        self, input_nc: int = 3, output_nc: int = 3, num_downs: int = 8, ngf: int = 64, norm: str = "batch", use_dropout: bool = False
    ) -> None:
        super().__init__()
        _check_norm(norm)
        if num_downs < UNET_MIN_DOWNS:
            raise TypeError(f"num_downs must be at least {UNET_MIN_DOWNS}, got {num_downs}")
        block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, innermost=True, norm=norm)
        for _ in range(num_downs - UNET_MIN_DOWNS):
            block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, submodule=block, norm=norm, use_dropout=use_dropout)
        block = UnetSkipConnectionBlock(ngf * 4, ngf * 8, submodule=block, norm=norm)
        block = UnetSkipConnectionBlock(ngf * 2, ngf * 4, submodule=block, norm=norm)
        block = UnetSkipConnectionBlock(ngf, ngf * 2, submodule=block, norm=norm)
        self.model = UnetSkipConnectionBlock(output_nc, ngf, input_nc=input_nc, submodule=block, outermost=True, norm=norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``(B, output_nc, H, W)`` in ``[-1, 1]`` for ``(B, input_nc, H, W)``."""
        return self.model(x)


class ResnetBlock(nn.Module):
    """Residual block of two reflection-padded 3x3 convolutions, with optional dropout between them."""

    def __init__(self, dim: int, norm: str = "batch", use_dropout: bool = False) -> None:
        super().__init__()
        use_bias = _uses_bias(norm)
        block: list[nn.Module] = [
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, kernel_size=3, padding=0, bias=use_bias),
            _norm_layer(norm, dim),
            nn.ReLU(True),
        ]
        if use_dropout:
            block.append(nn.Dropout(DROPOUT))
        block += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, kernel_size=3, padding=0, bias=use_bias), _norm_layer(norm, dim)]
        self.conv_block = nn.Sequential(*block)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


@register_arch("resnet")
class ResnetGenerator(nn.Module):
    """ResNet generator of CycleGAN (after Johnson et al.'s style-transfer network).

    A 7x7 convolution, two stride-2 downsamplings, ``n_blocks`` residual blocks at a quarter of the
    resolution, two transposed-convolution upsamplings and a 7x7 convolution with Tanh.

    Parameters
    ----------
    input_nc, output_nc : int
        Channels of the input and the output.
    ngf : int
        Feature channels of the first convolution; the residual blocks have ``4 * ngf``.
    norm : str
        ``"batch"``, ``"instance"`` or ``"none"``.
    use_dropout : bool
        Dropout (p=0.5) between the two convolutions of every residual block; it moves the
        second convolution from ``conv_block.5`` to ``conv_block.6``.
    n_blocks : int
        Residual blocks: 6 is ``resnet_6blocks`` and 9 ``resnet_9blocks``.

    Notes
    -----
    Only reflection padding (pix2pix's default ``padding_type="reflect"``) is built. Input heights and
    widths must divide by 4.
    """

    def __init__(
        self, input_nc: int = 3, output_nc: int = 3, ngf: int = 64, norm: str = "batch", use_dropout: bool = False, n_blocks: int = 9
    ) -> None:
        super().__init__()
        _check_norm(norm)
        if n_blocks < 0:
            raise TypeError(f"n_blocks must not be negative, got {n_blocks}")
        use_bias = _uses_bias(norm)
        model: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(input_nc, ngf, kernel_size=7, padding=0, bias=use_bias),
            _norm_layer(norm, ngf),
            nn.ReLU(True),
        ]
        for i in range(RESNET_DOWNSAMPLINGS):
            mult = 2**i
            model += [
                nn.Conv2d(ngf * mult, ngf * mult * 2, kernel_size=3, stride=2, padding=1, bias=use_bias),
                _norm_layer(norm, ngf * mult * 2),
                nn.ReLU(True),
            ]
        mult = 2**RESNET_DOWNSAMPLINGS
        model += [ResnetBlock(ngf * mult, norm=norm, use_dropout=use_dropout) for _ in range(n_blocks)]
        for i in range(RESNET_DOWNSAMPLINGS):
            mult = 2 ** (RESNET_DOWNSAMPLINGS - i)
            model += [
                nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, kernel_size=3, stride=2, padding=1, output_padding=1, bias=use_bias),
                _norm_layer(norm, ngf * mult // 2),
                nn.ReLU(True),
            ]
        model += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, kernel_size=7, padding=0), nn.Tanh()]
        self.model = nn.Sequential(*model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``(B, output_nc, H, W)`` in ``[-1, 1]`` for ``(B, input_nc, H, W)``."""
        return self.model(x)


@register_arch("translation_pair")
class TranslationPair(nn.Module):
    """Both generators of a CycleGAN run; ``direction`` picks the one that ``forward`` runs.

    Parameters
    ----------
    arch : str
        Registered architecture of both generators, ``"unet"`` or ``"resnet"``.
    a_to_b, b_to_a : dict
        Keyword arguments of the A-to-B and the B-to-A generator.
    direction : str
        ``"AtoB"`` or ``"BtoA"``.

    Notes
    -----
    The state dict contains ``a_to_b.*`` and ``b_to_a.*``, so one file stores both directions.
    """

    def __init__(self, arch: str, a_to_b: dict, b_to_a: dict, direction: str = "AtoB") -> None:
        super().__init__()
        if direction not in DIRECTIONS:
            raise TypeError(f"direction must be AtoB or BtoA, got {direction!r}")
        self.direction = direction
        self.a_to_b = build_arch(arch, **a_to_b)
        self.b_to_a = build_arch(arch, **b_to_a)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Translate ``(B, C, H, W)`` in ``[-1, 1]`` in the selected direction."""
        return self.a_to_b(x) if self.direction == "AtoB" else self.b_to_a(x)
