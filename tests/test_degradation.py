"""Tests of the low-resolution training inputs made by ``degrade``."""

from __future__ import annotations

import pytest
import torch

from napari_gan.data.degradation import DEGRADATIONS, bicubic_resize, degrade
from napari_gan.errors import NapariGanError

# torchvision 0.29 deprecates encode_jpeg and decode_jpeg, which degrade still uses.
pytestmark = pytest.mark.filterwarnings("ignore:The image decoding and encoding capabilities:DeprecationWarning")


def _high_batch(channels: int, size: int = 32, batch: int = 2, seed: int = 0) -> torch.Tensor:
    """Smooth random images, so that blur and resize have structure to act on."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(batch, channels, size // 4, size // 4, generator=generator)
    return torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)


@pytest.mark.parametrize("kind", DEGRADATIONS)
@pytest.mark.parametrize("scale", [2, 4])
@pytest.mark.parametrize("channels", [1, 3])
def test_degrade_shape_and_range(kind, scale, channels):
    high = _high_batch(channels)

    low = degrade(high, scale, kind, torch.Generator().manual_seed(0))

    assert low.shape == (2, channels, 32 // scale, 32 // scale)
    assert low.dtype == torch.float32
    assert low.min() >= 0
    assert low.max() <= 1


@pytest.mark.parametrize("kind", ["realistic", "second_order"])
def test_degrade_same_seed_same_output(kind):
    high = _high_batch(3)

    first = degrade(high, 4, kind, torch.Generator().manual_seed(7))
    second = degrade(high, 4, kind, torch.Generator().manual_seed(7))

    assert torch.equal(first, second)


@pytest.mark.parametrize("kind", ["realistic", "second_order"])
def test_degrade_other_seed_other_output(kind):
    high = _high_batch(3)

    first = degrade(high, 4, kind, torch.Generator().manual_seed(7))
    second = degrade(high, 4, kind, torch.Generator().manual_seed(8))

    assert not torch.equal(first, second)


def test_degrade_samples_differ_within_batch():
    high = _high_batch(3, batch=1).expand(2, -1, -1, -1).contiguous()

    low = degrade(high, 2, "realistic", torch.Generator().manual_seed(0))

    assert not torch.equal(low[0], low[1])


def test_degrade_bicubic_is_quantised_resize():
    high = _high_batch(3)

    low = degrade(high, 2, "bicubic", torch.Generator())

    expected = torch.round(bicubic_resize(high, 0.5).clamp(0, 1) * 255) / 255
    assert torch.equal(low, expected)


def test_degrade_second_order_differs_from_realistic():
    high = _high_batch(3)

    realistic = degrade(high, 4, "realistic", torch.Generator().manual_seed(3))
    second_order = degrade(high, 4, "second_order", torch.Generator().manual_seed(3))

    assert not torch.equal(realistic, second_order)


def test_degrade_output_is_8_bit():
    low = degrade(_high_batch(1), 2, "second_order", torch.Generator().manual_seed(0))

    assert torch.equal(low * 255, torch.round(low * 255))


def test_degrade_small_image():
    # 8x8 is smaller than the largest 21x21 blur kernel.
    low = degrade(_high_batch(3, size=8), 4, "second_order", torch.Generator().manual_seed(0))

    assert low.shape == (2, 3, 2, 2)


def test_degrade_unknown_kind():
    with pytest.raises(NapariGanError, match="'gaussian'") as error:
        degrade(_high_batch(1), 2, "gaussian", torch.Generator())

    for kind in DEGRADATIONS:
        assert kind in str(error.value)


def test_degrade_size_not_divisible():
    with pytest.raises(ValueError, match="divisible by the scale 3"):
        degrade(_high_batch(1, size=32), 3, "bicubic", torch.Generator())


def test_degrade_leaves_global_rng_alone():
    before = torch.get_rng_state()

    degrade(_high_batch(3), 2, "second_order", torch.Generator().manual_seed(0))

    assert torch.equal(torch.get_rng_state(), before)
