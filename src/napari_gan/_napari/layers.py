"""Glue between napari layers and arrays."""

from __future__ import annotations

import numpy as np
from napari.layers import Image, Layer

from napari_gan.errors import NapariGanError


def check_image_layer(layer: Layer | None) -> Image:
    """Return ``layer`` if it is a single-scale image layer with data; raise ``NapariGanError`` otherwise."""
    if layer is None:
        raise NapariGanError("no image layer selected; open an image or add sample data (File > Open Sample > napari-gan)")
    if not isinstance(layer, Image):
        kind = type(layer).__name__.lower()
        raise NapariGanError(f"layer {layer.name!r} is a {kind} layer; pick an image layer")
    if layer.multiscale:
        raise NapariGanError(
            f"layer {layer.name!r} is multiscale; open one resolution level as its own layer, "
            "for example viewer.add_image(layer.data[0])"
        )
    return layer


def overlay_geometry(layer: Image, factor: int) -> dict[str, np.ndarray]:
    """Return ``scale`` and ``translate`` that make a x``factor`` result overlay ``layer`` in world coordinates.

    A result pixel is ``1/factor`` of an input pixel along height and width. Pixel centres are
    at integer data coordinates, so the first result pixel's centre lies ``(factor - 1) / (2 * factor)``
    input pixels before the first input pixel's centre. The result keeps the layer's rotate,
    shear and affine, and its translate is solved through them.
    """
    scale = np.asarray(layer.scale, dtype=float).copy()
    first_pixel = np.zeros(layer.ndim)
    first_pixel[-2:] = -(factor - 1) / (2 * factor)
    world = np.asarray(layer.data_to_world(first_pixel), dtype=float)
    translate = np.asarray(layer.affine.inverse(world), dtype=float)
    scale[-2:] /= factor
    return {"scale": scale, "translate": translate}


def result_layer_kwargs(layer: Image, model_name: str, factor: int) -> dict:
    """Return ``add_image`` keyword arguments for a result of ``layer`` made by ``model_name``."""
    kwargs = {
        "name": f"{layer.name} {model_name} x{factor}",
        "rgb": layer.rgb,
        "blending": layer.blending,
        "rotate": layer.rotate,
        "shear": layer.shear,
        "affine": layer.affine.affine_matrix,
        "metadata": {"napari_gan": {"source_layer": layer.name, "model": model_name, "scale_factor": factor}},
        **overlay_geometry(layer, factor),
    }
    if not layer.rgb:
        kwargs["colormap"] = layer.colormap
        kwargs["contrast_limits"] = layer.contrast_limits
    return kwargs
