"""Run the benchmarks of applying generators and rewrite BENCHMARKS.md with the results.

The topics are throughput, achieved FLOP/s, peak memory and viewer responsiveness. The
responsiveness benchmark needs a display and is skipped without one.

Run: xvfb-run -a -s "-screen 0 1600x1000x24" python benchmarks/run_all.py [--device cuda] [--threads N]
``make benchmark`` runs it with the default options in the project's virtual environment.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from pathlib import Path

import bench_event_loop
import bench_flops
import bench_memory
import bench_synthesis
import bench_throughput
import bench_training
import bench_translation
from napari_gan.inference.apply import DEFAULT_TILE_OVERLAP, DEFAULT_TILE_PAD

from common import add_device_argument, add_threads_argument, describe_machine, format_table, measure_other_cpu, set_threads

REPOSITORY = Path(__file__).resolve().parent.parent
OTHER_CPU_LIMIT = 0.1
"""Fraction of all cores that other processes may use during the run before the page warns about it."""


def median_phrase(counts: set[int], singular: str, plural: str) -> str:
    """Return ``"one run"`` for ``{1}``, ``"the median of 3 runs"`` for ``{3}`` and ``"the median of 1 or 3 runs"`` for ``{1, 3}``."""
    numbers = sorted(counts)
    if numbers == [1]:
        return f"one {singular}"
    return f"the median of {' or '.join(map(str, numbers))} {plural}"


def has_display() -> bool:
    """Return whether Qt can open windows: an X or Wayland display, or Qt's offscreen platform."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) or os.environ.get("QT_QPA_PLATFORM") == "offscreen"


def machine_section(machine: dict, started: datetime.datetime, total_s: float, other_cores: dict[str, float | None], device: str) -> str:
    rows = [
        ["CPU", machine["cpu"]],
        ["CPU cores usable", machine["cores"]],
        ["torch threads (torch.get_num_threads())", machine["torch_threads"]],
        ["torch", machine["torch"]],
        ["Python", machine["python"]],
        ["NumPy", machine["numpy"]],
        ["napari-gan", machine["napari_gan"]],
        ["device benchmarked", device + (f" ({machine['gpu']})" if "gpu" in machine else "")],
        ["date (UTC)", started.strftime("%Y-%m-%d %H:%M")],
        ["total run time of run_all.py (s)", f"{total_s:.0f}"],
        ["1-minute load average at start", f"{machine['load_average'][0]:.2f}"],
    ]
    for topic, cores in other_cores.items():
        rows.append([f"CPU used by other processes during {topic} (cores, mean)", "unknown" if cores is None else f"{cores:.2f}"])
    text = format_table(["", ""], rows)

    limit = OTHER_CPU_LIMIT * machine["cores"]
    busy_topics = [topic for topic, cores in other_cores.items() if cores is not None and cores > limit]
    if busy_topics:
        text += (
            f"\n\n**Other processes were using the CPU during {', '.join(busy_topics)}**, so those times are "
            "longer and those rates lower than this machine reaches when idle. When torch runs more than one "
            "thread, its threads wait for each other whenever another process takes a core, which can slow a "
            "pass down by far more than the share of CPU time lost."
        )
    return text


def throughput_section(result: dict) -> str:
    rows = result["rows"]
    bundled_runs = {row["runs"] for row in rows if row["model"].startswith("superres")}
    rrdb_runs = {row["runs"] for row in rows if row["model"].startswith("rrdbnet")}
    size, rrdb_size = bench_throughput.BUNDLED_INPUT_SIZE, bench_throughput.RRDB_INPUT_SIZE
    lines = [
        "Wall time of one `Generator.apply` call, from the uint8 input array to the uint8 output array: range "
        "mapping, tiling, the network and the conversion back. The bundled models run on scikit-image's "
        f"astronaut photograph in grayscale, resized to {size}x{size} by cubic interpolation. RRDBNet is the "
        "full ESRGAN generator (23 blocks, 64 features, 3 channels, x4) with random weights, which take "
        f"as long as trained ones, on the same photograph as {rrdb_size}x{rrdb_size} RGB. Throughput is output "
        "megapixels (MP, 10^6 pixels) divided by the median time.",
        "",
        f"Each bundled-model row is {median_phrase(bundled_runs, 'timed run', 'timed runs')} after one untimed "
        f"warm-up run. Each RRDBNet row is {median_phrase(rrdb_runs, 'timed run', 'timed runs')}, after one "
        "untimed whole-image warm-up run for both rows, because a tiled RRDBNet pass takes long on a CPU. The "
        "column *network input / "
        "image pixels* counts the input pixels the network processes per pixel of the image, including each "
        f"tile's {DEFAULT_TILE_PAD} pixels of context padding and the {DEFAULT_TILE_OVERLAP}-pixel overlaps. "
        "*Network input rate* is those pixels per second, which shows how fast the network itself runs at "
        "each tile size.",
        "",
        result["table"],
    ]
    summaries = []
    for model in sorted({row["model"] for row in rows}):
        model_rows = [row for row in rows if row["model"] == model]
        whole = next((row for row in model_rows if row["tile"] == "whole"), None)
        tiled = [row for row in model_rows if row["tile"] != "whole"]
        if whole and tiled:
            fastest = max(tiled, key=lambda row: row["output_megapixels_per_s"])
            summaries.append(
                f"- {model}: the fastest tiled run (tile {fastest['tile']}) reaches "
                f"{fastest['output_megapixels_per_s'] / whole['output_megapixels_per_s']:.0%} of the "
                "whole-image throughput."
            )
    if summaries:
        lines += ["", *summaries]
    return "\n".join(lines)


def flops_section(result: dict) -> str:
    rows = result["rows"]
    runs = {row["runs"] for row in rows}
    sizes = ", ".join(str(size) for size in bench_flops.PADDED_TILE_SIZES)
    return "\n".join(
        [
            "FLOPs are counted from the convolutions that run: a forward hook on every `nn.Conv2d` reads its "
            "output size, and each convolution counts 2 x C_in x C_out x k_h x k_w x H_out x W_out. Bias, "
            "activations, pixel shuffle and the interpolated base image are not counted but are timed, so "
            "the achieved rate is a lower bound for the convolutions alone. The time is one forward pass of "
            "the network alone (no tiling, no conversions) on a random input, in "
            f"{result['dtype']}. Each row is {median_phrase(runs, 'timed pass', 'timed passes')} (see the "
            "table), after the hooked pass that counts the FLOPs, which is also the warm-up. The superres-x2 "
            f"inputs of {sizes} pixels are what the network receives for one interior tile of 128, 256 and "
            f"512 pixels with its {DEFAULT_TILE_PAD}-pixel context padding.",
            "",
            f"The reference is the median rate of {bench_flops.MATMUL_RUNS} products of two {bench_flops.MATMUL_SIZE}x"
            f"{bench_flops.MATMUL_SIZE} {result['dtype']} matrices (`torch.matmul`, 2 n^3 FLOPs each) on the "
            "same device and threads, measured before and after the networks. The fractions use the higher "
            "of the two. It is the practical peak of this machine for dense float arithmetic through torch, "
            "not the vendor's theoretical peak.",
            "",
            result["reference_table"],
            "",
            result["table"],
            "",
            "One float32 activation of the bundled networks (32 channels) takes 4 MB at 176x176 and 134 MB at "
            "1024x1024. A likely reason why the rate changes with the input size is whether those activations "
            "fit in the CPU caches; this page does not measure cache use.",
        ]
    )


def memory_section(result: dict) -> str:
    rows = result["rows"]
    lines = [
        "Host memory of one `superres-x2` apply pass on a uint16 image (scikit-image's camera photograph "
        "repeated to the size). Each case runs once, in a fresh Python process, which first applies the "
        "model to a 64x64 crop so that one-time costs of a process's first pass (thread pools, kernel "
        "caches) stay out of the figure. *Warm-up pass added* shows that cost. *Baseline* is the resident "
        "set size (RSS) after imports, input array, model load and warm-up. *Peak* is the highest RSS "
        "during `apply`, read from the kernel's high-water mark (VmHWM) after resetting it at the baseline. "
        "*Added by apply* is peak minus baseline. The input array is already in the baseline, so the least "
        "that apply can add is the output array; *added / output* compares the two.",
        "",
        result["table"],
    ]
    by_case = {(row["size"], row["tile"]): row for row in rows}
    tiled, whole = by_case.get((1024, 256)), by_case.get((1024, None))
    if tiled and whole:
        lines += [
            "",
            f"On the 1024x1024 image, tile 256 added {tiled['added_bytes'] / 2**20:.0f} MiB and a whole-image pass "
            f"{whole['added_bytes'] / 2**20:.0f} MiB: the difference is the network's activations for the "
            "whole image, which tiling bounds by the tile size.",
        ]
    if any(row["peak_source"] != "VmHWM after reset" for row in rows):
        lines += ["", "The peak-RSS reset was not available, so *peak* includes imports and may overstate apply."]
    return "\n".join(lines)


def event_loop_section(result: dict | None, skipped_reason: str) -> str:
    if result is None:
        return f"Not measured in this run: {skipped_reason}"
    view = "shown on the display" if result["show"] else "created with `napari.Viewer(show=False)`, so that canvas drawing is not included"
    return "\n".join(
        [
            f"A napari viewer, {view}, holds a {result['input_size']}x{result['input_size']} uint8 image layer, and "
            f"the Super-resolution widget is docked with model {result['model']}, tile {result['tile']} and device "
            f"{result['device']}. A Qt timer set to fire every {bench_event_loop.TICK_INTERVAL_MS} ms records each "
            "tick; the gaps between ticks show how long the main thread, which draws the window and handles "
            "input, was blocked. Each apply row covers the time from the Apply call until the widget has added "
            f"the result layer, plus {bench_event_loop.TAIL_MS} ms after it; *wall time* is the Apply call to the "
            "added layer. The first apply loads the model in the main thread. *Gap containing the layer insert* is "
            "the gap during which napari inserted the result layer (its `layers.events.inserted` fired), and "
            "*max other gap* is the longest of the rest, most of which fall while the worker thread computes. "
            "The training row starts the Super-resolution training widget on the same layer (default settings, "
            "64-pixel patches, batch 4, a third of the steps as warm-up, previews every 5 steps) and ends when the "
            "run has exported its generator; the widget creates its live plot and preview layer in the main thread, "
            "but which step causes the longest gap has not been traced. "
            "Each row is a single run.",
            "",
            result["table"],
        ]
    )


def training_section(result: dict) -> str:
    return (
        "Steps per second of the default super-resolution configuration (compact generator, U-Net "
        "discriminator with spectral normalisation, batch 8, 128-pixel patches, x4) in the adversarial phase. "
        "The bare loop runs the same networks, batches, losses, optimisers and moving average without events, "
        "checkpoints, NaN checks or schedules; *engine cost* is the extra time per step. "
        f"Each figure is the best of two runs of {result['steps']} timed steps after 2 untimed ones "
        "(`benchmarks/bench_training.py`).\n\n" + result["table"]
    )


def translation_section(result: dict) -> str:
    return (
        "pix2pix with `unet_256` and a 70x70 PatchGAN at batch 1 on 256x256 patches, the engine's loop against "
        "a bare PyTorch loop of the same networks, and applying `unet_256` to a 1024x1024 image whole and tiled "
        "(`benchmarks/bench_translation.py`; `--quality` adds the PSNR and SSIM of a short virtual-staining run "
        "on a held-out half of the immunohistochemistry image).\n\n"
        + result["training"]
        + "\n\n"
        + result["apply"]
    )


def synthesis_section(result: dict) -> str:
    return (
        "Training steps per second of DCGAN at 32 and 64 pixels and of the style-based generator at 64 pixels, "
        "the engine's loop against a bare PyTorch loop of the same networks, and samples per second "
        f"(`benchmarks/bench_synthesis.py`, best of two runs of {result['steps']} timed steps).\n\n" + result["table"]
    )


def gpu_section(device: str) -> str:
    if device != "cpu":
        return (
            f"The tables above were measured on {device}. Generator.apply and the FLOP benchmark compute in "
            "float16 on CUDA (autocast, the default `half=True`), so the matmul reference there is float16 too."
        )
    return (
        "GPU figures are not measured on this machine: it has no GPU. On a machine with a CUDA GPU, run the "
        "same scripts with `--device cuda`, for example "
        '`xvfb-run -a -s "-screen 0 1600x1000x24" python benchmarks/run_all.py --device cuda`, or one topic '
        "with `python benchmarks/bench_throughput.py --device cuda`. On CUDA, apply computes in float16 by "
        "default, and the memory table adds the CUDA allocator's peak."
    )


def write_page(path: Path, sections: list[tuple[str, str]], device: str, threads: int | None) -> None:
    command = 'xvfb-run -a -s "-screen 0 1600x1000x24" python benchmarks/run_all.py'
    if device != "cpu":
        command += f" --device {device}"
    if threads is not None:
        command += f" --threads {threads}"
    # make benchmark runs run_all.py with its default options only.
    reproduce = f"`{command}`" if device != "cpu" or threads is not None else f"`make benchmark` (which first sets up `.venv`) or `{command}`"
    parts = [
        "# Benchmarks",
        "",
        "Speed, memory use and viewer responsiveness when applying the super-resolution generators. "
        "`benchmarks/run_all.py` measured every figure on this page and wrote the page; the numbers hold "
        "for the machine below only.",
        "",
        f"Reproduce with {reproduce} in an environment with napari-gan and its `testing` extra installed. "
        "Each topic also runs on its own, for example `python benchmarks/bench_memory.py`; every script "
        "takes `--device` and `--threads`.",
    ]
    for title, body in sections:
        parts += ["", f"## {title}", "", body]
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_device_argument(parser)
    add_threads_argument(parser)
    parser.add_argument("--output", type=Path, default=REPOSITORY / "BENCHMARKS.md", help="Markdown file to write (default: BENCHMARKS.md in the repository)")
    args = parser.parse_args()
    set_threads(args.threads)

    started = datetime.datetime.now(datetime.timezone.utc)
    start = time.perf_counter()
    machine = describe_machine(args.device)
    print(f"machine: {machine}", flush=True)
    other_cores: dict[str, float | None] = {}

    print("\n== throughput ==", flush=True)
    throughput, other_cores["throughput"] = measure_other_cpu(lambda: bench_throughput.run(device=args.device))
    print("\n== achieved FLOP/s ==", flush=True)
    flops, other_cores["FLOP/s"] = measure_other_cpu(lambda: bench_flops.run(device=args.device))
    print("\n== peak memory ==", flush=True)
    memory, other_cores["peak memory"] = measure_other_cpu(lambda: bench_memory.run(device=args.device, threads=args.threads))
    print("\n== event loop ==", flush=True)
    event_loop, skipped_reason = None, ""
    if has_display():
        event_loop, other_cores["viewer responsiveness"] = measure_other_cpu(lambda: bench_event_loop.run(device=args.device))
    else:
        skipped_reason = "no display was available. Run run_all.py under `xvfb-run -a` to include it."
        print(skipped_reason, flush=True)
    print("\n== training: engine against a bare loop ==", flush=True)
    training, other_cores["super-resolution training"] = measure_other_cpu(lambda: bench_training.run(device=args.device))
    print("\n== pix2pix ==", flush=True)
    translation, other_cores["pix2pix"] = measure_other_cpu(
        lambda: {
            "training": bench_translation.run_training_speed(args.device, steps=3),
            "apply": bench_translation.run_apply_throughput(args.device, size=1024),
        }
    )
    print("\n== synthesis ==", flush=True)
    synthesis, other_cores["synthesis"] = measure_other_cpu(lambda: bench_synthesis.run(device=args.device))
    print(f"\nCPU used by other processes (cores, mean): {other_cores}", flush=True)
    total_s = time.perf_counter() - start

    sections = [
        ("Machine", machine_section(machine, started, total_s, other_cores, args.device)),
        ("1. Throughput", throughput_section(throughput)),
        ("2. Achieved convolution FLOP/s", flops_section(flops)),
        ("3. Peak memory", memory_section(memory)),
        ("4. Viewer responsiveness during Apply and training", event_loop_section(event_loop, skipped_reason)),
        ("5. Super-resolution training: the engine against a bare PyTorch loop", training_section(training)),
        ("6. pix2pix: training and apply", translation_section(translation)),
        ("7. Synthesis: training and sampling", synthesis_section(synthesis)),
        ("8. GPU", gpu_section(args.device)),
    ]
    write_page(args.output, sections, args.device, args.threads)
    print(f"\nwrote {args.output} after {total_s:.0f} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
