"""Typed events that the training loop yields, and the run states that observers track."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, IntEnum
from pathlib import Path

import numpy as np


class RunState(IntEnum):
    """State of a training run as a widget or command line shows it."""

    IDLE = 0
    TRAINING = 1
    STOPPED = 2
    FINISHED = 3
    CRASHED = 4


class Phase(str, Enum):
    """Training phase: pixel-loss warm-up, or adversarial training with the discriminator."""

    WARMUP = "warmup"
    GAN = "gan"


@dataclass(frozen=True)
class StepEvent:
    """Losses and speed after one training step."""

    step: int
    total_steps: int
    phase: Phase
    losses: dict[str, float]
    """Each loss term by name, for example ``loss_g_pixel``, ``loss_g_gan``, ``loss_d``."""
    d_accuracy_real: float | None
    """Fraction of real patches D calls real; None during warm-up. Near 0.5 when balanced."""
    d_accuracy_fake: float | None
    """Fraction of generated patches D calls generated; None during warm-up."""
    images_per_second: float
    seconds_left: float
    """Estimated from the recent step rate."""


@dataclass(frozen=True)
class PreviewEvent:
    """The current generator (EMA weights) applied to a fixed crop of the training data."""

    step: int
    image: np.ndarray
    """Float32 ``(H, W)`` or ``(H, W, C)`` in [0, 1] at the output resolution."""
    target: np.ndarray | None = None
    """The real crop at the same resolution, when there is one."""


@dataclass(frozen=True)
class CheckpointEvent:
    """A checkpoint was written."""

    step: int
    path: Path


@dataclass(frozen=True)
class FinishedEvent:
    """The run ended: completed, stopped on request, or stopped by a failure."""

    step: int
    state: RunState
    checkpoint: Path | None
    """The last checkpoint, from which ``resume`` continues."""
    generator_path: Path | None = None
    """The exported generator (``.safetensors``), written when the run completes or stops."""
    message: str = ""
    extra: dict = field(default_factory=dict)


TrainingEvent = StepEvent | PreviewEvent | CheckpointEvent | FinishedEvent
