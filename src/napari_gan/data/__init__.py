"""The numpy side: value ranges, dtypes and axes of user images."""

from napari_gan.data.layout import ImageLayout, plan_layout
from napari_gan.data.ranges import ValueRange, check_image, measure_range, restore_dtype

__all__ = ["ImageLayout", "ValueRange", "check_image", "measure_range", "plan_layout", "restore_dtype"]
