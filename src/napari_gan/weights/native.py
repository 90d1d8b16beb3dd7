"""The project's own weight format: safetensors with the generator's description in the metadata."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from napari_gan.errors import NapariGanError

if TYPE_CHECKING:
    from napari_gan.generator import Generator, GeneratorInfo

METADATA_KEY = "napari_gan.generator"
FORMAT_KEY = "napari_gan.format_version"
FORMAT_VERSION = "1"
# Fields that describe where a loaded copy came from, not the generator itself.
_SESSION_FIELDS = ("source", "source_format")


def atomic_write(path: Path, write: Any) -> None:
    """Call ``write(temporary_path)``, then rename the finished file to ``path``.

    A crash or an error in ``write`` leaves any earlier file at ``path`` untouched and no
    partial file behind.
    """
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(handle)
    try:
        write(temporary)
        with open(temporary, "rb+") as stream:
            os.fsync(stream.fileno())
        # mkstemp creates the file readable by its owner only; give it the permissions of a normal new file.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def save_generator(generator: Generator, path: str | Path) -> Path:
    """Write ``generator`` to ``path`` (``.safetensors``) with its description in the metadata."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise NapariGanError(f"cannot save to {str(path)!r}: generators are saved as .safetensors; change the extension")
    if not path.parent.is_dir():
        raise NapariGanError(f"cannot save to {str(path)!r}: folder {str(path.parent)!r} does not exist; create it first")
    info = {key: value for key, value in dataclasses.asdict(generator.info).items() if key not in _SESSION_FIELDS}
    metadata = {METADATA_KEY: json.dumps(info), FORMAT_KEY: FORMAT_VERSION}
    state = {key: tensor.detach().to("cpu", torch.float32).contiguous() for key, tensor in generator.net.state_dict().items()}
    atomic_write(path, lambda temporary: save_file(state, temporary, metadata=metadata))
    return path


def read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Return the tensors and the metadata of a ``.safetensors`` file."""
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = handle.metadata() or {}
            state = {key: handle.get_tensor(key) for key in handle.keys()}
    except (SafetensorError, OSError, ValueError) as error:
        raise NapariGanError(
            f"cannot read weights file {str(path)!r}: it is not a valid .safetensors file ({error}); "
            "the file may be truncated, so download or save it again"
        ) from None
    return state, metadata


def info_from_metadata(metadata: dict[str, str], path: Path) -> GeneratorInfo | None:
    """Return the generator description stored by :func:`save_generator`, or None if there is none."""
    from napari_gan.generator import GeneratorInfo

    if METADATA_KEY not in metadata:
        return None
    try:
        fields = json.loads(metadata[METADATA_KEY])
        fields["value_range"] = tuple(fields.get("value_range", (0.0, 1.0)))
        return GeneratorInfo(**fields, source=str(path), source_format="napari-gan")
    except (TypeError, ValueError) as error:
        raise NapariGanError(
            f"weights file {str(path)!r} has invalid napari-gan metadata ({error}); it may come from a newer "
            "napari-gan: upgrade, or save the generator again"
        ) from None
