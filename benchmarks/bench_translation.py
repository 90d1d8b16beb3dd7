"""pix2pix: training speed against a bare PyTorch loop, apply throughput, and virtual-staining quality.

Training speed: pix2pix's default networks (unet_256 generator with 64 features, batch norm and
dropout; 3-layer PatchGAN on the input/output pair), batch 1, 256-pixel crops of the
virtual-staining sample. Both loops run D on the real pair and the detached generated pair, then G
with D frozen (L1 weight 100 plus the GAN loss). The bare loop has no events, checkpoints, NaN
checks or schedules; the difference is the engine's cost.

Apply throughput: the same untrained unet_256 on a crop of the hematoxylin image, whole-image
and tiled. A tiled pass also runs the whole-image statistics pass (see
napari_gan.inference.normalisation), and each tile's context is aligned to 256 pixels.

Quality (--quality): a short pix2pix run trains on the left half of scikit-image's
immunohistochemistry image, from the hematoxylin channel to colour. It is measured on the right
half against two baselines: the hematoxylin input mapped through a per-channel linear fit, and
the training half's mean colour.

Run: python benchmarks/bench_translation.py [--device cuda] [--steps 3] [--size 1024] [--quality --quality-steps 500]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

from napari_gan.metrics import psnr, ssim
from napari_gan.samples import virtual_staining_pair
from napari_gan.training import Pix2PixConfig, Pix2PixTask, StepEvent, Trainer, TrainingImage
from napari_gan.training.losses import GANLoss
from napari_gan.training.translation import _discriminator_loss, _generator_gan_loss

from common import add_device_argument, format_table, synchronize, time_runs

WARMUP_STEPS = 1


def make_task(device: str, config: Pix2PixConfig | None = None, columns: slice = slice(None)) -> Pix2PixTask:
    torch.manual_seed(0)
    hematoxylin, stained = virtual_staining_pair()
    config = config or Pix2PixConfig()
    config = dataclasses.replace(config, device=device, autosave_every_steps=10**9, preview_every=10**9)
    return Pix2PixTask(config, [TrainingImage(hematoxylin[:, columns], name="hematoxylin")], [TrainingImage(stained[:, columns], name="stain")])


def engine_seconds_per_step(device: str, steps: int) -> float:
    task = make_task(device)
    task.config.steps = WARMUP_STEPS + steps
    with tempfile.TemporaryDirectory() as run_dir:
        started = None
        for event in Trainer(task, run_dir).run():
            if isinstance(event, StepEvent) and event.step == WARMUP_STEPS:
                synchronize(device)
                started = time.perf_counter()
            if isinstance(event, StepEvent) and event.step == WARMUP_STEPS + steps:
                synchronize(device)
                # The run's end writes a checkpoint and exports the generator; that is outside the steps.
                return (time.perf_counter() - started) / steps
    raise RuntimeError("the run ended early")


def bare_seconds_per_step(device: str, steps: int) -> float:
    task = make_task(device)
    net_g = task.networks.generators["net_g"].to(device).train()
    net_d = task.networks.discriminators["net_d"].to(device).train()
    config = task.config
    opt_g = torch.optim.Adam(net_g.parameters(), lr=config.lr_g, betas=config.betas)
    opt_d = torch.optim.Adam(net_d.parameters(), lr=config.lr_d, betas=config.betas)
    gan_loss = GANLoss(config.gan_loss)
    rng = torch.Generator().manual_seed(0)
    started = None
    for step in range(WARMUP_STEPS + steps):
        if step == WARMUP_STEPS:
            synchronize(device)
            started = time.perf_counter()
        batch = {key: value.to(device) for key, value in task.sample_batch(rng).items()}
        real_a, real_b = batch["real_a"], batch["real_b"]
        fake_b = net_g(real_a)

        net_d.requires_grad_(True)
        loss_d = _discriminator_loss(gan_loss, net_d(torch.cat([real_a, real_b], 1)), net_d(torch.cat([real_a, fake_b.detach()], 1)))
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()

        net_d.requires_grad_(False)
        loss_g = config.l1_weight * F.l1_loss(fake_b, real_b) + _generator_gan_loss(gan_loss, net_d(torch.cat([real_a, fake_b], 1)))
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        float(loss_g.detach())  # the engine reads every loss value once per step
    synchronize(device)
    return (time.perf_counter() - started) / steps


def run_training_speed(device: str, steps: int) -> str:
    bare = min(bare_seconds_per_step(device, steps) for _ in range(2))
    engine = min(engine_seconds_per_step(device, steps) for _ in range(2))
    rows = [
        ["bare PyTorch loop", f"{1 / bare:.3f}", f"{bare * 1000:.0f}", ""],
        ["napari-gan Trainer", f"{1 / engine:.3f}", f"{engine * 1000:.0f}", f"{(engine / bare - 1) * 100:+.1f}%"],
    ]
    return format_table(["pix2pix unet_256, batch 1, 256x256", "steps/s", "ms/step", "engine cost"], rows)


def run_apply_throughput(device: str, size: int) -> str:
    task = make_task(device)
    generator = task.export(task.networks.generators["net_g"])
    hematoxylin, _ = virtual_staining_pair()
    # Mirror the 512x512 sample to reach sizes above it.
    image = np.pad(hematoxylin, ((0, max(0, size - 512)), (0, max(0, size - 512))), mode="symmetric")[:size, :size]
    rows = []
    for label, tile in (("whole image", None), ("tiled, 256-pixel tiles", 256)):
        timing = time_runs(lambda: generator.apply(image, tile=tile, device=device), runs=2, warmup=1, device=device)
        seconds = min(timing.seconds)
        rows.append([label, f"{seconds:.2f}", f"{size * size / seconds / 1e6:.3f}"])
    return format_table([f"apply unet_256 to {size}x{size}", "s", "Mpixel/s"], rows)


def _linear_fit_baseline(train_input: np.ndarray, train_target: np.ndarray, test_input: np.ndarray) -> np.ndarray:
    """Map the input through a least-squares line per output channel fitted on the training half."""
    design = np.stack([train_input.ravel().astype(np.float64), np.ones(train_input.size)], axis=1)
    coefficients = np.linalg.lstsq(design, train_target.reshape(-1, 3).astype(np.float64), rcond=None)[0]
    predicted = np.stack([test_input.ravel().astype(np.float64), np.ones(test_input.size)], axis=1) @ coefficients
    return np.clip(np.rint(predicted), 0, 255).astype(np.uint8).reshape(*test_input.shape, 3)


def run_quality(device: str, steps: int, width: int) -> str:
    hematoxylin, stained = virtual_staining_pair()
    half = hematoxylin.shape[1] // 2
    # unet_128 with few features and 128-pixel crops keeps the run to a few CPU minutes.
    config = Pix2PixConfig(steps=steps, patch_size=128, num_downs=7, ngf=width, ndf=width)
    task = make_task(device, config, slice(0, half))
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(task, run_dir)
        for event in trainer.run():
            if isinstance(event, StepEvent) and event.step % 25 == 0:
                print(f"step {event.step}/{steps}, {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
        generator = task.export(trainer.generator_module())
    minutes = (time.perf_counter() - started) / 60
    test_input, test_target = hematoxylin[:, half:], stained[:, half:]
    translated = generator.apply(test_input, tile=None, device=device)
    linear = _linear_fit_baseline(hematoxylin[:, :half], stained[:, :half], test_input)
    mean_colour = np.broadcast_to(stained[:, :half].reshape(-1, 3).mean(axis=0).round().astype(np.uint8), test_target.shape)
    rows = [
        [f"pix2pix unet_128 width {width}, {steps} steps ({minutes:.1f} min)", f"{psnr(test_target, translated):.2f}", f"{ssim(test_target, translated):.3f}"],
        ["per-channel linear fit of hematoxylin", f"{psnr(test_target, linear):.2f}", f"{ssim(test_target, linear):.3f}"],
        ["mean colour of the training half", f"{psnr(test_target, mean_colour):.2f}", f"{ssim(test_target, mean_colour):.3f}"],
    ]
    return format_table(["held-out right half of the IHC image (512x256)", "PSNR dB", "SSIM"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_device_argument(parser)
    parser.add_argument("--steps", type=int, default=3, help="timed training steps per loop (default %(default)s)")
    parser.add_argument("--size", type=int, default=1024, help="edge of the apply test image in pixels (default %(default)s)")
    parser.add_argument("--quality", action="store_true", help="also train on the virtual-staining pair and report PSNR and SSIM")
    parser.add_argument("--quality-steps", type=int, default=500, help="training steps of the quality run (default %(default)s)")
    parser.add_argument("--quality-width", type=int, default=16, help="generator and discriminator width of the quality run (default %(default)s)")
    parser.add_argument("--skip-speed", action="store_true", help="skip the training-speed and apply measurements")
    arguments = parser.parse_args()
    if not arguments.skip_speed:
        print(run_training_speed(arguments.device, arguments.steps))
        print(run_apply_throughput(arguments.device, arguments.size))
    if arguments.quality:
        print(run_quality(arguments.device, arguments.quality_steps, arguments.quality_width))


if __name__ == "__main__":
    main()
