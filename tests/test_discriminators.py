"""Tests of the registered discriminators: output shapes, state dict layout and input checks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from napari_gan.archs import NLayerDiscriminator, PixelDiscriminator, UNetDiscriminatorSN, build_arch, list_archs
from napari_gan.errors import NapariGanError


def _parameter_count(net: nn.Module) -> int:
    return sum(parameter.numel() for parameter in net.parameters())


def test_discriminators_registered():
    assert {"unet_sn", "patchgan", "pixelgan"} <= set(list_archs())
    assert isinstance(build_arch("unet_sn", num_feat=4), UNetDiscriminatorSN)
    assert isinstance(build_arch("patchgan", ndf=4), NLayerDiscriminator)
    assert isinstance(build_arch("pixelgan", ndf=4), PixelDiscriminator)


@pytest.mark.parametrize("channels", [1, 3])
def test_unet_sn_output_shape(channels):
    net = UNetDiscriminatorSN(num_in_ch=channels, num_feat=4)

    logits = net(torch.rand(2, channels, 16, 24))

    assert logits.shape == (2, 1, 16, 24)


def test_unet_sn_without_skip_connection():
    net = UNetDiscriminatorSN(num_feat=4, skip_connection=False)

    assert net(torch.rand(1, 3, 8, 8)).shape == (1, 1, 8, 8)


def test_unet_sn_rejects_size_not_multiple_of_8():
    net = UNetDiscriminatorSN(num_feat=4)

    with pytest.raises(ValueError, match="divisible by 8, got 16x20"):
        net(torch.rand(1, 3, 16, 20))


def test_unet_sn_spectral_norm_layers():
    net = UNetDiscriminatorSN(num_feat=4)
    keys = net.state_dict().keys()

    for index in range(1, 9):
        assert f"conv{index}.parametrizations.weight.original" in keys
        assert f"conv{index}.bias" not in keys
    assert "conv0.weight" in keys
    assert "conv9.weight" in keys


def test_unet_sn_parameter_count():
    # Real-ESRGAN's discriminator with num_in_ch=3 and num_feat=64.
    assert _parameter_count(UNetDiscriminatorSN()) == 4_376_897


@pytest.mark.parametrize("norm", ["batch", "instance", "none"])
def test_patchgan_output_shape(norm):
    net = NLayerDiscriminator(input_nc=3, ndf=4, n_layers=3, norm=norm)

    logits = net(torch.rand(2, 3, 64, 48))

    # 64 / 2**3 - 2 and 48 / 2**3 - 2.
    assert logits.shape == (2, 1, 6, 4)


def test_patchgan_state_dict_keys():
    keys = list(NLayerDiscriminator().state_dict())

    assert keys[0] == "model.0.weight"
    assert keys[1] == "model.0.bias"
    assert "model.2.weight" in keys
    assert "model.2.bias" not in keys
    assert "model.3.running_mean" in keys
    assert "model.11.weight" in keys
    assert "model.11.bias" in keys


def test_patchgan_instance_norm_layout():
    net = NLayerDiscriminator(norm="instance")
    keys = net.state_dict().keys()

    for index in (2, 5, 8):
        assert f"model.{index}.bias" in keys
    assert not any("running" in key for key in keys)
    norms = [layer for layer in net.modules() if isinstance(layer, nn.InstanceNorm2d)]
    assert len(norms) == 3
    assert not any(norm.affine for norm in norms)


def test_patchgan_no_norm_layout():
    keys = NLayerDiscriminator(norm="none").state_dict().keys()

    # nn.Identity placeholders keep the pix2pix indices; its norm="none" has no bias either.
    assert "model.5.weight" in keys
    assert "model.5.bias" not in keys
    assert "model.11.bias" in keys


def test_patchgan_parameter_count():
    # The 70x70 PatchGAN of pix2pix with input_nc=3, ndf=64 and n_layers=3. Instance norm, the
    # CycleGAN default, drops the 1,792 affine parameters of batch norm and adds 896 conv biases.
    assert _parameter_count(NLayerDiscriminator(norm="batch")) == 2_765_633
    assert _parameter_count(NLayerDiscriminator(norm="instance")) == 2_764_737


@pytest.mark.parametrize("norm", ["batch", "instance", "none"])
def test_pixelgan_output_shape(norm):
    net = PixelDiscriminator(input_nc=1, ndf=4, norm=norm)

    assert net(torch.rand(2, 1, 10, 12)).shape == (2, 1, 10, 12)


def test_pixelgan_state_dict_keys():
    assert list(PixelDiscriminator().state_dict())[:3] == ["net.0.weight", "net.0.bias", "net.2.weight"]
    assert "net.2.bias" in PixelDiscriminator(norm="instance").state_dict()


def test_unknown_norm_names_valid_ones():
    with pytest.raises(NapariGanError, match="batch, instance, none"):
        build_arch("patchgan", norm="group")
