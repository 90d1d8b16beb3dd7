"""The "Style transfer" dock widget: train pix2pix or CycleGAN on layers and apply translation generators."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from pathlib import Path

import napari
import numpy as np
from magicgui.widgets import ComboBox, Container, FileEdit, Label, PushButton, SpinBox, create_widget
from napari.qt.threading import GeneratorWorker, thread_worker
from napari.utils import progress
from napari.utils.notifications import show_error

from napari_gan.devices import available_devices
from napari_gan.errors import NapariGanError
from napari_gan.generator import Generator
from napari_gan.inference import DEFAULT_TILE
from napari_gan.training import (
    CycleGANConfig,
    CycleGANTask,
    FinishedEvent,
    Pix2PixConfig,
    Pix2PixTask,
    PreviewEvent,
    StepEvent,
    Trainer,
    TrainingImage,
)
from napari_gan.weights import load_generator
from napari_gan.weights.importers_translation import select_direction
from napari_gan._napari.layers import check_image_layer, result_layer_kwargs
from napari_gan._napari.session import forward_progress

logger = logging.getLogger(__name__)

PAIRED = "paired (pix2pix)"
UNPAIRED = "unpaired (CycleGAN)"
FROM_SESSION = "trained in this session"
FROM_FILE = "weights file"
PATCH_SIZES = (64, 128, 256)
"""Training crop edges; the U-Net gets log2(patch) levels, so 256 is pix2pix's unet_256."""
DEFAULT_STEPS = 2000
DEFAULT_WIDTH = 32
"""Generator and discriminator width; pix2pix uses 64, 32 trains about four times faster on a CPU."""
MAX_TILE = 4096
TILE_STEP = 32
PREVIEW_LAYER = "style transfer preview"


class LossPlot:
    """Live loss and discriminator-accuracy curves, drawn with pyqtgraph when it is installed."""

    def __init__(self) -> None:
        self.values: dict[str, list[float]] = {}
        try:
            import pyqtgraph
        except ImportError:
            from qtpy.QtWidgets import QLabel

            self._pyqtgraph = None
            self.native = QLabel("Install pyqtgraph to see live loss curves: pip install pyqtgraph")
            return
        self._pyqtgraph = pyqtgraph
        self.native = pyqtgraph.PlotWidget(title="losses and D accuracy")
        self.native.addLegend()
        self.native.setMinimumHeight(160)
        self._curves: dict[str, object] = {}

    def clear(self) -> None:
        self.values.clear()
        if self._pyqtgraph is not None:
            self.native.clear()
            self._curves.clear()

    def append(self, event: StepEvent) -> None:
        """Store the losses of ``event`` and redraw."""
        values = dict(event.losses)
        if event.d_accuracy_real is not None:
            values["D accuracy (real)"] = event.d_accuracy_real
            values["D accuracy (generated)"] = event.d_accuracy_fake
        for name, value in values.items():
            self.values.setdefault(name, []).append(value)
        if self._pyqtgraph is None:
            return
        for name, series in self.values.items():
            if name not in self._curves:
                colour = self._pyqtgraph.intColor(len(self._curves), hues=10)
                self._curves[name] = self.native.plot(name=name, pen=self._pyqtgraph.mkPen(colour, width=2))
            self._curves[name].setData(series)


class StyleTransferWidget(Container):
    """Train an image-to-image translation on layers, and apply translation generators to layers.

    Training: "paired" trains pix2pix on an input and a target layer of the same height and
    width, and stacks pair slice by slice. "unpaired" trains CycleGAN on two layers of
    different image kinds. Start begins a run in the run folder, Stop ends it after the current step with
    a checkpoint, Resume continues the newest checkpoint there. Losses and discriminator accuracy
    appear in the plot and the generator's output on a fixed crop in a preview layer.

    Applying: the model is the one trained in this session or a weights file, either napari-gan
    ``.safetensors`` or pytorch-CycleGAN-and-pix2pix ``.pth``. For CycleGAN, direction picks
    A to B or B to A. The result is a new layer overlaying its input.
    """

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        self._viewer = viewer
        self._trainer: Trainer | None = None
        self._stop_requested = False
        self._train_worker: GeneratorWorker | None = None
        self._apply_worker: GeneratorWorker | None = None
        self._progress: progress | None = None
        self.session_generator: Generator | None = None

        self._mode = ComboBox(label="Training data", choices=[PAIRED, UNPAIRED], value=PAIRED)
        self._layer_a = create_widget(annotation=napari.layers.Image, label="Input / domain A")
        self._layer_b = create_widget(annotation=napari.layers.Image, label="Target / domain B")
        self._steps = SpinBox(label="Steps", value=DEFAULT_STEPS, min=1, max=1_000_000)
        self._patch = ComboBox(label="Patch size", choices=list(PATCH_SIZES), value=256)
        self._width = SpinBox(label="Network width", value=DEFAULT_WIDTH, min=1, max=256)
        self._run_dir = FileEdit(label="Run folder", mode="d", value=Path.home() / "napari-gan-runs" / "style-transfer")
        self._start = PushButton(text="Start")
        self._stop = PushButton(text="Stop", enabled=False)
        self._resume = PushButton(text="Resume")
        self._plot = LossPlot()

        self._source = ComboBox(label="Model", choices=[FROM_SESSION, FROM_FILE], value=FROM_FILE)
        self._weights_file = FileEdit(label="Weights file", mode="r", filter="Weights (*.safetensors *.pth *.pt)")
        self._direction = ComboBox(label="Direction", choices=["AtoB", "BtoA"], value="AtoB")
        self._apply_layer = create_widget(annotation=napari.layers.Image, label="Apply to")
        self._tile = SpinBox(label="Tile (0 = whole)", value=DEFAULT_TILE, min=0, max=MAX_TILE, step=TILE_STEP)
        self._device = ComboBox(label="Device", choices=available_devices(), value="auto")
        self._apply_button = PushButton(text="Apply")
        self._status = Label(value="")
        self._status.native.setWordWrap(True)

        self._start.changed.connect(self.start)
        self._resume.changed.connect(self.resume)
        self._stop.changed.connect(self.stop)
        self._apply_button.changed.connect(self.apply)
        self.extend(
            [
                Label(value="<b>Train</b>"),
                self._mode,
                self._layer_a,
                self._layer_b,
                self._steps,
                self._patch,
                self._width,
                self._run_dir,
                Container(widgets=[self._start, self._stop, self._resume], layout="horizontal", labels=False),
                Label(value="<b>Apply</b>"),
                self._source,
                self._weights_file,
                self._direction,
                self._apply_layer,
                self._tile,
                self._device,
                self._apply_button,
                self._status,
            ]
        )
        self.native.layout().insertWidget(9, self._plot.native)
        self.native.destroyed.connect(self._on_destroyed)

    def _on_destroyed(self, _object: object = None) -> None:
        """Stop a running training when the dock widget closes; the loop still writes its checkpoint."""
        if self._trainer is not None:
            self._trainer.request_stop()

    # -- training -----------------------------------------------------------------------

    @property
    def is_training(self) -> bool:
        return self._train_worker is not None

    @property
    def is_applying(self) -> bool:
        return self._apply_worker is not None

    def start(self) -> GeneratorWorker | None:
        """Start a new training run in the run folder; return its worker, or None on invalid input."""
        return self._launch(resume=False)

    def resume(self) -> GeneratorWorker | None:
        """Continue the run in the run folder from its newest checkpoint up to Steps."""
        return self._launch(resume=True)

    def stop(self) -> None:
        """Stop training after the current step; the loop writes a checkpoint and exports the generator."""
        if not self.is_training:
            return
        self._stop_requested = True
        if self._trainer is not None:
            self._trainer.request_stop()
        self._set_status("stopping after the current step ...")

    def _run_training(self, task, run_dir: Path, resume: bool) -> Iterator:
        """Build the trainer and yield its events, in the worker thread.

        The trainer is built here because restoring a checkpoint can take seconds.
        """
        trainer = Trainer(task, run_dir, resume=resume)
        self._trainer = trainer
        if self._stop_requested:
            trainer.request_stop()
        yield from trainer.run()

    def _make_task(self) -> Pix2PixTask | CycleGANTask:
        layer_a = check_image_layer(self._layer_a.value)
        layer_b = check_image_layer(self._layer_b.value)
        image_a = TrainingImage(layer_a.data, name=f"layer {layer_a.name!r}", rgb=layer_a.rgb)
        image_b = TrainingImage(layer_b.data, name=f"layer {layer_b.name!r}", rgb=layer_b.rgb)
        patch = int(self._patch.value)
        common = dict(
            steps=int(self._steps.value),
            patch_size=patch,
            ngf=int(self._width.value),
            ndf=int(self._width.value),
            num_downs=int(math.log2(patch)),
            preview_every=max(1, min(100, int(self._steps.value) // 10)),
        )
        if self._mode.value == PAIRED:
            return Pix2PixTask(Pix2PixConfig(**common), [image_a], [image_b])
        return CycleGANTask(CycleGANConfig(**common), [image_a], [image_b])

    def _launch(self, resume: bool) -> GeneratorWorker | None:
        if self.is_training:
            self._set_status("training is already running; press Stop first")
            return None
        try:
            task = self._make_task()
        except NapariGanError as error:
            self._report_error(error)
            return None
        self._plot.clear()
        self._stop_requested = False
        worker = thread_worker(
            self._run_training,
            start_thread=False,
            connect={
                "yielded": self._on_event,
                "errored": lambda error: self._report_error(error, notify=False),
                "finished": self._on_training_finished,
            },
        )(task, Path(self._run_dir.value), resume)
        self._train_worker = worker
        self._set_training(True)
        self._set_status(f"{'resuming' if resume else 'training'} {self._mode.value} in {self._run_dir.value} ...")
        worker.start()
        return worker

    def _on_event(self, event) -> None:
        if isinstance(event, StepEvent):
            self._plot.append(event)
            self._set_status(f"step {event.step}/{event.total_steps}, {event.seconds_left:.0f} s left")
        elif isinstance(event, PreviewEvent):
            self._show_preview(event.image)
        elif isinstance(event, FinishedEvent):
            self._on_run_finished(event)

    def _show_preview(self, image: np.ndarray) -> None:
        rgb = image.ndim == 3
        if PREVIEW_LAYER in self._viewer.layers:
            layer = self._viewer.layers[PREVIEW_LAYER]
            if layer.rgb == rgb and layer.data.shape == image.shape:
                layer.data = image
                return
            self._viewer.layers.remove(layer)
        self._viewer.add_image(image, name=PREVIEW_LAYER, rgb=rgb, contrast_limits=None if rgb else (0.0, 1.0))

    def _on_run_finished(self, event: FinishedEvent) -> None:
        self._set_status(f"{event.message}; generator {event.generator_path}")
        if event.generator_path is not None:
            self.session_generator = load_generator(event.generator_path)
            self.session_generator.info.source = "trained in this session"
            self._source.value = FROM_SESSION

    def _on_training_finished(self) -> None:
        self._train_worker = None
        self._trainer = None
        self._set_training(False)

    def _set_training(self, running: bool) -> None:
        self._start.enabled = not running
        self._resume.enabled = not running
        self._stop.enabled = running

    # -- applying -----------------------------------------------------------------------

    def _selected_generator(self) -> Generator:
        if self._source.value == FROM_SESSION:
            if self.session_generator is None:
                raise NapariGanError("no generator trained in this session yet; train one, or pick a weights file")
            generator = self.session_generator
        else:
            path = Path(self._weights_file.value)
            if not path.is_file():
                raise NapariGanError(f"weights file {str(path)!r} not found; pick a .safetensors or .pth file")
            generator = load_generator(path)
        return select_direction(generator, self._direction.value)

    def apply(self) -> GeneratorWorker | None:
        """Apply the selected model to the selected layer; return the worker, or None on invalid input."""
        if self.is_applying:
            self._set_status("already applying; wait for it to finish")
            return None
        try:
            layer = check_image_layer(self._apply_layer.value)
            generator = self._selected_generator()
        except NapariGanError as error:
            self._report_error(error)
            return None
        steps = generator.iter_apply(
            layer.data, name=f"layer {layer.name!r}", rgb=layer.rgb, tile=self._tile.value or None, device=self._device.value
        )
        worker = thread_worker(
            forward_progress,
            start_thread=False,
            connect={
                "yielded": self._on_progress,
                "returned": lambda result: self._add_result(layer, generator, result),
                "errored": lambda error: self._report_error(error, notify=False),
                "warned": lambda warning: self._apply_warnings.append(str(warning[0])),
                "finished": self._on_apply_finished,
            },
        )(steps)
        self._apply_worker = worker
        self._apply_warnings: list[str] = []
        self._progress = progress(desc=f"{generator.name} on {layer.name}")
        self._apply_button.enabled = False
        worker.start()
        return worker

    def _on_progress(self, event) -> None:
        if self._progress is not None:
            self._progress.total = event.total
            self._progress.update(event.done - self._progress.n)

    def _add_result(self, layer: napari.layers.Image, generator: Generator, result: np.ndarray) -> None:
        kwargs = result_layer_kwargs(layer, generator.name, 1)
        kwargs["name"] = f"{layer.name} {generator.name}"
        # A translation may turn grayscale into colour or the reverse.
        kwargs["rgb"] = generator.out_channels == 3 and result.shape[-1] == 3
        if kwargs["rgb"]:
            kwargs.pop("colormap", None)
            kwargs.pop("contrast_limits", None)
        elif layer.rgb:
            kwargs["colormap"] = "gray"
        self._viewer.add_image(result, **kwargs)
        # Conversions such as grayscale to RGB arrive as warnings; keep them next to the result.
        notes = "".join(f". {warning}" for warning in self._apply_warnings)
        self._set_status(f"added {kwargs['name']!r} {tuple(result.shape)} {result.dtype}{notes}")

    def _on_apply_finished(self) -> None:
        if self._progress is not None:
            self._progress.close()
        self._progress = None
        self._apply_worker = None
        self._apply_button.enabled = True

    # -- messages -----------------------------------------------------------------------

    def _report_error(self, error: BaseException, notify: bool = True) -> None:
        """Show ``error`` on the widget and, unless napari's worker already did, as a notification."""
        if isinstance(error, NapariGanError):
            message = str(error)
        else:
            logger.error("style transfer failed", exc_info=error)
            message = f"style transfer failed: {type(error).__name__}: {error}"
        self._set_status(message)
        if notify:
            show_error(message)

    def _set_status(self, message: str) -> None:
        self._status.value = message
        logger.info(message)
