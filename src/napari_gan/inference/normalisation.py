"""Whole-image normalisation statistics, so that a tiled pass matches a whole-image pass.

Instance normalisation normalises each channel by the mean and variance of the image it receives.
So does batch normalisation run with per-image statistics, which is how pix2pix and CycleGAN
generators are trained (batch size 1) and applied by that project's test script (no eval mode).
Run tile by tile, every tile would get its own statistics and the output would show seams.

The scheme here has two passes:

1. A statistics pass runs the network once over the whole (padded) plane and records, at every
   normalisation layer, the per-channel mean and biased variance of its input. Each layer
   records what the whole-image pass itself uses, so inner U-Net levels get the statistics of
   the downsampled whole image, exactly as a whole-image pass computes them.
2. The tiled pass runs each tile with every normalisation layer fixed to those statistics.

The only remaining difference from a whole-image pass is the one of any tiled convolutional
network: pixels near a tile edge see less context. The tile padding and blended overlap keep it
small. The statistics pass costs one whole-image forward pass without gradients. Planes larger
than :data:`STATISTICS_MAX_PIXELS` are area-downscaled for it, which gives an estimate of the
statistics and is announced with a warning.
"""

from __future__ import annotations

import math
import types
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

STATISTICS_MODES = ("image", "running")
"""``image``: per-image statistics for every normalisation layer; ``running``: batch normalisation
uses its stored running statistics (eval mode), instance normalisation still uses per-image ones."""
STATISTICS_MAX_PIXELS = 2048 * 2048
"""Largest plane, in pixels, whose statistics pass runs at full resolution. A ResNet-9 generator
with 64 features needs an estimated 4 GB of float32 activations there."""

Statistics = dict[nn.Module, tuple[torch.Tensor, torch.Tensor]]


def _uses_image_statistics(module: nn.Module, mode: str) -> bool:
    if isinstance(module, nn.InstanceNorm2d):
        return not module.track_running_stats or mode == "image"
    if isinstance(module, nn.BatchNorm2d):
        return mode == "image"
    return False


def image_norm_layers(net: nn.Module, mode: str = "image") -> list[nn.Module]:
    """Return the normalisation layers of ``net`` that use per-image statistics in ``mode``."""
    if mode not in STATISTICS_MODES:
        raise ValueError(f"unknown statistics mode {mode!r}; valid: {', '.join(STATISTICS_MODES)}")
    return [module for module in net.modules() if _uses_image_statistics(module, mode)]


def _normalise(module: nn.Module, x: torch.Tensor, mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    shape = (1, -1, 1, 1)
    y = (x - mean.view(shape).to(x.dtype)) * torch.rsqrt(var.view(shape) + module.eps).to(x.dtype)
    if module.affine:
        y = y * module.weight.view(shape) + module.bias.view(shape)
    return y


@contextmanager
def image_statistics(
    net: nn.Module, mode: str = "image", *, record: Statistics | None = None, fixed: Statistics | None = None
) -> Iterator[None]:
    """Make the normalisation layers of ``net`` use per-image or fixed statistics inside the block.

    Parameters
    ----------
    net : torch.nn.Module
        A network in eval mode, run on batches of one image ``(1, C, H, W)``.
    mode : str
        One of :data:`STATISTICS_MODES`; layers that use running statistics are left alone.
    record : dict, optional
        Filled with each layer's ``(mean, var)``, both ``(C,)``, from the images it receives.
    fixed : dict, optional
        Statistics from an earlier ``record``; each layer normalises with them instead.
    """
    layers = image_norm_layers(net, mode)

    def make_forward(module: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
        def forward(self: nn.Module, x: torch.Tensor) -> torch.Tensor:
            if fixed is not None:
                mean, var = fixed[self]
            else:
                values = x.float()
                mean = values.mean(dim=(0, 2, 3))
                var = values.var(dim=(0, 2, 3), unbiased=False)
                if record is not None:
                    record[self] = (mean, var)
            return _normalise(self, x, mean, var)

        return types.MethodType(forward, module)

    for module in layers:
        module.forward = make_forward(module)
    try:
        yield
    finally:
        for module in layers:
            del module.forward


def gather_statistics(
    run: Callable[[torch.Tensor], torch.Tensor], net: nn.Module, image: torch.Tensor, mode: str, size_multiple: int
) -> Statistics:
    """Run the statistics pass over a whole plane and return each layer's ``(mean, var)``.

    Parameters
    ----------
    run : callable
        Runs the network on ``(1, C, h, w)`` in ``[0, 1]``, as the tiled pass does.
    net : torch.nn.Module
        The network inside ``run``.
    image : torch.Tensor
        The whole plane, ``(1, C, H, W)`` float32 in ``[0, 1]``.
    mode : str
        One of :data:`STATISTICS_MODES`.
    size_multiple : int
        The plane is padded by reflection to a multiple of this, as the whole-image pass is.
    """
    from napari_gan.inference.tiling import _pad_to_multiple

    height, width = image.shape[-2:]
    if height * width > STATISTICS_MAX_PIXELS:
        factor = math.sqrt(STATISTICS_MAX_PIXELS / (height * width))
        size = (max(1, int(height * factor)), max(1, int(width * factor)))
        warnings.warn(
            f"the {height}x{width} plane is area-downscaled to {size[0]}x{size[1]} to estimate its normalisation "
            "statistics; the tiled result may differ slightly from a whole-image pass",
            stacklevel=3,
        )
        image = F.interpolate(image, size=size, mode="area")
    padded, _, _ = _pad_to_multiple(image, size_multiple)
    statistics: Statistics = {}
    with image_statistics(net, mode, record=statistics):
        run(padded)
    return statistics
