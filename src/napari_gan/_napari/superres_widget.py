"""The "Super-resolution" dock widget: apply a generator to an image layer."""

from __future__ import annotations

import logging
from pathlib import Path

import napari
from magicgui.widgets import CheckBox, ComboBox, Container, FileEdit, Label, PushButton, SpinBox, create_widget
from napari.qt.threading import GeneratorWorker, thread_worker
from napari.utils import progress
from napari.utils.notifications import show_error

from napari_gan.devices import available_devices
from napari_gan.errors import NapariGanError
from napari_gan.generator import Generator
from napari_gan.inference import DEFAULT_TILE
from napari_gan.weights import list_models, load_generator
from napari_gan._napari.layers import check_image_layer, result_layer_kwargs
from napari_gan._napari.session import forward_progress, session_generators, unique_name

logger = logging.getLogger(__name__)

MAX_TILE = 4096
STATUS_LINES = 4
TILE_STEP = 32


class SuperResolutionWidget(Container):
    """Pick an image layer and a generator, then add the upscaled result as a new layer.

    The work runs in a napari thread worker with a progress bar; Cancel stops it after the
    current tile and adds no layer. Generators come from the bundled list, from a weights
    file (``.safetensors``, ``.pth``, ``.pt``), or from :meth:`add_generator`, which is how
    generators trained in this session appear.
    """

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        self._viewer = viewer
        self._generators: dict[str, Generator | None] = {name: None for name in list_models(task="superres")}
        self._worker: GeneratorWorker | None = None
        self._progress: progress | None = None

        self._layer_picker = create_widget(annotation=napari.layers.Image, label="Image")
        self._model_picker = ComboBox(label="Model", choices=self._model_names)
        self._weights_file = FileEdit(label="Weights file", mode="r", filter="Weights (*.safetensors *.pth *.pt *.ckpt *.bin)")
        self._tile = SpinBox(label="Tile (0 = whole)", value=DEFAULT_TILE, min=0, max=MAX_TILE, step=TILE_STEP)
        self._tile.tooltip = "Tile edge in input pixels; smaller tiles need less memory. 0 processes whole planes."
        self._device = ComboBox(label="Device", choices=available_devices(), value="auto")
        self._half = CheckBox(label="Half precision on CUDA", value=True)
        self._apply_button = PushButton(text="Apply")
        self._cancel_button = PushButton(text="Cancel", enabled=False)
        self._status = Label(value="")
        self._status.native.setWordWrap(True)
        self._status.native.setMinimumHeight(self._status.native.fontMetrics().lineSpacing() * STATUS_LINES)

        self._weights_file.changed.connect(self._on_weights_file)
        self._apply_button.changed.connect(self.apply)
        self._cancel_button.changed.connect(self.cancel)
        self.extend(
            [
                self._layer_picker,
                self._model_picker,
                self._weights_file,
                self._tile,
                self._device,
                self._half,
                self._apply_button,
                self._cancel_button,
                self._status,
            ]
        )

        for generator in session_generators.items():
            self.add_generator(generator, select=False)
        session_generators.added.connect(self.add_generator)
        self.native.destroyed.connect(self._disconnect_session)

    def _disconnect_session(self, _object: object = None) -> None:
        session_generators.added.disconnect(self.add_generator)

    def _model_names(self, _widget: object = None) -> list[str]:
        return list(self._generators)

    def add_generator(self, generator: Generator, select: bool = True) -> str:
        """Add ``generator`` to the model list under its name (made unique) and return that name."""
        name = unique_name(self._generators, generator)
        self._generators[name] = generator
        self._model_picker.reset_choices()
        if select:
            self._model_picker.value = name
        return name

    def _on_weights_file(self, path: Path) -> None:
        if not path or not Path(path).is_file():
            return
        try:
            generator = load_generator(Path(path))
        except NapariGanError as error:
            self._report_error(error)
            return
        name = self.add_generator(generator)
        self._set_status(f"loaded {name}: x{generator.scale}, {generator.in_channels}-channel {generator.info.arch} ({generator.info.source_format})")

    def _selected_generator(self) -> tuple[str, Generator]:
        name = self._model_picker.value
        if name is None:
            raise NapariGanError("no model selected; pick a bundled model or load a weights file")
        generator = self._generators[name]
        if generator is None:
            generator = self._generators[name] = load_generator(name)
        return name, generator

    @property
    def is_running(self) -> bool:
        """Whether an apply run is in progress."""
        return self._worker is not None

    def apply(self) -> GeneratorWorker | None:
        """Start applying the selected model to the selected layer; return the worker, or None on invalid input."""
        if self.is_running:
            self._set_status("already running; press Cancel first")
            return None
        try:
            layer = check_image_layer(self._layer_picker.value)
            model_name, generator = self._selected_generator()
        except NapariGanError as error:
            self._report_error(error)
            return None

        steps = generator.iter_apply(
            layer.data,
            name=f"layer {layer.name!r}",
            rgb=layer.rgb,
            tile=self._tile.value or None,
            device=self._device.value,
            half=self._half.value,
        )
        # Passing an "errored" handler stops the worker from re-raising in the main thread.
        worker = thread_worker(
            forward_progress,
            start_thread=False,
            connect={
                "yielded": self._on_progress,
                "returned": lambda result: self._add_result(layer, model_name, generator.scale, result),
                "errored": self._report_error,
                "aborted": lambda: self._set_status("cancelled; no layer was added"),
                "finished": self._on_finished,
            },
        )(steps)
        self._worker = worker
        self._progress = progress(desc=f"{model_name} on {layer.name}")
        self._apply_button.enabled = False
        self._cancel_button.enabled = True
        self._set_status(f"applying {model_name} to {layer.name!r} ...")
        worker.start()
        return worker

    def cancel(self) -> None:
        """Stop the running apply after its current tile; no layer is added."""
        if self._worker is not None:
            self._worker.quit()
            self._set_status("cancelling after the current tile ...")

    def _on_progress(self, event) -> None:
        if self._progress is not None:
            self._progress.total = event.total
            self._progress.update(event.done - self._progress.n)

    def _add_result(self, layer, model_name: str, factor: int, result) -> None:
        kwargs = result_layer_kwargs(layer, model_name, factor)
        self._viewer.add_image(result, **kwargs)
        self._set_status(f"added {kwargs['name']!r} {tuple(result.shape)} {result.dtype}")

    def _on_finished(self) -> None:
        if self._progress is not None:
            self._progress.close()
        self._progress = None
        self._worker = None
        self._apply_button.enabled = True
        self._cancel_button.enabled = False

    def _report_error(self, error: BaseException) -> None:
        """Show ``error`` on the widget and as a napari notification."""
        if isinstance(error, NapariGanError):
            message = str(error)
        else:
            logger.error("super-resolution failed", exc_info=error)
            message = f"super-resolution failed: {type(error).__name__}: {error}"
        self._set_status(message)
        show_error(message)

    def _set_status(self, message: str) -> None:
        self._status.value = message
        logger.info(message)
