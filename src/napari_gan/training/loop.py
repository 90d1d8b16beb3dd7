"""The GAN training loop shared by every task: steps, events, autosave, resume and stop."""

from __future__ import annotations

import collections
import logging
import math
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from napari_gan import __version__
from napari_gan.devices import resolve_device
from napari_gan.errors import NapariGanError
from napari_gan.training.checkpoint import check_run_dir, list_checkpoints, read_checkpoint, write_checkpoint
from napari_gan.training.config import LoopConfig, config_from_dict, load_config, save_config
from napari_gan.training.distributed import (
    DistributedContext,
    average_gradients,
    barrier,
    broadcast_module,
    init_distributed,
)
from napari_gan.training.events import CheckpointEvent, FinishedEvent, Phase, RunState, StepEvent, TrainingEvent
from napari_gan.training.losses import GANLoss, r1_penalty
from napari_gan.training.task import GanTask

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
GENERATOR_FILE = "generator.safetensors"
# Steps over which the step rate is averaged for the time-left estimate.
RATE_WINDOW = 20
# Settings that may change when a run is resumed; any other change would make it a different run.
RESUMABLE_CHANGES = {"steps", "device", "autosave_every_steps", "autosave_every_minutes", "keep_checkpoints", "preview_every"}


class TrainingDiverged(NapariGanError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


def _lr_lambda(schedule: str, total_steps: int):
    if schedule == "linear":
        half = total_steps // 2
        return lambda step: 1.0 if step < half else max(0.0, 1.0 - (step - half) / max(1, total_steps - half))
    if schedule == "cosine":
        return lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total_steps) / total_steps))
    return lambda step: 1.0


def _ema_with_warmup(decay: float):
    """Return an EMA update whose decay grows as min(decay, (1 + n) / (10 + n)) over the first updates.

    A fixed decay of 0.999 would leave a run of a few hundred steps close to its initial weights.
    The warm-up follows the num_updates rule of TensorFlow's ExponentialMovingAverage.
    """

    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], num_averaged: torch.Tensor) -> None:
        if not averaged[0].is_floating_point():
            # AveragedModel groups tensors by dtype; integer buffers (BatchNorm's batch count) are copied.
            torch._foreach_copy_(averaged, current)
            return
        count = float(num_averaged)
        weight = 1.0 - min(decay, (1.0 + count) / (10.0 + count))
        torch._foreach_lerp_(averaged, current, weight)

    return update


class Trainer:
    """Run a :class:`GanTask` in ``run_dir``, yielding typed events.

    Parameters
    ----------
    task : GanTask
        Networks, data and losses; its ``config`` contains the loop settings.
    run_dir : Path
        Receives ``config.json``, ``checkpoints/step_NNNNNNNN.pt`` and, at the end,
        ``generator.safetensors``.
    resume : bool
        Continue from the newest checkpoint in ``run_dir`` up to ``config.steps``. Without it,
        a ``run_dir`` that already has checkpoints is rejected so nothing is overwritten.
    """

    def __init__(self, task: GanTask, run_dir: str | Path, resume: bool = False) -> None:
        self.task = task
        self.config: LoopConfig = task.config
        self.config.validate()
        self.run_dir = Path(run_dir)
        self.device = resolve_device(self.config.device)
        self.context: DistributedContext = init_distributed(self.device.type)
        if self.context.enabled and self.device.type == "cuda":
            self.device = torch.device("cuda", self.context.local_rank)
        self._stop = threading.Event()
        self.step = 0
        self.gan_loss = GANLoss(self.config.gan_loss)
        self.autocast_dtype = self._autocast_dtype()

        networks = task.networks
        for module in [*networks.generators.values(), *networks.discriminators.values(), *networks.extra.values()]:
            module.to(self.device)
            broadcast_module(module, self.context)
        for module in networks.extra.values():
            module.requires_grad_(False).eval()
        self.generator_params = [p for m in networks.generators.values() for p in m.parameters()]
        self.discriminator_params = [p for m in networks.discriminators.values() for p in m.parameters()]
        self.opt_g = torch.optim.Adam(self.generator_params, lr=self.config.lr_g, betas=self.config.betas)
        self.opt_d = torch.optim.Adam(self.discriminator_params, lr=self.config.lr_d, betas=self.config.betas)
        lr_lambda = _lr_lambda(self.config.lr_schedule, self.config.steps)
        self.sched_g = torch.optim.lr_scheduler.LambdaLR(self.opt_g, lr_lambda)
        self.sched_d = torch.optim.lr_scheduler.LambdaLR(self.opt_d, lr_lambda)
        primary = networks.generators[task.primary_generator]
        decay = self.config.ema_decay
        self.ema = AveragedModel(primary, multi_avg_fn=_ema_with_warmup(decay), use_buffers=True) if decay > 0 else None
        self.data_rng = torch.Generator().manual_seed(self.config.seed + 1_000_003 * self.context.rank)
        torch.manual_seed(self.config.seed + self.context.rank)

        if self.context.is_main:
            check_run_dir(self.run_dir)
        barrier(self.context)
        if resume:
            self._resume()
        elif list_checkpoints(self.run_dir):
            raise NapariGanError(
                f"run folder {str(self.run_dir)!r} already has checkpoints; resume it, or pick a new folder"
            )
        if self.context.is_main:
            save_config(self.config, self.run_dir / CONFIG_FILE)
        self.last_checkpoint: Path | None = (list_checkpoints(self.run_dir) or [None])[-1] if resume else None

    # -- control ------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Ask the loop to stop at the next step boundary and write a checkpoint; safe from any thread."""
        self._stop.set()

    @property
    def phase(self) -> Phase:
        return Phase.WARMUP if self.step < self.task.warmup_steps() else Phase.GAN

    def generator_module(self) -> nn.Module:
        """Return the generator used for previews and export: the EMA copy where there is one."""
        return self.ema.module if self.ema is not None else self.task.networks.generators[self.task.primary_generator]

    # -- one step -----------------------------------------------------------------------

    def _autocast_dtype(self) -> torch.dtype | None:
        setting = self.config.mixed_precision
        if setting == "no" or self.device.type != "cuda":
            if setting == "bf16" and self.device.type != "cuda":
                logger.warning("mixed_precision=bf16 applies on CUDA only; training on %s in float32", self.device)
            return None
        if not torch.cuda.is_bf16_supported():
            logger.warning("this GPU has no bf16 support; training in float32")
            return None
        return torch.bfloat16

    def _autocast(self):
        if self.autocast_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    def _check_finite(self, losses: dict[str, torch.Tensor]) -> dict[str, float]:
        values = {name: float(value.detach()) for name, value in losses.items()}
        for name, value in values.items():
            if not math.isfinite(value):
                where = f"; the last good checkpoint is {self.last_checkpoint}" if self.last_checkpoint else ""
                raise TrainingDiverged(
                    f"loss {name} became {value} at step {self.step + 1}{where}. Lower the learning rates "
                    f"(now lr_g={self.config.lr_g:g}, lr_d={self.config.lr_d:g}) or check the data for NaN values"
                )
        return values

    def train_step(self) -> tuple[dict[str, float], float | None, float | None]:
        """Run one step: D on real and detached generated images, then G with D frozen."""
        task, networks = self.task, self.task.networks
        phase = self.phase
        batch = {key: value.to(self.device, non_blocking=True) for key, value in task.sample_batch(self.data_rng).items()}
        with self._autocast():
            outputs = task.forward(networks.generators, batch)

        losses: dict[str, float] = {}
        accuracy_real = accuracy_fake = None
        if phase is Phase.GAN:
            for module in networks.discriminators.values():
                module.requires_grad_(True)
            with self._autocast():
                result = task.discriminator_losses(networks.discriminators, batch, outputs, self.gan_loss)
            loss_d = sum(result.losses.values())
            if self.config.r1_gamma > 0 and self.step % self.config.r1_every == 0:
                # Lazy R1: evaluated every r1_every steps and scaled up to keep the same strength.
                penalty = r1_penalty(networks.discriminators[task.primary_discriminator], task.r1_real(batch))
                result.losses["loss_d_r1"] = self.config.r1_gamma / 2 * penalty * self.config.r1_every
                loss_d = loss_d + result.losses["loss_d_r1"]
            losses.update(self._check_finite(result.losses))
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            average_gradients(self.discriminator_params, self.context)
            self.opt_d.step()
            accuracy_real, accuracy_fake = self.gan_loss.accuracy(result.logits_real.detach().float(), result.logits_fake.detach().float())

        # The generator learns through the discriminators without changing them.
        for module in networks.discriminators.values():
            module.requires_grad_(False)
        with self._autocast():
            g_losses = task.generator_losses(
                networks.discriminators if phase is Phase.GAN else None, batch, outputs, self.gan_loss, phase
            )
        losses.update(self._check_finite(g_losses))
        self.opt_g.zero_grad(set_to_none=True)
        sum(g_losses.values()).backward()
        average_gradients(self.generator_params, self.context)
        self.opt_g.step()

        self.sched_g.step()
        with warnings.catch_warnings():
            # During warm-up D's optimiser has not stepped yet; its schedule still advances with the step count.
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step\\(\\)` before")
            self.sched_d.step()
        if self.ema is not None:
            self.ema.update_parameters(networks.generators[task.primary_generator])
        return losses, accuracy_real, accuracy_fake

    # -- the run ------------------------------------------------------------------------

    def run(self) -> Iterator[TrainingEvent]:
        """Train up to ``config.steps``, yielding events; closing the iterator stops with a checkpoint."""
        config = self.config
        step_times: collections.deque[float] = collections.deque(maxlen=RATE_WINDOW)
        last_save_time = time.monotonic()
        saved_step = self.step
        finished = False
        try:
            for module in [*self.task.networks.generators.values(), *self.task.networks.discriminators.values()]:
                module.train()
            while self.step < config.steps and not self._stop.is_set():
                started = time.perf_counter()
                try:
                    losses, accuracy_real, accuracy_fake = self.train_step()
                except torch.OutOfMemoryError:
                    raise NapariGanError(
                        f"out of GPU memory at step {self.step + 1} with batch size {config.batch_size}; "
                        f"use a smaller batch size or patch size"
                    ) from None
                self.step += 1
                step_times.append(time.perf_counter() - started)
                seconds_per_step = sum(step_times) / len(step_times)
                yield StepEvent(
                    step=self.step,
                    total_steps=config.steps,
                    phase=self.phase,
                    losses=losses,
                    d_accuracy_real=accuracy_real,
                    d_accuracy_fake=accuracy_fake,
                    images_per_second=self.task.images_per_batch() * self.context.world_size / seconds_per_step,
                    seconds_left=seconds_per_step * (config.steps - self.step),
                )
                if self.context.is_main and (self.step % config.preview_every == 0 or self.step == 1):
                    yield self._preview()
                minutes = (time.monotonic() - last_save_time) / 60
                if self.step % config.autosave_every_steps == 0 or minutes >= config.autosave_every_minutes:
                    path = self.save_checkpoint()
                    last_save_time, saved_step = time.monotonic(), self.step
                    if path is not None:
                        yield CheckpointEvent(self.step, path)
            if self.step != saved_step:
                self.save_checkpoint()
            generator_path = self.export()
            finished = True
            state = RunState.FINISHED if self.step >= config.steps else RunState.STOPPED
            message = f"{'finished' if state is RunState.FINISHED else 'stopped'} at step {self.step} of {config.steps}"
            logger.info("%s; checkpoint %s", message, self.last_checkpoint)
            yield FinishedEvent(self.step, state, self.last_checkpoint, generator_path, message)
        finally:
            # A consumer that stops iterating (a closed viewer, a cancelled worker) still gets a checkpoint.
            if not finished and self.step != saved_step and not isinstance(sys.exc_info()[1], TrainingDiverged):
                try:
                    self.save_checkpoint()
                except NapariGanError as error:
                    logger.error("checkpoint on stop failed: %s", error)

    def _preview(self):
        module = self.generator_module()
        was_training = module.training
        module.eval()
        with torch.no_grad():
            event = self.task.preview(module, self.step)
        module.train(was_training)
        return event

    # -- persistence --------------------------------------------------------------------

    def state_dict(self) -> dict:
        networks = self.task.networks
        state = {
            "napari_gan_version": __version__,
            "step": self.step,
            "config": self.config.to_dict(),
            "generators": {name: m.state_dict() for name, m in networks.generators.items()},
            "discriminators": {name: m.state_dict() for name, m in networks.discriminators.items()},
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "sched_g": self.sched_g.state_dict(),
            "sched_d": self.sched_d.state_dict(),
            "rng_torch": torch.get_rng_state(),
            "rng_data": self.data_rng.get_state(),
        }
        if self.ema is not None:
            state["ema"] = self.ema.state_dict()
        if torch.cuda.is_available():
            state["rng_cuda"] = torch.cuda.get_rng_state_all()
        return state

    def save_checkpoint(self) -> Path | None:
        """Write a checkpoint of the current step (rank 0); return its path there, None elsewhere."""
        path = None
        if self.context.is_main:
            path = write_checkpoint(self.run_dir, self.step, self.state_dict(), self.config.keep_checkpoints)
            self.last_checkpoint = path
        barrier(self.context)
        return path

    def _resume(self) -> None:
        checkpoints = list_checkpoints(self.run_dir)
        if not checkpoints:
            raise NapariGanError(f"no checkpoint in {str(self.run_dir)!r} to resume; start a new run without resume")
        state = read_checkpoint(checkpoints[-1])
        self._check_resumable(state)
        self._load_state(state)
        logger.info("resumed %s at step %d", self.run_dir, self.step)

    def _check_resumable(self, state: dict) -> None:
        """Raise unless the checkpoint's run has this task and settings, apart from those that may change."""
        saved = config_from_dict(state["config"])
        if type(saved) is not type(self.config):
            raise NapariGanError(
                f"{str(self.run_dir)!r} contains a {state['config'].get('task')} run; resume it with that task"
            )
        changed = {
            name for name, value in self.config.to_dict().items() if saved.to_dict().get(name) != value
        } - RESUMABLE_CHANGES
        if changed:
            details = ", ".join(f"{name}={saved.to_dict()[name]!r}" for name in sorted(changed))
            raise NapariGanError(
                f"resume with the settings the run started with ({details}); only {', '.join(sorted(RESUMABLE_CHANGES))} may change"
            )

    def _load_state(self, state: dict) -> None:
        """Restore networks, optimisers, schedules, moving average, random states and the step counter."""
        networks = self.task.networks
        for name, module in networks.generators.items():
            module.load_state_dict(state["generators"][name])
        for name, module in networks.discriminators.items():
            module.load_state_dict(state["discriminators"][name])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.sched_g.load_state_dict(state["sched_g"])
        self.sched_d.load_state_dict(state["sched_d"])
        for scheduler in (self.sched_g, self.sched_d):
            # The total may have grown; rebuild the schedule for it at the saved position.
            scheduler.lr_lambdas = [_lr_lambda(self.config.lr_schedule, self.config.steps)] * len(scheduler.lr_lambdas)
        if self.ema is not None and "ema" in state:
            self.ema.load_state_dict(state["ema"])
        torch.set_rng_state(state["rng_torch"])
        self.data_rng.set_state(state["rng_data"])
        if "rng_cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng_cuda"])
        self.step = int(state["step"])

    def export(self) -> Path | None:
        """Write the generator (EMA weights) as ``generator.safetensors`` in the run folder (rank 0)."""
        path = None
        if self.context.is_main:
            generator = self.task.export(self.generator_module())
            generator.info.training_config = self.config.to_dict()
            generator.info.training_config["trained_steps"] = self.step
            path = generator.save(self.run_dir / GENERATOR_FILE)
        barrier(self.context)
        return path


def read_run_config(run_dir: Path) -> LoopConfig:
    """Return the configuration a run folder was started with."""
    return load_config(Path(run_dir) / CONFIG_FILE)
