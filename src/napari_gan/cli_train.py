"""``napari-gan train``: the training command line, built from the configuration dataclasses."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from napari_gan.errors import NapariGanError

DATA_FILE = "data.json"
# Options that name data or the run rather than a configuration field.
RUN_OPTIONS = ("data", "low_res", "out", "resume")


def _parse_bool(text: str) -> bool:
    values = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
    if text.lower() not in values:
        raise ValueError(f"invalid boolean {text!r}")
    return values[text.lower()]


def _option_type(default: object):
    if isinstance(default, bool):
        return _parse_bool
    if isinstance(default, tuple):
        return lambda text: tuple(float(value) for value in text.split(","))
    return type(default)


def add_train_parser(commands: argparse._SubParsersAction) -> None:
    """Add ``train superres`` with one option per field of :class:`SuperResConfig`."""
    from napari_gan.training.config import SuperResConfig, field_docs

    train = commands.add_parser("train", help="train a generator on your images", description="Train a GAN generator.")
    tasks = train.add_subparsers(dest="task", required=True, metavar="TASK")
    superres = tasks.add_parser(
        "superres",
        help="super-resolution: learn to upscale your images",
        description="Train a super-resolution GAN on image files: pixel-loss warm-up, then adversarial training. "
        "RUN_DIR receives config.json, autosaved checkpoints and generator.safetensors.",
    )
    superres.add_argument("--data", nargs="+", type=Path, default=None, metavar="PATH", help="high-resolution image files or folders of them")
    superres.add_argument("--low-res", nargs="+", type=Path, default=None, metavar="PATH", help="real low-resolution images paired with --data, in the same order")
    superres.add_argument("--out", type=Path, required=True, metavar="RUN_DIR", help="run folder")
    superres.add_argument("--resume", action="store_true", help="continue the run in RUN_DIR up to --steps")
    docs = field_docs(SuperResConfig)
    for field in dataclasses.fields(SuperResConfig):
        default = field.default
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        superres.add_argument(
            f"--{field.name.replace('_', '-')}",
            type=_option_type(default),
            default=None,
            metavar=field.name.split("_")[-1].upper() if not isinstance(default, bool) else "BOOL",
            help=f"{docs.get(field.name, field.name.replace('_', ' '))} (default: {shown!r})".replace("%", "%%"),
        )


def _image_files(paths: list[Path]) -> list[Path]:
    from napari_gan.io import IMAGE_SUFFIXES

    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise NapariGanError(f"folder {str(path)!r} has no images ({', '.join(IMAGE_SUFFIXES)})")
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            raise NapariGanError(f"training data {str(path)!r} not found; check the path")
    return files


def _read_images(paths: list[Path]):
    from napari_gan.io import read_image
    from napari_gan.training import TrainingImage

    return [TrainingImage(read_image(path), name=f"image {str(path)!r}") for path in _image_files(paths)]


def run_train(arguments: argparse.Namespace) -> None:
    """Run ``train superres`` with a progress bar; Ctrl-C stops with a checkpoint."""
    from napari_gan.training import SuperResConfig, SuperResolutionTask, Trainer
    from napari_gan.training.config import load_config

    out: Path = arguments.out
    overrides = {
        field.name: getattr(arguments, field.name)
        for field in dataclasses.fields(SuperResConfig)
        if getattr(arguments, field.name, None) is not None
    }
    data_file = out / DATA_FILE
    if arguments.resume:
        if not (out / "config.json").is_file():
            raise NapariGanError(f"{str(out)!r} has no config.json to resume; start a new run without --resume")
        config = dataclasses.replace(load_config(out / "config.json"), **overrides)
        saved = json.loads(data_file.read_text(encoding="utf-8")) if data_file.is_file() else {}
        data = arguments.data or [Path(p) for p in saved.get("data", [])]
        low_res = arguments.low_res or ([Path(p) for p in saved["low_res"]] if saved.get("low_res") else None)
    else:
        config = SuperResConfig(**overrides)
        data, low_res = arguments.data, arguments.low_res
    if not data:
        raise NapariGanError("no training data; give image files or folders with --data")
    config.validate()

    task = SuperResolutionTask(config, _read_images(data), _read_images(low_res) if low_res else None)
    trainer = Trainer(task, out, resume=arguments.resume)
    if trainer.context.is_main:
        record = {"data": [str(p.resolve()) for p in data], "low_res": [str(p.resolve()) for p in low_res] if low_res else None}
        data_file.write_text(json.dumps(record, indent=2), encoding="utf-8")
    _follow(trainer)


def _follow(trainer) -> None:
    from tqdm import tqdm

    from napari_gan.training import CheckpointEvent, FinishedEvent, StepEvent

    show = trainer.context.is_main
    events = trainer.run()
    bar = tqdm(total=trainer.config.steps, initial=trainer.step, unit="step", file=sys.stderr, disable=not show or None, dynamic_ncols=True)
    # Without a terminal (a log file, a batch job) the bar is off; print a line per preview interval instead.
    log_lines = show and bar.disable
    try:
        for event in events:
            if isinstance(event, StepEvent):
                bar.update(event.step - bar.n)
                postfix = {name.removeprefix("loss_"): f"{value:.4f}" for name, value in event.losses.items()}
                if event.d_accuracy_real is not None:
                    postfix["D_acc"] = f"{event.d_accuracy_real:.2f}/{event.d_accuracy_fake:.2f}"
                bar.set_postfix(postfix, refresh=False)
                if log_lines and (event.step % trainer.config.preview_every == 0 or event.step == event.total_steps):
                    values = " ".join(f"{name}={value}" for name, value in postfix.items())
                    print(f"step {event.step}/{event.total_steps} {values} {event.images_per_second:.1f} img/s", flush=True)
            elif isinstance(event, CheckpointEvent) and show:
                bar.write(f"checkpoint {event.path}")
            elif isinstance(event, FinishedEvent) and show:
                bar.close()
                print(f"{event.message}; generator: {event.generator_path}; checkpoint: {event.checkpoint}")
    except KeyboardInterrupt:
        events.close()
        bar.close()
        raise NapariGanError(
            f"interrupted at step {trainer.step}; checkpoint {trainer.last_checkpoint}; continue with --resume"
        ) from None
    finally:
        bar.close()
