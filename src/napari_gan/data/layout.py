"""Axis layout of user images: the channel axis and the spatial axes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from napari_gan.errors import NapariGanError

RGB_SIZES = (3, 4)


@dataclass(frozen=True)
class ImageLayout:
    """Positions of the channel and spatial axes of an image array.

    The last two non-channel axes are height and width; any axes before them (Z, T, ...)
    are looped over plane by plane.
    """

    ndim: int
    channel_axis: int | None
    """Axis holding channels, as a non-negative index, or None for single-channel images."""
    rgb: bool
    """True when the channels are RGB or RGBA colour, so a fourth channel is alpha."""

    def channels_last(self, array: np.ndarray) -> np.ndarray:
        """Return a view of ``array`` with shape ``(*planes, H, W, C)``; C is 1 without a channel axis."""
        if self.channel_axis is None:
            return array[..., None]
        return np.moveaxis(array, self.channel_axis, -1)

    def spatial_axes(self) -> tuple[int, int]:
        """Return the indices of the height and width axes in the original array."""
        axes = [axis for axis in range(self.ndim) if axis != self.channel_axis]
        return axes[-2], axes[-1]


def plan_layout(shape: tuple[int, ...], channel_axis: int | None = None, rgb: bool | None = None) -> ImageLayout:
    """Decide the layout of an array of ``shape``.

    Parameters
    ----------
    shape : tuple of int
        Shape of the image array.
    channel_axis : int, optional
        Axis that contains channels (negative values count from the end). Takes precedence
        over ``rgb``.
    rgb : bool, optional
        True: the last axis contains RGB or RGBA. False: there is no colour axis. None (default):
        as napari guesses, the last axis is RGB(A) when it has 3 or 4 entries and the array has
        at least three dimensions. With ``channel_axis`` pointing at such a last axis, the
        channels count as colour (a fourth one as alpha) unless ``rgb`` is False.
    """
    ndim = len(shape)
    if channel_axis is not None:
        if not -ndim <= channel_axis < ndim:
            raise NapariGanError(f"channel_axis={channel_axis} is out of range for an image of shape {shape}")
        axis = channel_axis % ndim
        if ndim < 3:
            raise NapariGanError(
                f"channel_axis={channel_axis} leaves fewer than two spatial axes in shape {shape}; "
                "drop channel_axis for a single-channel image"
            )
        colour_last = axis == ndim - 1 and shape[axis] in RGB_SIZES
        return ImageLayout(ndim, axis, rgb=colour_last and rgb is not False)
    if rgb is None:
        rgb = ndim >= 3 and shape[-1] in RGB_SIZES
    if rgb:
        if ndim < 3 or shape[-1] not in RGB_SIZES:
            raise NapariGanError(f"rgb=True needs a last axis of 3 or 4 colours, but the shape is {shape}")
        return ImageLayout(ndim, ndim - 1, rgb=True)
    return ImageLayout(ndim, None, rgb=False)
