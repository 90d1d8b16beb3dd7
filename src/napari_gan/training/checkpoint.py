"""Checkpoints of a training run: written atomically, the newest few kept, read without unpickling code."""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path
from typing import Any

import torch

from napari_gan.errors import NapariGanError
from napari_gan.weights.native import atomic_write

logger = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoints"
CHECKPOINT_PATTERN = re.compile(r"step_(\d+)\.pt")


def checkpoint_path(run_dir: Path, step: int) -> Path:
    return run_dir / CHECKPOINT_DIR / f"step_{step:08d}.pt"


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Return the complete checkpoints in ``run_dir``, oldest first; partial ``.part`` files are ignored."""
    folder = run_dir / CHECKPOINT_DIR
    if not folder.is_dir():
        return []
    found = [(int(match.group(1)), path) for path in folder.iterdir() if (match := CHECKPOINT_PATTERN.fullmatch(path.name))]
    return [path for _, path in sorted(found)]


def write_checkpoint(run_dir: Path, step: int, state: dict[str, Any], keep: int) -> Path:
    """Write ``state`` as the checkpoint of ``step`` and delete all but the newest ``keep``.

    The file is written under a temporary name, flushed and renamed, so a crash during the
    write leaves the previous checkpoint whole.
    """
    path = checkpoint_path(run_dir, step)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        atomic_write(path, lambda temporary: torch.save(state, temporary))
    except OSError as error:
        raise NapariGanError(
            f"cannot write checkpoint {str(path)!r}: {error.strerror or error}; free disk space or pick another run folder"
        ) from None
    for old in list_checkpoints(run_dir)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def read_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint with ``torch.load(weights_only=True)``."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for damaged files
        raise NapariGanError(
            f"cannot read checkpoint {str(path)!r}: {str(error).splitlines()[0] if str(error) else type(error).__name__}; "
            "delete it to resume from the one before"
        ) from None


def latest_checkpoint(run_dir: Path) -> Path | None:
    """Return the newest readable checkpoint of ``run_dir``, or None."""
    for path in reversed(list_checkpoints(run_dir)):
        try:
            read_checkpoint(path)
        except NapariGanError as error:
            logger.warning("skipping unreadable checkpoint: %s", error)
            continue
        return path
    return None


# Room for a few checkpoints of a default-sized run, checked before training starts.
MIN_FREE_BYTES = 200 * 1024 * 1024


def check_run_dir(run_dir: Path, needed_bytes: int = MIN_FREE_BYTES) -> None:
    """Create ``run_dir`` and raise ``NapariGanError`` unless it is writable with ``needed_bytes`` free."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write-test"
        probe.write_bytes(b"0")
        probe.unlink()
    except OSError as error:
        raise NapariGanError(
            f"run folder {str(run_dir)!r} is not writable ({error.strerror or error}); pick another run folder"
        ) from None
    free = shutil.disk_usage(run_dir).free
    if free < needed_bytes:
        raise NapariGanError(
            f"run folder {str(run_dir)!r} has {free / 2**20:.0f} MiB free, less than the {needed_bytes / 2**20:.0f} MiB "
            "needed for checkpoints; free disk space or pick another folder"
        )
