"""Achieved convolution FLOP/s of the generators, as a fraction of this machine's measured matmul rate.

The FLOPs of a forward pass are counted from the convolutions that actually run. A forward
hook on every nn.Conv2d records its output size. Each convolution counts
2 * (C_in / groups) * C_out * k_h * k_w * H_out * W_out FLOPs: a multiply and an add per weight
and output pixel. Bias, activations, pixel shuffle and interpolation are not counted. That count divided by the median forward
time is the achieved rate. The reference rate is a large square torch.matmul in the same
dtype on the same device and threads; it is a measured practical peak, not the vendor's
theoretical peak.

Run: python benchmarks/bench_flops.py [--device cuda]
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

import napari_gan
from napari_gan.devices import resolve_device
from napari_gan.inference.apply import DEFAULT_TILE_PAD

from bench_throughput import RRDB_INPUT_SIZE, random_rrdbnet
from common import add_device_argument, add_threads_argument, format_table, set_threads, time_runs

MATMUL_SIZE = 2048
MATMUL_RUNS = 7
PADDED_TILE_SIZES = tuple(tile + 2 * DEFAULT_TILE_PAD for tile in (128, 256, 512))
"""Network inputs of one interior tile of 128, 256 and 512 pixels with its context padding."""
# (model, input edge in pixels): superres-x2 at the padded tile sizes and whole-image, superres-x4 whole-image.
BUNDLED_CASES = tuple(("superres-x2", size) for size in (*PADDED_TILE_SIZES, 1024)) + (("superres-x4", 1024),)
SMALL_INPUT_SIZE = 512
SMALL_INPUT_RUNS = 10
"""Timed passes for inputs below SMALL_INPUT_SIZE, whose passes are short and vary more."""


def count_conv_flops(net: nn.Module, example: torch.Tensor) -> int:
    """Return the FLOPs of the convolutions in one forward pass of ``net`` on ``example``."""
    total = 0

    def record(module: nn.Conv2d, _inputs, output: torch.Tensor) -> None:
        nonlocal total
        batch, out_channels, out_height, out_width = output.shape
        kernel_height, kernel_width = module.kernel_size
        in_channels_per_group = module.in_channels // module.groups
        total += 2 * batch * in_channels_per_group * out_channels * kernel_height * kernel_width * out_height * out_width

    handles = [module.register_forward_hook(record) for module in net.modules() if isinstance(module, nn.Conv2d)]
    try:
        with torch.inference_mode():
            net(example)
    finally:
        for handle in handles:
            handle.remove()
    return total


def measure_matmul_rate(device: torch.device, dtype: torch.dtype, size: int = MATMUL_SIZE, runs: int = MATMUL_RUNS) -> dict:
    """Return the median FLOP/s of ``size`` x ``size`` matrix products (2 * size**3 FLOPs each)."""
    generator = torch.Generator(device="cpu").manual_seed(0)
    left = torch.randn(size, size, generator=generator).to(device=device, dtype=dtype)
    right = torch.randn(size, size, generator=generator).to(device=device, dtype=dtype)
    timing = time_runs(lambda: torch.matmul(left, right), runs=runs, warmup=2, device=device.type)
    flops = 2 * size**3
    return {"size": size, "runs": timing.runs, "seconds": timing.seconds, "flops_per_s": flops / timing.median}


def measure_forward(name: str, net: nn.Module, shape: tuple[int, ...], device: torch.device, dtype: torch.dtype, runs: int, warmup: int) -> dict:
    """Time ``net`` on a random input of ``shape`` and return its FLOP count and achieved rate.

    The hooked pass that counts the FLOPs runs on the same input first, so it is also a warm-up.
    ``warmup`` adds untimed passes after it.
    """
    net = net.to(device=device).eval()
    example = torch.rand(shape, generator=torch.Generator(device="cpu").manual_seed(0)).to(device=device)
    # Same precision as Generator.apply with its default half=True: float32 weights, autocast to float16 on CUDA.
    autocast = dtype == torch.float16
    with torch.autocast(device.type, dtype=torch.float16, enabled=autocast):
        flops = count_conv_flops(net, example)

    def forward() -> None:
        with torch.inference_mode(), torch.autocast(device.type, dtype=torch.float16, enabled=autocast):
            net(example)

    timing = time_runs(forward, runs=runs, warmup=warmup, device=device.type)
    return {
        "model": name,
        "input": "x".join(str(size) for size in shape),
        "conv_flops": flops,
        "runs": timing.runs,
        "seconds": timing.seconds,
        "median_s": timing.median,
        "flops_per_s": flops / timing.median,
    }


def run(device: str = "cpu", runs: int = 3, warmup: int = 0, rrdb_runs: int = 1, rrdb_warmup: int = 0) -> dict:
    """Measure the matmul reference rate and the achieved rate of each network, then print and return them."""
    torch_device = resolve_device(device)
    # Generator.apply computes in float16 on CUDA by default (half=True) and in float32 elsewhere.
    dtype = torch.float16 if torch_device.type == "cuda" else torch.float32

    # The reference is measured before and after the networks, because a changing load from other
    # processes shows up as a difference between the two.
    reference_before = measure_matmul_rate(torch_device, dtype)
    print(f"matmul {MATMUL_SIZE}x{MATMUL_SIZE} {dtype}: {reference_before['flops_per_s'] / 1e9:.1f} GFLOP/s", flush=True)

    rows = []
    generators = {name: napari_gan.load_generator(name) for name in {name for name, _size in BUNDLED_CASES}}
    for name, size in BUNDLED_CASES:
        generator = generators[name]
        shape = (1, generator.in_channels, size, size)
        case_runs = max(runs, SMALL_INPUT_RUNS) if size < SMALL_INPUT_SIZE else runs
        rows.append(measure_forward(name, generator.net, shape, torch_device, dtype, case_runs, warmup))
        print_row(rows[-1])
    rrdbnet = random_rrdbnet()
    rows.append(
        measure_forward(rrdbnet.name, rrdbnet.net, (1, 3, RRDB_INPUT_SIZE, RRDB_INPUT_SIZE), torch_device, dtype, rrdb_runs, rrdb_warmup)
    )
    print_row(rows[-1])

    reference_after = measure_matmul_rate(torch_device, dtype)
    print(f"matmul {MATMUL_SIZE}x{MATMUL_SIZE} {dtype}: {reference_after['flops_per_s'] / 1e9:.1f} GFLOP/s", flush=True)
    peak = max(reference_before["flops_per_s"], reference_after["flops_per_s"])
    for row in rows:
        row["fraction_of_matmul"] = row["flops_per_s"] / peak

    reference_table = format_table(
        ["workload", "dtype", "runs timed", "before networks (GFLOP/s)", "after networks (GFLOP/s)"],
        [
            [
                f"torch.matmul {MATMUL_SIZE}x{MATMUL_SIZE}",
                str(dtype).removeprefix("torch."),
                reference_before["runs"],
                f"{reference_before['flops_per_s'] / 1e9:.1f}",
                f"{reference_after['flops_per_s'] / 1e9:.1f}",
            ]
        ],
    )
    table = format_table(
        ["model", "input (N x C x H x W)", "conv FLOPs (G)", "runs timed", "median forward (s)", "achieved (GFLOP/s)", "fraction of matmul rate"],
        [
            [
                row["model"],
                row["input"],
                f"{row['conv_flops'] / 1e9:.1f}",
                row["runs"],
                f"{row['median_s']:.2f}",
                f"{row['flops_per_s'] / 1e9:.1f}",
                f"{row['fraction_of_matmul']:.0%}",
            ]
            for row in rows
        ],
    )
    print(reference_table)
    print(table)
    return {
        "dtype": str(dtype).removeprefix("torch."),
        "matmul_before": reference_before,
        "matmul_after": reference_after,
        "matmul_peak_flops_per_s": peak,
        "rows": rows,
        "reference_table": reference_table,
        "table": table,
        "device": device,
    }


def print_row(row: dict) -> None:
    print(
        f"{row['model']:>18} {row['input']:>14}: {row['conv_flops'] / 1e9:.1f} GFLOP in {row['median_s']:.2f} s "
        f"= {row['flops_per_s'] / 1e9:.1f} GFLOP/s",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_device_argument(parser)
    add_threads_argument(parser)
    parser.add_argument(
        "--runs", type=int, default=3, help=f"timed forward passes per bundled-model row, at least {SMALL_INPUT_RUNS} below {SMALL_INPUT_SIZE} pixels (default 3)"
    )
    parser.add_argument("--rrdb-runs", type=int, default=1, help="timed forward passes of RRDBNet (default 1)")
    args = parser.parse_args()
    set_threads(args.threads)
    run(device=args.device, runs=args.runs, rrdb_runs=args.rrdb_runs)


if __name__ == "__main__":
    main()
