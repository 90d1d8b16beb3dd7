"""The "Synthesis" dock widget: train a generator on a stack layer, then generate and morph new images."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import napari
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    FloatSlider,
    Label,
    PushButton,
    SpinBox,
    create_widget,
)
from napari.qt.threading import GeneratorWorker, FunctionWorker, thread_worker
from napari.utils import progress
from napari.utils.notifications import show_error

from napari_gan.errors import NapariGanError
from napari_gan.generator import Generator
from napari_gan.training import FinishedEvent, PreviewEvent, StepEvent, SynthesisConfig, SynthesisTask, Trainer, TrainingImage
from napari_gan.training.synthesis import RESOLUTIONS, SYNTHESIS_ARCHS
from napari_gan.weights import list_models, load_generator
from napari_gan._napari.layers import check_image_layer
from napari_gan._napari.session import unique_name

logger = logging.getLogger(__name__)

MAX_STEPS = 1_000_000
MAX_SAMPLES = 1024
MAX_SEED = 2**31 - 1
MAX_MORPH_STEPS = 512
STATUS_LINES = 6
PLOT_HEIGHT = 140
PREVIEW_LAYER = "synthesis preview"
SCORE_SAMPLES = 256
"""Generated images the Score button measures; enough for stable SWD and diversity figures."""


class SynthesisPlot:
    """Live curves of the loss terms and the discriminator's accuracy; pyqtgraph is imported on first use."""

    def __init__(self) -> None:
        self.points: dict[str, tuple[list[int], list[float]]] = {}
        """Steps and values of each curve by name: loss terms, ``d_accuracy_real``, ``d_accuracy_fake``."""
        self._curves: dict = {}
        try:
            import pyqtgraph
        except ImportError:
            from qtpy.QtWidgets import QLabel

            self._pyqtgraph = None
            self.native = QLabel("Install pyqtgraph to see live curves: pip install pyqtgraph")
            return
        self._pyqtgraph = pyqtgraph
        self.native = pyqtgraph.PlotWidget(title="Losses and discriminator accuracy")
        self.native.setMinimumHeight(PLOT_HEIGHT)
        self.native.setLabel("bottom", "step")
        self.native.addLegend(offset=(-10, 10))

    def append(self, event: StepEvent) -> None:
        """Add the values of one step and redraw."""
        values = dict(event.losses)
        if event.d_accuracy_real is not None:
            values["d_accuracy_real"] = event.d_accuracy_real
            values["d_accuracy_fake"] = event.d_accuracy_fake
        for name, value in values.items():
            steps, points = self.points.setdefault(name, ([], []))
            steps.append(event.step)
            points.append(value)
            if self._pyqtgraph is None:
                continue
            if name not in self._curves:
                colour = self._pyqtgraph.intColor(len(self._curves), hues=6)
                self._curves[name] = self.native.plot(name=name, pen=self._pyqtgraph.mkPen(colour, width=2))
            self._curves[name].setData(steps, points)

    def clear(self) -> None:
        """Remove every point, for a new run."""
        self.points.clear()
        for curve in self._curves.values():
            curve.setData([], [])


class SynthesisWidget(Container):
    """Train a synthesis GAN on a stack layer, and generate samples and morphs from a synthesis generator.

    Training runs in a napari thread worker with a progress bar, live curves, and a preview
    layer with a grid of images from fixed latents. Stop ends the run after the current step
    with a checkpoint and an exported generator, which joins the model list. Resume continues
    the run in the chosen folder.

    Generating adds a stack layer of N samples from a seed, or a morph between sample A of one
    seed and sample B of another, which the dims slider plays frame by frame.
    """

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        self._viewer = viewer
        self.base_config = SynthesisConfig()
        """Settings the widget does not show; Start replaces the shown ones in a copy of it."""
        self._generators: dict[str, Generator | None] = {name: None for name in list_models(task="synthesis")}
        self._worker: GeneratorWorker | FunctionWorker | None = None
        self._trainer: Trainer | None = None
        self._progress: progress | None = None
        self._run_dirs: dict[str, Path] = {}
        """Run folder of each model trained here, whose discriminator the Score button also measures."""

        self._layer_picker = create_widget(annotation=napari.layers.Image, label="Training layer")
        self._resolution = ComboBox(label="Resolution", choices=list(RESOLUTIONS["dcgan"]), value=32)
        self._arch = ComboBox(label="Architecture", choices=list(SYNTHESIS_ARCHS), value="dcgan")
        self._steps = SpinBox(label="Steps", value=2000, min=1, max=MAX_STEPS, step=100)
        self._patches = CheckBox(label="Patch mode (texture from one large image)", value=False)
        self._run_dir = FileEdit(label="Run folder", mode="d", value=Path.home() / "napari-gan-runs" / "synthesis")
        self._start_button = PushButton(text="Start")
        self._stop_button = PushButton(text="Stop", enabled=False)
        self._resume_button = PushButton(text="Resume")
        self.plot = SynthesisPlot()

        self._model_picker = ComboBox(label="Model", choices=self._model_names)
        self._weights_file = FileEdit(label="Weights file", mode="r", filter="Weights (*.safetensors)")
        self._count = SpinBox(label="Samples", value=16, min=1, max=MAX_SAMPLES)
        self._seed = SpinBox(label="Seed", value=0, min=0, max=MAX_SEED)
        self._truncation = FloatSlider(label="Truncation", value=1.0, min=0.0, max=1.0, step=0.05)
        self._truncation.tooltip = "Style-based generators: below 1 moves each style towards the average, for more typical images."
        self._generate_button = PushButton(text="Generate samples")
        self._seed_a = SpinBox(label="Morph from seed", value=0, min=0, max=MAX_SEED)
        self._index_a = SpinBox(label="sample", value=0, min=0, max=MAX_SAMPLES - 1)
        self._seed_b = SpinBox(label="to seed", value=1, min=0, max=MAX_SEED)
        self._index_b = SpinBox(label="sample", value=0, min=0, max=MAX_SAMPLES - 1)
        self._morph_steps = SpinBox(label="Morph frames", value=32, min=2, max=MAX_MORPH_STEPS)
        self._morph_button = PushButton(text="Interpolate")
        self._score_button = PushButton(text="Score against training layer")
        self._status = Label(value="")
        self._status.native.setWordWrap(True)
        self._status.native.setMinimumHeight(self._status.native.fontMetrics().lineSpacing() * STATUS_LINES)

        self._arch.changed.connect(self._on_arch)
        self._start_button.changed.connect(self.start)
        self._stop_button.changed.connect(self.stop)
        self._resume_button.changed.connect(self.resume)
        self._weights_file.changed.connect(self._on_weights_file)
        self._model_picker.changed.connect(self._on_model)
        self._generate_button.changed.connect(self.generate)
        self._morph_button.changed.connect(self.interpolate)
        self._score_button.changed.connect(self.score)
        training = Container(
            widgets=[
                Label(value="<b>Train</b>"), self._layer_picker, self._resolution, self._arch, self._steps,
                self._patches, self._run_dir,
                Container(widgets=[self._start_button, self._stop_button, self._resume_button], layout="horizontal", labels=False),
            ]
        )
        morph = Container(widgets=[self._seed_a, self._index_a, self._seed_b, self._index_b], layout="horizontal")
        generate = Container(
            widgets=[
                Label(value="<b>Generate</b>"), self._model_picker, self._weights_file, self._count, self._seed,
                self._truncation, self._generate_button, morph, self._morph_steps, self._morph_button, self._score_button,
            ]
        )
        self.extend([training, generate, self._status])
        self.native.layout().insertWidget(1, self.plot.native)
        self._on_model()

    # -- model list ---------------------------------------------------------------------

    def _model_names(self, _widget: object = None) -> list[str]:
        return list(self._generators)

    def add_generator(self, generator: Generator, select: bool = True) -> str:
        """Add a synthesis ``generator`` to the model list under a unique name and return that name."""
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
            if generator.task != "synthesis":
                raise NapariGanError(f"{str(path)!r} contains a {generator.task} generator, not a synthesis one; pick a synthesis generator file")
        except NapariGanError as error:
            self._report_error(error)
            return
        self._set_status(f"loaded {self.add_generator(generator)}")

    def _selected_generator(self) -> Generator:
        name = self._model_picker.value
        if name is None:
            raise NapariGanError("no model selected; train one, or load a synthesis weights file")
        if self._generators[name] is None:
            self._generators[name] = load_generator(name)
        return self._generators[name]

    def _on_model(self, _value: object = None) -> None:
        # Truncation towards the average style needs the style generator's w_avg.
        try:
            arch = self._selected_generator().info.arch
        except NapariGanError:
            arch = ""
        self._truncation.enabled = arch == "style"
        if arch != "style":
            self._truncation.value = 1.0

    def _on_arch(self, arch: str) -> None:
        self._resolution.choices = list(RESOLUTIONS[arch])

    # -- training -----------------------------------------------------------------------

    @property
    def is_running(self) -> bool:
        """Whether training, sampling or scoring is in progress."""
        return self._worker is not None

    def config(self) -> SynthesisConfig:
        """Return the training settings shown on the widget."""
        return dataclasses.replace(
            self.base_config,
            steps=self._steps.value,
            resolution=int(self._resolution.value),
            arch=self._arch.value,
            patches=self._patches.value,
        )

    def start(self) -> GeneratorWorker | None:
        """Start a new run in the run folder; return the worker, or None on invalid input."""
        return self._launch(resume=False)

    def resume(self) -> GeneratorWorker | None:
        """Continue the run in the run folder up to Steps; return the worker, or None on invalid input."""
        return self._launch(resume=True)

    def _launch(self, resume: bool) -> GeneratorWorker | None:
        if self.is_running:
            self._set_status("already running; press Stop first")
            return None
        try:
            layer = check_image_layer(self._layer_picker.value)
            config = self.config()
            run_dir = Path(self._run_dir.value)
            run_dir.mkdir(parents=True, exist_ok=True)
            if resume:
                from napari_gan.training.loop import read_run_config

                saved = read_run_config(run_dir)
                config = dataclasses.replace(saved, steps=config.steps)
            task = SynthesisTask(config, [TrainingImage(layer.data, name=f"layer {layer.name!r}", rgb=layer.rgb)])
            self._trainer = Trainer(task, run_dir, resume=resume)
        except (NapariGanError, OSError) as error:
            self._report_error(error)
            return None
        if not resume:
            self.plot.clear()
        worker = thread_worker(
            _follow,
            start_thread=False,
            connect={
                "yielded": self._on_event,
                "errored": lambda error: self._report_error(error, notify=False),
                "finished": self._on_finished,
            },
        )(self._trainer)
        self._progress = progress(total=config.steps, desc="synthesis training")
        self._progress.update(self._trainer.step)
        self._set_running(worker, training=True)
        self._set_status(f"training {config.arch} at {config.resolution} pixels on {layer.name!r} ...")
        worker.start()
        return worker

    def stop(self) -> None:
        """Stop training after the current step, with a checkpoint and an exported generator."""
        if self._trainer is not None:
            self._trainer.request_stop()
            self._set_status("stopping after the current step ...")

    def _on_event(self, event) -> None:
        if isinstance(event, Exception):
            self._report_error(event)
        elif isinstance(event, StepEvent):
            self.plot.append(event)
            if self._progress is not None:
                self._progress.update(event.step - self._progress.n)
        elif isinstance(event, PreviewEvent):
            self._show_preview(event)
        elif isinstance(event, FinishedEvent):
            if event.generator_path is not None:
                generator = load_generator(event.generator_path)
                generator.info.source = "trained in this session"
                self._run_dirs[self.add_generator(generator)] = Path(event.generator_path).parent
            self._set_status(f"{event.message}; generator {event.generator_path}")

    def _show_preview(self, event: PreviewEvent) -> None:
        name = PREVIEW_LAYER
        rgb = event.image.ndim == 3
        if name in self._viewer.layers:
            self._viewer.layers[name].data = event.image
        else:
            self._viewer.add_image(event.image, name=name, rgb=rgb, contrast_limits=None if rgb else (0.0, 1.0))
        self._viewer.layers[name].metadata["napari_gan"] = {"step": event.step}

    # -- generating ---------------------------------------------------------------------

    def generate(self) -> FunctionWorker | None:
        """Add a stack layer of Samples images from Seed; return the worker, or None on invalid input."""
        return self._run_generator(
            lambda generator: generator.sample(self._count.value, seed=self._seed.value, truncation=self._truncation.value),
            lambda name: f"{name} seed {self._seed.value}",
        )

    def interpolate(self) -> FunctionWorker | None:
        """Add a stack layer morphing between the two chosen samples; return the worker, or None on invalid input."""
        start, end = (self._seed_a.value, self._index_a.value), (self._seed_b.value, self._index_b.value)
        return self._run_generator(
            lambda generator: generator.interpolate(start, end, self._morph_steps.value, truncation=self._truncation.value),
            lambda name: f"{name} morph {start[0]}:{start[1]} to {end[0]}:{end[1]}",
        )

    def score(self) -> FunctionWorker | None:
        """Measure the selected model against the training layer and show the figures in the status.

        For a model trained in this widget, the discriminator of its last checkpoint is measured too,
        on the layer's images and on generated ones.
        """
        from napari_gan.metrics_synthesis import real_images_uint8, score_synthesis
        from napari_gan.training.synthesis import load_run_discriminator

        try:
            layer = check_image_layer(self._layer_picker.value)
        except NapariGanError as error:
            self._report_error(error)
            return None

        run_dir = self._run_dirs.get(self._model_picker.value)

        def measure(generator: Generator):
            resolution = int(generator.info.arch_kwargs["resolution"])
            real = real_images_uint8([TrainingImage(layer.data, name=f"layer {layer.name!r}", rgb=layer.rgb)], resolution)
            discriminator = load_run_discriminator(run_dir, generator.out_channels) if run_dir else None
            return score_synthesis(generator, real, discriminator=discriminator, n_samples=SCORE_SAMPLES)

        return self._start_function(measure, self._show_score, "scoring")

    def _run_generator(self, make, layer_name) -> FunctionWorker | None:
        def add(images) -> None:
            name = layer_name(self._model_picker.value)
            self._viewer.add_image(images, name=name, rgb=images.ndim == 4)
            self._set_status(f"added {name!r} {tuple(images.shape)} {images.dtype}; the slider steps through the stack")

        return self._start_function(make, add, "generating")

    def _start_function(self, work, on_result, what: str) -> FunctionWorker | None:
        if self.is_running:
            self._set_status("busy; wait for the current run or press Stop")
            return None
        try:
            generator = self._selected_generator()
        except NapariGanError as error:
            self._report_error(error)
            return None
        worker = thread_worker(
            work,
            start_thread=False,
            connect={
                "returned": on_result,
                "errored": lambda error: self._report_error(error, notify=False),
                "finished": self._on_finished,
            },
        )(generator)
        self._set_running(worker, training=False)
        self._set_status(f"{what} with {self._model_picker.value} ...")
        worker.start()
        return worker

    def _show_score(self, score) -> None:
        self._set_status("\n".join(f"{name}: {value}" for name, value in score.rows()))

    # -- state and messages -------------------------------------------------------------

    def _set_running(self, worker, training: bool) -> None:
        self._worker = worker
        for button in (self._start_button, self._resume_button, self._generate_button, self._morph_button, self._score_button):
            button.enabled = False
        self._stop_button.enabled = training

    def _on_finished(self) -> None:
        if self._progress is not None:
            self._progress.close()
        self._progress = None
        self._worker = None
        self._trainer = None
        for button in (self._start_button, self._resume_button, self._generate_button, self._morph_button, self._score_button):
            button.enabled = True
        self._stop_button.enabled = False

    def _report_error(self, error: BaseException, notify: bool = True) -> None:
        """Show ``error`` on the widget and, unless napari's worker already did, as a notification."""
        if isinstance(error, (NapariGanError, OSError)):
            message = str(error)
        else:
            logger.error("synthesis failed", exc_info=error)
            message = f"synthesis failed: {type(error).__name__}: {error}"
        self._set_status(message)
        if notify:
            show_error(message)

    def _set_status(self, message: str) -> None:
        self._status.value = message
        logger.info(message)


def _follow(trainer: Trainer):
    """Yield the trainer's events in the worker thread, and an exception that ends the run as a last event.

    NOTE: an exception raised out of the generator left the worker neither finished nor errored
    in tests (napari 0.9, superqt), so the widget stayed busy. Yielding the exception avoids that.
    """
    try:
        yield from trainer.run()
    except Exception as error:  # every failure is shown on the widget, then the worker ends
        yield error
