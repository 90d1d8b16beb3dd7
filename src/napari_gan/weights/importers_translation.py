"""Readers for the generators saved by pytorch-CycleGAN-and-pix2pix (``latest_net_G*.pth``).

The network type, depth, width, normalisation and dropout all come from the keys and shapes,
so a file loads without the ``--netG``, ``--ngf``, ``--norm`` and ``--no_dropout`` options it was
trained with:

- ResNet (``resnet_6blocks``, ``resnet_9blocks``): ``model.1`` is the 7x7 first convolution and
  ``model.N.conv_block`` the residual blocks, whose count is the block count. Dropout sits between
  the two convolutions of a block, so the second one is ``conv_block.6`` with dropout and
  ``conv_block.5`` without.
- U-Net (``unet_128``, ``unet_256``): blocks nest as ``model.model.1.model.3.model.3...``; the
  number of nested blocks is ``num_downs``. Dropout is appended after every parameter of its block,
  so it shifts no key and cannot be read from a file. It is off when applying, so this makes no
  difference to results.
- Normalisation: convolution biases exist only before instance normalisation; batch normalisation
  has its own ``weight`` and ``bias``; ``--norm none`` leaves neither.

Files saved by older PyTorch versions contain ``running_mean``, ``running_var`` and
``num_batches_tracked`` for instance normalisation, which does not use them. They are dropped, as
that project's own test script does.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from napari_gan.archs.pix2pix import DIRECTIONS, RESNET_DOWNSAMPLINGS
from napari_gan.errors import NapariGanError

if TYPE_CHECKING:
    from napari_gan.generator import Generator
    from napari_gan.weights.importers import ImportedWeights

StateDict = dict[str, torch.Tensor]

SOURCE_FORMAT = "pytorch-CycleGAN-and-pix2pix"
NORM_STATISTICS = ("running_mean", "running_var", "num_batches_tracked")
RESNET_FIRST_BLOCK = 1 + 3 * (1 + RESNET_DOWNSAMPLINGS)
"""Index of the first residual block in ``ResnetGenerator.model``: padding, convolution, norm and ReLU,
then three modules per downsampling."""
RESNET_SIZE_MULTIPLE = 2**RESNET_DOWNSAMPLINGS
RESNET_MIN_SIZE = 8
"""The residual blocks reflect-pad by one pixel at a quarter of the input size, which needs 2 pixels there."""


def unet_min_size(num_downs: int) -> int:
    """Return the smallest useful input edge of a U-Net: a quarter of ``2**num_downs``.

    Smaller inputs are padded to ``2**num_downs`` pixels, so more than three quarters of what the
    inner levels see would be padding.
    """
    return max(8, 2**num_downs // 4)


def _norm_of(state: StateDict, conv: str, norm: str) -> str:
    """Return the normalisation of a layer from its convolution ``conv`` and its norm layer ``norm`` prefix."""
    if f"{conv}.bias" in state:
        return "instance"
    if f"{norm}.weight" in state:
        return "batch"
    return "none"


def _drop_unused_statistics(state: StateDict, norm: str) -> StateDict:
    if norm == "batch":
        return dict(state)
    return {key: value for key, value in state.items() if key.rsplit(".", 1)[-1] not in NORM_STATISTICS}


def _imported(arch: str, kwargs: dict, state: StateDict, size_multiple: int) -> ImportedWeights:
    # Imported here because importers.py imports this module to extend its IMPORTERS.
    from napari_gan.weights.importers import ImportedWeights

    state = _drop_unused_statistics(state, kwargs["norm"])
    return ImportedWeights(arch, kwargs, state, SOURCE_FORMAT, 1, kwargs["input_nc"], kwargs["output_nc"], size_multiple)


def _resnet(state: StateDict) -> ImportedWeights:
    first = state["model.1.weight"]
    ngf, input_nc = first.shape[:2]
    norm = _norm_of(state, "model.1", "model.2")
    blocks = sorted({int(match.group(1)) for key in state if (match := re.fullmatch(r"model\.(\d+)\.conv_block\.1\.weight", key))})
    n_blocks = len(blocks)
    if blocks != list(range(RESNET_FIRST_BLOCK, RESNET_FIRST_BLOCK + n_blocks)):
        raise NapariGanError(
            f"ResNet generator residual blocks at model indices {blocks} are not consecutive from {RESNET_FIRST_BLOCK}; "
            "the file was saved with another --netG or padding type than resnet_Nblocks with reflection padding"
        )
    second_conv_6 = state.get(f"model.{RESNET_FIRST_BLOCK}.conv_block.6.weight")
    use_dropout = second_conv_6 is not None and second_conv_6.ndim == 4
    last_index = RESNET_FIRST_BLOCK + n_blocks + 3 * RESNET_DOWNSAMPLINGS + 1
    last = state.get(f"model.{last_index}.weight")
    if last is None or last.ndim != 4:
        raise NapariGanError(
            f"ResNet generator with {n_blocks} blocks has no last convolution model.{last_index}.weight; "
            "the file was saved with another --netG or padding type than resnet_Nblocks with reflection padding"
        )
    kwargs = dict(input_nc=int(input_nc), output_nc=int(last.shape[0]), ngf=int(ngf), norm=norm, use_dropout=use_dropout, n_blocks=n_blocks)
    return _imported("resnet", kwargs, state, RESNET_SIZE_MULTIPLE)


def unet_block_prefixes(state: StateDict) -> list[str]:
    """Return the module path of every nested U-Net block in ``state``, outermost first."""
    prefixes = ["model"]
    path = "model.model.1"
    while f"{path}.model.1.weight" in state:
        prefixes.append(path)
        path = f"{path}.model.3"
    return prefixes


def _unet(state: StateDict) -> ImportedWeights:
    prefixes = unet_block_prefixes(state)
    num_downs = len(prefixes)
    first = state["model.model.0.weight"]
    ngf, input_nc = first.shape[:2]
    # ConvTranspose2d weights are (in, out, kH, kW).
    output_nc = state["model.model.3.weight"].shape[1]
    norm = _norm_of(state, f"{prefixes[1]}.model.1", f"{prefixes[1]}.model.2") if num_downs > 1 else "none"
    kwargs = dict(input_nc=int(input_nc), output_nc=int(output_nc), num_downs=num_downs, ngf=int(ngf), norm=norm, use_dropout=False)
    return _imported("unet", kwargs, state, 2**num_downs)


TRANSLATION_IMPORTERS = (
    ("pix2pix/CycleGAN ResNet generator", ("model.1.weight", f"model.{RESNET_FIRST_BLOCK}.conv_block.1.weight"), _resnet),
    ("pix2pix/CycleGAN U-Net generator", ("model.model.0.weight", "model.model.1.model.1.weight", "model.model.3.weight"), _unet),
)
"""(name, signature keys, reader) of each layout, for :data:`napari_gan.weights.importers.IMPORTERS`."""


def is_translation_state(state: dict[str, torch.Tensor]) -> bool:
    """Return whether ``state`` matches a pix2pix/CycleGAN generator layout."""
    return any(all(key in state for key in signature) for _, signature, _ in TRANSLATION_IMPORTERS)


TRANSLATION_ARCHS = ("unet", "resnet")


def translation_min_size(arch: str, arch_kwargs: dict) -> int:
    """Return the smallest input edge, in pixels, for a ``unet`` or ``resnet`` generator."""
    if arch == "unet":
        return unet_min_size(int(arch_kwargs["num_downs"]))
    return RESNET_MIN_SIZE


TRANSLATION_MISMATCH_HINT = (
    "The file may have been saved with another --netG, --norm or padding type than detected; napari-gan "
    "reads unet_N and resnet_Nblocks generators with reflection padding and batch, instance or no normalisation"
)


def select_direction(generator: Generator, direction: str) -> Generator:
    """Return the generator of a CycleGAN run that translates in ``direction``.

    Parameters
    ----------
    generator : Generator
        A ``translation_pair`` file saved by napari-gan's CycleGAN training (both directions in one
        file), or a ``latest_net_G_A.pth``/``latest_net_G_B.pth`` file of pytorch-CycleGAN-and-pix2pix,
        whose sibling file contains the other direction.
    direction : str
        ``"AtoB"`` or ``"BtoA"``. In that project's naming, G_A translates A to B and G_B B to A.

    Raises
    ------
    NapariGanError
        For an unknown direction, or a file that holds only one direction and has no sibling.
    """
    from napari_gan.generator import Generator, GeneratorInfo
    from napari_gan.weights.loader import load_generator

    if direction not in DIRECTIONS:
        raise NapariGanError(f"invalid direction {direction!r}; use AtoB or BtoA")
    if generator.info.arch == "translation_pair":
        kwargs = generator.info.arch_kwargs
        if direction == kwargs.get("direction", "AtoB"):
            return generator
        net = generator.net.b_to_a if direction == "BtoA" else generator.net.a_to_b
        arch_kwargs = dict(kwargs["b_to_a" if direction == "BtoA" else "a_to_b"])
        info = GeneratorInfo(
            **{
                **dataclasses.asdict(generator.info),
                "name": f"{generator.name} {direction}",
                "arch": kwargs["arch"],
                "arch_kwargs": arch_kwargs,
                "in_channels": arch_kwargs["input_nc"],
                "out_channels": arch_kwargs["output_nc"],
            }
        )
        return Generator(net, info)
    source = Path(generator.info.source)
    own, other = ("G_A", "G_B") if direction == "BtoA" else ("G_B", "G_A")
    if source.suffix and own in source.stem:
        sibling = source.with_name(source.name.replace(own, other))
        if not sibling.is_file():
            raise NapariGanError(
                f"direction {direction} needs {str(sibling)!r}, the other generator of the CycleGAN run, next to "
                f"{str(source)!r}; copy it there"
            )
        return load_generator(sibling)
    if (direction == "AtoB" and "G_B" not in source.stem) or (direction == "BtoA" and "G_B" in source.stem):
        return generator
    raise NapariGanError(
        f"{generator.name!r} contains one direction only, so it cannot translate {direction}; load the generator of "
        "that direction (latest_net_G_B.pth translates B to A), or a CycleGAN run's generator.safetensors"
    )
