"""Loading generators by bundled name or from a weights file."""

from __future__ import annotations

import pickle
import zipfile
from importlib import resources
from pathlib import Path

import torch

from napari_gan.archs import build_arch
from napari_gan.errors import NapariGanError
from napari_gan.generator import Generator, GeneratorInfo
from napari_gan.weights.importers import import_state_dict, unwrap_state_dict
from napari_gan.weights.importers_translation import TRANSLATION_ARCHS, TRANSLATION_MISMATCH_HINT, translation_min_size
from napari_gan.weights.native import info_from_metadata, read_safetensors

BUNDLED_PACKAGE = "napari_gan.weights.bundled"
TORCH_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin")
PICKLE_SUFFIXES = (".pkl", ".pickle")
SUPPORTED_SUFFIXES = (".safetensors", *TORCH_SUFFIXES)

WEIGHT_FORMATS = {
    "napari-gan .safetensors": "this project's files: weights plus the architecture and settings in the metadata",
    "Real-ESRGAN / BasicSR .pth": "RRDBNet x4, x2 and x1 (params_ema preferred over params) and SRVGGNetCompact",
    "ESRGAN .pth": "the original x4 RRDBNet layouts (model.0 ... and RRDB_trunk / trunk_conv)",
    "pytorch-CycleGAN-and-pix2pix .pth": "U-Net and ResNet generators (latest_net_G.pth, latest_net_G_A.pth, ...), "
    "any depth, width, normalisation and dropout",
}


def _bundled_dir() -> Path:
    return Path(str(resources.files(BUNDLED_PACKAGE)))


def list_models(task: str | None = None) -> list[str]:
    """Return the names of the bundled generators, sorted; with ``task``, only those of that task.

    ``task`` is ``"superres"``, ``"synthesis"`` or another :attr:`GeneratorInfo.task`; it is read
    from each file's metadata without building the network.
    """
    paths = sorted(_bundled_dir().glob("*.safetensors"))
    if task is not None:
        paths = [path for path in paths if model_task(path) == task]
    return [path.stem for path in paths]


def model_task(path: str | Path) -> str:
    """Return the task stored in a napari-gan ``.safetensors`` file, or ``"superres"`` when there is none."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt", device="cpu") as handle:
        metadata = handle.metadata() or {}
    info = info_from_metadata(metadata, Path(path))
    return info.task if info is not None else "superres"


def bundled_model_card(name: str) -> str:
    """Return the model card (Markdown) of bundled generator ``name``."""
    card = _bundled_dir() / f"{name}.md"
    return card.read_text(encoding="utf-8") if card.is_file() else ""


def load_generator(name_or_path: str | Path) -> Generator:
    """Load a bundled generator by name, or a generator from a weights file.

    Parameters
    ----------
    name_or_path : str or pathlib.Path
        A name from :func:`list_models`, or the path of a ``.safetensors`` file saved by
        napari-gan, or of a Real-ESRGAN, BasicSR or ESRGAN ``.pth``/``.pt`` file.
        ``.pth`` files are read with ``torch.load(weights_only=True)``: no code in a file is run.

    Raises
    ------
    NapariGanError
        For an unknown name, a missing, truncated or unreadable file, or weights of an
        unsupported architecture; the message names the file and what to do.
    """
    text = str(name_or_path)
    if not isinstance(name_or_path, Path) and text in list_models():
        generator = _load_file(_bundled_dir() / f"{text}.safetensors")
        generator.info.source = "bundled"
        generator.info.model_card = generator.info.model_card or bundled_model_card(text)
        return generator
    path = Path(text).expanduser()
    if path.is_file():
        return _load_file(path)
    if path.is_dir():
        raise NapariGanError(f"{text!r} is a folder; give a weights file ({', '.join(SUPPORTED_SUFFIXES)})")
    if path.suffix or "/" in text or "\\" in text:
        raise NapariGanError(f"weights file {text!r} not found; check the path")
    raise NapariGanError(
        f"unknown model {text!r}; bundled models: {', '.join(list_models()) or 'none'}, "
        f"or give the path of a weights file ({', '.join(SUPPORTED_SUFFIXES)})"
    )


def _load_file(path: Path) -> Generator:
    suffix = path.suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        raise NapariGanError(_pickle_message(path))
    if suffix == ".safetensors":
        state, metadata = read_safetensors(path)
        info = info_from_metadata(metadata, path)
        if info is not None:
            return _build(info, state, path)
    elif suffix in TORCH_SUFFIXES:
        state = unwrap_state_dict(_torch_load(path), str(path))
    else:
        raise NapariGanError(
            f"cannot read weights file {str(path)!r}: unknown extension {path.suffix!r}; "
            f"supported: {', '.join(SUPPORTED_SUFFIXES)}"
        )
    imported = import_state_dict(state, str(path))
    info = GeneratorInfo(
        name=path.stem,
        arch=imported.arch,
        arch_kwargs=imported.arch_kwargs,
        scale=imported.scale,
        in_channels=imported.in_channels,
        out_channels=imported.out_channels,
        size_multiple=imported.size_multiple,
        min_size=max(8, imported.size_multiple),
        source=str(path),
        source_format=imported.source_format,
    )
    if imported.arch in TRANSLATION_ARCHS:
        info.task = "translation"
        info.value_range = (-1.0, 1.0)
        info.min_size = translation_min_size(imported.arch, imported.arch_kwargs)
        try:
            return _build(info, imported.state_dict, path)
        except NapariGanError as error:
            raise NapariGanError(f"{error}. {TRANSLATION_MISMATCH_HINT}") from None
    return _build(info, imported.state_dict, path)


def _torch_load(path: Path) -> object:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise NapariGanError(_pickle_message(path)) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise NapariGanError(
            f"cannot read weights file {str(path)!r}: {reason}; the file may be truncated or not a PyTorch "
            "file, so download or save it again"
        ) from None


def _pickle_message(path: Path) -> str:
    return (
        f"weights file {str(path)!r} needs code execution to load (a pickled model object, such as a StyleGAN "
        ".pkl), and napari-gan never runs code from a file. In the project that made it, save only the "
        "tensors: torch.save(model.state_dict(), 'weights.pth'), or save_file(model.state_dict(), "
        "'weights.safetensors') from safetensors.torch"
    )


def _build(info: GeneratorInfo, state: dict[str, torch.Tensor], path: Path) -> Generator:
    net = build_arch(info.arch, **info.arch_kwargs)
    expected = net.state_dict()
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    shape_errors = [
        f"{key} {tuple(state[key].shape)} != {tuple(expected[key].shape)}"
        for key in expected
        if key in state and state[key].shape != expected[key].shape
    ]
    if missing or unexpected or shape_errors:
        problems = []
        if missing:
            problems.append(f"missing keys: {', '.join(missing[:5])}")
        if unexpected:
            problems.append(f"unexpected keys: {', '.join(unexpected[:5])}")
        if shape_errors:
            problems.append(f"shape mismatches: {', '.join(shape_errors[:3])}")
        raise NapariGanError(
            f"weights file {str(path)!r} does not fit architecture {info.arch!r} with {info.arch_kwargs}: "
            f"{'; '.join(problems)}"
        )
    net.load_state_dict(state)
    return Generator(net, info)
