"""Tests of the "Style transfer" widget: training pix2pix and CycleGAN on layers, applying, and sample data."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
import torch

# torch.optim imports torch._dynamo, which imports triton where it is installed. Loading triton after
# a viewer has loaded Mesa's OpenGL driver (Xvfb with llvmpipe) crashes the process, so load it first.
import torch._dynamo  # noqa: F401

napari = pytest.importorskip("napari")

from napari_gan import samples  # noqa: E402
from napari_gan.archs import ResnetGenerator  # noqa: E402
from napari_gan._napari import sample_data  # noqa: E402
from napari_gan._napari.style_transfer_widget import FROM_FILE, FROM_SESSION, UNPAIRED, StyleTransferWidget  # noqa: E402

WORKER_TIMEOUT_MS = 60_000


@pytest.fixture
def viewer_and_widget(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    widget = StyleTransferWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget._steps.value = 2
    widget._patch.value = 64
    widget._width.value = 4
    widget._run_dir.value = tmp_path / "run"
    return viewer, widget


def _train(qtbot, widget, resume=False):
    worker = widget.resume() if resume else widget.start()
    assert worker is not None
    qtbot.waitUntil(lambda: not widget.is_training, timeout=WORKER_TIMEOUT_MS)


def _apply(qtbot, widget):
    worker = widget.apply()
    assert worker is not None
    qtbot.waitUntil(lambda: not widget.is_applying, timeout=WORKER_TIMEOUT_MS)


def test_pix2pix_train_preview_apply(qtbot, viewer_and_widget):
    viewer, widget = viewer_and_widget
    photo = skimage.data.astronaut()[:80, :96]
    gray = viewer.add_image(photo.mean(axis=-1).astype(np.uint8), name="gray", scale=(0.5, 0.5))
    colour = viewer.add_image(photo, name="photo", rgb=True)
    widget._layer_a.value, widget._layer_b.value = gray, colour
    _train(qtbot, widget)

    assert "finished at step 2 of 2" in widget._status.value
    assert set(widget._plot.values) >= {"loss_g_l1", "loss_g_gan", "loss_d", "D accuracy (real)"}
    preview = viewer.layers["style transfer preview"]
    assert preview.rgb
    assert widget._source.value == FROM_SESSION

    widget._apply_layer.value = gray
    _apply(qtbot, widget)
    result = viewer.layers[-1]
    assert result.name == "gray pix2pix"
    assert result.rgb
    assert result.data.shape == (80, 96, 3)
    np.testing.assert_allclose(result.scale, gray.scale)


def test_resume_continues_run(qtbot, viewer_and_widget):
    viewer, widget = viewer_and_widget
    photo = skimage.data.astronaut()[:64, :64]
    widget._layer_a.value = viewer.add_image(photo.mean(axis=-1).astype(np.uint8), name="gray")
    widget._layer_b.value = viewer.add_image(photo, name="photo", rgb=True)
    _train(qtbot, widget)
    widget._steps.value = 3
    _train(qtbot, widget, resume=True)
    assert "finished at step 3 of 3" in widget._status.value


def test_cyclegan_both_directions(qtbot, viewer_and_widget):
    viewer, widget = viewer_and_widget
    widget._mode.value = UNPAIRED
    brick = viewer.add_image(skimage.data.brick()[:64, :64], name="brick")
    widget._layer_a.value = brick
    widget._layer_b.value = viewer.add_image(skimage.data.gravel()[:72, :64], name="gravel")
    _train(qtbot, widget)
    widget._apply_layer.value = brick
    widget._direction.value = "BtoA"
    _apply(qtbot, widget)
    assert viewer.layers[-1].name == "brick cyclegan BtoA"
    assert viewer.layers[-1].data.shape == (64, 64)


def test_different_shapes_shown(viewer_and_widget):
    viewer, widget = viewer_and_widget
    widget._layer_a.value = viewer.add_image(np.zeros((64, 64), np.uint8), name="small")
    widget._layer_b.value = viewer.add_image(np.zeros((64, 80), np.uint8), name="wide")
    assert widget.start() is None
    assert "different sizes" in widget._status.value
    assert "crop or resize" in widget._status.value


def test_project_file_grayscale_warning(qtbot, viewer_and_widget, tmp_path):
    viewer, widget = viewer_and_widget
    torch.manual_seed(0)
    path = tmp_path / "latest_net_G.pth"
    torch.save(ResnetGenerator(ngf=4, norm="instance", n_blocks=1).state_dict(), path)
    widget._source.value = FROM_FILE
    widget._weights_file.value = path
    widget._apply_layer.value = viewer.add_image(skimage.data.camera()[:48, :48], name="camera")
    _apply(qtbot, widget)
    assert viewer.layers[-1].rgb
    assert "its channel was repeated" in widget._status.value


def test_session_model_missing_shown(viewer_and_widget):
    viewer, widget = viewer_and_widget
    widget._source.value = FROM_SESSION
    widget._apply_layer.value = viewer.add_image(np.zeros((32, 32), np.uint8), name="empty")
    assert widget.apply() is None
    assert "no generator trained in this session" in widget._status.value


def test_translation_samples():
    hematoxylin, stained = samples.virtual_staining_pair()
    assert hematoxylin.shape == stained.shape[:2] == (512, 512)
    edges, photo = samples.edges_to_photo_pair()
    assert set(np.unique(edges)) <= {0, 255}
    assert edges.shape == photo.shape[:2]
    brick, gravel = samples.texture_sets()
    assert brick.shape == gravel.shape == (4, 128, 128)
    for contribution in (sample_data.virtual_staining_pair, sample_data.edges_to_photo_pair, sample_data.texture_sets):
        assert len(contribution()) == 2


def test_stop_ends_with_checkpoint(qtbot, viewer_and_widget):
    viewer, widget = viewer_and_widget
    photo = skimage.data.astronaut()[:64, :64]
    widget._layer_a.value = viewer.add_image(photo.mean(axis=-1).astype(np.uint8), name="gray")
    widget._layer_b.value = viewer.add_image(photo, name="photo", rgb=True)
    widget._steps.value = 100_000
    assert widget.start() is not None
    qtbot.waitUntil(lambda: bool(widget._plot.values.get("loss_g_l1")), timeout=WORKER_TIMEOUT_MS)
    widget.stop()
    qtbot.waitUntil(lambda: not widget.is_training, timeout=WORKER_TIMEOUT_MS)
    assert "stopped at step" in widget._status.value
    assert list((widget._run_dir.value / "checkpoints").glob("step_*.pt"))
