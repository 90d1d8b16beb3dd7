"""pix2pix and CycleGAN generators: loading their files, per-image statistics, tiling and the CLI."""

from __future__ import annotations

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from skimage import data

import napari_gan.inference.apply as apply_module
from napari_gan import load_generator
from napari_gan.archs import ResnetGenerator, UnetGenerator
from napari_gan.cli import main
from napari_gan.errors import NapariGanError
from napari_gan.weights.importers_translation import select_direction


def _save(tmp_path, net, name="latest_net_G.pth", extra=None):
    state = dict(net.state_dict())
    state.update(extra or {})
    path = tmp_path / name
    torch.save(state, path)
    return path


def _resnet(seed=0, **kwargs):
    torch.manual_seed(seed)
    options = dict(input_nc=3, output_nc=3, ngf=4, norm="instance", use_dropout=False, n_blocks=1)
    options.update(kwargs)
    return ResnetGenerator(**options)


def _unet(seed=0, **kwargs):
    torch.manual_seed(seed)
    options = dict(input_nc=3, output_nc=3, num_downs=5, ngf=4, norm="batch", use_dropout=False)
    options.update(kwargs)
    return UnetGenerator(**options)


def _float_image(height, width, channels=3):
    """Return a crop of the astronaut photograph as float32 spanning exactly [0, 1]."""
    rgb = data.astronaut()[100 : 100 + height, 150 : 150 + width, :channels].astype(np.float32)
    rgb = (rgb - rgb.min()) / (rgb.max() - rgb.min())
    return rgb[..., 0] if channels == 1 else rgb


# -- architectures --------------------------------------------------------------


def test_unet_256_parameter_count():
    # pix2pix's unet_256 with 64 features has 54,413,955 parameters.
    assert sum(p.numel() for p in UnetGenerator(num_downs=8, ngf=64).parameters()) == 54_413_955


def test_resnet_9blocks_keys():
    state = ResnetGenerator(ngf=8, norm="instance", n_blocks=9).state_dict()
    assert "model.10.conv_block.5.weight" in state
    assert "model.26.weight" in state
    assert "model.2.running_mean" not in state


def test_resnet_dropout_moves_second_conv():
    state = ResnetGenerator(ngf=4, use_dropout=True, n_blocks=2).state_dict()
    assert state["model.10.conv_block.6.weight"].ndim == 4
    assert "model.10.conv_block.5.weight" not in state


# -- importing files --------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        dict(norm="instance", use_dropout=False, n_blocks=6),
        dict(norm="instance", use_dropout=True, n_blocks=9),
        dict(norm="batch", use_dropout=False, n_blocks=2),
        dict(norm="none", use_dropout=True, n_blocks=1),
        dict(norm="batch", use_dropout=False, n_blocks=1, input_nc=1, ngf=6),
    ],
)
def test_resnet_file_detected(tmp_path, options):
    net = _resnet(**options)
    generator = load_generator(_save(tmp_path, net))
    expected = dict(input_nc=3, output_nc=3, ngf=4)
    expected.update(options)
    assert generator.info.arch == "resnet"
    assert generator.info.arch_kwargs == expected
    assert generator.task == "translation"
    assert generator.info.value_range == (-1.0, 1.0)
    assert generator.size_multiple == 4


@pytest.mark.parametrize(
    "options",
    [
        dict(num_downs=5, norm="batch"),
        dict(num_downs=7, norm="instance"),
        dict(num_downs=6, norm="none", output_nc=1),
    ],
)
def test_unet_file_detected(tmp_path, options):
    generator = load_generator(_save(tmp_path, _unet(**options)))
    kwargs = generator.info.arch_kwargs
    assert generator.info.arch == "unet"
    assert kwargs["num_downs"] == options["num_downs"]
    assert kwargs["norm"] == options["norm"]
    assert kwargs["ngf"] == 4
    assert kwargs["output_nc"] == options.get("output_nc", 3)
    assert generator.size_multiple == 2 ** options["num_downs"]


def test_unet_dropout_file_loads(tmp_path):
    net = _unet(num_downs=7, use_dropout=True)
    generator = load_generator(_save(tmp_path, net))
    assert generator.info.arch_kwargs["use_dropout"] is False


def test_instance_norm_statistics_ignored(tmp_path):
    net = _resnet(norm="instance")
    # Files saved by older PyTorch versions store running statistics for instance normalisation.
    extra = {
        "model.2.running_mean": torch.zeros(4),
        "model.2.running_var": torch.ones(4),
        "model.2.num_batches_tracked": torch.tensor(0),
    }
    generator = load_generator(_save(tmp_path, net, extra=extra))
    assert generator.info.arch_kwargs["norm"] == "instance"


def test_mismatched_file_names_keys(tmp_path):
    net = _resnet(norm="batch")
    # Convolution biases make the file look like --norm instance, so the batch-norm weights do not fit.
    extra = {"model.1.bias": torch.zeros(4)}
    with pytest.raises(NapariGanError, match=r"unexpected keys: model\.2\.weight.*another --netG, --norm"):
        load_generator(_save(tmp_path, net, extra=extra))


def test_zero_padding_resnet_rejected(tmp_path):
    state = _resnet(n_blocks=2).state_dict()
    # Without reflection padding modules the blocks start one index earlier.
    renamed = {key.replace("model.10.", "model.9.").replace("model.11.", "model.10."): value for key, value in state.items()}
    path = tmp_path / "zero.pth"
    torch.save(renamed, path)
    with pytest.raises(NapariGanError, match="padding type"):
        load_generator(path)


# -- applying ------------------------------------------------------------------------


def test_apply_matches_project_test_mode(tmp_path):
    # That project's test script runs generators in train mode, so batch norm uses the image's statistics.
    net = _unet(norm="batch")
    generator = load_generator(_save(tmp_path, net))
    image = _float_image(64, 64)
    result = generator.apply(image, tile=None)
    with torch.no_grad():
        expected = net.train()(torch.from_numpy(image.transpose(2, 0, 1))[None] * 2 - 1)
    expected = (expected[0].permute(1, 2, 0).numpy() + 1) / 2
    np.testing.assert_allclose(result, expected, atol=1e-5)


def test_running_statistics_option(tmp_path):
    net = _unet(norm="batch")
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.fill_(0.3)
                module.running_var.fill_(2.0)
    generator = load_generator(_save(tmp_path, net))
    image = _float_image(64, 64)
    per_image = generator.apply(image, tile=None)
    running = generator.apply(image, tile=None, norm_statistics="running")
    assert np.abs(per_image - running).max() > 1e-3


def test_dropout_off_when_applying(tmp_path):
    generator = load_generator(_save(tmp_path, _resnet(use_dropout=True)))
    image = _float_image(32, 32)
    np.testing.assert_array_equal(generator.apply(image, tile=None), generator.apply(image, tile=None))


def test_tiled_resnet_matches_whole(tmp_path):
    generator = load_generator(_save(tmp_path, _resnet(norm="instance")))
    image = _float_image(61, 75)
    whole = generator.apply(image, tile=None)
    tiled = generator.apply(image, tile=24, tile_pad=32, tile_overlap=4)
    assert tiled.shape == image.shape
    np.testing.assert_allclose(tiled, whole, atol=1e-4)


def test_per_tile_statistics_show_seams(tmp_path, monkeypatch):
    generator = load_generator(_save(tmp_path, _resnet(norm="instance")))
    image = _float_image(61, 75)
    whole = generator.apply(image, tile=None)
    monkeypatch.setattr(apply_module, "gather_statistics", lambda *args: None)
    per_tile = generator.apply(image, tile=24, tile_pad=32, tile_overlap=4)
    assert np.abs(per_tile - whole).max() > 1e-2


def test_tiled_unet_odd_size_close_to_whole(tmp_path):
    generator = load_generator(_save(tmp_path, _unet(norm="batch")))
    image = _float_image(75, 99)
    whole = generator.apply(image, tile=None)
    tiled = generator.apply(image, tile=48, tile_pad=48, tile_overlap=8)
    assert tiled.shape == whole.shape == image.shape
    # The U-Net's receptive field (about 190 pixels) exceeds the padding, so only near-equality holds.
    spread = whole.max() - whole.min()
    assert np.abs(tiled - whole).mean() < 0.01 * spread
    assert np.abs(tiled - whole).max() < 0.1 * spread


def test_one_to_three_channels(tmp_path):
    generator = load_generator(_save(tmp_path, _resnet(input_nc=1, output_nc=3)))
    result = generator.apply(data.camera()[:40, :48], tile=None)
    assert result.shape == (40, 48, 3)
    assert result.dtype == np.uint8


def test_grayscale_converted_for_rgb_model(tmp_path):
    generator = load_generator(_save(tmp_path, _resnet()))
    with pytest.warns(UserWarning, match="grayscale but model .* takes RGB; its channel was repeated"):
        result = generator.apply(data.camera()[:32, :40], tile=None)
    assert result.shape == (32, 40, 3)


def test_rgb_converted_for_grayscale_model(tmp_path):
    generator = load_generator(_save(tmp_path, _resnet(input_nc=1, output_nc=1)))
    with pytest.warns(UserWarning, match="RGB but model .* takes one channel; its luminance was used"):
        result = generator.apply(data.astronaut()[:32, :40], tile=None)
    assert result.shape == (32, 40)


def test_image_below_minimum_rejected(tmp_path):
    generator = load_generator(_save(tmp_path, _unet(num_downs=7)))
    with pytest.raises(NapariGanError, match=r"20x20 pixels, smaller than the 32x32"):
        generator.apply(np.zeros((20, 20, 3), np.uint8))


# -- directions and the command line ----------------------------------------------


def test_cli_applies_project_file(tmp_path):
    model = _save(tmp_path, _unet(norm="instance"), "latest_net_G.pth")
    source, target = tmp_path / "in.png", tmp_path / "out.png"
    iio.imwrite(source, data.astronaut()[:50, :70])
    assert main(["apply", "--model", str(model), str(source), str(target), "--tile", "0"]) == 0
    assert iio.imread(target).shape == (50, 70, 3)


def test_cli_direction_reads_sibling(tmp_path):
    _save(tmp_path, _resnet(seed=1), "latest_net_G_A.pth")
    model_b = _save(tmp_path, _resnet(seed=2), "latest_net_G_B.pth")
    source, target = tmp_path / "in.png", tmp_path / "out.png"
    iio.imwrite(source, data.astronaut()[:32, :40])
    code = main(["apply", "--model", str(tmp_path / "latest_net_G_A.pth"), "--direction", "BtoA", str(source), str(target), "--tile", "0"])
    assert code == 0
    expected = load_generator(model_b).apply(data.astronaut()[:32, :40], tile=None)
    np.testing.assert_array_equal(iio.imread(target), expected)


def test_cli_direction_without_sibling(tmp_path, capsys):
    model = _save(tmp_path, _resnet(), "latest_net_G_A.pth")
    source = tmp_path / "in.png"
    iio.imwrite(source, data.astronaut()[:32, :40])
    assert main(["apply", "--model", str(model), "--direction", "BtoA", str(source), str(tmp_path / "out.png")]) == 2
    error = capsys.readouterr().err
    assert "latest_net_G_B.pth" in error
    assert len(error.strip().splitlines()) == 1


def test_single_direction_file_rejects_reverse(tmp_path):
    generator = load_generator(_save(tmp_path, _resnet(), "latest_net_G.pth"))
    assert select_direction(generator, "AtoB") is generator
    with pytest.raises(NapariGanError, match="holds one direction only"):
        select_direction(generator, "BtoA")
