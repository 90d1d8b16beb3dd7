"""Training speed: the engine's loop against a bare PyTorch loop of the same networks and batches.

Both loops run the default super-resolution configuration (compact generator, U-Net
discriminator with spectral normalisation, batch 8, 128-pixel patches, x4) in the GAN phase:
D on real and detached generated patches, then G with D frozen, then the EMA update. The bare
loop has no events, checkpoints, NaN checks or schedules; the difference is the engine's cost.

Run: python benchmarks/bench_training.py [--device cuda] [--steps 10]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time

import skimage.data
import torch
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from napari_gan.training import StepEvent, SuperResConfig, SuperResolutionTask, Trainer, TrainingImage
from napari_gan.training.losses import GANLoss

from common import add_device_argument, format_table, synchronize

WARMUP_STEPS = 2


def training_images() -> list[TrainingImage]:
    return [TrainingImage(skimage.data.camera(), name="camera"), TrainingImage(skimage.data.astronaut(), name="astronaut")]


def make_task(device: str, mixed_precision: str) -> SuperResolutionTask:
    torch.manual_seed(0)
    config = dataclasses.replace(
        SuperResConfig(), device=device, warmup_steps=0, mixed_precision=mixed_precision, autosave_every_steps=10**9
    )
    return SuperResolutionTask(config, training_images())


def engine_seconds_per_step(device: str, steps: int, mixed_precision: str = "no") -> float:
    task = make_task(device, mixed_precision)
    task.config.steps = WARMUP_STEPS + steps
    task.config.preview_every = 10**9
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(task, run_dir)
        started = None
        for event in trainer.run():
            if isinstance(event, StepEvent) and event.step == WARMUP_STEPS:
                synchronize(device)
                started = time.perf_counter()
        synchronize(device)
        # The run's end also writes a checkpoint and exports the generator; that is outside the steps.
        return (time.perf_counter() - started) / steps


def bare_seconds_per_step(device: str, steps: int) -> float:
    task = make_task(device, "no")
    net_g = task.networks.generators["net_g"].to(device)
    net_d = task.networks.discriminators["net_d"].to(device)
    config = task.config
    opt_g = torch.optim.Adam(net_g.parameters(), lr=config.lr_g, betas=config.betas)
    opt_d = torch.optim.Adam(net_d.parameters(), lr=config.lr_d, betas=config.betas)
    ema = AveragedModel(net_g, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay), use_buffers=True)
    gan_loss = GANLoss(config.gan_loss)
    rng = torch.Generator().manual_seed(0)
    started = None
    for step in range(WARMUP_STEPS + steps):
        if step == WARMUP_STEPS:
            synchronize(device)
            started = time.perf_counter()
        batch = {key: value.to(device) for key, value in task.sample_batch(rng).items()}
        output = net_g(batch["lq"])

        net_d.requires_grad_(True)
        loss_d = gan_loss.discriminator(net_d(batch["gt"]), net_d(output.detach()))
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()

        net_d.requires_grad_(False)
        loss_g = config.pixel_weight * F.l1_loss(output, batch["gt"]) + config.gan_weight * gan_loss.generator(net_d(output))
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        ema.update_parameters(net_g)
        float(loss_g)  # the engine reads every loss value once per step
    synchronize(device)
    return (time.perf_counter() - started) / steps


def run(device: str = "cpu", steps: int = 10) -> dict:
    """Measure both loops (alternating, twice each) and return the rows and a Markdown table."""
    bare = min(bare_seconds_per_step(device, steps) for _ in range(2))
    engine = min(engine_seconds_per_step(device, steps) for _ in range(2))
    rows = [
        ["bare PyTorch loop", f"{1 / bare:.2f}", f"{bare * 1000:.0f}", ""],
        ["napari-gan Trainer", f"{1 / engine:.2f}", f"{engine * 1000:.0f}", f"{(engine / bare - 1) * 100:+.1f}%"],
    ]
    if device.startswith("cuda"):
        bf16 = min(engine_seconds_per_step(device, steps, "bf16") for _ in range(2))
        rows.append(["napari-gan Trainer, bf16", f"{1 / bf16:.2f}", f"{bf16 * 1000:.0f}", f"{(bf16 / bare - 1) * 100:+.1f}%"])
    table = format_table(["loop", "steps/s", "ms/step", "engine cost"], rows)
    print(table)
    return {"bare_seconds": bare, "engine_seconds": engine, "table": table, "steps": steps, "device": device}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_device_argument(parser)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per loop (default %(default)s)")
    arguments = parser.parse_args()
    run(arguments.device, arguments.steps)


if __name__ == "__main__":
    main()
