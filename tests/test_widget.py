"""Tests of the napari face: the Super-resolution widget, sample data and the manifest."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
import torch

napari = pytest.importorskip("napari")

from napari.utils.notifications import notification_manager  # noqa: E402
from napari_gan.archs import build_arch  # noqa: E402
from napari_gan.errors import NapariGanError  # noqa: E402
from napari_gan._napari.layers import check_image_layer  # noqa: E402
from napari_gan.generator import Generator, GeneratorInfo  # noqa: E402
from napari_gan._napari import sample_data  # noqa: E402
from napari_gan._napari.superres_widget import SuperResolutionWidget  # noqa: E402

WORKER_TIMEOUT_MS = 30_000


def tiny_generator(scale: int = 2, channels: int = 1, name: str = "tiny") -> Generator:
    torch.manual_seed(0)
    kwargs = dict(num_in_ch=channels, num_out_ch=channels, num_feat=4, num_conv=1, upscale=scale, base_upsampling="bicubic")
    info = GeneratorInfo(name=name, arch="srvgg", arch_kwargs=kwargs, scale=scale, in_channels=channels, out_channels=channels)
    return Generator(build_arch("srvgg", **kwargs), info)


@pytest.fixture
def viewer_and_widget(make_napari_viewer):
    viewer = make_napari_viewer()
    widget = SuperResolutionWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.add_generator(tiny_generator())
    return viewer, widget


def run_to_end(qtbot, widget: SuperResolutionWidget):
    worker = widget.apply()
    assert worker is not None
    qtbot.waitUntil(lambda: not widget.is_running, timeout=WORKER_TIMEOUT_MS)
    return worker


def test_apply_adds_overlaying_layer(qtbot, viewer_and_widget):
    viewer, widget = viewer_and_widget
    data = (skimage.data.camera()[:40, :48].astype(np.uint16) * 16)
    layer = viewer.add_image(data, name="cam", scale=(0.5, 0.25), translate=(10.0, 20.0))
    widget._layer_picker.value = layer
    run_to_end(qtbot, widget)

    result = viewer.layers[-1]
    assert result.name == "cam tiny x2"
    assert result.data.shape == (80, 96)
    assert result.data.dtype == np.uint16
    np.testing.assert_allclose(result.scale, (0.25, 0.125))
    # Both layers cover the same world extent: the outer pixel edges coincide.
    input_edges = np.asarray(layer.translate) - np.asarray(layer.scale) / 2
    result_edges = np.asarray(result.translate) - np.asarray(result.scale) / 2
    np.testing.assert_allclose(result_edges, input_edges)
    input_far = input_edges + np.asarray(layer.scale) * data.shape
    result_far = result_edges + np.asarray(result.scale) * result.data.shape
    np.testing.assert_allclose(result_far, input_far)


def test_apply_rgb_layer_keeps_rgb(qtbot, viewer_and_widget):
    viewer, widget = viewer_and_widget
    layer = viewer.add_image(skimage.data.astronaut()[:32, :24], name="astro", rgb=True)
    widget._layer_picker.value = layer
    run_to_end(qtbot, widget)
    result = viewer.layers[-1]
    assert result.rgb
    assert result.data.shape == (64, 48, 3)


def test_apply_stack_layer(qtbot, viewer_and_widget):
    viewer, widget = viewer_and_widget
    stack = np.stack([skimage.data.camera()[:24, :24], skimage.data.moon()[:24, :24]]).astype(np.float32)
    layer = viewer.add_image(stack, name="stack")
    widget._layer_picker.value = layer
    run_to_end(qtbot, widget)
    result = viewer.layers[-1]
    assert result.data.shape == (2, 48, 48)
    np.testing.assert_allclose(result.scale, (1.0, 0.5, 0.5))


def test_layer_picker_follows_layers(viewer_and_widget):
    viewer, widget = viewer_and_widget
    layer = viewer.add_image(np.zeros((16, 16)), name="first")
    assert layer in widget._layer_picker.choices
    viewer.layers.remove(layer)
    assert layer not in widget._layer_picker.choices


def test_cancel_adds_no_layer(qtbot, viewer_and_widget):
    viewer, widget = viewer_and_widget
    layer = viewer.add_image(np.random.default_rng(0).random((256, 256), dtype=np.float32), name="big")
    widget._layer_picker.value = layer
    widget._tile.value = 32
    widget.apply()
    widget.cancel()
    qtbot.waitUntil(lambda: not widget.is_running, timeout=WORKER_TIMEOUT_MS)
    assert len(viewer.layers) == 1
    assert "cancelled" in widget._status.value


@pytest.mark.parametrize(
    ("add_layer", "kind"),
    [
        (lambda viewer: viewer.add_labels(np.zeros((16, 16), dtype=np.uint8), name="masks"), "labels"),
        (lambda viewer: viewer.add_points([[1, 2]], name="masks"), "points"),
        (lambda viewer: viewer.add_shapes([[[0, 0], [4, 4]]], shape_type="line", name="masks"), "shapes"),
    ],
)
def test_non_image_layer_is_rejected(viewer_and_widget, add_layer, kind):
    viewer, _widget = viewer_and_widget
    with pytest.raises(NapariGanError, match=f"layer 'masks' is a {kind} layer; pick an image layer"):
        check_image_layer(add_layer(viewer))


def test_layer_picker_lists_images_only(viewer_and_widget):
    viewer, widget = viewer_and_widget
    labels = viewer.add_labels(np.zeros((16, 16), dtype=np.uint8), name="masks")
    assert labels not in widget._layer_picker.choices


def test_no_layer_gives_message(viewer_and_widget):
    _viewer, widget = viewer_and_widget
    assert widget.apply() is None
    assert "no image layer" in widget._status.value


def test_nan_layer_reports_error(qtbot, viewer_and_widget):
    viewer, widget = viewer_and_widget
    data = np.ones((16, 16), dtype=np.float32)
    data[3, 4] = np.nan
    layer = viewer.add_image(data, name="holes")
    widget._layer_picker.value = layer
    notification_manager.records.clear()
    run_to_end(qtbot, widget)
    assert len(viewer.layers) == 1
    assert "NaN" in widget._status.value
    assert sum("NaN" in str(record.message) for record in notification_manager.records) == 1
    assert "holes" in widget._status.value


def test_weights_file_joins_model_list(tmp_path, viewer_and_widget):
    _viewer, widget = viewer_and_widget
    path = tiny_generator(name="mine").save(tmp_path / "mine.safetensors")
    widget._weights_file.value = path
    assert widget._model_picker.value == "mine"
    assert "loaded mine" in widget._status.value


def test_truncated_weights_file_reports_error(tmp_path, viewer_and_widget):
    _viewer, widget = viewer_and_widget
    path = tiny_generator().save(tmp_path / "broken.safetensors")
    path.write_bytes(path.read_bytes()[:100])
    widget._weights_file.value = path
    assert "broken.safetensors" in widget._status.value
    assert "tiny" == widget._model_picker.value


def test_duplicate_generator_names_made_unique(viewer_and_widget):
    _viewer, widget = viewer_and_widget
    name = widget.add_generator(tiny_generator())
    assert name == "tiny (2)"


@pytest.mark.parametrize("contribution", [sample_data.astronaut_lowres, sample_data.cells_lowres_uint16, sample_data.retina_lowres])
def test_sample_data_is_layer_data(contribution):
    [(data, kwargs)] = contribution()
    assert data.ndim in (2, 3)
    assert data.size > 0
    assert kwargs["name"]


def test_manifest_validates():
    import npe2

    manifest = npe2.PluginManifest.from_distribution("napari-gan")
    manifest.validate_imports()
    names = {widget.display_name for widget in manifest.contributions.widgets}
    assert {"Super-resolution", "Super-resolution training"} <= names
