"""The napari-gan command line: listing models, applying a generator to image files, and user errors."""

from __future__ import annotations

import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile
from skimage import data

from napari_gan.cli import main
from napari_gan.io import read_image
from napari_gan.weights import WEIGHT_FORMATS, list_models

SMALL_TILE = ["--tile", "16", "--tile-pad", "6", "--tile-overlap", "4"]


def _write_inputs(folder):
    """Write one small input image per format into ``folder`` and return their paths by format."""
    paths = {
        "png": folder / "camera.png",
        "jpg": folder / "astronaut.jpg",
        "tif": folder / "stack.tif",
        "npy": folder / "camera.npy",
    }
    iio.imwrite(paths["png"], data.camera()[:32, :40])
    iio.imwrite(paths["jpg"], data.astronaut()[:32, :40])
    stack = np.stack([data.camera()[:32, :40].astype(np.uint16) * 16] * 3)
    tifffile.imwrite(paths["tif"], stack, photometric="minisblack")
    np.save(paths["npy"], (data.camera()[:32, :40] / 255).astype(np.float32))
    return paths


@pytest.fixture
def inputs(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    return _write_inputs(folder)


def test_models_lists_formats(capsys):
    status = main(["models"])
    output = capsys.readouterr().out

    assert status == 0
    assert "Weight files napari-gan reads:" in output
    for name in WEIGHT_FORMATS:
        assert name in output
    for name in list_models():
        assert name in output


@pytest.mark.parametrize(
    ("kind", "dtype", "shape"),
    [
        ("png", np.uint8, (64, 80)),
        ("jpg", np.uint8, (64, 80, 3)),
        ("tif", np.uint16, (3, 64, 80)),
        ("npy", np.float32, (64, 80)),
    ],
)
def test_apply_writes_scaled_image(capsys, saved_generator, inputs, kind, dtype, shape):
    source = inputs[kind]
    output = source.with_name(f"result.{kind}")
    status = main(["apply", "--model", str(saved_generator), *SMALL_TILE, str(source), str(output)])
    result = read_image(output)

    assert status == 0
    assert result.dtype == dtype
    assert result.shape == shape
    assert f"wrote {output}" in capsys.readouterr().out


def test_apply_channel_axis_option(capsys, saved_generator, tmp_path):
    source = tmp_path / "channels_first.npy"
    np.save(source, np.moveaxis(data.astronaut()[:32, :40], -1, 0))
    output = tmp_path / "result.npy"
    status = main(["apply", "-m", str(saved_generator), "--channel-axis", "0", "--tile", "0", str(source), str(output)])

    assert status == 0
    assert np.load(output).shape == (3, 64, 80)


def _nan_npy(folder):
    path = folder / "nan.npy"
    image = (data.camera()[:32, :40] / 255).astype(np.float32)
    image[3, 4] = np.nan
    np.save(path, image)
    return path


def _truncated_png(folder):
    path = folder / "truncated.png"
    content = (folder / "camera.png").read_bytes()
    path.write_bytes(content[: len(content) // 2])
    return path


ERROR_CASES = {
    "missing-input": (lambda folder, model: [model, folder / "missing.png", folder / "out.png"], "not found"),
    "truncated-png": (lambda folder, model: [model, _truncated_png(folder), folder / "out.png"], "truncated"),
    "unknown-model": (lambda folder, model: ["no-such-model", folder / "camera.png", folder / "out.png"], "unknown model"),
    "missing-output-folder": (
        lambda folder, model: [model, folder / "camera.png", folder / "missing" / "out.png"],
        "does not exist",
    ),
    "output-is-input": (lambda folder, model: [model, folder / "camera.png", folder / "camera.png"], "is the input file"),
    "unsupported-output": (
        lambda folder, model: [model, folder / "camera.png", folder / "out.bmp"],
        "unsupported extension '.bmp'",
    ),
    "uint16-to-jpg": (lambda folder, model: [model, folder / "stack.tif", folder / "out.jpg"], "JPEG stores 8-bit"),
    "nan-npy": (lambda folder, model: [model, _nan_npy(folder), folder / "out.npy"], "NaN"),
}


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_apply_user_error(capsys, saved_generator, inputs, case):
    build_arguments, expected = ERROR_CASES[case]
    folder = inputs["png"].parent
    model, source, output = build_arguments(folder, str(saved_generator))
    before = {path.name: path.read_bytes() for path in folder.iterdir()}
    status = main(["apply", "--model", model, *SMALL_TILE, str(source), str(output)])
    stderr = capsys.readouterr().err
    after = {path.name: path.read_bytes() for path in folder.iterdir()}

    assert status == 2
    assert stderr.startswith("napari-gan: error:")
    assert stderr.count("\n") == 1
    assert expected in stderr
    assert "Traceback" not in stderr
    assert after == before


@pytest.mark.parametrize("tile", ["abc", "-5", "1.5"])
def test_apply_invalid_tile_exits(capsys, saved_generator, inputs, tile):
    output = inputs["png"].with_name("out.png")

    with pytest.raises(SystemExit) as raised:
        main(["apply", "--model", str(saved_generator), "--tile", tile, str(inputs["png"]), str(output)])

    assert raised.value.code == 2
    assert "invalid tile size" in capsys.readouterr().err
    assert not output.exists()


def test_apply_tif_stack_stays_grayscale(capsys, saved_generator, inputs):
    output = inputs["tif"].with_name("result.tif")
    status = main(["apply", "--model", str(saved_generator), *SMALL_TILE, str(inputs["tif"]), str(output)])
    with tifffile.TiffFile(output) as stored:
        photometric = stored.pages[0].photometric

    assert status == 0
    assert photometric == tifffile.PHOTOMETRIC.MINISBLACK


def _uint8_stack(folder):
    path = folder / "stack8.tif"
    tifffile.imwrite(path, np.stack([data.camera()[:32, :40]] * 5), photometric="minisblack")
    return path


def test_apply_stack_to_png_rejected(capsys, saved_generator, tmp_path):
    output = tmp_path / "out.png"
    status = main(["apply", "--model", str(saved_generator), *SMALL_TILE, str(_uint8_stack(tmp_path)), str(output)])

    assert status == 2
    assert "stores one 2D image" in capsys.readouterr().err
    assert not output.exists()


def test_apply_stack_to_jpg_rejected(capsys, saved_generator, tmp_path):
    output = tmp_path / "out.jpg"
    status = main(["apply", "--model", str(saved_generator), *SMALL_TILE, str(_uint8_stack(tmp_path)), str(output)])

    assert status == 2
    assert "stores one 2D image" in capsys.readouterr().err
    assert not output.exists()


def test_apply_rgba_to_jpg_message(capsys, saved_generator, tmp_path):
    source = tmp_path / "rgba.png"
    colour = data.astronaut()[:32, :40]
    iio.imwrite(source, np.concatenate([colour, np.full((32, 40, 1), 200, dtype=np.uint8)], axis=-1))
    output = tmp_path / "out.jpg"
    status = main(["apply", "--model", str(saved_generator), *SMALL_TILE, str(source), str(output)])
    stderr = capsys.readouterr().err

    assert status == 2
    assert not output.exists()
    assert "permissions" not in stderr


def test_module_entry_point():
    completed = subprocess.run(
        [sys.executable, "-m", "napari_gan", "models"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    assert "Weight files napari-gan reads:" in completed.stdout
