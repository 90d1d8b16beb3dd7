"""Responsiveness of napari while the Super-resolution widget applies a generator.

Opens a napari viewer with a grayscale image layer, docks the widget and starts a Qt timer
that fires every 5 ms and records when it fires. Then it clicks Apply, as a user would
(``widget.apply()``), and runs the Qt event loop until the widget reports that it is no
longer running, which is after the result layer has been added. A gap between two timer
ticks that is much longer than 5 ms means the main thread, which draws the window and
handles input, was blocked for that long. The first apply includes loading the model in the
main thread; the later ones reuse it.

Needs a display: run it under ``xvfb-run -a`` on a machine without one.

Run: xvfb-run -a python benchmarks/bench_event_loop.py [--device cuda] [--show]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from common import add_device_argument, add_threads_argument, astronaut_gray, format_table, set_threads

MODEL = "superres-x2"
INPUT_SIZE = 1024
TILE = 256
TICK_INTERVAL_MS = 5
IDLE_MS = 1000
"""Time the event loop runs before the first apply, to measure the gaps of an idle viewer."""
TAIL_MS = 500
"""Time the event loop keeps running after each apply, so that stalls right after it are counted."""
APPLY_TIMEOUT_S = 300


def gap_statistics(ticks: list[float], marker: float | None = None) -> dict:
    """Return statistics in ms of the gaps between consecutive ``ticks`` (seconds).

    With ``marker`` (a time in seconds), the gap that contains it is reported on its own, and
    ``max_other_ms`` is the longest of the remaining gaps.
    """
    times = np.asarray(ticks)
    gaps_ms = np.diff(times) * 1000
    statistics = {
        "ticks": len(ticks),
        "max_ms": float(gaps_ms.max()),
        "p99_ms": float(np.percentile(gaps_ms, 99)),
        "median_ms": float(np.median(gaps_ms)),
        "over_50_ms": int((gaps_ms > 50).sum()),
        "marker_gap_ms": None,
        "max_other_ms": float(gaps_ms.max()),
    }
    if marker is not None:
        containing = (times[:-1] <= marker) & (marker < times[1:])
        if containing.any():
            statistics["marker_gap_ms"] = float(gaps_ms[containing].max())
            others = gaps_ms[~containing]
            statistics["max_other_ms"] = float(others.max()) if others.size else 0.0
    return statistics


def measure_training(viewer, layer, device: str, steps: int, ticks: list[float], run_event_loop) -> dict:
    """Train a super-resolution GAN from the training widget for ``steps`` steps and return the gap statistics.

    The run uses the default configuration with a 64-pixel patch, batch 4 and a warm-up of a third
    of the steps, so that the adversarial phase with its live plot and previews is included.
    """
    import dataclasses
    import tempfile

    from qtpy.QtCore import QEventLoop, QTimer

    from napari_gan._napari.training_widget import SuperResolutionTrainingWidget

    widget = SuperResolutionTrainingWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Super-resolution training")
    widget.base_config = dataclasses.replace(widget.base_config, warmup_steps=steps // 3, preview_every=5)
    widget._layers.value = [layer]
    widget._steps.value = steps
    widget._batch_size.value = 4
    widget._patch_size.value = 64
    widget._device.value = device
    with tempfile.TemporaryDirectory() as run_dir:
        widget._run_folder.value = run_dir
        ticks.clear()
        ticks.append(time.perf_counter())
        start = time.perf_counter()
        if widget.start() is None:
            raise RuntimeError(f"the training widget did not start: {widget._status.value}")
        loop = QEventLoop()
        poll = QTimer()
        poll.setInterval(TICK_INTERVAL_MS)
        poll.timeout.connect(lambda: loop.quit() if not widget.is_running else None)
        poll.start()
        QTimer.singleShot(int(APPLY_TIMEOUT_S * 1000), loop.quit)
        loop.exec()
        poll.stop()
        wall_s = time.perf_counter() - start
        ticks.append(time.perf_counter())
        run_event_loop(TAIL_MS)
    row = {"phase": f"training, {steps} steps", "wall_s": wall_s, **gap_statistics(ticks)}
    print(f"{row['phase']}: {wall_s:.2f} s, max gap {row['max_ms']:.0f} ms, 99th percentile {row['p99_ms']:.0f} ms", flush=True)
    return row


def run(device: str = "cpu", applies: int = 2, show: bool = False, training_steps: int = 30) -> dict:
    """Measure the gaps of the idle viewer, during ``applies`` consecutive applies and during a training run."""
    import napari
    from qtpy.QtCore import QEventLoop, Qt, QTimer

    from napari_gan._napari.superres_widget import SuperResolutionWidget

    viewer = napari.Viewer(show=show)
    layer = viewer.add_image(astronaut_gray(INPUT_SIZE), name="astronaut")
    widget = SuperResolutionWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Super-resolution")
    widget._model_picker.value = MODEL
    widget._tile.value = TILE
    widget._device.value = device

    ticks: list[float] = []
    # Time at which napari inserts the result layer, which happens in the main thread.
    inserted_at: list[float] = []
    viewer.layers.events.inserted.connect(lambda _event: inserted_at.append(time.perf_counter()))
    tick_timer = QTimer()
    tick_timer.setTimerType(Qt.TimerType.PreciseTimer)
    tick_timer.setInterval(TICK_INTERVAL_MS)
    tick_timer.timeout.connect(lambda: ticks.append(time.perf_counter()))

    def run_event_loop(milliseconds: int) -> None:
        loop = QEventLoop()
        QTimer.singleShot(milliseconds, loop.quit)
        loop.exec()

    def run_event_loop_until_idle(timeout_s: float) -> None:
        loop = QEventLoop()
        poll = QTimer()
        poll.setInterval(TICK_INTERVAL_MS)
        poll.timeout.connect(lambda: loop.quit() if not widget.is_running else None)
        poll.start()
        QTimer.singleShot(int(timeout_s * 1000), loop.quit)
        loop.exec()
        poll.stop()

    rows = []
    try:
        tick_timer.start()
        ticks.append(time.perf_counter())
        run_event_loop(IDLE_MS)
        rows.append({"phase": "idle viewer", "wall_s": IDLE_MS / 1000, **gap_statistics(ticks)})

        for index in range(applies):
            widget._layer_picker.value = layer
            ticks.clear()
            inserted_at.clear()
            ticks.append(time.perf_counter())
            start = time.perf_counter()
            if widget.apply() is None:
                raise RuntimeError(f"the widget did not start applying: {widget._status.value}")
            run_event_loop_until_idle(APPLY_TIMEOUT_S)
            wall_s = time.perf_counter() - start
            if widget.is_running:
                raise RuntimeError(f"apply did not finish within {APPLY_TIMEOUT_S} s")
            ticks.append(time.perf_counter())
            run_event_loop(TAIL_MS)
            phase = "apply 1 (loads the model)" if index == 0 else f"apply {index + 1}"
            marker = inserted_at[-1] if inserted_at else None
            rows.append({"phase": phase, "wall_s": wall_s, **gap_statistics(ticks, marker)})
            print(
                f"{phase}: {wall_s:.2f} s, max gap {rows[-1]['max_ms']:.0f} ms, 99th percentile {rows[-1]['p99_ms']:.0f} ms",
                flush=True,
            )
        if training_steps:
            rows.append(measure_training(viewer, layer, device, training_steps, ticks, run_event_loop))
        added = [existing.name for existing in viewer.layers][1:]
    finally:
        tick_timer.stop()
        viewer.close()

    table = format_table(
        [
            "phase",
            "wall time (s)",
            "timer ticks",
            "max gap (ms)",
            "99th percentile gap (ms)",
            "median gap (ms)",
            "gaps over 50 ms",
            "gap containing the layer insert (ms)",
            "max other gap (ms)",
        ],
        [
            [
                row["phase"],
                f"{row['wall_s']:.2f}",
                row["ticks"],
                f"{row['max_ms']:.0f}",
                f"{row['p99_ms']:.1f}",
                f"{row['median_ms']:.1f}",
                row["over_50_ms"],
                "-" if row["marker_gap_ms"] is None else f"{row['marker_gap_ms']:.0f}",
                f"{row['max_other_ms']:.0f}",
            ]
            for row in rows
        ],
    )
    print(table)
    return {
        "rows": rows,
        "table": table,
        "device": device,
        "model": MODEL,
        "input_size": INPUT_SIZE,
        "tile": TILE,
        "show": show,
        "layers_added": added,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_device_argument(parser)
    add_threads_argument(parser)
    parser.add_argument("--applies", type=int, default=2, help="consecutive applies to measure (default 2)")
    parser.add_argument("--show", action="store_true", help="show the viewer window, so that canvas drawing is included")
    args = parser.parse_args()
    set_threads(args.threads)
    run(device=args.device, applies=args.applies, show=args.show)


if __name__ == "__main__":
    main()
