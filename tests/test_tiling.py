"""Tiled inference: tile plans, and tiled output against whole-image output."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from napari_gan.inference.tiling import plan_tiles, tile_starts

SRVGG_PAD = 6
"""Context pixels for the tiny SRVGGNetCompact, above its receptive field radius of 4."""
RRDBNET_PAD = 20
"""Context pixels for the tiny RRDBNet x2, above its measured receptive field radius of 15."""


def _camera_float(height: int, width: int) -> np.ndarray:
    return (data.camera()[100 : 100 + height, 100 : 100 + width] / 255).astype(np.float32)


@pytest.mark.parametrize(
    ("length", "tile", "overlap"),
    [(37, 8, 2), (53, 13, 4), (61, 16, 0), (29, 32, 8), (100, 10, 9), (16, 16, 4)],
)
def test_tile_starts_cover_axis(length, tile, overlap):
    starts = tile_starts(length, tile, overlap)
    covered = set()
    for start in starts:
        covered.update(range(start, min(start + tile, length)))

    assert starts[0] == 0
    assert starts[-1] + min(tile, length) == length
    assert covered == set(range(length))
    assert starts == sorted(set(starts))


@pytest.mark.parametrize(("length", "tile", "overlap"), [(37, 8, 2), (53, 13, 4), (100, 10, 3)])
def test_tile_starts_keep_overlap(length, tile, overlap):
    starts = tile_starts(length, tile, overlap)
    steps = np.diff(starts)

    assert steps.max() <= tile - overlap


def test_tile_starts_tile_larger_than_axis():
    assert tile_starts(20, 32, 8) == [0]


def test_plan_tiles_none_is_one_tile():
    grid = plan_tiles(37, 53, None, 8)

    assert len(grid) == 1
    assert (grid.tile_h, grid.tile_w) == (37, 53)


def test_plan_tiles_clips_tile_to_image():
    grid = plan_tiles(37, 53, 40, 8)

    assert (grid.tile_h, grid.tile_w) == (37, 40)
    assert grid.rows == [0]
    assert grid.cols[-1] + grid.tile_w == 53


@pytest.mark.parametrize("shape", [(37, 53), (61, 29)])
@pytest.mark.parametrize("tile", [8, 13, 16, 32, 100])
def test_srvgg_tiled_float32_matches_whole(gray_generator, shape, tile):
    image = _camera_float(*shape)
    whole = gray_generator.apply(image, tile=None)
    tiled = gray_generator.apply(image, tile=tile, tile_pad=SRVGG_PAD, tile_overlap=4)

    np.testing.assert_allclose(tiled, whole, rtol=0, atol=1e-5)


@pytest.mark.parametrize("shape", [(37, 53), (61, 29)])
@pytest.mark.parametrize("tile", [8, 13, 16, 32, 100])
def test_srvgg_tiled_uint8_matches_whole(gray_generator, shape, tile):
    image = data.camera()[100 : 100 + shape[0], 100 : 100 + shape[1]]
    whole = gray_generator.apply(image, tile=None)
    tiled = gray_generator.apply(image, tile=tile, tile_pad=SRVGG_PAD, tile_overlap=4)

    np.testing.assert_array_equal(tiled, whole)


@pytest.mark.parametrize("tile", [8, 13, 32])
def test_srvgg_bicubic_tiled_matches_whole(make_srvgg, tile):
    generator = make_srvgg(channels=3, base_upsampling="bicubic")
    image = (data.astronaut()[:37, :53] / 255).astype(np.float32)
    whole = generator.apply(image, tile=None)
    tiled = generator.apply(image, tile=tile, tile_pad=SRVGG_PAD, tile_overlap=4)

    np.testing.assert_allclose(tiled, whole, rtol=0, atol=1e-5)


@pytest.mark.parametrize("overlap", [0, 2, 8])
def test_srvgg_tiled_any_overlap(gray_generator, overlap):
    image = _camera_float(37, 53)
    whole = gray_generator.apply(image, tile=None)
    tiled = gray_generator.apply(image, tile=13, tile_pad=SRVGG_PAD, tile_overlap=overlap)

    np.testing.assert_allclose(tiled, whole, rtol=0, atol=1e-5)


@pytest.mark.parametrize("tile", [16, 24])
def test_rrdbnet_x2_even_tiles_match_whole(make_rrdbnet, tile):
    generator = make_rrdbnet(channels=1, scale=2)
    image = _camera_float(64, 72)
    whole = generator.apply(image, tile=None)
    tiled = generator.apply(image, tile=tile, tile_pad=RRDBNET_PAD, tile_overlap=4)

    np.testing.assert_allclose(tiled, whole, rtol=0, atol=1e-5)


@pytest.mark.parametrize("shape", [(37, 53), (61, 29)])
def test_rrdbnet_x2_odd_size_shape(make_rrdbnet, shape):
    generator = make_rrdbnet(channels=1, scale=2)
    image = _camera_float(*shape)

    assert generator.apply(image, tile=None).shape == (2 * shape[0], 2 * shape[1])
    assert generator.apply(image, tile=16, tile_pad=RRDBNET_PAD).shape == (2 * shape[0], 2 * shape[1])


@pytest.mark.parametrize(
    ("shape", "tile", "pad"),
    [((64, 72), 16, 21), ((64, 72), 17, 20), ((63, 71), 16, 20)],
    ids=["odd-pad", "odd-tile", "odd-image"],
)
def test_rrdbnet_x2_odd_offsets_match_whole(make_rrdbnet, shape, tile, pad):
    generator = make_rrdbnet(channels=1, scale=2)
    image = _camera_float(*shape)
    whole = generator.apply(image, tile=None)
    tiled = generator.apply(image, tile=tile, tile_pad=pad, tile_overlap=4)

    np.testing.assert_allclose(tiled, whole, rtol=0, atol=1e-5)
