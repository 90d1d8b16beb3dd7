"""Sample data contributions: real images from scikit-image, down-scaled for super-resolution."""

from __future__ import annotations

from napari_gan import samples


def astronaut_lowres() -> list[tuple]:
    return [(samples.astronaut_lowres(), {"name": "astronaut low-res", "rgb": True})]


def cells_lowres_uint16() -> list[tuple]:
    return [(samples.cells_lowres_uint16(), {"name": "cells low-res (16-bit)", "colormap": "gray"})]


def retina_lowres() -> list[tuple]:
    return [(samples.retina_lowres(), {"name": "retina low-res", "rgb": True})]


def lfw_faces() -> list[tuple]:
    return [(samples.lfw_faces(), {"name": "faces (lfw_subset)", "colormap": "gray"})]
