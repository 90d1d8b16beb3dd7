"""Axis layouts, value ranges and dtype restoration of user images."""

from __future__ import annotations

import numpy as np
import pytest

from napari_gan import NapariGanError
from napari_gan.data.layout import plan_layout
from napari_gan.data.ranges import ValueRange, check_image, measure_range, restore_dtype


@pytest.mark.parametrize(
    ("shape", "channel_axis", "rgb"),
    [
        ((40, 50, 3), 2, True),
        ((40, 50, 4), 2, True),
        ((5, 40, 50, 3), 3, True),
        ((3, 40, 50), None, False),
        ((40, 50), None, False),
        ((40, 3), None, False),
        ((7, 40, 50), None, False),
    ],
)
def test_plan_layout_guess(shape, channel_axis, rgb):
    layout = plan_layout(shape)

    assert layout.channel_axis == channel_axis
    assert layout.rgb is rgb


def test_plan_layout_guess_last_axis_three_is_rgb():
    layout = plan_layout((5, 40, 3))

    assert layout.rgb is True
    assert layout.spatial_axes() == (0, 1)


def test_plan_layout_rgb_false_keeps_stack():
    layout = plan_layout((40, 50, 3), rgb=False)

    assert layout.channel_axis is None
    assert layout.spatial_axes() == (1, 2)


def test_plan_layout_rgb_true_wrong_size_raises():
    with pytest.raises(NapariGanError, match=r"rgb=True needs a last axis of 3 or 4.*\(40, 50, 5\)"):
        plan_layout((40, 50, 5), rgb=True)


def test_plan_layout_channel_axis_first():
    layout = plan_layout((2, 40, 50), channel_axis=0)

    assert layout.channel_axis == 0
    assert layout.rgb is False
    assert layout.spatial_axes() == (1, 2)


def test_plan_layout_negative_channel_axis():
    layout = plan_layout((6, 40, 50, 2), channel_axis=-1)

    assert layout.channel_axis == 3
    assert layout.spatial_axes() == (1, 2)


def test_plan_layout_channel_axis_rgb_last():
    layout = plan_layout((40, 50, 4), channel_axis=-1, rgb=True)

    assert layout.channel_axis == 2
    assert layout.rgb is True


@pytest.mark.parametrize("channel_axis", [3, -4])
def test_plan_layout_channel_axis_out_of_range(channel_axis):
    with pytest.raises(NapariGanError, match=rf"channel_axis={channel_axis} is out of range .*\(2, 40, 50\)"):
        plan_layout((2, 40, 50), channel_axis=channel_axis)


def test_plan_layout_channel_axis_on_2d_raises():
    with pytest.raises(NapariGanError, match="fewer than two spatial axes"):
        plan_layout((40, 50), channel_axis=0)


def test_channels_last_moves_channel_axis():
    layout = plan_layout((2, 40, 50), channel_axis=0)

    assert layout.channels_last(np.zeros((2, 40, 50))).shape == (40, 50, 2)


def test_channels_last_adds_single_channel():
    layout = plan_layout((3, 40, 50))

    assert layout.channels_last(np.zeros((3, 40, 50))).shape == (3, 40, 50, 1)


def test_measure_range_uint8_is_full_range():
    image = np.array([[10, 20], [30, 40]], dtype=np.uint8)

    assert measure_range(image) == ValueRange(0.0, 255.0)


@pytest.mark.parametrize(
    "image",
    [
        np.array([[3, 20], [30, 4000]], dtype=np.uint16),
        np.array([[-3, 20], [30, 4000]], dtype=np.int16),
        np.array([[-3.5, 20.0], [30.0, 4000.0]], dtype=np.float32),
        np.array([[-3.5, 20.0], [30.0, 4000.0]], dtype=np.float64),
    ],
    ids=["uint16", "int16", "float32", "float64"],
)
def test_measure_range_uses_data(image):
    assert measure_range(image) == ValueRange(float(image.min()), float(image.max()))


def test_measure_range_nan_names_image():
    image = np.array([[0.0, np.nan], [1.0, 2.0]])

    with pytest.raises(NapariGanError, match="layer 'cells' contains NaN"):
        measure_range(image, "layer 'cells'")


def test_value_range_round_trip():
    value_range = ValueRange(100.0, 4000.0)
    values = np.array([100.0, 2050.0, 4000.0])
    normalised = value_range.normalise(values)

    assert normalised.dtype == np.float32
    np.testing.assert_allclose(normalised, [0.0, 0.5, 1.0])
    np.testing.assert_allclose(value_range.denormalise(normalised), values)


def test_value_range_constant_image():
    value_range = ValueRange(7.0, 7.0)

    assert value_range.width == 1.0
    np.testing.assert_array_equal(value_range.normalise(np.full(3, 7.0)), np.zeros(3, dtype=np.float32))


def test_restore_dtype_rounds_and_clips():
    restored = restore_dtype(np.array([-3.0, 2.4, 2.6, 300.0]), np.uint8)

    assert restored.dtype == np.uint8
    np.testing.assert_array_equal(restored, [0, 2, 3, 255])


def test_restore_dtype_int16_limits():
    restored = restore_dtype(np.array([-40000.0, 40000.0]), np.int16)

    np.testing.assert_array_equal(restored, [-32768, 32767])


def test_restore_dtype_float_unchanged():
    restored = restore_dtype(np.array([0.25, 1.5]), np.float32)

    assert restored.dtype == np.float32
    np.testing.assert_array_equal(restored, [0.25, 1.5])


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros(5), "at least two dimensions"),
        (np.zeros((4, 0)), "empty"),
        (np.zeros((4, 4), dtype=complex), "dtype complex128"),
        (np.array([["a", "b"], ["c", "d"]]), "expected integers or floats"),
    ],
    ids=["1d", "empty", "complex", "strings"],
)
def test_check_image_rejects(array, message):
    with pytest.raises(NapariGanError, match=message):
        check_image(array)
