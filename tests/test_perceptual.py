"""Tests of the VGG19 perceptual loss with small random weights files written to tmp_path."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from napari_gan.errors import NapariGanError
from napari_gan.training.perceptual import PerceptualLoss

# conv1_2 and conv2_2 need only the first eight layers of VGG19's features (indices 0 to 7),
# about a megabyte instead of the 80 MB of all convolutions.
LAYER_WEIGHTS = {"conv1_2": 1.0, "conv2_2": 1.0}
LAST_INDEX = 7


def _vgg_state(prefix: str = "features.", seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights for VGG19's features 0 to 7, keyed as torchvision names them after ``prefix``."""
    with torch.device("meta"):
        layers = torchvision.models.vgg19(weights=None).features[: LAST_INDEX + 1]
    generator = torch.Generator().manual_seed(seed)
    return {
        prefix + key: torch.randn(value.shape, generator=generator) * 0.05
        for key, value in layers.state_dict().items()
    }


@pytest.fixture
def vgg_file(tmp_path):
    path = tmp_path / "vgg19-features.pth"
    torch.save(_vgg_state(), path)
    return path


@pytest.fixture
def loss(vgg_file) -> PerceptualLoss:
    return PerceptualLoss(vgg_file, layer_weights=LAYER_WEIGHTS)


def _images(channels: int = 3, seed: int = 0) -> torch.Tensor:
    return torch.rand(2, channels, 16, 16, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("criterion", ["l1", "l2", "fro"])
def test_perceptual_identical_images_zero(vgg_file, criterion):
    loss = PerceptualLoss(vgg_file, layer_weights=LAYER_WEIGHTS, criterion=criterion)
    images = _images()

    value = loss(images, images.clone())

    assert value.ndim == 0
    assert value.item() == 0


def test_perceptual_different_images_positive(loss):
    assert loss(_images(seed=0), _images(seed=1)).item() > 0


def test_perceptual_layer_weights_scale_loss(vgg_file):
    output, target = _images(seed=0), _images(seed=1)
    single = PerceptualLoss(vgg_file, layer_weights={"conv2_2": 1.0})
    doubled = PerceptualLoss(vgg_file, layer_weights={"conv2_2": 2.0})

    assert doubled(output, target).item() == pytest.approx(2 * single(output, target).item())


def test_perceptual_grayscale_repeated_to_rgb(loss):
    output, target = _images(channels=1, seed=0), _images(channels=1, seed=1)

    gray = loss(output, target)

    rgb = loss(output.expand(-1, 3, -1, -1), target.expand(-1, 3, -1, -1))
    assert gray.item() > 0
    assert gray.item() == pytest.approx(rgb.item())


def test_perceptual_gradient_reaches_output_only(loss):
    output = _images(seed=0).requires_grad_()
    target = _images(seed=1).requires_grad_()

    loss(output, target).backward()

    assert output.grad is not None
    assert output.grad.abs().sum() > 0
    assert target.grad is None
    for parameter in loss.parameters():
        assert not parameter.requires_grad
        assert parameter.grad is None


def test_perceptual_vgg_stays_in_eval_mode(loss):
    loss.train()

    assert loss.training
    assert not loss.vgg.training


def test_perceptual_features_only_keys(tmp_path, vgg_file):
    bare_path = tmp_path / "bare.pth"
    torch.save(_vgg_state(prefix=""), bare_path)
    output, target = _images(seed=0), _images(seed=1)

    bare = PerceptualLoss(bare_path, layer_weights=LAYER_WEIGHTS)
    prefixed = PerceptualLoss(vgg_file, layer_weights=LAYER_WEIGHTS)

    assert torch.equal(bare(output, target), prefixed(output, target))


def test_perceptual_full_torchvision_keys(tmp_path):
    # A whole torchvision VGG19 state dict also contains the classifier, which the loss ignores.
    state = _vgg_state() | {"classifier.0.weight": torch.zeros(4, 4), "classifier.0.bias": torch.zeros(4)}
    path = tmp_path / "vgg19-full.pth"
    torch.save(state, path)

    loss = PerceptualLoss(path, layer_weights=LAYER_WEIGHTS)

    assert loss(_images(seed=0), _images(seed=1)).item() > 0


def test_perceptual_missing_file(tmp_path):
    path = tmp_path / "absent.pth"

    with pytest.raises(NapariGanError, match="not found") as error:
        PerceptualLoss(path, layer_weights=LAYER_WEIGHTS)

    assert str(path) in str(error.value)


def test_perceptual_missing_key(tmp_path):
    state = _vgg_state()
    del state["features.7.weight"]
    path = tmp_path / "truncated.pth"
    torch.save(state, path)

    with pytest.raises(NapariGanError, match="'features.7.weight'") as error:
        PerceptualLoss(path, layer_weights=LAYER_WEIGHTS)

    assert str(path) in str(error.value)


def test_perceptual_misshaped_key(tmp_path):
    state = _vgg_state()
    state["features.0.weight"] = torch.zeros(64, 1, 3, 3)
    path = tmp_path / "gray-vgg.pth"
    torch.save(state, path)

    with pytest.raises(NapariGanError, match=r"\(64, 1, 3, 3\) for 'features.0.weight'.*\(64, 3, 3, 3\)"):
        PerceptualLoss(path, layer_weights=LAYER_WEIGHTS)


def test_perceptual_pickled_module_rejected(tmp_path):
    path = tmp_path / "whole-model.pth"
    torch.save(nn.Conv2d(3, 64, 3), path)

    with pytest.raises(NapariGanError, match="Conv2d.*running code"):
        PerceptualLoss(path, layer_weights=LAYER_WEIGHTS)


def test_perceptual_unreadable_file(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_text("not a weights file")

    with pytest.raises(NapariGanError, match="not a PyTorch file"):
        PerceptualLoss(path, layer_weights=LAYER_WEIGHTS)


def test_perceptual_unknown_layer(vgg_file):
    with pytest.raises(NapariGanError, match="'conv6_1'.*conv5_4"):
        PerceptualLoss(vgg_file, layer_weights={"conv6_1": 1.0})


def test_perceptual_unknown_criterion(vgg_file):
    with pytest.raises(NapariGanError, match="'huber'.*l1, l2, fro"):
        PerceptualLoss(vgg_file, layer_weights=LAYER_WEIGHTS, criterion="huber")
