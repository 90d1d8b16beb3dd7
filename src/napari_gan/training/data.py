"""Training images from arrays and layers: normalised planes and random patches."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from napari_gan.data.layout import plan_layout
from napari_gan.data.ranges import check_image, measure_range
from napari_gan.errors import NapariGanError


@dataclass
class TrainingImage:
    """One source of training data: an image, a stack, or an RGB image, as an array or a layer's data."""

    data: np.ndarray
    name: str = "image"
    rgb: bool | None = None
    """Whether the last axis is RGB(A); None guesses as napari does."""


def to_planes(images: list[TrainingImage], channels: int) -> tuple[list[torch.Tensor], int]:
    """Return float32 planes ``(C, H, W)`` in [0, 1] and the channel count C.

    Each image is normalised by its own value range (uint8 by 0-255). Leading axes (Z, T) give
    one plane each. ``channels`` 0 picks 3 when every image is RGB and 1 otherwise; with 1,
    every colour channel becomes a plane of its own. Alpha channels are dropped.
    """
    if not images:
        raise NapariGanError("no training images; pick at least one image layer or file")
    layouts = []
    for image in images:
        check_image(image.data, image.name)
        layouts.append(plan_layout(tuple(image.data.shape), rgb=image.rgb))
    if channels == 0:
        channels = 3 if all(layout.rgb for layout in layouts) else 1
    planes: list[torch.Tensor] = []
    for image, layout in zip(images, layouts):
        if channels == 3 and not layout.rgb:
            raise NapariGanError(f"{image.name} is not RGB but the generator takes 3 channels; use 1 channel or RGB images")
        value_range = measure_range(image.data, image.name)
        source = layout.channels_last(np.asarray(image.data))
        colour = 3 if layout.rgb else source.shape[-1]
        for index in np.ndindex(*source.shape[:-3]):
            plane = value_range.normalise(source[index][..., :colour]).transpose(2, 0, 1)
            if channels == 1:
                planes.extend(torch.from_numpy(np.ascontiguousarray(channel[None])) for channel in plane)
            else:
                planes.append(torch.from_numpy(np.ascontiguousarray(plane)))
    return planes, channels


def check_patch_fits(planes: list[torch.Tensor], patch_size: int, names: str = "training images") -> list[int]:
    """Return the indices of planes at least ``patch_size`` on both sides, or raise with the sizes."""
    usable = [index for index, plane in enumerate(planes) if min(plane.shape[-2:]) >= patch_size]
    if not usable:
        sizes = sorted({f"{p.shape[-2]}x{p.shape[-1]}" for p in planes})
        largest = max(min(p.shape[-2:]) for p in planes)
        raise NapariGanError(
            f"all {names} are smaller than the {patch_size}-pixel patch size (sizes: {', '.join(sizes[:6])}); "
            f"use a patch size of at most {largest} or larger images"
        )
    return usable


def random_crop(
    planes: list[torch.Tensor], usable: list[int], size: int, rng: torch.Generator, align: int = 1
) -> tuple[int, int, int]:
    """Pick a plane (weighted by area) and a top-left corner on a multiple of ``align``; return (index, top, left)."""
    weights = torch.tensor([float(planes[i].shape[-2] * planes[i].shape[-1]) for i in usable])
    index = usable[int(torch.multinomial(weights, 1, generator=rng))]
    height, width = planes[index].shape[-2:]
    top = int(torch.randint((height - size) // align + 1, (1,), generator=rng)) * align
    left = int(torch.randint((width - size) // align + 1, (1,), generator=rng)) * align
    return index, top, left


def augment(patches: list[torch.Tensor], rng: torch.Generator) -> list[torch.Tensor]:
    """Apply one random flip and 90-degree rotation to every tensor of ``patches`` alike."""
    turns = int(torch.randint(4, (1,), generator=rng))
    flip = bool(torch.rand(1, generator=rng) < 0.5)
    result = []
    for patch in patches:
        patch = torch.rot90(patch, turns, dims=(-2, -1))
        result.append(patch.flip(-1) if flip else patch)
    return result
