"""Synthesis: architectures, DiffAugment, latents, the training task, sampling, metrics and the CLI."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import skimage.data
import tifffile
import torch

import napari_gan
from napari_gan.archs import build_arch
from napari_gan.cli import main
from napari_gan.data.diffaugment import diff_augment
from napari_gan.errors import NapariGanError
from napari_gan.inference.latent import interpolate_latents, sample_latents
from napari_gan.metrics_synthesis import (
    discriminator_accuracy,
    frechet_distance,
    laplacian_pyramid,
    load_inception,
    mean_pairwise_distance,
    score_synthesis,
    swd_per_level,
)
from napari_gan.training import FinishedEvent, PreviewEvent, StepEvent, SynthesisConfig, SynthesisTask, Trainer, TrainingImage

TINY = SynthesisConfig(
    steps=4,
    batch_size=4,
    z_dim=8,
    num_feat=4,
    d_num_feat=4,
    mapping_layers=1,
    r1_every=2,
    preview_every=2,
    autosave_every_steps=3,
    device="cpu",
)
TINY_OPTIONS = ["--batch-size", "4", "--z-dim", "8", "--num-feat", "4", "--d-num-feat", "4", "--device", "cpu"]


def faces(count: int = 12) -> np.ndarray:
    return skimage.data.lfw_subset()[:count]


def make_task(images=None, **changes) -> SynthesisTask:
    torch.manual_seed(0)
    config = dataclasses.replace(TINY, **changes)
    return SynthesisTask(config, images if images is not None else [TrainingImage(faces(), name="faces")])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    events = list(Trainer(make_task(), run).run())
    return run, events, napari_gan.load_generator(run / "generator.safetensors")


# -- architectures ----------------------------------------------------------------------


@pytest.mark.parametrize("resolution", [32, 64, 128])
def test_dcgan_shapes(resolution):
    net_g = build_arch("dcgan", z_dim=8, resolution=resolution, out_channels=3, num_feat=2)
    net_d = build_arch("dcgan_d", resolution=resolution, in_channels=3, num_feat=2)
    with torch.no_grad():
        images = net_g(torch.randn(2, 8))

    assert images.shape == (2, 3, resolution, resolution)
    assert float(images.abs().max()) <= 1.0
    assert net_d(images).shape == (2,)


def test_dcgan_rejects_resolution():
    with pytest.raises(NapariGanError, match="resolution must be one of"):
        build_arch("dcgan", resolution=48)


@pytest.mark.parametrize("resolution", [32, 64, 128])
def test_style_shapes(resolution):
    net_g = build_arch("style", z_dim=8, resolution=resolution, out_channels=3, num_feat=2, mapping_layers=1)
    net_d = build_arch("style_d", resolution=resolution, in_channels=3, num_feat=2)
    with torch.no_grad():
        images = net_g(torch.randn(2, 8))

    assert images.shape == (2, 3, resolution, resolution)
    assert net_g.num_ws == 2 * (resolution.bit_length() - 2)
    assert net_d(images).shape == (2,)


def test_style_mixing_changes_fine_layers():
    torch.manual_seed(0)
    net_g = build_arch("style", z_dim=8, resolution=32, out_channels=1, num_feat=2, mapping_layers=1).eval()
    z, z_mix = torch.randn(2, 8), torch.randn(2, 8)
    with torch.no_grad():
        plain = net_g(z)
        unmixed = net_g(z, z_mix=z_mix, crossover=net_g.num_ws)
        mixed = net_g(z, z_mix=z_mix, crossover=4)
        other = net_g(z_mix)

    assert torch.equal(plain, unmixed)
    assert not torch.allclose(plain, mixed)
    assert not torch.allclose(other, mixed)


def test_style_w_avg_tracks_training():
    net_g = build_arch("style", z_dim=8, resolution=32, out_channels=1, num_feat=2, mapping_layers=1)
    net_g(torch.randn(4, 8))

    assert float(net_g.w_avg.abs().sum()) > 0
    net_g.eval()
    before = net_g.w_avg.clone()
    net_g(torch.randn(4, 8))
    assert torch.equal(before, net_g.w_avg)


def test_style_truncation_zero_is_average(tmp_path):
    list(Trainer(make_task(arch="style", steps=2), tmp_path / "run").run())
    generator = napari_gan.load_generator(tmp_path / "run" / "generator.safetensors")
    samples = generator.sample(3, seed=1, truncation=0.0)

    assert generator.info.arch == "style"
    assert np.array_equal(samples[0], samples[1])
    assert not np.array_equal(generator.sample(2, seed=1)[0], generator.sample(2, seed=1)[1])
    assert np.array_equal(generator.sample(2, seed=5, truncation=0.7), generator.sample(2, seed=5, truncation=0.7))


def test_style_batch_mixes_styles():
    task = make_task(arch="style", style_mixing=1.0)
    batch = task.sample_batch(torch.Generator().manual_seed(0))

    assert 1 <= int(batch["crossover"][0]) < task.networks.generators["net_g"].num_ws
    assert batch["z_mix"].shape == (4, 8)


# -- DiffAugment ------------------------------------------------------------------------


def test_diffaugment_repeats_with_seed():
    images = torch.rand(3, 3, 16, 16) * 2 - 1
    torch.manual_seed(5)
    first = diff_augment(images)
    torch.manual_seed(5)
    second = diff_augment(images)

    assert first.shape == images.shape
    assert torch.equal(first, second)
    assert not torch.equal(first, images)


def test_diffaugment_passes_gradients():
    images = torch.rand(2, 1, 16, 16, requires_grad=True)
    diff_augment(images).sum().backward()

    assert images.grad is not None
    assert float(images.grad.abs().sum()) > 0


def test_diffaugment_unknown_policy():
    with pytest.raises(ValueError, match="unknown DiffAugment policy 'rotate'"):
        diff_augment(torch.zeros(1, 1, 8, 8), "color,rotate")


# -- latents ----------------------------------------------------------------------------


def test_latents_repeat_with_seed():
    assert torch.equal(sample_latents(4, 8, seed=3), sample_latents(4, 8, seed=3))
    assert not torch.equal(sample_latents(4, 8, seed=3), sample_latents(4, 8, seed=4))


@pytest.mark.parametrize("method", ["slerp", "linear"])
def test_interpolation_ends(method):
    start, end = sample_latents(2, 8, seed=1)
    path = interpolate_latents(start, end, 5, method)

    assert path.shape == (5, 8)
    assert torch.equal(path[0], start)
    assert torch.equal(path[-1], end)
    assert not torch.allclose(path[2], start)


def test_interpolation_needs_two_steps():
    with pytest.raises(NapariGanError, match="at least 2 steps, got 1"):
        interpolate_latents(torch.zeros(8), torch.ones(8), 1)


# -- training ---------------------------------------------------------------------------


def test_training_events(trained):
    _, events, _ = trained
    previews = [event for event in events if isinstance(event, PreviewEvent)]

    assert sum(isinstance(event, StepEvent) for event in events) == 4
    assert isinstance(events[-1], FinishedEvent)
    assert events[-1].generator_path is not None
    # A 4x4 grid of 32-pixel images with 2-pixel gaps.
    assert previews[0].image.shape == (4 * 34 - 2, 4 * 34 - 2)
    # The real grid shows the first 12 examples: three rows of four.
    assert previews[0].target.shape == (3 * 34 - 2, 4 * 34 - 2)
    step = [event for event in events if isinstance(event, StepEvent)][-1]
    assert step.d_accuracy_real is not None
    assert "loss_g_gan" in step.losses


def test_sample_repeats_with_seed(trained):
    _, _, generator = trained
    first = generator.sample(5, seed=7)

    assert first.shape == (5, 32, 32)
    assert first.dtype == np.uint8
    assert np.array_equal(first, generator.sample(5, seed=7))
    assert not np.array_equal(first, generator.sample(5, seed=8))


def test_interpolate_reaches_samples():
    # The bundled generator, because an untrained one turns the float rounding differences of
    # other batch sizes into different uint8 values.
    generator = napari_gan.load_generator("faces")
    frames = generator.interpolate((3, 0), (3, 1), 4)
    samples = generator.sample(2, seed=3)

    assert frames.shape == (4, 32, 32)
    assert np.array_equal(frames[0], samples[0])
    assert np.array_equal(frames[-1], samples[1])


def test_apply_rejects_synthesis(trained):
    _, _, generator = trained
    with pytest.raises(NapariGanError, match="synthesis generator.*sample"):
        generator.apply(np.zeros((32, 32), np.uint8))


def test_sample_rejects_superres(gray_generator):
    with pytest.raises(NapariGanError, match="use apply"):
        gray_generator.sample(2)


def test_resume_matches_whole_run(tmp_path):
    whole = Trainer(make_task(steps=6), tmp_path / "whole")
    list(whole.run())
    first = Trainer(make_task(steps=3), tmp_path / "split")
    list(first.run())
    second = Trainer(make_task(steps=6), tmp_path / "split", resume=True)
    list(second.run())

    for name, value in whole.ema.state_dict().items():
        assert torch.equal(value, second.ema.state_dict()[name]), name


def test_rgb_patch_mode():
    image = skimage.data.astronaut()[:96, :96]
    task = make_task([TrainingImage(image, name="astronaut")], patches=True, patch_size=48)
    batch = task.sample_batch(torch.Generator().manual_seed(0))

    assert task.channels == 3
    assert batch["real"].shape == (4, 3, 32, 32)
    assert float(batch["real"].min()) >= -1
    assert float(batch["real"].max()) <= 1


def test_sizes_map_to_resolution():
    stack = np.random.default_rng(0).random((4, 40, 50)).astype(np.float32)
    task = make_task([TrainingImage(stack, name="stack")])

    assert task.examples.shape == (4, 1, 32, 32)


def test_diffaugment_auto_policy():
    assert make_task().policy == ("color", "translation", "cutout")
    assert make_task(diffaugment="off").policy == ()
    assert make_task(diffaugment="translation").policy == ("translation",)


# -- bad input --------------------------------------------------------------------------


def test_fewer_images_than_batch():
    with pytest.raises(NapariGanError, match=r"3 example image\(s\) but batch_size is 4.*at most 3"):
        make_task([TrainingImage(faces(3), name="faces")])


def test_mixed_sizes():
    images = [TrainingImage(faces(4), name="faces"), TrainingImage(np.zeros((4, 30, 30)), name="other")]
    with pytest.raises(NapariGanError, match=r"mixed sizes \(25x25, 30x30\).*patch mode"):
        make_task(images)


def test_single_image_offers_patch_mode():
    with pytest.raises(NapariGanError, match=r"camera is one 2D image of shape \(512, 512\).*patch mode"):
        make_task([TrainingImage(skimage.data.camera(), name="camera")])


def test_single_image_patch_mode():
    task = make_task([TrainingImage(skimage.data.camera(), name="camera")], patches=True)

    assert task.sample_batch(torch.Generator().manual_seed(0))["real"].shape == (4, 1, 32, 32)


def test_rgb_grayscale_mixed():
    images = [
        TrainingImage(np.zeros((4, 32, 32, 3), np.uint8), name="colour"),
        TrainingImage(np.zeros((4, 32, 32), np.uint8), name="gray"),
    ]
    with pytest.raises(NapariGanError, match=r"RGB and grayscale images are mixed \(colour is RGB, gray is grayscale\)"):
        make_task(images)


def test_nan_values():
    stack = faces(4).copy()
    stack[1, 3, 3] = np.nan
    with pytest.raises(NapariGanError, match="faces contains NaN.*nan_to_num"):
        make_task([TrainingImage(stack, name="faces")])


@pytest.mark.parametrize("resolution", [48, 100])
def test_resolution_not_power_of_two(resolution):
    with pytest.raises(NapariGanError, match=f"resolution must be a power of two, got {resolution}"):
        make_task(resolution=resolution)


def test_unknown_arch():
    with pytest.raises(NapariGanError, match="arch must be one of dcgan, style, got 'vae'"):
        make_task(arch="vae")


# -- metrics ----------------------------------------------------------------------------


def test_pyramid_levels():
    levels = laplacian_pyramid(torch.rand(2, 1, 64, 64))

    assert [level.shape[-1] for level in levels] == [64, 32, 16]


def test_swd_separates_sets():
    real = torch.from_numpy(faces(60)).float()[:, None]
    same = swd_per_level(real[:30], real[30:])
    noise = swd_per_level(torch.rand(30, 1, 25, 25), real[30:])

    assert set(same) == {25}
    assert noise[25] > 2 * same[25]


def test_diversity_flags_collapse():
    varied = torch.rand(20, 1, 16, 16)
    collapsed = varied[:1].expand(20, -1, -1, -1)

    assert mean_pairwise_distance(collapsed) == 0
    assert mean_pairwise_distance(varied) > 0.3


def test_discriminator_accuracy_sign():
    net_d = build_arch("dcgan_d", resolution=32, in_channels=1, num_feat=2)
    with torch.no_grad():
        net_d.main[-1].bias.fill_(100.0)
    images = torch.rand(3, 1, 32, 32)

    assert discriminator_accuracy(net_d, images, real=True) == 1.0
    assert discriminator_accuracy(net_d, images, real=False) == 0.0


def test_score_synthesis(trained):
    _, _, generator = trained
    real = (faces(40) * 255).astype(np.uint8)
    real = np.stack([np.pad(face, ((4, 3), (4, 3)), mode="edge") for face in real])
    net_d = build_arch("dcgan_d", resolution=32, in_channels=1, num_feat=4)
    score = score_synthesis(generator, real[:30], held_out=real[30:], discriminator=net_d, n_samples=16)

    assert set(score.swd) == {32, 16}
    assert score.diversity >= 0
    assert 0 <= score.d_accuracy_real <= 1
    assert "| SWD x1e3, average |" in score.to_markdown()


def test_score_rejects_wrong_size(trained):
    _, _, generator = trained
    with pytest.raises(NapariGanError, match=r"real images have shape \(25, 25\).*resize"):
        score_synthesis(generator, (faces(4) * 255).astype(np.uint8), n_samples=2)


def test_frechet_distance_of_shift():
    features = np.random.default_rng(0).normal(size=(500, 3))

    assert frechet_distance(features, features) == pytest.approx(0, abs=1e-6)
    # Equal covariances: the distance is the squared distance of the means, 3 * 2**2.
    assert frechet_distance(features, features + 2) == pytest.approx(12, rel=1e-6)


def test_inception_missing_file(tmp_path):
    with pytest.raises(NapariGanError, match="Inception weights file .* not found"):
        load_inception(tmp_path / "inception.pth")


def test_inception_wrong_state_dict(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"weight": torch.zeros(2)}, path)
    with pytest.raises(NapariGanError, match="not a torchvision inception_v3 state dict"):
        load_inception(path)


# -- command line -----------------------------------------------------------------------


def test_cli_train_then_sample(tmp_path, capsys):
    stack = tmp_path / "faces.tif"
    tifffile.imwrite(stack, (faces(8) * 255).astype(np.uint8))
    run = tmp_path / "run"
    status = main(["train", "synthesis", "--data", str(stack), "--resolution", "32", "--arch", "dcgan", "--steps", "2", "--out", str(run), *TINY_OPTIONS])
    assert status == 0

    first, second = tmp_path / "a.tif", tmp_path / "b.npy"
    model = str(run / "generator.safetensors")
    assert main(["sample", "--model", model, "--n", "3", str(first), "--seed", "4"]) == 0
    assert main(["sample", "--model", model, "--n", "3", str(second), "--seed", "4"]) == 0
    images = tifffile.imread(first)
    assert images.shape == (3, 32, 32)
    assert np.array_equal(images, np.load(second))


def test_cli_sample_interpolate_and_score(tmp_path, trained, capsys):
    run, _, _ = trained
    real = tmp_path / "real.npy"
    np.save(real, (faces(10) * 255).astype(np.uint8))
    output = tmp_path / "morph.tif"
    status = main([
        "sample", "--model", str(run / "generator.safetensors"), "--n", "3", str(output),
        "--interpolate", "4", "--score", str(real), "--run-dir", str(run),
    ])
    printed = capsys.readouterr().out

    assert status == 0
    assert tifffile.imread(output).shape == (7, 32, 32)
    assert "SWD x1e3, average:" in printed
    assert "discriminator accuracy on generated images:" in printed


def test_cli_sample_rejects_png(tmp_path, trained, capsys):
    run, _, _ = trained
    status = main(["sample", "--model", str(run / "generator.safetensors"), "--n", "2", str(tmp_path / "out.png")])

    assert status == 2
    assert "must hold a stack of images" in capsys.readouterr().err


def test_cli_resolution_not_power_of_two(tmp_path, capsys):
    stack = tmp_path / "faces.npy"
    np.save(stack, faces(8))
    status = main(["train", "synthesis", "--data", str(stack), "--resolution", "48", "--steps", "1", "--out", str(tmp_path / "run"), *TINY_OPTIONS])
    error = capsys.readouterr().err

    assert status == 2
    assert "resolution must be a power of two, got 48" in error
    assert len(error.strip().splitlines()) == 1


def test_list_models_by_task():
    assert "superres-x2" in napari_gan.list_models(task="superres")
    assert "superres-x2" not in napari_gan.list_models(task="synthesis")
