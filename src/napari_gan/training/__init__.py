"""GAN training: the shared loop, its configuration and events, and one module per task.

A run from Python::

    from napari_gan.training import SuperResConfig, SuperResolutionTask, Trainer, TrainingImage

    task = SuperResolutionTask(SuperResConfig(scale=2, steps=1000), [TrainingImage(image)])
    for event in Trainer(task, "runs/cells").run():
        print(event)
"""

from napari_gan.training.config import LoopConfig, SuperResConfig, load_config
from napari_gan.training.data import TrainingImage
from napari_gan.training.events import (
    CheckpointEvent,
    FinishedEvent,
    Phase,
    PreviewEvent,
    RunState,
    StepEvent,
    TrainingEvent,
)
from napari_gan.training.loop import Trainer, TrainingDiverged
from napari_gan.training.superres import SuperResolutionTask
from napari_gan.training.translation import CycleGANConfig, CycleGANTask, Pix2PixConfig, Pix2PixTask
from napari_gan.training.synthesis import SynthesisConfig, SynthesisTask

__all__ = [
    "CheckpointEvent",
    "CycleGANConfig",
    "CycleGANTask",
    "FinishedEvent",
    "LoopConfig",
    "Phase",
    "Pix2PixConfig",
    "Pix2PixTask",
    "PreviewEvent",
    "RunState",
    "StepEvent",
    "SuperResConfig",
    "SuperResolutionTask",
    "SynthesisConfig",
    "SynthesisTask",
    "Trainer",
    "TrainingDiverged",
    "TrainingEvent",
    "TrainingImage",
    "load_config",
]
