"""``napari-gan demo``: the bundled generators on sample images, in napari where a screen exists."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from napari_gan.data.degradation import resize_array
from napari_gan.errors import NapariGanError
from napari_gan.io import write_image
from napari_gan.samples import SUPERRES_SAMPLES

logger = logging.getLogger(__name__)

SCREEN_SIZE = "1600x1000x24"
# The bundled model for each super-resolution sample: the x4 samples were down-scaled x4.
SAMPLE_MODELS = {
    "astronaut (x4 down-scaled)": "superres-x4",
    "cells 16-bit (x2 down-scaled)": "superres-x2",
    "retina (x4 down-scaled)": "superres-x4",
}


def has_display() -> bool:
    """Return whether a window can be opened: an X or Wayland display, or macOS or Windows."""
    return sys.platform in ("darwin", "win32") or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def start_virtual_display() -> subprocess.Popen | None:
    """Start Xvfb on a free display number and point ``DISPLAY`` at it; return the process, or None without Xvfb."""
    executable = shutil.which("Xvfb")
    if executable is None:
        return None
    read_end, write_end = os.pipe()
    process = subprocess.Popen(
        [executable, "-displayfd", str(write_end), "-screen", "0", SCREEN_SIZE, "-nolisten", "tcp"],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    with os.fdopen(read_end) as stream:
        number = stream.readline().strip()
    if not number:
        process.terminate()
        return None
    os.environ["DISPLAY"] = f":{number}"
    os.environ.pop("WAYLAND_DISPLAY", None)
    os.environ["QT_QPA_PLATFORM"] = "xcb"
    return process


def run_demo(out: Path, headless: bool = False) -> None:
    """Run the demo; results go to ``out``.

    With a display and without ``headless``, napari opens with the sample layers, the
    Super-resolution widget and its results, and stays open. Otherwise the same session runs
    on Xvfb (when installed), writes results and ``screenshot.png`` and exits; without Xvfb or
    napari, the engine alone writes the results and a side-by-side comparison image.
    """
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise NapariGanError(f"cannot create output folder {str(out)!r}: {error.strerror}; pick another --out") from None

    virtual_display = None
    if not has_display():
        virtual_display = start_virtual_display()
        headless = True
    try:
        if has_display() and _napari_installed():
            from napari_gan._napari.demo import run_napari_demo

            run_napari_demo(out, SAMPLE_MODELS, interactive=not headless)
        else:
            reason = "napari is not installed (pip install 'napari-gan[all]')" if has_display() else "no display and no Xvfb"
            print(f"{reason}: running without napari")
            run_engine_demo(out)
    finally:
        if virtual_display is not None:
            virtual_display.terminate()
            virtual_display.wait()


def _napari_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("napari") is not None


def comparison_strip(low: np.ndarray, restored: np.ndarray, scale: int) -> np.ndarray:
    """Return nearest-neighbour, bicubic and generator upscaling side by side as uint8 for viewing."""
    nearest = np.repeat(np.repeat(low, scale, axis=0), scale, axis=1)
    bicubic = resize_array(low, scale)
    panels = [nearest, bicubic, restored]
    low_value, high_value = float(low.min()), float(low.max())
    gap = np.full((restored.shape[0], 8) + restored.shape[2:], high_value, dtype=np.float64)
    strip = np.concatenate([np.concatenate([panel.astype(np.float64), gap], axis=1) for panel in panels], axis=1)[:, :-8]
    return np.clip((strip - low_value) / max(high_value - low_value, 1e-12) * 255, 0, 255).round().astype(np.uint8)


def run_engine_demo(out: Path) -> None:
    """Apply the bundled generators to the samples without napari and write the results to ``out``."""
    from napari_gan import load_generator

    for sample_name, make in SUPERRES_SAMPLES.items():
        generator = load_generator(SAMPLE_MODELS[sample_name])
        low = make()
        restored = generator.apply(low)
        stem = sample_name.split(" ")[0]
        write_image(out / f"{stem}-input.tif", low)
        write_image(out / f"{stem}-{generator.name}.tif", restored)
        write_image(out / f"{stem}-comparison.png", comparison_strip(low, restored, generator.scale))
        print(f"{sample_name}: {low.shape} {low.dtype} -> {restored.shape} with {generator.name}")
    print(f"results in {out}/ (*-comparison.png: nearest | bicubic | generator)")
