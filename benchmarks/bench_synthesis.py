"""Synthesis speed: training steps per second of the engine's loop against a bare PyTorch loop, and sampling.

Three configurations run at their defaults (batch 16, width 64, DiffAugment colour, translation
and cutout, non-saturating loss, lazy R1 every 16 steps, EMA): DCGAN at 32 and 64 pixels and the
style-based generator at 64 pixels with style mixing. The bare loop runs the same networks, batches,
augmentation, losses and R1 without events, checkpoints, NaN checks or schedules; the difference
is the engine's cost. Sampling is timed with Generator.sample on the exported generator.

Run: python benchmarks/bench_synthesis.py [--device cuda] [--steps 10]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from napari_gan.training import StepEvent, SynthesisConfig, SynthesisTask, Trainer, TrainingImage
from napari_gan.training.losses import GANLoss, r1_penalty

from common import add_device_argument, format_table, synchronize

WARMUP_STEPS = 2
EXAMPLES = 64
"""Random example images; speed does not depend on their content."""
SAMPLES = 256
"""Images generated for the sampling rate."""
CONFIGURATIONS = {"DCGAN 32 px": ("dcgan", 32), "DCGAN 64 px": ("dcgan", 64), "style-based 64 px": ("style", 64)}


def make_task(arch: str, resolution: int, device: str) -> SynthesisTask:
    torch.manual_seed(0)
    config = SynthesisConfig(arch=arch, resolution=resolution, device=device, mixed_precision="no", autosave_every_steps=10**9, preview_every=10**9)
    images = np.random.default_rng(0).integers(0, 256, (EXAMPLES, resolution, resolution), dtype=np.uint8)
    return SynthesisTask(config, [TrainingImage(images, name="random examples")])


def engine_seconds_per_step(arch: str, resolution: int, device: str, steps: int) -> tuple[float, float]:
    """Return the engine's seconds per training step and its exported generator's samples per second."""
    task = make_task(arch, resolution, device)
    task.config.steps = WARMUP_STEPS + steps
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(task, run_dir)
        started = None
        for event in trainer.run():
            if isinstance(event, StepEvent) and event.step == WARMUP_STEPS:
                synchronize(device)
                started = time.perf_counter()
            if isinstance(event, StepEvent) and event.step == task.config.steps:
                synchronize(device)
                seconds = (time.perf_counter() - started) / steps
        generator = task.export(trainer.generator_module())
    generator.sample(8, seed=0, device=device)
    synchronize(device)
    sampling_started = time.perf_counter()
    generator.sample(SAMPLES, seed=1, device=device)
    synchronize(device)
    return seconds, SAMPLES / (time.perf_counter() - sampling_started)


def bare_seconds_per_step(arch: str, resolution: int, device: str, steps: int) -> float:
    task = make_task(arch, resolution, device)
    config = task.config
    net_g = task.networks.generators["net_g"].to(device)
    net_d = task.networks.discriminators["net_d"].to(device)
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
        fake = task.forward({"net_g": net_g}, batch)["fake"]

        net_d.requires_grad_(True)
        loss_d = gan_loss.discriminator(net_d(task._augment(batch["real"])), net_d(task._augment(fake.detach())))
        if step % config.r1_every == 0:
            loss_d = loss_d + config.r1_gamma / 2 * r1_penalty(net_d, batch["real"]) * config.r1_every
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()

        net_d.requires_grad_(False)
        loss_g = gan_loss.generator(net_d(task._augment(fake)))
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        ema.update_parameters(net_g)
        float(loss_g.detach())  # the engine reads every loss value once per step
    synchronize(device)
    return (time.perf_counter() - started) / steps


def run(device: str = "cpu", steps: int = 10) -> dict:
    """Measure every configuration (best of two runs per loop) and return the rows and a Markdown table."""
    rows = []
    for label, (arch, resolution) in CONFIGURATIONS.items():
        bare = min(bare_seconds_per_step(arch, resolution, device, steps) for _ in range(2))
        results = [engine_seconds_per_step(arch, resolution, device, steps) for _ in range(2)]
        engine = min(seconds for seconds, _ in results)
        samples_per_second = max(rate for _, rate in results)
        rows.append([label, f"{1 / bare:.2f}", f"{1 / engine:.2f}", f"{(engine / bare - 1) * 100:+.1f}%", f"{samples_per_second:.0f}"])
    table = format_table(["configuration", "bare steps/s", "engine steps/s", "engine cost", "samples/s"], rows)
    print(table)
    return {"table": table, "steps": steps, "device": device}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_device_argument(parser)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per loop (default %(default)s)")
    arguments = parser.parse_args()
    run(arguments.device, arguments.steps)


if __name__ == "__main__":
    main()
