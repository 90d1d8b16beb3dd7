"""Discriminators for GAN training: the U-Net of Real-ESRGAN and the PatchGANs of pix2pix.

Each returns raw logits, one per pixel or per patch, for the GAN losses to average.

- ``"unet_sn"``: :class:`UNetDiscriminatorSN` from Wang et al., "Real-ESRGAN: Training Real-World
  Blind Super-Resolution with Pure Synthetic Data", ICCVW 2021.
- ``"patchgan"`` and ``"pixelgan"``: :class:`NLayerDiscriminator` and :class:`PixelDiscriminator` from
  Isola et al., "Image-to-Image Translation with Conditional Adversarial Networks", CVPR 2017, with the
  module layout of the pytorch-CycleGAN-and-pix2pix repository (``models/networks.py``), so that its
  discriminator state dicts load without renaming.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from napari_gan.archs.registry import register_arch

# Leaky ReLU slope of both Real-ESRGAN's U-Net and pix2pix's discriminators.
LEAKY_SLOPE = 0.2
NORMS = ("batch", "instance", "none")
# conv1 to conv3 halve the size three times and the decoder doubles it back, so the input must
# divide by 2**3 for the skip additions to match.
UNET_SIZE_MULTIPLE = 8


@register_arch("unet_sn")
class UNetDiscriminatorSN(nn.Module):
    """U-Net discriminator with spectral normalisation, returning one logit per input pixel.

    The encoder captures the global structure and the skip connections keep the local detail,
    so the per-pixel logits judge both. Spectral normalisation bounds each layer's Lipschitz
    constant, which Real-ESRGAN uses to keep training with this larger discriminator stable.

    Parameters
    ----------
    num_in_ch : int
        Channels of the input ``(B, num_in_ch, H, W)``. ``H`` and ``W`` must divide by 8.
    num_feat : int
        Feature channels of the first convolution, doubled at each of the three downsamplings.
    skip_connection : bool
        Whether encoder features are added to the decoder features of the same size.

    Notes
    -----
    The output has shape ``(B, 1, H, W)``.

    This class uses ``torch.nn.utils.parametrizations.spectral_norm``, so spectrally normalised
    weights are stored as ``convN.parametrizations.weight.original`` with the power-iteration
    vectors ``convN.parametrizations.weight.0._u`` and ``._v``. Real-ESRGAN's files, made with the
    older ``torch.nn.utils.spectral_norm``, name them ``convN.weight_orig``, ``convN.weight_u`` and
    ``convN.weight_v``, and load only after renaming.
    """

    def __init__(self, num_in_ch: int = 3, num_feat: int = 64, skip_connection: bool = True) -> None:
        super().__init__()
        self.skip_connection = skip_connection

        self.conv0 = nn.Conv2d(num_in_ch, num_feat, kernel_size=3, stride=1, padding=1)
        # Encoder: 4x4 convolutions with stride 2.
        self.conv1 = spectral_norm(nn.Conv2d(num_feat, num_feat * 2, 4, 2, 1, bias=False))
        self.conv2 = spectral_norm(nn.Conv2d(num_feat * 2, num_feat * 4, 4, 2, 1, bias=False))
        self.conv3 = spectral_norm(nn.Conv2d(num_feat * 4, num_feat * 8, 4, 2, 1, bias=False))
        # Decoder: each follows a bilinear x2 upsampling.
        self.conv4 = spectral_norm(nn.Conv2d(num_feat * 8, num_feat * 4, 3, 1, 1, bias=False))
        self.conv5 = spectral_norm(nn.Conv2d(num_feat * 4, num_feat * 2, 3, 1, 1, bias=False))
        self.conv6 = spectral_norm(nn.Conv2d(num_feat * 2, num_feat, 3, 1, 1, bias=False))
        self.conv7 = spectral_norm(nn.Conv2d(num_feat, num_feat, 3, 1, 1, bias=False))
        self.conv8 = spectral_norm(nn.Conv2d(num_feat, num_feat, 3, 1, 1, bias=False))
        self.conv9 = nn.Conv2d(num_feat, 1, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the logits ``(B, 1, H, W)`` for images ``(B, num_in_ch, H, W)``.

        Raises
        ------
        ValueError
            If ``H`` or ``W`` does not divide by 8.
        """
        height, width = x.shape[-2:]
        if height % UNET_SIZE_MULTIPLE or width % UNET_SIZE_MULTIPLE:
            raise ValueError(
                f"UNetDiscriminatorSN needs a height and width divisible by {UNET_SIZE_MULTIPLE}, "
                f"got {height}x{width}; crop or pad the patches to a multiple of {UNET_SIZE_MULTIPLE}"
            )

        x0 = F.leaky_relu(self.conv0(x), LEAKY_SLOPE)
        x1 = F.leaky_relu(self.conv1(x0), LEAKY_SLOPE)
        x2 = F.leaky_relu(self.conv2(x1), LEAKY_SLOPE)
        x3 = F.leaky_relu(self.conv3(x2), LEAKY_SLOPE)

        x4 = F.leaky_relu(self.conv4(_upsample(x3)), LEAKY_SLOPE)
        if self.skip_connection:
            x4 = x4 + x2
        x5 = F.leaky_relu(self.conv5(_upsample(x4)), LEAKY_SLOPE)
        if self.skip_connection:
            x5 = x5 + x1
        x6 = F.leaky_relu(self.conv6(_upsample(x5)), LEAKY_SLOPE)
        if self.skip_connection:
            x6 = x6 + x0

        out = F.leaky_relu(self.conv7(x6), LEAKY_SLOPE)
        out = F.leaky_relu(self.conv8(out), LEAKY_SLOPE)
        return self.conv9(out)


def _upsample(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


def _norm_layer(norm: str, num_features: int) -> nn.Module:
    """Return the normalisation layer that pix2pix's ``get_norm_layer(norm)`` builds."""
    if norm == "batch":
        return nn.BatchNorm2d(num_features, affine=True, track_running_stats=True)
    if norm == "instance":
        return nn.InstanceNorm2d(num_features, affine=False, track_running_stats=False)
    return nn.Identity()


def _check_norm(norm: str) -> None:
    # TypeError, as for other invalid arguments, so that build_arch reports it as a NapariGanError.
    if norm not in NORMS:
        raise TypeError(f"norm must be one of {', '.join(NORMS)}, got {norm!r}")


@register_arch("patchgan")
class NLayerDiscriminator(nn.Module):
    """PatchGAN discriminator of pix2pix, returning one logit per overlapping image patch.

    ``n_layers`` 4x4 convolutions with stride 2 are followed by one with stride 1 and a last
    4x4 convolution to one channel. With ``n_layers=3`` each logit has a receptive field of 70x70 pixels.

    Parameters
    ----------
    input_nc : int
        Channels of the input ``(B, input_nc, H, W)``.
    ndf : int
        Feature channels of the first convolution, doubled per layer up to ``8 * ndf``.
    n_layers : int
        Convolutions with stride 2.
    norm : str
        ``"batch"``, ``"instance"`` (without affine parameters or running statistics) or ``"none"``.

    Notes
    -----
    For ``H`` and ``W`` divisible by ``2**n_layers`` the output has shape
    ``(B, 1, H / 2**n_layers - 2, W / 2**n_layers - 2)``, so 256x256 inputs give 30x30 logits
    with ``n_layers=3``.

    The module order of ``self.model`` and the bias rule are those of pix2pix, so that the state
    dict keys (``model.0.weight``, ``model.2.weight``, ...) match its files. Only the first and the
    last convolution have a bias, except with ``norm="instance"``, where every convolution has one.
    With ``norm="none"`` the normalisation layers are ``nn.Identity`` placeholders, as in pix2pix.
    """

    def __init__(self, input_nc: int = 3, ndf: int = 64, n_layers: int = 3, norm: str = "batch") -> None:
        super().__init__()
        _check_norm(norm)
        # pix2pix adds a bias only where instance normalisation follows, because batch normalisation
        # has its own shift. Its test is also false for norm="none", so those convolutions have none.
        use_bias = norm == "instance"
        kernel_size = 4
        padding = 1

        sequence: list[nn.Module] = [
            nn.Conv2d(input_nc, ndf, kernel_size=kernel_size, stride=2, padding=padding),
            nn.LeakyReLU(LEAKY_SLOPE, True),
        ]
        nf_mult = 1
        for n in range(1, n_layers):
            nf_mult_prev = nf_mult
            nf_mult = min(2**n, 8)
            sequence += [
                nn.Conv2d(ndf * nf_mult_prev, ndf * nf_mult, kernel_size, stride=2, padding=padding, bias=use_bias),
                _norm_layer(norm, ndf * nf_mult),
                nn.LeakyReLU(LEAKY_SLOPE, True),
            ]

        nf_mult_prev = nf_mult
        nf_mult = min(2**n_layers, 8)
        sequence += [
            nn.Conv2d(ndf * nf_mult_prev, ndf * nf_mult, kernel_size, stride=1, padding=padding, bias=use_bias),
            _norm_layer(norm, ndf * nf_mult),
            nn.LeakyReLU(LEAKY_SLOPE, True),
            nn.Conv2d(ndf * nf_mult, 1, kernel_size, stride=1, padding=padding),
        ]
        self.model = nn.Sequential(*sequence)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the patch logits ``(B, 1, H', W')`` for images ``(B, input_nc, H, W)``."""
        return self.model(x)


@register_arch("pixelgan")
class PixelDiscriminator(nn.Module):
    """1x1 PatchGAN of pix2pix: judges each pixel's colour alone, returning ``(B, 1, H, W)`` logits.

    Parameters
    ----------
    input_nc : int
        Channels of the input ``(B, input_nc, H, W)``.
    ndf : int
        Feature channels of the first 1x1 convolution; the second has ``2 * ndf``.
    norm : str
        ``"batch"``, ``"instance"`` (without affine parameters or running statistics) or ``"none"``.

    Notes
    -----
    ``self.net`` has the module order of pix2pix, so the state dict keys (``net.0.weight``, ...)
    match its files. As there, the second and the last convolution have a bias only with
    ``norm="instance"``.
    """

    def __init__(self, input_nc: int = 3, ndf: int = 64, norm: str = "batch") -> None:
        super().__init__()
        _check_norm(norm)
        use_bias = norm == "instance"
        self.net = nn.Sequential(
            nn.Conv2d(input_nc, ndf, kernel_size=1, stride=1, padding=0),
            nn.LeakyReLU(LEAKY_SLOPE, True),
            nn.Conv2d(ndf, ndf * 2, kernel_size=1, stride=1, padding=0, bias=use_bias),
            _norm_layer(norm, ndf * 2),
            nn.LeakyReLU(LEAKY_SLOPE, True),
            nn.Conv2d(ndf * 2, 1, kernel_size=1, stride=1, padding=0, bias=use_bias),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the per-pixel logits ``(B, 1, H, W)`` for images ``(B, input_nc, H, W)``."""
        return self.net(x)
