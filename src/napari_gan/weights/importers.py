"""Readers for published super-resolution weight layouts.

Each importer looks at the keys and shapes of a state dict, and when it recognises them
returns the architecture, its arguments and the state dict renamed to this project's
modules. Sizes (block count, width, growth channels, scale) come from the tensors, so
variants such as Real-ESRGAN's x2 model or the 6-block anime model need no settings.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from napari_gan.errors import NapariGanError

StateDict = dict[str, torch.Tensor]


@dataclass
class ImportedWeights:
    """A recognised state dict, renamed to fit ``arch``."""

    arch: str
    arch_kwargs: dict[str, Any]
    state_dict: StateDict
    source_format: str
    scale: int
    in_channels: int
    out_channels: int
    size_multiple: int = 1


def _rrdbnet_from_basicsr(state: StateDict, source_format: str = "Real-ESRGAN/BasicSR") -> ImportedWeights:
    num_feat, first_in_ch = state["conv_first.weight"].shape[:2]
    num_out_ch = state["conv_last.weight"].shape[0]
    num_grow_ch = state["body.0.rdb1.conv1.weight"].shape[0]
    num_block = len({key.split(".")[1] for key in state if re.fullmatch(r"body\.\d+\.rdb1\.conv1\.weight", key)})
    # RRDBNet folds x2 and x1 inputs with a pixel unshuffle, which multiplies the first
    # convolution's input channels by 4 or 16; input and output channel counts are equal.
    scale_by_fold = {1: 4, 4: 2, 16: 1}
    fold = first_in_ch // num_out_ch if first_in_ch % num_out_ch == 0 else 0
    if fold not in scale_by_fold:
        raise NapariGanError(
            f"RRDBNet weights with {first_in_ch} input and {num_out_ch} output channels fit no supported scale; "
            "napari-gan reads x4, x2 and x1 files whose input and output channel counts are equal"
        )
    scale = scale_by_fold[fold]
    num_in_ch = first_in_ch // fold
    kwargs = dict(
        num_in_ch=num_in_ch,
        num_out_ch=num_out_ch,
        scale=scale,
        num_feat=num_feat,
        num_block=num_block,
        num_grow_ch=num_grow_ch,
    )
    return ImportedWeights("rrdbnet", kwargs, state, source_format, scale, num_in_ch, num_out_ch, 4 // scale)


_OLD_ESRGAN_NAMES = {
    "trunk_conv": "conv_body",
    "upconv1": "conv_up1",
    "upconv2": "conv_up2",
    "HRconv": "conv_hr",
}


def _rrdbnet_from_esrgan_named(state: StateDict) -> ImportedWeights:
    renamed: StateDict = {}
    for key, tensor in state.items():
        key = re.sub(r"^RRDB_trunk\.(\d+)\.RDB(\d)\.", r"body.\1.rdb\2.", key)
        module, _, rest = key.partition(".")
        renamed[f"{_OLD_ESRGAN_NAMES.get(module, module)}.{rest}"] = tensor
    return _rrdbnet_from_basicsr(renamed, "ESRGAN (RRDB_trunk layout)")


def _rrdbnet_from_esrgan_sequential(state: StateDict) -> ImportedWeights:
    # The original ESRGAN release stores one nn.Sequential: model.0 is the first convolution,
    # model.1.sub.N the blocks and then the trunk convolution, then upsampling convolutions,
    # the high-resolution convolution and the last convolution at increasing indices.
    renamed: StateDict = {}
    num_block = len({key.split(".")[3] for key in state if re.fullmatch(r"model\.1\.sub\.\d+\.RDB1\.conv1\.0\.weight", key)})
    later = sorted({int(key.split(".")[1]) for key in state if re.fullmatch(r"model\.\d+\.weight", key)} - {0})
    if len(later) != 4:
        raise NapariGanError(
            f"ESRGAN weights with {len(later) - 2} upsampling stages are not supported; napari-gan reads "
            "the x4 layout, with two upsampling stages (model.3 and model.6)"
        )
    module_names = dict(zip(later, ("conv_up1", "conv_up2", "conv_hr", "conv_last")))
    module_names[0] = "conv_first"
    for key, tensor in state.items():
        if match := re.fullmatch(r"model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.(weight|bias)", key):
            block, rdb, conv, kind = match.groups()
            renamed[f"body.{block}.rdb{rdb}.conv{conv}.{kind}"] = tensor
        elif match := re.fullmatch(rf"model\.1\.sub\.{num_block}\.(weight|bias)", key):
            renamed[f"conv_body.{match.group(1)}"] = tensor
        elif match := re.fullmatch(r"model\.(\d+)\.(weight|bias)", key):
            renamed[f"{module_names[int(match.group(1))]}.{match.group(2)}"] = tensor
        else:
            renamed[key] = tensor
    return _rrdbnet_from_basicsr(renamed, "ESRGAN (sequential layout)")


def _srvgg(state: StateDict) -> ImportedWeights:
    conv_indices = sorted(int(key.split(".")[1]) for key in state if re.fullmatch(r"body\.\d+\.weight", key) and state[key].ndim == 4)
    first, last = state[f"body.{conv_indices[0]}.weight"], state[f"body.{conv_indices[-1]}.weight"]
    num_feat, num_in_ch = first.shape[:2]
    # The last convolution makes num_out_ch * upscale**2 channels for the pixel shuffle;
    # Real-ESRGAN's compact models have as many output as input channels.
    upscale = math.isqrt(last.shape[0] // num_in_ch)
    if upscale * upscale * num_in_ch != last.shape[0]:
        raise NapariGanError(
            f"SRVGGNetCompact weights whose last convolution has {last.shape[0]} channels fit no integer scale "
            f"for {num_in_ch} input channels"
        )
    act_type = "prelu" if "body.1.weight" in state else "leakyrelu"
    kwargs = dict(
        num_in_ch=num_in_ch,
        num_out_ch=num_in_ch,
        num_feat=num_feat,
        num_conv=len(conv_indices) - 2,
        upscale=upscale,
        act_type=act_type,
    )
    return ImportedWeights("srvgg", kwargs, state, "Real-ESRGAN compact (SRVGGNetCompact)", upscale, num_in_ch, num_in_ch)


@dataclass(frozen=True)
class Importer:
    """A published layout: the keys that identify it and the function that reads it."""

    name: str
    signature: tuple[str, ...]
    read: Callable[[StateDict], ImportedWeights]


IMPORTERS = (
    Importer("Real-ESRGAN/BasicSR RRDBNet", ("conv_first.weight", "body.0.rdb1.conv1.weight", "conv_last.weight"), _rrdbnet_from_basicsr),
    Importer("ESRGAN, RRDB_trunk layout", ("conv_first.weight", "RRDB_trunk.0.RDB1.conv1.weight", "trunk_conv.weight"), _rrdbnet_from_esrgan_named),
    Importer("ESRGAN, sequential layout", ("model.0.weight", "model.1.sub.0.RDB1.conv1.0.weight"), _rrdbnet_from_esrgan_sequential),
    Importer("Real-ESRGAN SRVGGNetCompact", ("body.0.weight", "body.2.weight"), _srvgg),
)

from napari_gan.weights.importers_translation import TRANSLATION_IMPORTERS  # noqa: E402, needs Importer above

IMPORTERS += tuple(Importer(*entry) for entry in TRANSLATION_IMPORTERS)

# Containers in which training frameworks wrap the state dict, in order of preference:
# BasicSR saves the exponential moving average as params_ema, which Real-ESRGAN's inference uses.
WRAPPER_KEYS = ("params_ema", "params", "state_dict", "model_state_dict", "net_g", "generator")


def unwrap_state_dict(loaded: object, path: str) -> StateDict:
    """Return the state dict inside what ``torch.load`` returned for ``path``."""
    if isinstance(loaded, dict):
        for key in WRAPPER_KEYS:
            if isinstance(loaded.get(key), dict):
                loaded = loaded[key]
                break
    if not isinstance(loaded, dict) or not loaded:
        raise NapariGanError(f"weights file {path!r} contains {type(loaded).__name__}, not a state dict of tensors")
    state = {key.removeprefix("module."): value for key, value in loaded.items() if isinstance(value, torch.Tensor)}
    if not state:
        raise NapariGanError(f"weights file {path!r} contains no tensors; top-level keys: {', '.join(map(str, list(loaded)[:8]))}")
    return state


def import_state_dict(state: StateDict, path: str) -> ImportedWeights:
    """Recognise the layout of ``state`` and return it renamed for the matching architecture.

    Raises
    ------
    NapariGanError
        If no known layout matches; the message lists the expected keys and the keys found.
    """
    for importer in IMPORTERS:
        if all(key in state for key in importer.signature):
            return importer.read(state)
    expected = "; ".join(f"{importer.name}: {', '.join(importer.signature)}" for importer in IMPORTERS)
    found = ", ".join(list(state)[:6]) + (f", ... ({len(state)} keys)" if len(state) > 6 else "")
    raise NapariGanError(
        f"weights file {path!r} matches no supported architecture. Expected keys of one of: {expected}. "
        f"Found: {found}"
    )
