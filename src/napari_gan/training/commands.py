"""The training tasks that ``napari-gan train`` offers, each with its configuration and data options."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable


@dataclasses.dataclass(frozen=True)
class TrainCommand:
    """One ``napari-gan train TASK`` command: its configuration class, data options and task builder.

    ``data_options`` maps each option name (``--data``) to its help text; each takes one or more
    image files or folders. ``build_task(config, images)`` receives the configuration and a dict of
    option name to lists of :class:`~napari_gan.training.TrainingImage` (absent options are None).
    """

    name: str
    help: str
    description: str
    config_class: type
    data_options: dict[str, str]
    required_data: tuple[str, ...]
    build_task: Callable


TRAIN_COMMANDS: dict[str, TrainCommand] = {}


def register_train_command(command: TrainCommand) -> None:
    """Add ``command`` to ``napari-gan train``."""
    if command.name in TRAIN_COMMANDS:
        raise KeyError(f"train command {command.name!r} is already registered")
    TRAIN_COMMANDS[command.name] = command
