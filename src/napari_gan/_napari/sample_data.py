"""Sample data contributions: real images from scikit-image, down-scaled for super-resolution."""

from __future__ import annotations

from napari_gan import samples


def astronaut_lowres() -> list[tuple]:
    return [(samples.astronaut_lowres(), {"name": "astronaut low-res", "rgb": True})]


def cells_lowres_uint16() -> list[tuple]:
    return [(samples.cells_lowres_uint16(), {"name": "cells low-res (16-bit)", "colormap": "gray"})]


def retina_lowres() -> list[tuple]:
    return [(samples.retina_lowres(), {"name": "retina low-res", "rgb": True})]


def virtual_staining_pair() -> list[tuple]:
    hematoxylin, stained = samples.virtual_staining_pair()
    return [
        (hematoxylin, {"name": "hematoxylin (input)", "colormap": "gray"}),
        (stained, {"name": "IHC stain (target)", "rgb": True}),
    ]


def edges_to_photo_pair() -> list[tuple]:
    edges, photo = samples.edges_to_photo_pair()
    return [(edges, {"name": "edges (input)", "colormap": "gray"}), (photo, {"name": "photo (target)", "rgb": True})]


def texture_sets() -> list[tuple]:
    brick, gravel = samples.texture_sets()
    return [(brick, {"name": "brick (domain A)", "colormap": "gray"}), (gravel, {"name": "gravel (domain B)", "colormap": "gray"})]


def lfw_faces() -> list[tuple]:
    return [(samples.lfw_faces(), {"name": "faces (lfw_subset)", "colormap": "gray"})]
