"""The demo command: the napari session on the test display, and the engine-only fallback."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

import napari_gan
from napari_gan.demo import comparison_strip, run_demo, run_engine_demo

pytestmark = pytest.mark.skipif(not napari_gan.list_models(), reason="bundled generators are not built")


def test_engine_demo_writes_results(tmp_path):
    run_engine_demo(tmp_path)
    astronaut = tifffile.imread(tmp_path / "astronaut-superres-x4.tif")
    assert astronaut.shape == (512, 512, 3)
    cells = tifffile.imread(tmp_path / "cells-superres-x2.tif")
    assert cells.dtype == np.uint16
    assert (tmp_path / "retina-comparison.png").is_file()


def test_napari_demo_writes_screenshot(tmp_path):
    pytest.importorskip("napari")
    run_demo(tmp_path, headless=True)
    assert (tmp_path / "screenshot.png").stat().st_size > 10_000
    assert (tmp_path / "astronaut-low-res-superres-x4-x4.tif").is_file()


def test_demo_rejects_unwritable_folder(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(napari_gan.NapariGanError, match="cannot create output folder"):
        run_demo(blocker / "out", headless=True)


def test_comparison_strip_shape():
    low = np.arange(16, dtype=np.uint16).reshape(4, 4)
    strip = comparison_strip(low, np.zeros((8, 8), dtype=np.uint16), 2)
    assert strip.shape == (8, 3 * 8 + 2 * 8)
    assert strip.dtype == np.uint8
