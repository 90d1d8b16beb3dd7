"""The "Synthesis" dock widget: training with live curves and preview, sampling, morphs, scores and errors."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data

# Loading triton (through torch._dynamo, which torch.optim imports) after a viewer has loaded Mesa's
# OpenGL driver crashes the process under Xvfb with llvmpipe, because both link their own LLVM.
# Importing it before any viewer exists avoids that.
import torch._dynamo  # noqa: F401

napari = pytest.importorskip("napari")

from napari_gan.archs import build_arch  # noqa: E402
from napari_gan.generator import Generator, GeneratorInfo  # noqa: E402
from napari_gan.training import SynthesisConfig, SynthesisTask  # noqa: E402
from napari_gan._napari import sample_data  # noqa: E402
from napari_gan._napari.synthesis_widget import PREVIEW_LAYER, SynthesisWidget  # noqa: E402

WORKER_TIMEOUT_MS = 60_000
TINY = SynthesisConfig(batch_size=4, z_dim=8, num_feat=4, d_num_feat=4, preview_every=2, device="cpu")


@pytest.fixture
def viewer_and_widget(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    widget = SynthesisWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.base_config = TINY
    widget._run_dir.value = tmp_path / "run"
    widget._steps.value = 3
    return viewer, widget


def wait(qtbot, widget: SynthesisWidget) -> None:
    qtbot.waitUntil(lambda: not widget.is_running, timeout=WORKER_TIMEOUT_MS)


@pytest.fixture
def trained(qtbot, viewer_and_widget):
    viewer, widget = viewer_and_widget
    layer = viewer.add_image(sample_data.lfw_faces()[0][0][:12], name="faces")
    widget._layer_picker.value = layer
    assert widget.start() is not None
    wait(qtbot, widget)
    return viewer, widget


def test_training_plots_and_previews(trained):
    viewer, widget = trained

    assert len(widget.plot.points["loss_d"][0]) == 3
    assert "d_accuracy_real" in widget.plot.points
    assert viewer.layers[PREVIEW_LAYER].data.shape == (134, 134)
    assert widget._model_picker.value == "trained-dcgan-32"
    assert "finished at step 3 of 3" in widget._status.value


def test_generate_adds_stack(qtbot, trained):
    viewer, widget = trained
    widget._count.value = 5
    widget._seed.value = 2
    assert widget.generate() is not None
    wait(qtbot, widget)

    layer = viewer.layers[-1]
    assert layer.data.shape == (5, 32, 32)
    assert layer.data.dtype == np.uint8
    assert layer.name == "trained-dcgan-32 seed 2"


def test_interpolate_adds_morph(qtbot, trained):
    viewer, widget = trained
    widget._morph_steps.value = 6
    assert widget.interpolate() is not None
    wait(qtbot, widget)

    assert viewer.layers[-1].data.shape == (6, 32, 32)
    assert "morph 0:0 to 1:0" in viewer.layers[-1].name


def test_score_shows_metrics(qtbot, trained):
    _, widget = trained
    assert widget.score() is not None
    wait(qtbot, widget)

    assert "SWD x1e3, average" in widget._status.value
    assert "diversity" in widget._status.value
    assert "discriminator accuracy on generated images" in widget._status.value


def test_resume_continues(qtbot, trained):
    _, widget = trained
    widget._steps.value = 5
    assert widget.resume() is not None
    wait(qtbot, widget)

    assert widget.plot.points["loss_d"][0][-1] == 5


def test_single_image_shows_fix(viewer_and_widget):
    viewer, widget = viewer_and_widget
    widget._layer_picker.value = viewer.add_image(skimage.data.camera(), name="camera")

    assert widget.start() is None
    assert "one 2D image" in widget._status.value
    assert "patch mode" in widget._status.value


def test_no_model_shows_fix(viewer_and_widget):
    _, widget = viewer_and_widget
    widget._generators.clear()
    widget._model_picker.reset_choices()

    assert widget.generate() is None
    assert "no model selected" in widget._status.value


def test_truncation_only_for_style(trained):
    _, widget = trained

    assert not widget._truncation.enabled


def test_truncation_enabled_for_style(qtbot, viewer_and_widget):
    viewer, widget = viewer_and_widget
    kwargs = dict(z_dim=8, resolution=32, out_channels=1, num_feat=2, mapping_layers=1)
    info = GeneratorInfo(name="tiny-style", arch="style", arch_kwargs=kwargs, task="synthesis", in_channels=0, out_channels=1)
    widget.add_generator(Generator(build_arch("style", **kwargs), info))

    assert widget._truncation.enabled
    widget._truncation.value = 0.0
    widget._count.value = 3
    assert widget.generate() is not None
    wait(qtbot, widget)
    stack = viewer.layers[-1].data
    # Truncation 0 maps every latent to the average w, so all samples are the same image.
    assert np.array_equal(stack[0], stack[2])


def test_failed_run_reports_error(qtbot, viewer_and_widget, monkeypatch):
    viewer, widget = viewer_and_widget
    widget._layer_picker.value = viewer.add_image(sample_data.lfw_faces()[0][0][:12], name="faces")

    def fail(self, rng):
        raise RuntimeError("data source lost")

    monkeypatch.setattr(SynthesisTask, "sample_batch", fail)
    assert widget.start() is not None
    wait(qtbot, widget)

    assert "synthesis failed: RuntimeError: data source lost" in widget._status.value
    assert widget._start_button.enabled
