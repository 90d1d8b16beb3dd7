"""The loaded generator: a network together with what is needed to apply it to user images."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from napari_gan.errors import NapariGanError
from napari_gan.inference.apply import (
    DEFAULT_TILE,
    DEFAULT_TILE_OVERLAP,
    DEFAULT_TILE_PAD,
    ApplyProgress,
    iter_apply,
)

__all__ = ["ApplyProgress", "Generator", "GeneratorInfo"]


@dataclass
class GeneratorInfo:
    """Description of a generator stored with its weights: enough to rebuild and apply it."""

    name: str
    """Short name shown in lists and used in layer names, for example ``"superres-x4"``."""
    arch: str
    """Registered architecture name, see :func:`napari_gan.archs.list_archs`."""
    arch_kwargs: dict[str, Any]
    """Keyword arguments that rebuild the architecture."""
    task: str = "superres"
    """``"superres"``, ``"translation"`` (pix2pix and CycleGAN generators) or ``"synthesis"``."""
    scale: int = 1
    """Output pixels per input pixel along height and width."""
    in_channels: int = 3
    out_channels: int = 3
    value_range: tuple[float, float] = (0.0, 1.0)
    """Range of network inputs and outputs that the image range maps to."""
    min_size: int = 8
    """Smallest input height and width, in pixels, that gives a meaningful result."""
    size_multiple: int = 1
    """Input heights and widths must be divisible by this; inputs are padded to fit."""
    source: str = ""
    """Origin of the weights: ``"bundled"``, a file path, or ``"trained in this session"``."""
    source_format: str = "napari-gan"
    """File layout the weights were read from, for example ``"Real-ESRGAN/BasicSR"``."""
    model_card: str = ""
    """Markdown text describing training data, settings and measured quality."""
    training_config: dict[str, Any] = field(default_factory=dict)


class Generator:
    """A generator network ready to apply to numpy or dask arrays.

    Get one with :func:`napari_gan.load_generator`. ``net`` is a plain ``torch.nn.Module`` in
    eval mode; the other attributes come from :class:`GeneratorInfo`.
    """

    def __init__(self, net: nn.Module, info: GeneratorInfo) -> None:
        self.net = net.eval()
        self.info = info

    name = property(lambda self: self.info.name)
    scale = property(lambda self: self.info.scale)
    in_channels = property(lambda self: self.info.in_channels)
    out_channels = property(lambda self: self.info.out_channels)
    min_size = property(lambda self: self.info.min_size)
    size_multiple = property(lambda self: self.info.size_multiple)
    task = property(lambda self: self.info.task)

    def __repr__(self) -> str:
        return (
            f"Generator(name={self.name!r}, arch={self.info.arch!r}, scale={self.scale}, "
            f"channels={self.in_channels}->{self.out_channels}, source={self.info.source!r})"
        )

    def apply(
        self,
        array: np.ndarray,
        *,
        channel_axis: int | None = None,
        rgb: bool | None = None,
        tile: int | None = DEFAULT_TILE,
        tile_pad: int = DEFAULT_TILE_PAD,
        tile_overlap: int = DEFAULT_TILE_OVERLAP,
        device: str | torch.device | None = None,
        half: bool = True,
        norm_statistics: str = "image",
    ) -> np.ndarray:
        """Apply the generator to an image or a stack of images.

        Parameters
        ----------
        array : numpy.ndarray or dask.array.Array
            ``(..., H, W)``, ``(..., H, W, 3|4)`` for RGB(A), or any shape with ``channel_axis``.
            Leading axes (Z, T, ...) are processed plane by plane; a dask array is read one
            plane at a time. Any integer or float dtype; NaN and infinity are rejected.
        channel_axis : int, optional
            Axis that contains channels. A single-channel model processes each channel on its
            own; a three-channel model takes a grayscale image as three equal channels.
        rgb : bool, optional
            Whether the last axis is RGB(A); None guesses as napari does (3 or 4 entries).
            The alpha channel of RGBA is upscaled by bicubic interpolation, not by the network.
        tile : int or None
            Tile edge in input pixels (default 256); None processes each plane in one pass.
            Memory use grows with the tile, not with the image.
        tile_pad, tile_overlap : int
            Context pixels around each tile (default 24) and pixels of blended overlap between
            tiles (default 8).
        device : str, optional
            ``"cuda"``, ``"mps"``, ``"cpu"`` or ``"cuda:N"``; by default CUDA, then MPS, then CPU.
        half : bool
            Allow float16 on CUDA (default True); other devices always compute in float32.
        norm_statistics : str
            ``"image"`` (default): instance and batch normalisation layers normalise by the
            statistics of the whole image, as pix2pix and CycleGAN generators are trained with
            batch size 1 and run by their project's test script. Tiled passes first gather those
            statistics over the whole plane, so they match a whole-image pass. ``"running"``:
            batch normalisation uses its stored running statistics instead. Networks without
            normalisation layers ignore it.

        Returns
        -------
        numpy.ndarray
            The input's dtype and layout with height and width multiplied by ``scale``. The
            input's value range is mapped to the network's range and back: uint8 by its full
            0-255 range, other dtypes by the data's minimum and maximum.

        Raises
        ------
        NapariGanError
            For empty, single-pixel or too small images, NaN or infinite values, channel counts
            the model cannot take, and unavailable devices; the message names the fix.
        """
        return collect(
            self.iter_apply(
                array,
                channel_axis=channel_axis,
                rgb=rgb,
                tile=tile,
                tile_pad=tile_pad,
                tile_overlap=tile_overlap,
                device=device,
                half=half,
                norm_statistics=norm_statistics,
            )
        )

    def iter_apply(self, array: np.ndarray, *, name: str = "image", **options: Any):
        """Like :meth:`apply`, but a generator that yields :class:`ApplyProgress` after each tile.

        The result is the generator's return value; :func:`collect` runs it to the end. ``name``
        names the image in error messages, for example ``"layer 'cells'"``.
        """
        if self.task == "synthesis":
            raise NapariGanError(
                f"{self.name!r} is a synthesis generator: it makes new images from noise and cannot be applied "
                "to an image; use its sample() method, or 'napari-gan sample'"
            )
        return iter_apply(self, array, name=name, **options)

    @property
    def z_dim(self) -> int:
        """Length of the latent vector of a synthesis generator."""
        self._require_synthesis("z_dim")
        return int(self.info.arch_kwargs["z_dim"])

    def _require_synthesis(self, what: str) -> None:
        if self.task != "synthesis":
            raise NapariGanError(
                f"{self.name!r} is a {self.task} generator, which transforms images and has no {what}; "
                "use apply(), or pick a synthesis generator (see 'napari-gan models')"
            )

    def latents(self, n: int, seed: int | None = None) -> torch.Tensor:
        """Return the ``(n, z_dim)`` latents that :meth:`sample` uses for ``seed``."""
        self._require_synthesis("latents")
        from napari_gan.inference.latent import sample_latents

        return sample_latents(n, self.z_dim, seed)

    def sample(
        self, n: int, seed: int | None = None, truncation: float = 1.0, device: str | torch.device | None = None
    ) -> np.ndarray:
        """Generate ``n`` new images from random latents.

        Parameters
        ----------
        n : int
            Number of images.
        seed : int, optional
            The same seed gives the same images; None draws a fresh one.
        truncation : float
            In [0, 2]; 1 (default) samples the learned distribution, smaller values move each latent
            (DCGAN) or intermediate latent w (style-based) towards the average, for more typical
            and less varied images.
        device : str, optional
            ``"cuda"``, ``"mps"``, ``"cpu"`` or ``"cuda:N"``; by default CUDA, then MPS, then CPU.

        Returns
        -------
        numpy.ndarray
            uint8 ``(n, H, W)`` for grayscale or ``(n, H, W, 3)`` for RGB generators. The network's
            [-1, 1] output maps to 0-255 by ``round((x + 1) * 127.5)``.
        """
        from napari_gan.inference.latent import synthesise

        return synthesise(self.net, self.latents(n, seed), truncation, _device(device))

    def interpolate(
        self,
        start: int | tuple[int, int] | np.ndarray,
        end: int | tuple[int, int] | np.ndarray,
        steps: int,
        truncation: float = 1.0,
        method: str = "slerp",
        device: str | torch.device | None = None,
    ) -> np.ndarray:
        """Generate a morph of ``steps`` images between two latents, both ends included.

        ``start`` and ``end`` are each a seed (the first latent of ``sample(n, seed)``), a pair
        ``(seed, index)`` naming image ``index`` of ``sample(n, seed)``, or a latent ``(z_dim,)``.
        ``method`` is ``"slerp"`` (spherical, default) or ``"linear"``. Returns uint8 images as
        :meth:`sample` does, ``(steps, H, W[, 3])``.
        """
        from napari_gan.inference.latent import interpolate_latents, synthesise

        latents = interpolate_latents(self._latent(start), self._latent(end), steps, method)
        return synthesise(self.net, latents, truncation, _device(device))

    def _latent(self, point: int | tuple[int, int] | np.ndarray) -> torch.Tensor:
        if isinstance(point, (int, np.integer)):
            return self.latents(1, int(point))[0]
        if isinstance(point, tuple) and len(point) == 2:
            seed, index = int(point[0]), int(point[1])
            if index < 0:
                raise NapariGanError(f"sample index must not be negative, got {index}")
            return self.latents(index + 1, seed)[index]
        latent = torch.as_tensor(np.asarray(point), dtype=torch.float32).flatten()
        if latent.numel() != self.z_dim:
            raise NapariGanError(f"a latent of {latent.numel()} values does not fit z_dim={self.z_dim}; give a seed or a latent of {self.z_dim} values")
        return latent

    def save(self, path: str | Path) -> Path:
        """Write the generator as a ``.safetensors`` file that :func:`napari_gan.load_generator` reads."""
        from napari_gan.weights.native import save_generator

        return save_generator(self, path)


def _device(device: str | torch.device | None) -> torch.device:
    from napari_gan.devices import resolve_device

    return resolve_device(device)


def collect(progress_events) -> Any:
    """Run a progress generator such as :meth:`Generator.iter_apply` to the end; return its value."""
    while True:
        try:
            next(progress_events)
        except StopIteration as finished:
            return finished.value
