"""The napari session of ``napari-gan demo``."""

from __future__ import annotations

from pathlib import Path

import napari
from qtpy.QtCore import QEventLoop
from qtpy.QtWidgets import QApplication

from napari_gan.io import write_image
from napari_gan.samples import SUPERRES_SAMPLES
from napari_gan._napari.superres_widget import SuperResolutionWidget

SCREENSHOT_WIDTH, SCREENSHOT_HEIGHT = 1500, 800


def run_napari_demo(out: Path, sample_models: dict[str, str], interactive: bool) -> None:
    """Open napari with the samples and the widget, apply each sample's model, save results and a screenshot."""
    viewer = napari.Viewer(title="napari-gan demo")
    widget = SuperResolutionWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Super-resolution", area="right")

    for sample_name, make in SUPERRES_SAMPLES.items():
        data = make()
        layer = viewer.add_image(data, name=sample_name.split(" (")[0] + " low-res", rgb=data.ndim == 3)
        widget._layer_picker.value = layer
        widget._model_picker.value = sample_models[sample_name]
        worker = widget.apply()
        if worker is None:
            continue
        wait = QEventLoop()
        worker.finished.connect(wait.quit)
        if widget.is_running:
            wait.exec()

    for layer in list(viewer.layers):
        write_image(out / f"{layer.name.replace(' ', '-')}.tif", layer.data)
    if interactive:
        print(f"results in {out}/; close the napari window to end the demo")
        napari.run()
        return

    # The screenshot shows the first sample beside its result; the results of the others are saved above.
    first_input = viewer.layers[0]
    for layer in list(viewer.layers):
        if layer is not first_input and layer.metadata.get("napari_gan", {}).get("source_layer") != first_input.name:
            viewer.layers.remove(layer)
    widget._layer_picker.value = first_input
    widget._set_status(f"added {viewer.layers[-1].name!r}")
    viewer.grid.enabled = True
    viewer.window.resize(SCREENSHOT_WIDTH, SCREENSHOT_HEIGHT)
    QApplication.processEvents()
    viewer.reset_view()
    screenshot = out / "screenshot.png"
    viewer.screenshot(str(screenshot), canvas_only=False)
    print(f"results and {screenshot.name} in {out}/")
    viewer.close()
