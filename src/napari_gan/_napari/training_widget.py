"""The "Super-resolution training" dock widget: train a super-resolution GAN on image layers."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import napari
import numpy as np
from magicgui.widgets import ComboBox, Container, FileEdit, FloatSpinBox, Label, PushButton, Select, SpinBox
from napari.qt.threading import GeneratorWorker, thread_worker
from napari.utils import progress
from napari.utils.notifications import show_error
from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import QLabel, QVBoxLayout, QWidget

from napari_gan.devices import available_devices
from napari_gan.errors import NapariGanError
from napari_gan.generator import Generator
from napari_gan.training import (
    CheckpointEvent,
    FinishedEvent,
    PreviewEvent,
    RunState,
    StepEvent,
    SuperResConfig,
    SuperResolutionTask,
    Trainer,
    TrainingEvent,
    TrainingImage,
)
from napari_gan.training.checkpoint import CHECKPOINT_PATTERN, check_run_dir, list_checkpoints
from napari_gan.training.loop import read_run_config
from napari_gan.weights import load_generator
from napari_gan._napari.layers import check_image_layer, overlay_geometry
from napari_gan._napari.session import session_generators

logger = logging.getLogger(__name__)

SCALES = (2, 4)
MAX_STEPS = 10_000_000
MAX_BATCH_SIZE = 1024
MIN_PATCH_SIZE = 16
MAX_PATCH_SIZE = 2048
PATCH_STEP = 8
"""Patch sizes move in steps of 8, because the unet_sn discriminator needs a multiple of 8."""
MIN_LEARNING_RATE = 1e-5
MAX_LEARNING_RATE = 1e-2
LEARNING_RATE_STEP = 1e-5
REFRESH_MS = 200
"""Interval at which the widget handles the worker's events; steps that arrive in between are plotted together."""
PLOT_HEIGHT = 160
STATUS_LINES = 4
PREVIEW_SUFFIX = "training preview"


class TrainingPlot:
    """Live curves of the loss terms and of the discriminator's accuracy, one point per step.

    :meth:`append` stores the values of every step, and :meth:`redraw` copies them to the
    pyqtgraph curves. The widget calls :meth:`redraw` from a timer, so a burst of fast steps
    costs one redraw. Without pyqtgraph the values are still stored, and :attr:`native` is a
    label with the command that installs it.
    """

    def __init__(self) -> None:
        self.steps: dict[str, list[int]] = {}
        """Step numbers of each curve, by curve name (a loss term, or ``d_accuracy_real`` / ``d_accuracy_fake``)."""
        self.values: dict[str, list[float]] = {}
        """Values of each curve, by curve name."""
        self.curves: dict = {}
        """The pyqtgraph ``PlotDataItem`` of each curve drawn so far."""
        self._changed = False
        try:
            import pyqtgraph
        except ImportError:
            self._pyqtgraph = None
            self.native: QWidget = QLabel("Install pyqtgraph to see live loss curves: pip install pyqtgraph")
            return
        self._pyqtgraph = pyqtgraph
        self._loss_plot = self._make_plot("Loss terms")
        self._accuracy_plot = self._make_plot("Discriminator accuracy")
        self._accuracy_plot.setYRange(0.0, 1.0)
        # Both accuracies stay near 0.5 while the discriminator and the generator are balanced.
        balanced = pyqtgraph.InfiniteLine(pos=0.5, angle=0, pen=pyqtgraph.mkPen("w", style=Qt.PenStyle.DashLine))
        self._accuracy_plot.addItem(balanced)
        self.native = QWidget()
        layout = QVBoxLayout(self.native)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._loss_plot)
        layout.addWidget(self._accuracy_plot)

    def _make_plot(self, title: str):
        plot = self._pyqtgraph.PlotWidget(title=title)
        plot.setMinimumHeight(PLOT_HEIGHT)
        plot.setLabel("bottom", "step")
        plot.addLegend(offset=(-10, 10))
        plot.setDownsampling(auto=True, mode="peak")
        plot.setClipToView(True)
        return plot

    def clear(self) -> None:
        """Remove every point, for a new run."""
        for name in self.steps:
            self.steps[name].clear()
            self.values[name].clear()
        self._changed = True
        self.redraw()

    def append(self, event: StepEvent) -> None:
        """Store the loss terms and the discriminator accuracies of one step, which has no accuracies during warm-up."""
        points = dict(event.losses)
        if event.d_accuracy_real is not None:
            points["d_accuracy_real"] = event.d_accuracy_real
        if event.d_accuracy_fake is not None:
            points["d_accuracy_fake"] = event.d_accuracy_fake
        for name, value in points.items():
            self.steps.setdefault(name, []).append(event.step)
            self.values.setdefault(name, []).append(value)
        self._changed = True

    def redraw(self) -> None:
        """Copy the stored points to the curves if any arrived since the last redraw."""
        if not self._changed or self._pyqtgraph is None:
            return
        for name in self.steps:
            if name not in self.curves:
                self.curves[name] = self._add_curve(name)
            self.curves[name].setData(self.steps[name], self.values[name])
        self._changed = False

    def _add_curve(self, name: str):
        if name == "d_accuracy_real":
            return self._accuracy_plot.plot(name="on real images", pen=self._pyqtgraph.mkPen("c", width=2))
        if name == "d_accuracy_fake":
            return self._accuracy_plot.plot(name="on generated images", pen=self._pyqtgraph.mkPen("m", width=2))
        colour = self._pyqtgraph.intColor(len(self._loss_plot.listDataItems()), hues=8)
        return self._loss_plot.plot(name=name, pen=self._pyqtgraph.mkPen(colour, width=2))


@dataclass(frozen=True)
class RunFailed:
    """An exception that ended a run in the worker thread, passed to the main thread as an event."""

    error: Exception


class TrainingRun:
    """One training run, shared between the main thread and the worker thread.

    The worker thread builds the task and the trainer in :meth:`events`, because reading
    large layers and restoring a checkpoint can take seconds. A stop requested before the
    trainer exists is kept and applied to it; the run then ends before its first step.
    """

    def __init__(
        self,
        config: SuperResConfig,
        high_res: list[TrainingImage],
        low_res: list[TrainingImage] | None,
        run_dir: Path,
        resume: bool,
    ) -> None:
        self.config = config
        self.high_res = high_res
        self.low_res = low_res
        self.run_dir = run_dir
        self.resume = resume
        self._lock = threading.Lock()
        self._trainer: Trainer | None = None
        self._stop_requested = False

    @property
    def stop_requested(self) -> bool:
        """Whether :meth:`request_stop` was called."""
        return self._stop_requested

    def request_stop(self) -> None:
        """Stop at the next step with a checkpoint and an exported generator. Safe to call from any thread."""
        with self._lock:
            self._stop_requested = True
            if self._trainer is not None:
                self._trainer.request_stop()

    def events(self) -> Iterator[TrainingEvent | RunFailed]:
        """Build the trainer and yield its events, in the worker thread.

        An exception ends the run as a last :class:`RunFailed` event, so that the widget
        reports it once. Closing this generator closes the trainer's, which writes a checkpoint.
        """
        try:
            task = SuperResolutionTask(self.config, self.high_res, self.low_res)
            trainer = Trainer(task, self.run_dir, resume=self.resume)
            with self._lock:
                if self._stop_requested:
                    return
                self._trainer = trainer
            yield from trainer.run()
        except Exception as error:
            yield RunFailed(error)


class SuperResolutionTrainingWidget(Container):
    """Train a super-resolution GAN on image layers and hand the generator to the "Super-resolution" widget.

    The selected layers are the high-resolution training data. Low-resolution inputs are made
    from them by the degradation of :attr:`base_config`, unless a paired low-resolution layer
    is chosen. Training runs in a napari thread worker. The widget shows a progress bar, live
    curves of the loss terms and the discriminator's accuracy, and a preview layer of the
    generator's output on a fixed crop of the first layer.

    Stop, or removing a training layer, ends the run after the current step with a
    checkpoint and an exported generator. Resume continues the run in the chosen folder with
    the settings it started with; only Steps and Device may change. The exported generator
    joins :data:`~napari_gan._napari.session.session_generators`, where every
    "Super-resolution" widget lists it.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        The viewer whose image layers the widget trains on.
    """

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        self._viewer = viewer
        self.base_config = SuperResConfig()
        """Settings the widget does not show; Start replaces the shown ones in a copy of it."""
        self._run: TrainingRun | None = None
        self._run_layers: list[napari.layers.Image] = []
        self._worker: GeneratorWorker | None = None
        self._progress: progress | None = None
        self._state = RunState.IDLE
        self._finished_event: FinishedEvent | None = None
        self._pending: list[TrainingEvent | RunFailed] = []
        self._processing = False
        self._worker_finished = False
        self._error: BaseException | None = None
        self._aborted = False
        self._stop_reason = ""
        self._preview_layer: napari.layers.Image | None = None
        self._generator: Generator | None = None
        self._closed = False

        defaults = SuperResConfig()
        self._layers = Select(label="Training layers", choices=self._image_layer_choices)
        self._layers.tooltip = "High-resolution images to learn from; select several with Ctrl or Shift."
        self._low_res_layer = ComboBox(label="Paired low-res layer", choices=self._low_res_choices, value=None)
        self._low_res_layer.tooltip = (
            "A real low-resolution image exactly 1/scale the size of the one training layer. "
            "With none, low-resolution inputs are made by down-scaling the training layers."
        )
        self._scale = ComboBox(label="Scale", choices=SCALES, value=defaults.scale)
        self._steps = SpinBox(label="Steps", value=defaults.steps, min=1, max=MAX_STEPS)
        self._steps.tooltip = "Total training steps; Resume continues up to this number."
        self._batch_size = SpinBox(label="Batch size", value=defaults.batch_size, min=1, max=MAX_BATCH_SIZE)
        self._patch_size = SpinBox(
            label="Patch size", value=defaults.patch_size, min=MIN_PATCH_SIZE, max=MAX_PATCH_SIZE, step=PATCH_STEP
        )
        self._patch_size.tooltip = "Edge of the high-resolution training patches in pixels; every layer must be at least this large."
        self._lr_g = FloatSpinBox(
            label="Generator learning rate",
            value=defaults.lr_g,
            min=MIN_LEARNING_RATE,
            max=MAX_LEARNING_RATE,
            step=LEARNING_RATE_STEP,
        )
        self._device = ComboBox(label="Device", choices=available_devices(), value=defaults.device)
        self._run_folder = FileEdit(label="Run folder", mode="d")
        self._run_folder.tooltip = "Receives config.json, the checkpoints and generator.safetensors."
        self._start_button = PushButton(text="Start")
        self._stop_button = PushButton(text="Stop", enabled=False)
        self._resume_button = PushButton(text="Resume")
        self._status = Label(value="")
        self._status.native.setWordWrap(True)
        self._status.native.setMinimumHeight(self._status.native.fontMetrics().lineSpacing() * STATUS_LINES)
        self._generator_file = FileEdit(
            label="Generator file", mode="w", filter="Generator (*.safetensors)", enabled=False
        )
        self._save_button = PushButton(text="Save generator", enabled=False)

        self._start_button.changed.connect(self.start)
        self._stop_button.changed.connect(self.stop)
        self._resume_button.changed.connect(self.resume)
        self._save_button.changed.connect(self.save_generator)
        self.extend(
            [
                self._layers,
                self._low_res_layer,
                self._scale,
                self._steps,
                self._batch_size,
                self._patch_size,
                self._lr_g,
                self._device,
                self._run_folder,
                self._start_button,
                self._stop_button,
                self._resume_button,
                self._status,
                self._generator_file,
                self._save_button,
            ]
        )

        self._plot = TrainingPlot()
        self.native.layout().addWidget(self._plot.native)
        self._refresh_timer = QTimer(self.native)
        self._refresh_timer.setInterval(REFRESH_MS)
        self._refresh_timer.timeout.connect(self._process_pending)

        layer_events = viewer.layers.events
        for emitter in (layer_events.inserted, layer_events.removed, layer_events.reordered):
            emitter.connect(self.reset_choices)
        layer_events.removed.connect(self._on_layer_removed)
        self.native.destroyed.connect(self._on_destroyed)

    # -- choices ------------------------------------------------------------------------

    def _image_layer_choices(self, _widget: object = None) -> list[tuple[str, napari.layers.Image]]:
        return [(layer.name, layer) for layer in self._viewer.layers if isinstance(layer, napari.layers.Image)]

    def _low_res_choices(self, _widget: object = None) -> list[tuple[str, napari.layers.Image | None]]:
        return [("none", None), *self._image_layer_choices()]

    # -- state --------------------------------------------------------------------------

    @property
    def is_running(self) -> bool:
        """Whether a training run is in progress."""
        return self._worker is not None

    @property
    def state(self) -> RunState:
        """State of the latest run: IDLE before the first, then TRAINING, STOPPED, FINISHED or CRASHED."""
        return self._state

    @property
    def finished_event(self) -> FinishedEvent | None:
        """The event that ended the latest run, or None if it ended without one (an error, or a stop before step 1)."""
        return self._finished_event

    @property
    def generator(self) -> Generator | None:
        """The generator exported by the latest run that wrote one."""
        return self._generator

    # -- start, resume, stop ------------------------------------------------------------

    def start(self) -> GeneratorWorker | None:
        """Start a new run with the shown settings and return its worker, or None on invalid input."""
        return self._launch(resume=False)

    def resume(self) -> GeneratorWorker | None:
        """Continue the run in the chosen folder up to Steps and return its worker, or None on invalid input."""
        return self._launch(resume=True)

    def stop(self) -> None:
        """Stop the run after the current step, which writes a checkpoint and exports the generator."""
        if self._run is None:
            return
        self._run.request_stop()
        self._set_status("stopping after the current step; a checkpoint and the generator will be written ...")

    def _launch(self, resume: bool) -> GeneratorWorker | None:
        if self.is_running:
            self._set_status("already training; press Stop first")
            return None
        try:
            layers = self._selected_layers()
            low_res_layer = self._low_res_layer.value
            if low_res_layer is not None:
                check_image_layer(low_res_layer)
            run_dir = self._selected_run_folder()
            config = self._resume_config(run_dir) if resume else self._new_run_config(run_dir)
            config.validate()
        except NapariGanError as error:
            self._report_error(error)
            return None

        high_res = [TrainingImage(layer.data, name=f"layer {layer.name!r}", rgb=layer.rgb) for layer in layers]
        low_res = None
        if low_res_layer is not None:
            low_res = [TrainingImage(low_res_layer.data, name=f"layer {low_res_layer.name!r}", rgb=low_res_layer.rgb)]
        run = TrainingRun(config, high_res, low_res, run_dir, resume)
        events = run.events()
        worker = thread_worker(
            _forward_events,
            start_thread=False,
            # Errors arrive as RunFailed events. The "errored" handler is a fallback, and its
            # presence stops the worker from re-raising in the main thread.
            connect={
                "yielded": self._on_event,
                "errored": self._on_error,
                "aborted": self._on_aborted,
                "finished": self._on_finished,
            },
        )(events)
        # napari quits the workers of a closing viewer. The worker then leaves the generator
        # suspended, so this closes it in the worker thread, and the trainer writes a checkpoint.
        worker.aborted.connect(events.close, Qt.ConnectionType.DirectConnection)

        self._run = run
        self._run_layers = [*layers, *([low_res_layer] if low_res_layer is not None else [])]
        self._worker = worker
        self._state = RunState.TRAINING
        self._finished_event = None
        self._pending.clear()
        self._worker_finished = False
        self._error = None
        self._aborted = False
        self._stop_reason = ""
        self._preview_layer = None
        self._progress = progress(total=config.steps, desc=f"training on {layers[0].name}")
        self._plot.clear()
        self._refresh_timer.start()
        self._set_running(True)
        names = ", ".join(repr(layer.name) for layer in layers)
        verb = "resuming" if resume else "starting"
        self._set_status(f"{verb} x{config.scale} training on {names} in {str(run_dir)!r} ...")
        worker.start()
        return worker

    def _selected_layers(self) -> list[napari.layers.Image]:
        layers = list(self._layers.value)
        if not layers:
            raise NapariGanError("no training layer selected; select one or more image layers under Training layers")
        return [check_image_layer(layer) for layer in layers]

    def _selected_run_folder(self) -> Path:
        text = str(self._run_folder.line_edit.value).strip()
        if not text:
            raise NapariGanError("no run folder chosen; pick a folder for the checkpoints and the trained generator")
        return Path(text).expanduser()

    def _new_run_config(self, run_dir: Path) -> SuperResConfig:
        check_run_dir(run_dir)
        checkpoints = list_checkpoints(run_dir)
        if checkpoints:
            raise NapariGanError(
                f"run folder {str(run_dir)!r} already has checkpoints (newest: step {_checkpoint_step(checkpoints[-1])}); "
                "press Resume to continue that run, or pick an empty folder for a new one"
            )
        return dataclasses.replace(
            self.base_config,
            scale=self._scale.value,
            steps=self._steps.value,
            batch_size=self._batch_size.value,
            patch_size=self._patch_size.value,
            lr_g=self._lr_g.value,
            device=self._device.value,
        )

    def _resume_config(self, run_dir: Path) -> SuperResConfig:
        checkpoints = list_checkpoints(run_dir)
        if not checkpoints:
            raise NapariGanError(
                f"run folder {str(run_dir)!r} has no checkpoint to resume; press Start to begin a new run there"
            )
        saved = read_run_config(run_dir)
        if not isinstance(saved, SuperResConfig):
            raise NapariGanError(
                f"run folder {str(run_dir)!r} contains a {saved.to_dict()['task']} run, not super-resolution; "
                "resume it with the napari-gan train command"
            )
        done = _checkpoint_step(checkpoints[-1])
        if self._steps.value <= done:
            raise NapariGanError(
                f"the run in {str(run_dir)!r} has trained {done} steps already; set Steps above {done} to continue it"
            )
        self._show_config(saved)
        return dataclasses.replace(saved, steps=self._steps.value, device=self._device.value)

    def _show_config(self, config: SuperResConfig) -> None:
        """Show the settings a resumed run keeps, so the fields match what trains."""
        if config.scale in SCALES:
            self._scale.value = config.scale
        self._batch_size.value = min(config.batch_size, MAX_BATCH_SIZE)
        self._patch_size.value = min(config.patch_size, MAX_PATCH_SIZE)
        self._lr_g.value = min(max(config.lr_g, MIN_LEARNING_RATE), MAX_LEARNING_RATE)

    def _set_running(self, running: bool) -> None:
        self._start_button.enabled = not running
        self._resume_button.enabled = not running
        self._stop_button.enabled = running

    # -- events from the worker ---------------------------------------------------------
    #
    # napari's progress bar and layer controls call QApplication.processEvents, so a handler that
    # updates them can be re-entered by the worker's next signal. The signal handlers therefore
    # only store what arrives, and _process_pending handles it from the refresh timer and once the
    # worker has finished, never inside itself.

    def _on_event(self, event: TrainingEvent | RunFailed) -> None:
        self._pending.append(event)

    def _on_error(self, error: BaseException) -> None:
        self._error = error

    def _on_aborted(self) -> None:
        self._aborted = True

    def _on_finished(self) -> None:
        self._worker_finished = True
        self._process_pending()

    def _process_pending(self) -> None:
        """Handle the events stored since the last call, and end the run once the worker has finished."""
        if self._processing:
            return
        self._processing = True
        try:
            while self._pending and not self._closed:
                events = list(self._pending)
                self._pending.clear()
                self._handle_events(events)
            if not self._closed:
                self._plot.redraw()
            if self._worker_finished:
                self._end_run()
        finally:
            self._processing = False

    def _handle_events(self, events: list[TrainingEvent | RunFailed]) -> None:
        """Plot every step, but show only the newest step and preview of ``events``."""
        steps = [event for event in events if isinstance(event, StepEvent)]
        previews = [event for event in events if isinstance(event, PreviewEvent)]
        for event in steps:
            self._plot.append(event)
        if steps:
            self._show_step(steps[-1])
        if previews:
            self._show_preview(previews[-1].image)
        for event in events:
            if isinstance(event, CheckpointEvent):
                logger.info("checkpoint of step %d written to %s", event.step, event.path)
            elif isinstance(event, FinishedEvent):
                self._on_run_finished(event)
            elif isinstance(event, RunFailed):
                self._error = event.error

    def _show_step(self, event: StepEvent) -> None:
        time_left = _format_duration(event.seconds_left)
        if self._progress is not None:
            self._progress.set_description(f"training, {time_left} left")
            self._progress.update(event.step - self._progress.n)
        if self._run is not None and not self._run.stop_requested:
            # Set directly instead of through _set_status, which would log every step.
            self._status.value = (
                f"step {event.step} of {event.total_steps} ({event.phase.value}), "
                f"{event.images_per_second:.1f} images/s, {time_left} left"
            )

    def _show_preview(self, image: np.ndarray) -> None:
        """Show ``image``, the generator's output on the preview crop, over the first training layer."""
        if self._preview_layer is not None and self._preview_layer in self._viewer.layers:
            self._preview_layer.data = image
            return
        source = self._run_layers[0]
        scale = self._run.config.scale if self._run is not None else 1
        self._preview_layer = self._viewer.add_image(image, **_preview_layer_kwargs(source, image, scale))

    def _on_run_finished(self, event: FinishedEvent) -> None:
        self._finished_event = event
        self._state = event.state
        message = event.message
        if event.state is RunState.STOPPED and self._stop_reason:
            message = f"{message}, because {self._stop_reason}"
        if event.checkpoint is not None:
            message = f"{message}; checkpoint {str(event.checkpoint)!r}"
        if event.generator_path is None:
            self._set_status(message)
            return
        try:
            generator = load_generator(event.generator_path)
        except NapariGanError as error:
            self._report_error(error)
            return
        generator.info.source = "trained in this session"
        self._generator = generator
        session_generators.add(generator)
        self._generator_file.enabled = True
        self._save_button.enabled = True
        self._set_status(
            f"{message}. The generator {generator.name!r} is in the Super-resolution widget's model list; "
            "Save generator writes a copy"
        )

    def _end_run(self) -> None:
        """Close the progress bar, set the final state and report how the run ended."""
        progress_bar, self._progress = self._progress, None
        self._worker = None
        self._run = None
        self._pending.clear()
        if self._error is not None:
            self._state = RunState.CRASHED
        elif self._finished_event is None:
            self._state = RunState.STOPPED
        if progress_bar is not None:
            progress_bar.close()
        if self._closed:
            return
        self._refresh_timer.stop()
        self._set_running(False)
        if self._error is not None:
            self._report_error(self._error)
        elif self._aborted:
            self._set_status("training cancelled; a checkpoint of the last step was written, and Resume continues it")
        elif self._finished_event is None:
            self._set_status("training stopped before its first step; no checkpoint was written")

    # -- layer removal and closing ------------------------------------------------------

    def _on_layer_removed(self, event) -> None:
        removed = event.value
        if self._run is None or not any(removed is layer for layer in self._run_layers):
            return
        self._stop_reason = f"layer {removed.name!r} was removed"
        self._run.request_stop()
        self._set_status(f"layer {removed.name!r} was removed during training; stopping after the current step ...")

    def _on_destroyed(self, _object: object = None) -> None:
        """Stop the run and disconnect from the viewer once the widget's QWidget is deleted."""
        self._closed = True
        if self._run is not None:
            self._run.request_stop()
        layer_events = self._viewer.layers.events
        for emitter in (layer_events.inserted, layer_events.removed, layer_events.reordered):
            emitter.disconnect(self.reset_choices)
        layer_events.removed.disconnect(self._on_layer_removed)

    # -- saving and messages ------------------------------------------------------------

    def save_generator(self) -> Path | None:
        """Write the trained generator to the chosen generator file and return its path, or None on failure."""
        if self._generator is None:
            self._report_error(NapariGanError("no trained generator yet; train one with Start or Resume first"))
            return None
        text = str(self._generator_file.line_edit.value).strip()
        if not text:
            self._report_error(NapariGanError("no generator file chosen; pick a file name ending in .safetensors"))
            return None
        try:
            path = self._generator.save(Path(text).expanduser())
        except NapariGanError as error:
            self._report_error(error)
            return None
        except OSError as error:
            self._report_error(NapariGanError(f"cannot save to {text!r}: {error.strerror or error}; pick another folder"))
            return None
        self._set_status(f"saved the generator to {str(path)!r}")
        return path

    def _report_error(self, error: BaseException) -> None:
        """Show ``error`` on the widget and as a napari notification; log it with its traceback unless it is a NapariGanError."""
        if isinstance(error, NapariGanError):
            message = str(error)
        else:
            logger.error("super-resolution training failed", exc_info=error)
            message = f"super-resolution training failed: {type(error).__name__}: {error}"
        self._set_status(message)
        show_error(message)

    def _set_status(self, message: str) -> None:
        self._status.value = message
        logger.info(message)


def _forward_events(events: Iterator[TrainingEvent | RunFailed]) -> Iterator[TrainingEvent | RunFailed]:
    """Run a :meth:`TrainingRun.events` generator in the worker thread, passing its events on."""
    yield from events


def _checkpoint_step(path: Path) -> int:
    """Return the step of a checkpoint named ``step_NNNNNNNN.pt``."""
    return int(CHECKPOINT_PATTERN.fullmatch(path.name).group(1))


def _format_duration(seconds: float) -> str:
    """Return ``seconds`` as "1 h 05 min", "3 min 07 s" or "12 s"."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {seconds:02d} s"
    return f"{seconds} s"


def _preview_layer_kwargs(source: napari.layers.Image, image: np.ndarray, scale: int) -> dict:
    """Return ``add_image`` keyword arguments that place the preview ``image`` over its crop of ``source``.

    The preview has the resolution of the training layers, so its pixels are the size of
    ``source``'s pixels and it overlays the crop it was made from.
    """
    geometry = overlay_geometry(source, 1)
    origin = np.zeros(source.ndim)
    origin[-2:] = _preview_crop_origin(source, image.shape[:2], scale)
    geometry["translate"] = np.asarray(source.affine.inverse(source.data_to_world(origin)), dtype=float)
    kwargs = {
        "name": f"{source.name} {PREVIEW_SUFFIX}",
        "rgb": image.ndim == 3,
        "contrast_limits": (0.0, 1.0),
        "blending": source.blending,
        "metadata": {"napari_gan": {"training_preview_of": source.name}},
    }
    if source.ndim == 2:
        kwargs.update(rotate=source.rotate, shear=source.shear, affine=source.affine.affine_matrix, **geometry)
    else:
        # A 2D preview over a stack: napari lines it up with the stack's last two axes.
        kwargs.update(scale=geometry["scale"][-2:], translate=geometry["translate"][-2:])
    if image.ndim == 2 and not source.rgb:
        kwargs["colormap"] = source.colormap
    return kwargs


def _preview_crop_origin(source: napari.layers.Image, crop_shape: tuple[int, int], scale: int) -> tuple[int, int]:
    """Return the (row, column) of the preview crop's first pixel in ``source``'s first plane.

    NOTE: ``PreviewEvent`` carries no crop position, so this repeats the engine's centred crop
    aligned to ``scale``. It is right when the preview comes from the first plane of the first
    training layer, which is the case unless that plane is smaller than the patch size.
    """
    shape = source.data.shape[-3:-1] if source.rgb else source.data.shape[-2:]
    rows = max(0, (shape[0] - crop_shape[0]) // 2 // scale * scale)
    columns = max(0, (shape[1] - crop_shape[1]) // 2 // scale * scale)
    return rows, columns
