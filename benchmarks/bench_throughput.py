"""Throughput of Generator.apply: output megapixels per second, whole image and tiled.

Times the bundled superres-x2 and superres-x4 generators on a grayscale photograph with
tile=None and tiles of 128, 256 and 512 pixels, then a randomly initialised full-size
ESRGAN RRDBNet x4 on a small RGB image. Each figure is the wall time of the whole
``apply`` call: range mapping, tiling, the network and the conversion back to the input dtype.

Run: python benchmarks/bench_throughput.py [--device cuda]
"""

from __future__ import annotations

import argparse

import torch

import napari_gan
from napari_gan import Generator, GeneratorInfo
from napari_gan.archs import build_arch
from napari_gan.inference.apply import DEFAULT_TILE_OVERLAP, DEFAULT_TILE_PAD
from napari_gan.inference.tiling import plan_tiles

from common import add_device_argument, add_threads_argument, astronaut_gray, astronaut_rgb, format_table, set_threads, time_runs

BUNDLED_MODELS = ("superres-x2", "superres-x4")
BUNDLED_INPUT_SIZE = 1024
BUNDLED_TILES = (None, 128, 256, 512)
RRDB_INPUT_SIZE = 128
RRDB_TILES = (None, 64)
RRDB_KWARGS = dict(num_in_ch=3, num_out_ch=3, scale=4, num_feat=64, num_block=23, num_grow_ch=32)


def random_rrdbnet() -> Generator:
    """Build the full ESRGAN generator (23 RRDB blocks, 64 features) with random weights.

    A convolution does the same work whatever its weight values, so trained weights take as long.
    """
    torch.manual_seed(0)
    info = GeneratorInfo(
        name="rrdbnet-x4-random",
        arch="rrdbnet",
        arch_kwargs=RRDB_KWARGS,
        scale=4,
        in_channels=3,
        out_channels=3,
        size_multiple=1,
    )
    return Generator(build_arch("rrdbnet", **RRDB_KWARGS), info)


def network_pixel_ratio(height: int, width: int, tile: int | None) -> float:
    """Return the input pixels the network processes, padding and overlaps included, per image pixel.

    Follows the tiling of napari_gan.inference.tiling with the default padding and overlap:
    each tile is extended by the padding on every side that is not at the image border.
    """
    grid = plan_tiles(height, width, tile, DEFAULT_TILE_OVERLAP)
    rows = sum(min(height, start + grid.tile_h + DEFAULT_TILE_PAD) - max(0, start - DEFAULT_TILE_PAD) for start in grid.rows)
    cols = sum(min(width, start + grid.tile_w + DEFAULT_TILE_PAD) - max(0, start - DEFAULT_TILE_PAD) for start in grid.cols)
    return rows * cols / (height * width)


def measure_apply(generator: Generator, image, tile: int | None, device: str, runs: int, warmup: int) -> dict:
    """Time ``generator.apply`` on ``image`` and return one result row."""
    height, width = image.shape[:2]
    timing = time_runs(lambda: generator.apply(image, tile=tile, device=device), runs=runs, warmup=warmup, device=device)
    output_megapixels = height * width * generator.scale**2 / 1e6
    return {
        "model": generator.name,
        "input": f"{height}x{width}" + (f"x{image.shape[2]}" if image.ndim == 3 else ""),
        "tile": "whole" if tile is None else tile,
        "tiles": len(plan_tiles(height, width, tile, DEFAULT_TILE_OVERLAP)),
        "network_pixel_ratio": network_pixel_ratio(height, width, tile),
        "runs": timing.runs,
        "warmup": timing.warmup,
        "seconds": timing.seconds,
        "median_s": timing.median,
        "output_megapixels": output_megapixels,
        "output_megapixels_per_s": output_megapixels / timing.median,
        "network_megapixels_per_s": height * width * network_pixel_ratio(height, width, tile) / 1e6 / timing.median,
    }


def run(device: str = "cpu", runs: int = 3, warmup: int = 1, rrdb_runs: int = 1) -> dict:
    """Measure all throughput rows, print them as a table and return them with the table.

    Each bundled-model row has its own ``warmup`` runs. The RRDBNet rows share one whole-image
    warm-up run, because a tiled RRDBNet pass on a CPU takes several times longer than the
    whole-image one.
    """
    rows = []
    gray = astronaut_gray(BUNDLED_INPUT_SIZE)
    for name in BUNDLED_MODELS:
        generator = napari_gan.load_generator(name)
        for tile in BUNDLED_TILES:
            rows.append(measure_apply(generator, gray, tile, device, runs, warmup))
            print_row(rows[-1])

    rgb = astronaut_rgb(RRDB_INPUT_SIZE)
    rrdbnet = random_rrdbnet()
    rrdbnet.apply(rgb, tile=None, device=device)
    for tile in RRDB_TILES:
        rows.append(measure_apply(rrdbnet, rgb, tile, device, rrdb_runs, warmup=0))
        print_row(rows[-1])

    table = format_table(
        ["model", "input (px)", "tile (px)", "tiles", "network input / image pixels", "runs timed", "median time (s)", "min-max (s)", "output (MP)", "throughput (output MP/s)", "network input rate (MP/s)"],
        [
            [
                row["model"],
                row["input"],
                row["tile"],
                row["tiles"],
                f"{row['network_pixel_ratio']:.2f}",
                row["runs"],
                f"{row['median_s']:.2f}",
                f"{min(row['seconds']):.2f}-{max(row['seconds']):.2f}",
                f"{row['output_megapixels']:.2f}",
                f"{row['output_megapixels_per_s']:.3f}",
                f"{row['network_megapixels_per_s']:.3f}",
            ]
            for row in rows
        ],
    )
    print(table)
    return {"rows": rows, "table": table, "device": device}


def print_row(row: dict) -> None:
    print(
        f"{row['model']:>18} {row['input']:>11} tile={row['tile']!s:>5}: median {row['median_s']:.2f} s "
        f"of {row['runs']}, {row['output_megapixels_per_s']:.3f} output MP/s",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_device_argument(parser)
    add_threads_argument(parser)
    parser.add_argument("--runs", type=int, default=3, help="timed runs per bundled-model row (default 3)")
    parser.add_argument("--rrdb-runs", type=int, default=1, help="timed runs per RRDBNet row (default 1)")
    args = parser.parse_args()
    set_threads(args.threads)
    run(device=args.device, runs=args.runs, rrdb_runs=args.rrdb_runs)


if __name__ == "__main__":
    main()
