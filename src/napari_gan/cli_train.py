"""``napari-gan train``: the training command line, built from the configuration dataclasses."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from napari_gan.errors import NapariGanError

DATA_FILE = "data.json"


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
    """Add ``train TASK`` for every registered task, with one option per configuration field."""
    import napari_gan.training  # noqa: F401, importing the task modules registers their commands
    from napari_gan.training.commands import TRAIN_COMMANDS
    from napari_gan.training.config import field_docs

    train = commands.add_parser("train", help="train a generator on your images", description="Train a GAN generator.")
    tasks = train.add_subparsers(dest="task", required=True, metavar="TASK")
    for command in TRAIN_COMMANDS.values():
        parser = tasks.add_parser(command.name, help=command.help, description=command.description)
        for option, text in command.data_options.items():
            parser.add_argument(f"--{option.replace('_', '-')}", nargs="+", type=Path, default=None, metavar="PATH", help=text)
        parser.add_argument("--out", type=Path, required=True, metavar="RUN_DIR", help="run folder")
        parser.add_argument("--resume", action="store_true", help="continue the run in RUN_DIR up to --steps")
        docs = field_docs(command.config_class)
        for field in dataclasses.fields(command.config_class):
            default = field.default
            shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
            parser.add_argument(
                f"--{field.name.replace('_', '-')}",
                type=_option_type(default),
                default=None,
                dest=f"config_{field.name}",
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
    """Run ``train TASK`` with a progress bar; Ctrl-C stops with a checkpoint."""
    from napari_gan.training import Trainer
    from napari_gan.training.config import load_config

    from napari_gan.training.commands import TRAIN_COMMANDS

    command = TRAIN_COMMANDS[arguments.task]
    out: Path = arguments.out
    overrides = {
        field.name: getattr(arguments, f"config_{field.name}")
        for field in dataclasses.fields(command.config_class)
        if getattr(arguments, f"config_{field.name}", None) is not None
    }
    given = {option: getattr(arguments, option) for option in command.data_options}
    data_file = out / DATA_FILE
    if arguments.resume:
        if not (out / "config.json").is_file():
            raise NapariGanError(f"{str(out)!r} has no config.json to resume; start a new run without --resume")
        config = load_config(out / "config.json")
        if not isinstance(config, command.config_class):
            raise NapariGanError(f"{str(out)!r} contains a run of another task; resume it with that task's command")
        config = dataclasses.replace(config, **overrides)
        saved = json.loads(data_file.read_text(encoding="utf-8")) if data_file.is_file() else {}
        paths = {option: given[option] or ([Path(p) for p in saved[option]] if saved.get(option) else None) for option in given}
    else:
        config = command.config_class(**overrides)
        paths = given
    for option in command.required_data:
        if not paths.get(option):
            raise NapariGanError(f"no training data; give image files or folders with --{option.replace('_', '-')}")
    config.validate()

    images = {option: _read_images(value) if value else None for option, value in paths.items()}
    task = command.build_task(config, images)
    trainer = Trainer(task, out, resume=arguments.resume)
    if trainer.context.is_main:
        record = {option: [str(p.resolve()) for p in value] if value else None for option, value in paths.items()}
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
