"""The bundled generators: present, loadable and better than bicubic upscaling on held-out images."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data

import napari_gan
from napari_gan.metrics import score_superresolution
from napari_gan.samples import to_uint16_camera_range

# Whole images held out from training (see scripts/train_bundled_superres.py), as the model cards score them.
HELD_OUT = {
    "coffee photograph": skimage.data.coffee,
    "cell microscopy uint16": lambda: to_uint16_camera_range(skimage.data.cell()),
}


def test_bundled_models_listed():
    assert napari_gan.list_models() == ["faces", "superres-x2", "superres-x4"]
    assert napari_gan.list_models(task="superres") == ["superres-x2", "superres-x4"]
    assert napari_gan.list_models(task="synthesis") == ["faces"]


@pytest.mark.parametrize("model", ["superres-x2", "superres-x4"])
def test_bundled_model_card_present(model):
    generator = napari_gan.load_generator(model)
    assert "Validation on held-out images" in generator.info.model_card
    assert generator.info.source == "bundled"


@pytest.mark.parametrize("model", ["superres-x2", "superres-x4"])
@pytest.mark.parametrize("image_name", list(HELD_OUT))
def test_bundled_model_beats_bicubic(model, image_name):
    generator = napari_gan.load_generator(model)
    score = score_superresolution(generator, HELD_OUT[image_name](), tile=None)
    assert score.psnr > score.bicubic_psnr + 0.3
    assert score.ssim > score.bicubic_ssim


def test_bundled_model_keeps_colour():
    generator = napari_gan.load_generator("superres-x4")
    image = skimage.data.coffee()[:96, :96]
    result = generator.apply(image)
    shift = np.abs(result.reshape(-1, 3).mean(0) - image.reshape(-1, 3).mean(0))
    assert shift.max() < 1.5
