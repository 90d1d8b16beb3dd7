"""Applying an image-to-image generator to user arrays of any dtype, layout and size."""

from __future__ import annotations

from collections.abc import Generator as GeneratorType
from dataclasses import dataclass
from typing import TYPE_CHECKING

import warnings

import numpy as np
import torch
import torch.nn.functional as F

from napari_gan.data.layout import plan_layout
from napari_gan.data.ranges import check_image, measure_range, restore_dtype
from napari_gan.devices import resolve_device, uses_half
from napari_gan.errors import NapariGanError
from napari_gan.inference.normalisation import gather_statistics, image_norm_layers, image_statistics
from napari_gan.inference.tiling import _context, iter_tiled, plan_tiles

if TYPE_CHECKING:
    from napari_gan.generator import Generator

DEFAULT_TILE = 256
"""Tile edge in input pixels. For the bundled compact networks in float32 a padded tile needs an
estimated 40 MB of activations; RRDBNet needs about 20 times more."""
DEFAULT_TILE_PAD = 24
"""Context pixels around each tile. The receptive field radius of an SRVGGNet is its convolution count
(12 for the bundled generators), so their tiled output equals a whole-image pass."""
DEFAULT_TILE_OVERLAP = 8
"""Pixels by which tiles overlap and are blended, for networks whose receptive field exceeds the padding."""


@dataclass(frozen=True)
class ApplyProgress:
    """Progress of one apply run, sent after every tile."""

    done: int
    total: int


@dataclass(frozen=True)
class _ChannelPass:
    """One network pass over a plane: which input channels go in, and how the output comes back."""

    channels: tuple[int, ...]
    replicate: bool = False
    """Feed one channel as many identical channels and average the output back to one."""
    convert: str | None = None
    """For translation generators: ``"gray_to_rgb"`` repeats one channel three times and keeps the
    RGB output; ``"rgb_to_gray"`` feeds the luminance of three channels."""


LUMINANCE_WEIGHTS = (0.2125, 0.7154, 0.0721)
"""Weights of R, G and B in the luminance, as in ``skimage.color.rgb2gray`` (ITU-R BT.709)."""


def _plan_channel_passes(
    num_channels: int, rgba: bool, generator: Generator, name: str
) -> tuple[list[_ChannelPass], bool]:
    """Return the network passes for one plane, and whether the last channel is alpha for bicubic upscaling."""
    model_in, model_out = generator.in_channels, generator.out_channels
    if num_channels == model_in:
        return [_ChannelPass(tuple(range(num_channels)))], False
    colour = num_channels - 1 if rgba else num_channels
    if colour == model_in:
        return [_ChannelPass(tuple(range(colour)))], rgba
    if generator.task == "translation" and (colour, model_in) in ((1, 3), (3, 1)):
        # A translation maps between different kinds of image, so averaging per-channel
        # results, as for super-resolution, would not give a meaningful image.
        if colour == 1:
            warnings.warn(
                f"{name} is grayscale but model {generator.name!r} takes RGB; its channel was repeated to make "
                "an RGB image. Convert the image to RGB yourself to choose another conversion",
                stacklevel=4,
            )
            return [_ChannelPass((0,), convert="gray_to_rgb")], rgba
        warnings.warn(
            f"{name} is RGB but model {generator.name!r} takes one channel; its luminance was used. "
            "Convert the image to grayscale yourself to choose another conversion",
            stacklevel=4,
        )
        return [_ChannelPass((0, 1, 2), convert="rgb_to_gray")], rgba
    if model_in == 1 and model_out == 1:
        return [_ChannelPass((channel,)) for channel in range(colour)], rgba
    if colour == 1 and model_in == model_out:
        return [_ChannelPass((0,), replicate=True)], rgba
    raise NapariGanError(
        f"{name} has {colour} colour channel(s) but model {generator.name!r} takes {model_in}; "
        f"pick or split the channels to give it {model_in}, or use a single-channel model, which "
        "processes every channel separately"
    )


def _contexts_cover_image(height: int, width: int, tile: int, pad: int, overlap: int, multiple: int) -> bool:
    """Return whether every tile's padded, aligned context is the whole ``height`` x ``width`` image."""
    grid = plan_tiles(height, width, tile, overlap)
    rows = {_context(start, start + grid.tile_h, pad, height, multiple) for start in grid.rows}
    cols = {_context(start, start + grid.tile_w, pad, width, multiple) for start in grid.cols}
    return rows == {(0, height)} and cols == {(0, width)}


def iter_apply(
    generator: Generator,
    array: np.ndarray,
    *,
    channel_axis: int | None = None,
    rgb: bool | None = None,
    tile: int | None = DEFAULT_TILE,
    tile_pad: int = DEFAULT_TILE_PAD,
    tile_overlap: int = DEFAULT_TILE_OVERLAP,
    device: str | torch.device | None = None,
    half: bool = True,
    norm_statistics: str = "image",
    name: str = "image",
) -> GeneratorType[ApplyProgress, None, np.ndarray]:
    """Apply ``generator`` to ``array``, yielding an ``ApplyProgress`` after every tile.

    The return value (``StopIteration.value``; :meth:`Generator.apply` collects it) has the
    input's dtype and layout, with height and width multiplied by the generator's scale.
    Closing the generator early stops after the current tile and returns nothing.
    See :meth:`napari_gan.generator.Generator.apply` for the parameters.
    """
    check_image(array, name)
    if norm_statistics not in ("image", "running"):
        raise NapariGanError(f"norm_statistics must be 'image' or 'running', got {norm_statistics!r}")
    layout = plan_layout(tuple(array.shape), channel_axis=channel_axis, rgb=rgb)
    height_axis, width_axis = layout.spatial_axes()
    height, width = array.shape[height_axis], array.shape[width_axis]
    if height == 1 and width == 1:
        raise NapariGanError(f"{name} is a single pixel (shape {tuple(array.shape)}); pick an image with data")
    if min(height, width) < generator.min_size:
        raise NapariGanError(
            f"{name} is {height}x{width} pixels, smaller than the {generator.min_size}x{generator.min_size} "
            f"that model {generator.name!r} needs; use a larger image or region"
        )
    if tile is not None and tile < generator.min_size:
        raise NapariGanError(f"tile size {tile} is below the model's minimum of {generator.min_size}; use a larger tile")
    if tile_pad < 0 or tile_overlap < 0:
        raise NapariGanError(f"tile_pad ({tile_pad}) and tile_overlap ({tile_overlap}) must not be negative")
    if tile is not None and tile < generator.size_multiple:
        # Tile contexts are aligned to the size multiple (256 for unet_256), so a smaller tile would
        # still run whole blocks of that size, once per tile.
        # NOTE: contexts still round out to whole multiples, so a tiled pass of a deep U-Net costs
        # several whole-image passes; tile=None is faster wherever the memory allows it.
        tile = generator.size_multiple
    if tile is not None and _contexts_cover_image(height, width, tile, tile_pad, tile_overlap, generator.size_multiple):
        # Every tile would run on the whole image, so one whole-image pass gives the same result.
        tile = None

    source = layout.channels_last(array)
    num_channels = source.shape[-1]
    passes, has_alpha = _plan_channel_passes(num_channels, layout.rgb and num_channels == 4, generator, name)
    value_range = measure_range(array, name)

    scale = generator.scale
    out_channels = sum(1 if channel_pass.replicate else generator.out_channels for channel_pass in passes)
    out_channels += int(has_alpha)
    result_shape = list(source.shape)
    result_shape[-3] *= scale
    result_shape[-2] *= scale
    result_shape[-1] = out_channels
    target = np.empty(result_shape, dtype=array.dtype)
    if layout.rgb and out_channels == 1:
        # An RGB image translated to one channel becomes a grayscale image without a channel axis.
        result = target[..., 0]
    elif layout.channel_axis is None:
        # A single-channel input keeps its shape unless the model adds channels, which go last.
        result = target[..., 0] if out_channels == 1 else target
    else:
        result = np.moveaxis(target, -1, layout.channel_axis)

    torch_device = resolve_device(device)
    # Autocast computes in float16 without rounding the generator's float32 weights.
    autocast_half = uses_half(torch_device, half)
    # Eval mode also turns dropout off, so the same input always gives the same result.
    net = generator.net.to(device=torch_device).eval()
    image_norms = image_norm_layers(net, norm_statistics)
    # The network's own range, for example [-1, 1] for a Tanh generator; images arrive in [0, 1].
    low, high = generator.info.value_range
    span = high - low

    def run(patch: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode(), torch.autocast(torch_device.type, dtype=torch.float16, enabled=autocast_half):
            try:
                output = net(patch.to(device=torch_device) * span + low)
            except torch.OutOfMemoryError:
                raise NapariGanError(
                    f"out of memory on {torch_device} with tile size {tile}; use a smaller tile, for example "
                    f"{max(generator.min_size, (tile or max(height, width)) // 2)}"
                ) from None
            return ((output.float() - low) / span).clamp_(0.0, 1.0).cpu()

    planes = list(np.ndindex(*source.shape[:-3]))
    tiles_per_pass = len(plan_tiles(height, width, tile, tile_overlap))
    total = len(planes) * len(passes) * tiles_per_pass
    done = 0
    for plane_index in planes:
        plane = value_range.normalise(np.asarray(source[plane_index]))
        image = torch.from_numpy(np.ascontiguousarray(plane.transpose(2, 0, 1)))[None]
        outputs = []
        for channel_pass in passes:
            inputs = image[:, list(channel_pass.channels)]
            if channel_pass.convert == "rgb_to_gray":
                inputs = (inputs * torch.tensor(LUMINANCE_WEIGHTS).view(1, 3, 1, 1)).sum(dim=1, keepdim=True)
            elif channel_pass.replicate or channel_pass.convert == "gray_to_rgb":
                inputs = inputs.expand(-1, generator.in_channels, -1, -1)
            statistics = None
            if image_norms and tiles_per_pass > 1:
                statistics = gather_statistics(run, net, inputs, norm_statistics, generator.size_multiple)
            tiles = iter_tiled(run, inputs, scale, tile, tile_pad, tile_overlap, generator.size_multiple)
            with image_statistics(net, norm_statistics, fixed=statistics):
                while True:
                    try:
                        next(tiles)
                    except StopIteration as finished:
                        output = finished.value
                        break
                    done += 1
                    yield ApplyProgress(done, total)
            if channel_pass.replicate:
                output = output.mean(dim=1, keepdim=True)
            outputs.append(output)
        if has_alpha:
            alpha = F.interpolate(image[:, 3:], scale_factor=scale, mode="bicubic", align_corners=False)
            outputs.append(alpha.clamp_(0.0, 1.0))
        _write_plane(target[plane_index], outputs, value_range, array.dtype)
    return result


STRIP_ROWS = 256
"""Output rows converted back to the input's range and dtype at a time, which bounds the float64 temporaries."""


def _write_plane(destination: np.ndarray, outputs: list[torch.Tensor], value_range, dtype: np.dtype) -> None:
    """Write float outputs ``(1, C, H, W)`` in [0, 1] into ``destination`` ``(H, W, C_total)``, strip by strip."""
    height = outputs[0].shape[-2]
    for start in range(0, height, STRIP_ROWS):
        rows = slice(start, start + STRIP_ROWS)
        strip = torch.cat([output[0, :, rows] for output in outputs], dim=0).permute(1, 2, 0).numpy()
        destination[rows] = restore_dtype(value_range.denormalise(strip), dtype)
