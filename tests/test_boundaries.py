"""The engine and the command line import no napari, Qt or magicgui."""

from __future__ import annotations

import subprocess
import sys

ENGINE_MODULES = [
    "napari_gan",
    "napari_gan.archs",
    "napari_gan.weights",
    "napari_gan.data",
    "napari_gan.inference",
    "napari_gan.metrics",
    "napari_gan.metrics_synthesis",
    "napari_gan.io",
    "napari_gan.samples",
    "napari_gan.demo",
    "napari_gan.cli",
    "napari_gan.cli_train",
    "napari_gan.cli_sample",
    "napari_gan.inference.latent",
    "napari_gan.inference.normalisation",
    "napari_gan.data.diffaugment",
    "napari_gan.training",
]
GUI_PACKAGES = ("napari", "qtpy", "magicgui", "PyQt6", "PyQt5", "PySide6")


def test_engine_imports_no_gui():
    code = (
        f"import importlib, sys\n"
        f"for module in {ENGINE_MODULES!r}:\n"
        "    importlib.import_module(module)\n"
        f"loaded = sorted(name for name in sys.modules if name.split('.')[0] in {GUI_PACKAGES!r})\n"
        "print(','.join(loaded))"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == ""
