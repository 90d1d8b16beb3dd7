"""Tests of the Super-resolution training widget: runs, stop, resume, errors and the hand-over to the apply widget."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest
import skimage.data


napari = pytest.importorskip("napari")

import napari_gan  # noqa: E402
from napari.utils.notifications import notification_manager  # noqa: E402
from napari_gan.training import RunState, SuperResConfig  # noqa: E402
from napari_gan.training.checkpoint import list_checkpoints  # noqa: E402
from napari_gan._napari.superres_widget import SuperResolutionWidget  # noqa: E402
from napari_gan._napari.training_widget import SuperResolutionTrainingWidget  # noqa: E402

WORKER_TIMEOUT_MS = 30_000
STOP_TIMEOUT_MS = 10_000
LONG_RUN_STEPS = 10_000
# Tiny networks and a one-step warm-up, so that a few steps reach the GAN phase in well under a second.
TINY = dict(
    num_feat=4,
    num_conv=1,
    d_num_feat=4,
    discriminator="patchgan",
    warmup_steps=1,
    preview_every=2,
    ema_decay=0.9,
)


@pytest.fixture
def viewer_and_widget(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    widget = SuperResolutionTrainingWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.base_config = dataclasses.replace(SuperResConfig(), **TINY)
    widget._scale.value = 2
    widget._steps.value = 4
    widget._batch_size.value = 2
    widget._patch_size.value = 32
    widget._device.value = "cpu"
    widget._run_folder.value = tmp_path / "run"
    return viewer, widget


def add_camera(viewer, name: str = "camera"):
    return viewer.add_image(skimage.data.camera()[:96, :96].astype(np.uint16) * 64, name=name)


def train_to_end(qtbot, widget: SuperResolutionTrainingWidget, resume: bool = False):
    worker = widget.resume() if resume else widget.start()
    assert worker is not None, widget._status.value
    qtbot.waitUntil(lambda: not widget.is_running, timeout=WORKER_TIMEOUT_MS)
    return worker


def start_long_run(qtbot, widget: SuperResolutionTrainingWidget) -> None:
    """Start a run far longer than any test and wait for its first step."""
    widget._steps.value = LONG_RUN_STEPS
    assert widget.start() is not None, widget._status.value
    qtbot.waitUntil(lambda: bool(widget._plot.values.get("loss_g_pixel")), timeout=WORKER_TIMEOUT_MS)


def error_count(message: str) -> int:
    return sum(message in str(record) for record in notification_manager.records)


def test_start_trains_and_publishes(qtbot, viewer_and_widget, tmp_path):
    viewer, widget = viewer_and_widget
    layer = add_camera(viewer)
    widget._layers.value = [layer]
    apply_widget = SuperResolutionWidget(viewer)
    train_to_end(qtbot, widget)

    assert widget.state is RunState.FINISHED, widget._status.value
    assert widget.finished_event.step == 4
    assert (tmp_path / "run" / "generator.safetensors").is_file()
    assert len(list_checkpoints(tmp_path / "run")) >= 1

    preview = viewer.layers["camera training preview"]
    assert preview.data.shape == (96, 96)
    np.testing.assert_allclose(preview.translate, layer.translate)

    generator = widget.generator
    assert generator.info.source == "trained in this session"
    name = apply_widget._model_picker.value
    assert apply_widget._generators[name] is generator
    later_widget = SuperResolutionWidget(viewer)
    assert generator in later_widget._generators.values()

    apply_widget._layer_picker.value = layer
    assert apply_widget.apply() is not None
    qtbot.waitUntil(lambda: not apply_widget.is_running, timeout=WORKER_TIMEOUT_MS)
    result = viewer.layers[-1]
    assert result.data.shape == (192, 192)
    assert result.data.dtype == np.uint16


def test_rgb_run_plots_and_saves(qtbot, viewer_and_widget, tmp_path):
    viewer, widget = viewer_and_widget
    layer = viewer.add_image(skimage.data.astronaut()[:96, :96], name="astronaut", rgb=True)
    widget._layers.value = [layer]
    widget._steps.value = 3
    train_to_end(qtbot, widget)

    assert widget.state is RunState.FINISHED, widget._status.value
    plot = widget._plot
    assert len(plot.values["loss_g_pixel"]) == 3
    # Step 1 is the warm-up, so the discriminator trains on steps 2 and 3 only.
    assert len(plot.values["d_accuracy_real"]) == 2
    assert len(plot.values["d_accuracy_fake"]) == 2
    assert len(plot.values["loss_d"]) == 2
    steps, values = plot.curves["loss_g_pixel"].getData()
    assert list(steps) == [1, 2, 3]
    assert len(values) == 3
    assert viewer.layers["astronaut training preview"].rgb

    widget._generator_file.value = tmp_path / "mine.safetensors"
    path = widget.save_generator()
    assert path == tmp_path / "mine.safetensors"
    assert napari_gan.load_generator(path).in_channels == 3


def test_stop_ends_run_with_checkpoint(qtbot, viewer_and_widget, tmp_path):
    viewer, widget = viewer_and_widget
    widget._layers.value = [add_camera(viewer)]
    start_long_run(qtbot, widget)
    stop_time = time.monotonic()
    widget.stop()
    qtbot.waitUntil(lambda: not widget.is_running, timeout=STOP_TIMEOUT_MS)

    assert time.monotonic() - stop_time < 5
    assert widget.state is RunState.STOPPED
    assert widget.finished_event.step < LONG_RUN_STEPS
    assert widget.finished_event.checkpoint in list_checkpoints(tmp_path / "run")
    assert widget.generator is not None


def test_resume_reaches_new_total(qtbot, viewer_and_widget, tmp_path):
    viewer, widget = viewer_and_widget
    widget._layers.value = [add_camera(viewer)]
    widget._steps.value = 3
    train_to_end(qtbot, widget)
    assert widget.finished_event.step == 3

    widget._steps.value = 5
    widget._batch_size.value = 7
    train_to_end(qtbot, widget, resume=True)
    assert widget.state is RunState.FINISHED, widget._status.value
    assert widget.finished_event.step == 5
    assert list_checkpoints(tmp_path / "run")[-1].name == "step_00000005.pt"
    assert widget._batch_size.value == 2


def test_removing_layer_stops_run(qtbot, viewer_and_widget, tmp_path):
    viewer, widget = viewer_and_widget
    layer = add_camera(viewer)
    widget._layers.value = [layer]
    start_long_run(qtbot, widget)
    viewer.layers.remove(layer)
    qtbot.waitUntil(lambda: not widget.is_running, timeout=STOP_TIMEOUT_MS)

    assert widget.state is RunState.STOPPED
    assert widget.finished_event.checkpoint in list_checkpoints(tmp_path / "run")
    assert "'camera' was removed" in widget._status.value


def test_closing_viewer_stops_run(qtbot, viewer_and_widget, tmp_path):
    viewer, widget = viewer_and_widget
    widget._layers.value = [add_camera(viewer)]
    start_long_run(qtbot, widget)
    viewer.close()
    qtbot.waitUntil(lambda: not widget.is_running, timeout=STOP_TIMEOUT_MS)

    assert widget.state is RunState.STOPPED
    assert list_checkpoints(tmp_path / "run")


def test_worker_quit_writes_checkpoint(qtbot, viewer_and_widget, tmp_path):
    # napari quits the workers of a viewer that closes, which skips the trainer's own stop.
    viewer, widget = viewer_and_widget
    widget._layers.value = [add_camera(viewer)]
    start_long_run(qtbot, widget)
    widget._worker.quit()
    qtbot.waitUntil(lambda: not widget.is_running, timeout=STOP_TIMEOUT_MS)

    assert widget.state is RunState.STOPPED
    assert widget.finished_event is None
    assert list_checkpoints(tmp_path / "run")
    assert "cancelled" in widget._status.value


def test_small_layer_names_sizes(qtbot, viewer_and_widget):
    viewer, widget = viewer_and_widget
    widget._layers.value = [viewer.add_image(skimage.data.camera()[:20, :24], name="tiny")]
    train_to_end(qtbot, widget)

    message = widget._status.value
    assert widget.state is RunState.CRASHED
    assert "20x24" in message
    assert "32-pixel patch size" in message
    assert error_count("20x24") == 1


def test_nan_layer_reports_error(qtbot, viewer_and_widget):
    viewer, widget = viewer_and_widget
    data = np.ones((64, 64), dtype=np.float32)
    data[3, 4] = np.nan
    widget._layers.value = [viewer.add_image(data, name="holes")]
    train_to_end(qtbot, widget)

    assert widget.state is RunState.CRASHED
    assert "NaN" in widget._status.value
    assert "holes" in widget._status.value


def test_start_rejects_used_folder(viewer_and_widget, tmp_path):
    viewer, widget = viewer_and_widget
    widget._layers.value = [add_camera(viewer)]
    checkpoints = tmp_path / "run" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / "step_00000002.pt").write_bytes(b"")

    assert widget.start() is None
    assert "already has checkpoints" in widget._status.value
    assert "Resume" in widget._status.value
    assert error_count("already has checkpoints") == 1


def test_start_rejects_unwritable_folder(viewer_and_widget, tmp_path):
    viewer, widget = viewer_and_widget
    widget._layers.value = [add_camera(viewer)]
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    widget._run_folder.value = blocker / "run"

    assert widget.start() is None
    assert "not writable" in widget._status.value


def test_resume_rejects_empty_folder(viewer_and_widget):
    viewer, widget = viewer_and_widget
    widget._layers.value = [add_camera(viewer)]

    assert widget.resume() is None
    assert "no checkpoint to resume" in widget._status.value


def test_start_without_layers_gives_message(viewer_and_widget):
    _viewer, widget = viewer_and_widget
    assert widget.start() is None
    assert "no training layer selected" in widget._status.value


def test_layer_lists_follow_viewer(viewer_and_widget):
    viewer, widget = viewer_and_widget
    first = add_camera(viewer, "first")
    second = add_camera(viewer, "second")
    viewer.add_labels(np.zeros((16, 16), dtype=np.uint8), name="masks")
    assert list(widget._layers.choices) == [first, second]
    assert list(widget._low_res_layer.choices) == [None, first, second]

    widget._layers.value = [first, second]
    viewer.layers.remove(first)
    assert list(widget._layers.choices) == [second]
    assert list(widget._layers.value) == [second]
    assert widget._low_res_layer.value is None


def test_manifest_opens_widget(make_napari_viewer):
    viewer = make_napari_viewer()
    _dock, widget = viewer.window.add_plugin_dock_widget("napari-gan", "Super-resolution training")
    assert isinstance(widget, SuperResolutionTrainingWidget)
