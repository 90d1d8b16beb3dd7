"""Peak host memory of one superres-x2 apply pass, tiled and whole-image. Linux only.

Each case runs in a fresh Python subprocess, so that memory freed by an earlier case cannot
be reused and hide the cost of a later one. The subprocess imports napari_gan, builds the
uint16 input (scikit-image's camera photograph repeated to the requested size) and loads the
generator. It applies the generator once to a 64x64 crop, which keeps one-time costs of the
first pass (thread pools, kernel caches) out of the figure. Then it records its resident set size
(VmRSS in /proc/self/status) as the baseline, resets the kernel's peak-RSS counter (VmHWM) by
writing 5 to /proc/self/clear_refs, runs apply and reads VmHWM. Where the kernel does not allow
the reset, the peak is ru_maxrss, which also covers imports and the input build. The figure
reported is peak minus baseline: what apply itself added. The input array is part of the
baseline, so the least apply can add is the output array; the table also shows input + output.

Run: python benchmarks/bench_memory.py [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from common import add_device_argument, add_threads_argument, format_table, set_threads

MODEL = "superres-x2"
# (input edge in pixels, tile edge in pixels or None for whole-image)
CASES = ((4096, 256), (1024, 256), (1024, None))
WARMUP_SIZE = 64
CHILD_TIMEOUT_S = 600
MIB = 2**20


def read_status_kib(field: str) -> int | None:
    """Return a ``kB`` field of /proc/self/status, such as VmRSS or VmHWM, in KiB, or None where it is missing."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak_rss() -> bool:
    """Reset the VmHWM of this process to its current RSS and return whether the kernel accepted it."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    peak, current = read_status_kib("VmHWM"), read_status_kib("VmRSS")
    # A reset counter equals the current RSS, give or take the pages touched by the reads.
    return peak is not None and current is not None and peak - current < 1024


def run_child(size: int, tile: int | None, device: str) -> dict:
    """Measure one case inside this process and return its figures. The subprocess calls this."""
    import gc

    import numpy as np
    import skimage.data
    import torch

    import napari_gan

    camera = skimage.data.camera().astype(np.uint16) * 16 + 100
    repeats = -(-size // camera.shape[0])
    image = np.ascontiguousarray(np.tile(camera, (repeats, repeats))[:size, :size])
    generator = napari_gan.load_generator(MODEL)
    gc.collect()
    loaded_kib = read_status_kib("VmRSS")

    # The first pass of a process also allocates thread pools and kernel caches. A small warm-up
    # pass keeps that one-time cost out of the measured figure, and the table reports it apart.
    generator.apply(image[:WARMUP_SIZE, :WARMUP_SIZE], tile=tile, device=device)
    gc.collect()
    baseline_kib = read_status_kib("VmRSS")
    if loaded_kib is None or baseline_kib is None:
        raise RuntimeError("/proc/self/status is missing, and the memory benchmark reads VmRSS from it: run it on Linux")
    peak_reset = reset_peak_rss()
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    result = generator.apply(image, tile=tile, device=device)
    seconds = time.perf_counter() - start
    if peak_reset:
        peak_kib = read_status_kib("VmHWM")
    else:
        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux

    figures = {
        "size": size,
        "tile": tile,
        "device": device,
        "dtype": str(image.dtype),
        "input_bytes": image.nbytes,
        "output_bytes": result.nbytes,
        "output_shape": list(result.shape),
        "loaded_bytes": loaded_kib * 1024,
        "baseline_bytes": baseline_kib * 1024,
        "peak_bytes": peak_kib * 1024,
        "peak_source": "VmHWM after reset" if peak_reset else "ru_maxrss (includes imports)",
        "seconds": seconds,
        "torch_threads": torch.get_num_threads(),
    }
    if device.startswith("cuda"):
        figures["cuda_peak_allocated_bytes"] = torch.cuda.max_memory_allocated(device)
    return figures


def measure_case(size: int, tile: int | None, device: str, threads: int | None = None) -> dict:
    """Run one case in a fresh subprocess and return the figures it prints."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", "--size", str(size), "--device", device]
    if threads is not None:
        command += ["--threads", str(threads)]
    if tile is not None:
        command += ["--tile", str(tile)]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S, env=os.environ.copy())
    if completed.returncode != 0:
        raise RuntimeError(f"memory benchmark subprocess failed with exit code {completed.returncode}:\n{completed.stderr}")
    figures = json.loads(completed.stdout.strip().splitlines()[-1])
    figures["added_bytes"] = figures["peak_bytes"] - figures["baseline_bytes"]
    return figures


def run(device: str = "cpu", threads: int | None = None) -> dict:
    """Measure every case in its own subprocess, which uses ``threads`` torch threads, then print and return the table."""
    rows = []
    for size, tile in CASES:
        rows.append(measure_case(size, tile, device, threads))
        row = rows[-1]
        print(
            f"{size}x{size} tile={tile}: added {row['added_bytes'] / MIB:.0f} MiB over a baseline of "
            f"{row['baseline_bytes'] / MIB:.0f} MiB ({row['peak_source']}), {row['seconds']:.1f} s",
            flush=True,
        )

    headers = [
        "model",
        "input (px, dtype)",
        "tile (px)",
        "warm-up pass added (MiB)",
        "baseline RSS (MiB)",
        "peak RSS (MiB)",
        "added by apply (MiB)",
        "output array (MiB)",
        "input + output arrays (MiB)",
        "added / output",
        "apply time (s)",
    ]
    if device.startswith("cuda"):
        headers.append("CUDA peak allocated (MiB)")
    table_rows = []
    for row in rows:
        cells = [
            MODEL,
            f"{row['size']}x{row['size']} {row['dtype']}",
            "whole" if row["tile"] is None else row["tile"],
            f"{(row['baseline_bytes'] - row['loaded_bytes']) / MIB:.0f}",
            f"{row['baseline_bytes'] / MIB:.0f}",
            f"{row['peak_bytes'] / MIB:.0f}",
            f"{row['added_bytes'] / MIB:.0f}",
            f"{row['output_bytes'] / MIB:.0f}",
            f"{(row['input_bytes'] + row['output_bytes']) / MIB:.0f}",
            f"{row['added_bytes'] / row['output_bytes']:.1f}",
            f"{row['seconds']:.1f}",
        ]
        if device.startswith("cuda"):
            cells.append(f"{row['cuda_peak_allocated_bytes'] / MIB:.0f}")
        table_rows.append(cells)

    table = format_table(headers, table_rows)
    print(table)
    return {"rows": rows, "table": table, "device": device}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_device_argument(parser)
    add_threads_argument(parser)
    parser.add_argument("--child", action="store_true", help="measure one case in this process and print it as JSON")
    parser.add_argument("--size", type=int, default=4096, help="input edge in pixels, with --child (default 4096)")
    parser.add_argument("--tile", type=int, default=None, help="tile edge in pixels, with --child (default: whole-image)")
    args = parser.parse_args()
    set_threads(args.threads)
    if args.child:
        print(json.dumps(run_child(args.size, args.tile, args.device)))
    else:
        run(device=args.device, threads=args.threads)


if __name__ == "__main__":
    main()
