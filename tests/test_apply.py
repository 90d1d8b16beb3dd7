"""Generator.apply and iter_apply on user arrays: dtypes, layouts, stacks, dask and invalid input."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import torch
from skimage import data

from napari_gan import ApplyProgress, NapariGanError

SMALL_TILE = dict(tile=16, tile_pad=6, tile_overlap=4)


def _camera(height: int = 40, width: int = 48) -> np.ndarray:
    return data.camera()[100 : 100 + height, 100 : 100 + width]


def _camera_as(dtype: np.dtype) -> np.ndarray:
    """Return a camera crop converted to ``dtype`` over a range typical for that dtype."""
    image = _camera().astype(np.float64)
    if np.dtype(dtype) == np.uint8:
        return image.astype(np.uint8)
    if np.dtype(dtype) == np.uint16:
        return np.rint(np.interp(image, (image.min(), image.max()), (100, 4000))).astype(np.uint16)
    if np.dtype(dtype) == np.int16:
        return np.rint(np.interp(image, (image.min(), image.max()), (-1000, 1000))).astype(np.int16)
    return (image / 255).astype(dtype)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.float32, np.float64])
def test_apply_keeps_dtype(gray_generator, dtype):
    image = _camera_as(dtype)
    result = gray_generator.apply(image, **SMALL_TILE)

    assert result.dtype == np.dtype(dtype)
    assert result.shape == (2 * image.shape[0], 2 * image.shape[1])


def test_apply_uint16_stays_in_data_range(gray_generator):
    image = _camera_as(np.uint16)
    result = gray_generator.apply(image, **SMALL_TILE)

    assert image.min() == 100
    assert image.max() == 4000
    assert result.min() >= 100
    assert result.max() <= 4000


def test_apply_gray_2d(gray_generator):
    image = _camera()
    result = gray_generator.apply(image, **SMALL_TILE)

    assert result.shape == (80, 96)
    assert result.std() > 0


def test_apply_rgb(rgb_generator):
    image = data.astronaut()[:48, :40]
    result = rgb_generator.apply(image, **SMALL_TILE)

    assert result.shape == (96, 80, 3)
    assert result.dtype == np.uint8


def test_apply_rgba_upscales_alpha(rgb_generator):
    colour = data.astronaut()[:48, :40]
    alpha = np.full((48, 40, 1), 200, dtype=np.uint8)
    image = np.concatenate([colour, alpha], axis=-1)
    result = rgb_generator.apply(image, **SMALL_TILE)
    without_alpha = rgb_generator.apply(colour, **SMALL_TILE)

    assert result.shape == (96, 80, 4)
    assert np.abs(result[..., 3].astype(int) - 200).max() <= 1
    np.testing.assert_array_equal(result[..., :3], without_alpha)


def test_apply_channel_axis_first(gray_generator):
    image = np.stack([_camera(), data.camera()[:40, :48]])
    result = gray_generator.apply(image, channel_axis=0, **SMALL_TILE)

    assert result.shape == (2, 80, 96)
    np.testing.assert_array_equal(result[0], gray_generator.apply(image[0], **SMALL_TILE))
    np.testing.assert_array_equal(result[1], gray_generator.apply(image[1], **SMALL_TILE))


def test_apply_gray_model_on_rgb(gray_generator):
    image = data.astronaut()[:48, :40]
    result = gray_generator.apply(image, **SMALL_TILE)

    assert result.shape == (96, 80, 3)
    for channel in range(3):
        np.testing.assert_array_equal(result[..., channel], gray_generator.apply(image[..., channel], **SMALL_TILE))


def test_apply_rgb_model_on_gray(rgb_generator):
    image = _camera()
    result = rgb_generator.apply(image, **SMALL_TILE)

    assert result.shape == (80, 96)


def test_apply_z_stack_plane_by_plane(gray_generator):
    stack = np.stack([_camera(), data.camera()[:40, :48], data.camera()[300:340, 200:248]])
    result = gray_generator.apply(stack, **SMALL_TILE)

    assert result.shape == (3, 80, 96)
    for index in range(3):
        np.testing.assert_array_equal(result[index], gray_generator.apply(stack[index], **SMALL_TILE))


def test_apply_dask_matches_numpy(gray_generator):
    stack = np.stack([_camera_as(np.uint16), _camera_as(np.uint16)[::-1]])
    lazy = da.from_array(stack, chunks=(1, 40, 48))
    result = gray_generator.apply(lazy, **SMALL_TILE)

    assert isinstance(result, np.ndarray)
    np.testing.assert_array_equal(result, gray_generator.apply(stack, **SMALL_TILE))


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_apply_non_finite_raises(gray_generator, value):
    image = _camera_as(np.float32)
    image[5, 7] = value

    with pytest.raises(NapariGanError, match="NaN"):
        gray_generator.apply(image)


def test_apply_empty_raises(gray_generator):
    with pytest.raises(NapariGanError, match=r"shape \(0, 10\).*empty"):
        gray_generator.apply(np.zeros((0, 10), dtype=np.float32))


def test_apply_single_pixel_raises(gray_generator):
    with pytest.raises(NapariGanError, match="single pixel"):
        gray_generator.apply(np.ones((1, 1), dtype=np.float32))


def test_apply_one_dimension_raises(gray_generator):
    with pytest.raises(NapariGanError, match="two dimensions"):
        gray_generator.apply(np.ones(20, dtype=np.float32))


def test_apply_below_min_size_raises(gray_generator):
    with pytest.raises(NapariGanError, match=r"5x6 pixels.*8x8"):
        gray_generator.apply(np.ones((5, 6), dtype=np.float32))


def test_apply_channel_count_mismatch_raises(rgb_generator):
    image = np.ones((20, 20, 5), dtype=np.float32)

    with pytest.raises(NapariGanError) as raised:
        rgb_generator.apply(image, channel_axis=2)

    assert "5 colour channel" in str(raised.value)
    assert "takes 3" in str(raised.value)


def test_apply_bool_raises(gray_generator):
    with pytest.raises(NapariGanError, match="dtype bool"):
        gray_generator.apply(np.ones((20, 20), dtype=bool))


def test_apply_tile_below_min_size_raises(gray_generator):
    with pytest.raises(NapariGanError, match="tile size 4"):
        gray_generator.apply(_camera(), tile=4)


def test_apply_negative_tile_pad_raises(gray_generator):
    with pytest.raises(NapariGanError, match="must not be negative"):
        gray_generator.apply(_camera(), tile=16, tile_pad=-1)


def test_iter_apply_reports_progress(gray_generator):
    events = gray_generator.iter_apply(_camera(), tile=16, tile_pad=6, tile_overlap=4)
    progress = []
    while True:
        try:
            progress.append(next(events))
        except StopIteration as finished:
            result = finished.value
            break

    assert all(isinstance(event, ApplyProgress) for event in progress)
    assert [event.done for event in progress] == list(range(1, len(progress) + 1))
    assert {event.total for event in progress} == {len(progress)}
    assert progress[-1].done == progress[-1].total
    assert result.shape == (80, 96)


def test_iter_apply_progress_counts_planes(gray_generator):
    stack = np.stack([_camera(), _camera()])
    events = list(gray_generator.iter_apply(stack, tile=None))

    assert [event.done for event in events] == [1, 2]
    assert events[-1].total == 2


def test_iter_apply_close_early(gray_generator):
    events = gray_generator.iter_apply(_camera(), tile=16, tile_pad=6, tile_overlap=4)
    first = next(events)

    assert first.done == 1
    assert first.total > 1
    assert events.close() is None
    with pytest.raises(StopIteration) as finished:
        next(events)
    assert finished.value.value is None


def test_apply_invalid_device_raises(gray_generator):
    with pytest.raises(NapariGanError, match="invalid device 'tpu'"):
        gray_generator.apply(_camera(), device="tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_apply_cuda_unavailable_raises(gray_generator):
    with pytest.raises(NapariGanError, match="'cuda' is not available"):
        gray_generator.apply(_camera(), device="cuda")


def test_apply_cpu_device(gray_generator):
    result = gray_generator.apply(_camera(), device="cpu", **SMALL_TILE)

    assert result.shape == (80, 96)


def test_rgba_with_channel_axis_keeps_alpha(rgb_generator):
    colour = data.astronaut()[:24, :20]
    image = np.concatenate([colour, np.full((24, 20, 1), 90, dtype=np.uint8)], axis=-1)
    result = rgb_generator.apply(image, channel_axis=-1, **SMALL_TILE)
    assert result.shape == (48, 40, 4)
    assert np.all(np.abs(result[..., 3].astype(int) - 90) <= 1)
