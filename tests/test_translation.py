"""pix2pix and CycleGAN generators: loading their files, per-image statistics, tiling and the CLI."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

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
from napari_gan.training import CycleGANConfig, CycleGANTask, Pix2PixConfig, Pix2PixTask, PreviewEvent, StepEvent, Trainer, TrainingImage
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
    with pytest.raises(NapariGanError, match="contains one direction only"):
        select_direction(generator, "BtoA")


# -- training ------------------------------------------------------------------------------

TINY_PIX2PIX = Pix2PixConfig(
    steps=6, patch_size=32, num_downs=5, ngf=4, ndf=4, autosave_every_steps=3, preview_every=3, device="cpu"
)
TINY_CYCLEGAN = CycleGANConfig(
    steps=6, patch_size=32, n_blocks=1, ngf=4, ndf=4, pool_size=3, autosave_every_steps=3, preview_every=3, device="cpu"
)


def _pairs():
    """Return a grayscale input and an RGB target of the same 48x56 size."""
    photo = data.astronaut()[:48, :56]
    return [TrainingImage(photo.mean(axis=-1).astype(np.uint8), name="layer 'gray'")], [TrainingImage(photo, name="layer 'photo'")]


def _domains():
    return [TrainingImage(data.brick()[:48, :48], name="brick")], [TrainingImage(data.grass()[:40, :56], name="grass")]


def _pix2pix_trainer(run_dir, resume=False, **changes):
    torch.manual_seed(0)
    inputs, targets = _pairs()
    return Trainer(Pix2PixTask(dataclasses.replace(TINY_PIX2PIX, **changes), inputs, targets), run_dir, resume=resume)


def _cyclegan_trainer(run_dir, resume=False, **changes):
    torch.manual_seed(0)
    domain_a, domain_b = _domains()
    return Trainer(CycleGANTask(dataclasses.replace(TINY_CYCLEGAN, **changes), domain_a, domain_b), run_dir, resume=resume)


def _run_until(trainer, stop_step):
    """Run ``trainer`` and request a stop after ``stop_step``, so the learning-rate schedule keeps its total."""
    for event in trainer.run():
        if isinstance(event, StepEvent) and event.step == stop_step:
            trainer.request_stop()


def _weights(trainer):
    networks = trainer.task.networks
    state = {}
    for group in (networks.generators, networks.discriminators):
        for name, module in group.items():
            state.update({f"{name}.{key}": value for key, value in module.state_dict().items()})
    return state


def test_pix2pix_losses_and_export(tmp_path):
    events = list(_pix2pix_trainer(tmp_path).run())
    steps = [event for event in events if isinstance(event, StepEvent)]
    assert set(steps[-1].losses) == {"loss_d", "loss_g_l1", "loss_g_gan"}
    assert 0.0 <= steps[-1].d_accuracy_real <= 1.0
    previews = [event for event in events if isinstance(event, PreviewEvent)]
    assert previews[0].image.shape == previews[0].target.shape == (32, 32, 3)
    generator = load_generator(events[-1].generator_path)
    assert generator.task == "translation"
    assert (generator.in_channels, generator.out_channels) == (1, 3)
    assert generator.apply(data.camera()[:40, :50], tile=None).shape == (40, 50, 3)


def test_pix2pix_resume_matches_whole_run(tmp_path):
    whole = _pix2pix_trainer(tmp_path / "whole")
    list(whole.run())
    _run_until(_pix2pix_trainer(tmp_path / "split"), 3)
    second = _pix2pix_trainer(tmp_path / "split", resume=True)
    list(second.run())
    expected, actual = _weights(whole), _weights(second)
    for key in expected:
        torch.testing.assert_close(actual[key], expected[key], rtol=0, atol=0, msg=key)


def test_pix2pix_different_sizes_rejected():
    inputs, _ = _pairs()
    target = [TrainingImage(data.astronaut()[:40, :56], name="layer 'photo'")]
    with pytest.raises(NapariGanError, match=r"input layer 'gray' is 48x56 but target layer 'photo' is 40x56; crop or resize"):
        Pix2PixTask(TINY_PIX2PIX, inputs, target)


def test_pix2pix_stack_against_image_rejected():
    stack = [TrainingImage(np.stack([data.camera()[:48, :56]] * 4), name="layer 'stack'")]
    _, targets = _pairs()
    with pytest.raises(NapariGanError, match=r"input layer 'stack' has 4 slice\(s\) but target layer 'photo' has 1"):
        Pix2PixTask(TINY_PIX2PIX, stack, targets)


def test_pix2pix_stack_pairs_slices(tmp_path):
    inputs = [TrainingImage(np.stack([data.camera()[:48, :48], data.camera()[48:96, :48]]), name="stack a")]
    targets = [TrainingImage(np.stack([data.moon()[:48, :48], data.moon()[48:96, :48]]), name="stack b")]
    task = Pix2PixTask(TINY_PIX2PIX, inputs, targets)
    assert len(task.inputs) == len(task.targets) == 2
    assert task.inputs[1].shape == task.targets[1].shape == (1, 48, 48)


def test_patch_not_multiple_of_unet_rejected():
    inputs, targets = _pairs()
    with pytest.raises(NapariGanError, match="patch_size 40 must be a multiple of 32 for the unet generator"):
        Pix2PixTask(dataclasses.replace(TINY_PIX2PIX, patch_size=40), inputs, targets)


def test_cyclegan_losses_and_pool(tmp_path):
    trainer = _cyclegan_trainer(tmp_path)
    events = list(trainer.run())
    steps = [event for event in events if isinstance(event, StepEvent)]
    assert set(steps[-1].losses) == {
        "loss_d_a", "loss_d_b", "loss_cycle_a", "loss_cycle_b", "loss_idt_a", "loss_idt_b", "loss_g_a", "loss_g_b"
    }
    assert int(trainer.task.networks.discriminators["pool_fake_b"].count) == 3


def test_cyclegan_resume_matches_whole_run(tmp_path):
    whole = _cyclegan_trainer(tmp_path / "whole")
    list(whole.run())
    _run_until(_cyclegan_trainer(tmp_path / "split"), 3)
    second = _cyclegan_trainer(tmp_path / "split", resume=True)
    list(second.run())
    expected, actual = _weights(whole), _weights(second)
    for key in expected:
        torch.testing.assert_close(actual[key], expected[key], rtol=0, atol=0, msg=key)


def test_cyclegan_export_has_both_directions(tmp_path):
    trainer = _cyclegan_trainer(tmp_path)
    finished = list(trainer.run())[-1]
    a_to_b = load_generator(finished.generator_path)
    b_to_a = select_direction(a_to_b, "BtoA")
    image = data.brick()[:32, :32]
    with torch.no_grad():
        expected = trainer.task.networks.generators["net_g_b"].eval()(torch.from_numpy(image / np.float32(255))[None, None] * 2 - 1)
    result = b_to_a.apply(image, tile=None)
    np.testing.assert_allclose(result, np.rint((expected[0, 0].numpy() + 1) / 2 * 255), atol=1)
    assert not np.array_equal(a_to_b.apply(image, tile=None), result)


def test_cli_train_pix2pix_and_apply(tmp_path, capsys):
    inputs, targets = _pairs()
    iio.imwrite(tmp_path / "a.png", inputs[0].data)
    iio.imwrite(tmp_path / "b.png", targets[0].data)
    options = ["--patch-size", "32", "--num-downs", "5", "--ngf", "4", "--ndf", "4", "--device", "cpu"]
    run = tmp_path / "run"
    code = main(["train", "pix2pix", "--input", str(tmp_path / "a.png"), "--target", str(tmp_path / "b.png"), "--out", str(run), "--steps", "2", *options])
    assert code == 0
    assert main(["train", "pix2pix", "--out", str(run), "--resume", "--steps", "3"]) == 0
    assert "finished at step 3 of 3" in capsys.readouterr().out
    assert main(["apply", "--model", str(run / "generator.safetensors"), str(tmp_path / "a.png"), str(tmp_path / "out.png")]) == 0
    assert iio.imread(tmp_path / "out.png").shape == (48, 56, 3)


def test_cli_train_cyclegan_direction(tmp_path):
    domain_a, domain_b = _domains()
    iio.imwrite(tmp_path / "a.png", domain_a[0].data)
    iio.imwrite(tmp_path / "b.png", domain_b[0].data)
    options = ["--patch-size", "32", "--n-blocks", "1", "--ngf", "4", "--ndf", "4", "--device", "cpu"]
    run = tmp_path / "run"
    code = main(["train", "cyclegan", "--domain-a", str(tmp_path / "a.png"), "--domain-b", str(tmp_path / "b.png"), "--out", str(run), "--steps", "2", *options])
    assert code == 0
    model = str(run / "generator.safetensors")
    assert main(["apply", "--model", model, "--direction", "BtoA", str(tmp_path / "b.png"), str(tmp_path / "out.png"), "--tile", "0"]) == 0
    assert iio.imread(tmp_path / "out.png").shape == (40, 56)


def test_cli_train_different_sizes(tmp_path, capsys):
    iio.imwrite(tmp_path / "a.png", data.camera()[:64, :64])
    iio.imwrite(tmp_path / "b.png", data.astronaut()[:64, :72])
    code = main(["train", "pix2pix", "--input", str(tmp_path / "a.png"), "--target", str(tmp_path / "b.png"), "--out", str(tmp_path / "run"), "--patch-size", "32", "--num-downs", "5"])
    assert code == 2
    error = capsys.readouterr().err
    assert "is 64x64 but target" in error
    assert len(error.strip().splitlines()) == 1


def test_torchrun_cyclegan_cli(tmp_path):
    domain_a, domain_b = _domains()
    iio.imwrite(tmp_path / "a.png", domain_a[0].data)
    iio.imwrite(tmp_path / "b.png", domain_b[0].data)
    options = ["--patch-size", "32", "--n-blocks", "1", "--ngf", "4", "--ndf", "4", "--device", "cpu", "--steps", "2"]
    completed = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "napari_gan",
         "train", "cyclegan", "--domain-a", str(tmp_path / "a.png"), "--domain-b", str(tmp_path / "b.png"),
         "--out", str(tmp_path / "run"), *options],
        capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.count("finished at step 2 of 2") == 1
    assert load_generator(tmp_path / "run" / "generator.safetensors").info.arch == "translation_pair"


def test_whole_context_tiles_run_once(tmp_path):
    generator = load_generator(_save(tmp_path, _unet(num_downs=6)))
    image = _float_image(100, 100)
    # Contexts aligned to 64 pixels cover the whole 100x100 image from every 32-pixel tile.
    events = list(generator.iter_apply(image, tile=32, tile_pad=24))
    assert len(events) == 1
    np.testing.assert_array_equal(generator.apply(image, tile=32, tile_pad=24), generator.apply(image, tile=None))
