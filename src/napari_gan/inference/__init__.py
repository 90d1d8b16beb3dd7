"""Inference: tiled application of generators to arrays."""

from napari_gan.inference.apply import DEFAULT_TILE, DEFAULT_TILE_OVERLAP, DEFAULT_TILE_PAD, ApplyProgress, iter_apply
from napari_gan.inference.tiling import iter_tiled, plan_tiles

__all__ = ["DEFAULT_TILE", "DEFAULT_TILE_OVERLAP", "DEFAULT_TILE_PAD", "ApplyProgress", "iter_apply", "iter_tiled", "plan_tiles"]
