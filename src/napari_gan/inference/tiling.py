"""Tiled inference with context padding and blended overlaps.

Each tile of ``tile`` x ``tile`` input pixels is run with ``pad`` extra pixels of real image
around it (less at the image border), and only the tile's own part of the output is kept.
When ``pad`` covers the network's receptive field, every kept pixel equals the whole-image
result. Neighbouring tiles also overlap by ``overlap`` pixels and are blended with linear
ramps there, which hides the residual seams of networks whose receptive field is larger
than ``pad`` (RRDBNet's is hundreds of pixels).

Only the input plane, the output plane, two 1D weight sums and one tile's workspace are held
in memory, whatever the image size.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class TileGrid:
    """Start positions of tiles along height and width."""

    rows: list[int]
    cols: list[int]
    tile_h: int
    tile_w: int

    def __len__(self) -> int:
        return len(self.rows) * len(self.cols)


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Return start offsets of tiles of ``tile`` pixels that cover ``length`` pixels.

    Consecutive tiles overlap by at least ``overlap`` pixels; the last tile ends at ``length``.
    """
    if tile >= length:
        return [0]
    stride = max(1, tile - overlap)
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return starts


def plan_tiles(height: int, width: int, tile: int | None, overlap: int) -> TileGrid:
    """Return the tile grid for an image of ``height`` x ``width``; ``tile=None`` means one tile."""
    tile_h = height if tile is None else min(tile, height)
    tile_w = width if tile is None else min(tile, width)
    overlap = min(overlap, tile_h // 2, tile_w // 2)
    return TileGrid(tile_starts(height, tile_h, overlap), tile_starts(width, tile_w, overlap), tile_h, tile_w)


def _ramp(length: int, ramp: int, has_before: bool, has_after: bool) -> torch.Tensor:
    """Blend weights along one tile axis: linear ramps of ``ramp`` pixels at sides with a neighbour."""
    weights = torch.ones(length)
    ramp = min(ramp, length // 2)
    if ramp > 0:
        rising = (torch.arange(ramp, dtype=torch.float32) + 0.5) / ramp
        if has_before:
            weights[:ramp] = rising
        if has_after:
            weights[length - ramp :] = rising.flip(0)
    return weights


def _context(start: int, end: int, pad: int, length: int, multiple: int) -> tuple[int, int]:
    """Return the padded range around ``[start, end)``, aligned to ``multiple`` as a whole-image pass is.

    A pixel-unshuffle network groups pixels in blocks of ``multiple`` counted from the image
    origin, so a patch must start on a block boundary to group them the same way, and end on
    one unless it reaches the image border.
    """
    low = max(0, start - pad) // multiple * multiple
    high = min(length, -(-(end + pad) // multiple) * multiple)
    return low, high


def _pad_to_multiple(tensor: torch.Tensor, multiple: int) -> tuple[torch.Tensor, int, int]:
    height, width = tensor.shape[-2:]
    extra_h, extra_w = -height % multiple, -width % multiple
    if extra_h or extra_w:
        mode = "reflect" if extra_h < height and extra_w < width else "replicate"
        tensor = F.pad(tensor, (0, extra_w, 0, extra_h), mode=mode)
    return tensor, height, width


def iter_tiled(
    run: Callable[[torch.Tensor], torch.Tensor],
    image: torch.Tensor,
    scale: int,
    tile: int | None,
    pad: int,
    overlap: int,
    size_multiple: int = 1,
) -> Generator[int, None, torch.Tensor]:
    """Run ``run`` over ``image`` tile by tile; yield after each tile, return the output.

    Parameters
    ----------
    run : callable
        Maps a float32 CPU tensor ``(1, C, h, w)`` to ``(1, C_out, h * scale, w * scale)`` on the CPU.
    image : torch.Tensor
        Float32 CPU tensor ``(1, C, H, W)``.
    scale : int
        Output pixels per input pixel along each spatial axis.
    tile : int or None
        Tile edge in input pixels, without the padding; None runs the whole image at once.
    pad : int
        Context pixels added around each tile and cut from its output.
    overlap : int
        Input pixels by which neighbouring tiles overlap and are blended.
    size_multiple : int
        The network needs heights and widths divisible by this; tiles are padded by
        reflection and the output cropped back.

    Yields
    ------
    int
        The number of tiles finished so far.

    Returns
    -------
    torch.Tensor
        Float32 CPU tensor ``(1, C_out, H * scale, W * scale)``.
    """
    height, width = image.shape[-2:]
    grid = plan_tiles(height, width, tile, overlap)
    out: torch.Tensor | None = None
    weight_rows = torch.zeros(height * scale)
    weight_cols = torch.zeros(width * scale)
    ramp = overlap * scale
    done = 0

    for row_index, y0 in enumerate(grid.rows):
        y1 = y0 + grid.tile_h
        for col_index, x0 in enumerate(grid.cols):
            x1 = x0 + grid.tile_w
            py0, py1 = _context(y0, y1, pad, height, size_multiple)
            px0, px1 = _context(x0, x1, pad, width, size_multiple)
            patch, patch_h, patch_w = _pad_to_multiple(image[..., py0:py1, px0:px1], size_multiple)
            result = run(patch)[..., : patch_h * scale, : patch_w * scale]
            result = result[..., (y0 - py0) * scale : (y1 - py0) * scale, (x0 - px0) * scale : (x1 - px0) * scale]
            if out is None:
                out = torch.zeros(1, result.shape[1], height * scale, width * scale)

            along_y = _ramp(result.shape[-2], ramp, row_index > 0, row_index < len(grid.rows) - 1)
            along_x = _ramp(result.shape[-1], ramp, col_index > 0, col_index < len(grid.cols) - 1)
            out[..., y0 * scale : y1 * scale, x0 * scale : x1 * scale] += result * along_y[:, None] * along_x[None, :]
            if row_index == 0:
                weight_cols[x0 * scale : x1 * scale] += along_x
            if col_index == 0:
                weight_rows[y0 * scale : y1 * scale] += along_y
            done += 1
            yield done

    assert out is not None  # the grid always has at least one tile
    # Tile weights are products of a row ramp and a column ramp on a regular grid, so their
    # sum at each pixel is the product of the 1D sums.
    out /= weight_rows[:, None] * weight_cols[None, :]
    return out
