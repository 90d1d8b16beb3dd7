"""Fixtures for the engine and command-line tests: tiny generators that run in milliseconds on a CPU."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from napari_gan import Generator, GeneratorInfo
from napari_gan.archs import build_arch


@pytest.fixture(scope="session", autouse=True)
def single_torch_thread():
    """Run torch on one thread, because thread synchronisation costs more than it saves on these tiny networks."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _srvgg(channels: int, scale: int, base_upsampling: str, seed: int) -> Generator:
    torch.manual_seed(seed)
    kwargs = dict(
        num_in_ch=channels,
        num_out_ch=channels,
        num_feat=4,
        num_conv=2,
        upscale=scale,
        base_upsampling=base_upsampling,
    )
    info = GeneratorInfo(
        name=f"tiny-srvgg-{channels}ch-x{scale}",
        arch="srvgg",
        arch_kwargs=kwargs,
        scale=scale,
        in_channels=channels,
        out_channels=channels,
    )
    return Generator(build_arch("srvgg", **kwargs), info)


def _rrdbnet(channels: int, scale: int, seed: int) -> Generator:
    torch.manual_seed(seed)
    kwargs = dict(num_in_ch=channels, num_out_ch=channels, scale=scale, num_feat=4, num_block=1, num_grow_ch=4)
    net = build_arch("rrdbnet", **kwargs)
    # RRDBNet has no skip connection from the input, so an untrained one outputs values near zero.
    # A last-layer bias of 0.5 moves them to the middle of [0, 1], where the output clamp keeps them.
    with torch.no_grad():
        net.conv_last.bias.fill_(0.5)
    info = GeneratorInfo(
        name=f"tiny-rrdbnet-{channels}ch-x{scale}",
        arch="rrdbnet",
        arch_kwargs=kwargs,
        scale=scale,
        in_channels=channels,
        out_channels=channels,
        size_multiple=4 // scale,
        min_size=8,
    )
    return Generator(net, info)


@pytest.fixture
def make_srvgg() -> Callable[..., Generator]:
    """Factory of untrained SRVGGNetCompact generators with 4 features and 2 hidden convolutions.

    Their receptive field radius is 4 input pixels, from four stacked 3x3 convolutions. The
    bicubic base upsampling reaches only 2 pixels.
    """

    def make(channels: int = 3, scale: int = 2, base_upsampling: str = "nearest", seed: int = 0) -> Generator:
        return _srvgg(channels, scale, base_upsampling, seed)

    return make


@pytest.fixture
def make_rrdbnet() -> Callable[..., Generator]:
    """Factory of untrained RRDBNet generators with one block of 4 features."""

    def make(channels: int = 1, scale: int = 2, seed: int = 0) -> Generator:
        return _rrdbnet(channels, scale, seed)

    return make


@pytest.fixture
def rgb_generator(make_srvgg) -> Generator:
    """A three-channel x2 SRVGGNetCompact generator."""
    return make_srvgg(channels=3)


@pytest.fixture
def gray_generator(make_srvgg) -> Generator:
    """A single-channel x2 SRVGGNetCompact generator."""
    return make_srvgg(channels=1)


@pytest.fixture
def saved_generator(tmp_path, rgb_generator):
    """Path of ``rgb_generator`` saved as .safetensors in its own folder under ``tmp_path``."""
    folder = tmp_path / "weights"
    folder.mkdir()
    return rgb_generator.save(folder / "tiny.safetensors")
