"""Helpers shared by the benchmark scripts: timing, test images and a description of the machine."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import skimage.color
import skimage.data
import skimage.transform
import torch

@dataclass(frozen=True)
class Timing:
    """Wall-clock seconds of repeated runs of one workload, warm-up runs excluded."""

    seconds: list[float]
    warmup: int

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def runs(self) -> int:
        return len(self.seconds)


def synchronize(device: str) -> None:
    """Wait for queued GPU work, so that a timer stopped afterwards includes it."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    elif device == "mps":
        torch.mps.synchronize()


def time_runs(workload: Callable[[], object], runs: int = 3, warmup: int = 1, device: str = "cpu") -> Timing:
    """Run ``workload`` ``warmup`` times untimed, then ``runs`` times timed with ``time.perf_counter``."""
    for _ in range(warmup):
        workload()
        synchronize(device)
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        workload()
        synchronize(device)
        seconds.append(time.perf_counter() - start)
    return Timing(seconds, warmup)


def astronaut_gray(size: int) -> np.ndarray:
    """Return scikit-image's astronaut photograph as grayscale uint8, resized to ``size`` x ``size`` by cubic interpolation."""
    gray = skimage.color.rgb2gray(skimage.data.astronaut())
    resized = skimage.transform.resize(gray, (size, size), order=3, anti_aliasing=size < gray.shape[0])
    return np.clip(np.rint(resized * 255), 0, 255).astype(np.uint8)


def astronaut_rgb(size: int) -> np.ndarray:
    """Return scikit-image's astronaut photograph as RGB uint8 ``(size, size, 3)``."""
    rgb = skimage.data.astronaut()
    resized = skimage.transform.resize(rgb, (size, size), order=3, anti_aliasing=size < rgb.shape[0])
    return np.clip(np.rint(resized * 255), 0, 255).astype(np.uint8)


def cpu_model() -> str:
    """Return the CPU model name from /proc/cpuinfo, or platform.processor() where that file is missing."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def usable_cores() -> int:
    """Return the number of CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def busy_cpu_seconds() -> float | None:
    """Return the non-idle CPU seconds of all processes since boot from /proc/stat, or None where that file is missing."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    # user, nice, system, idle, iowait, irq, softirq, steal: all but idle and iowait are busy time.
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(value) for value in fields[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """Return the CPU seconds used by this process and its finished subprocesses."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def measure_other_cpu(workload: Callable[[], object]) -> tuple[object, float | None]:
    """Run ``workload`` and return its result with the mean number of cores that other processes used meanwhile.

    Other processes' CPU time is all busy time in /proc/stat minus this process's own; it is
    None where /proc/stat is missing.
    """
    busy_start, own_start, start = busy_cpu_seconds(), own_cpu_seconds(), time.perf_counter()
    result = workload()
    busy_end, own_end, elapsed = busy_cpu_seconds(), own_cpu_seconds(), time.perf_counter() - start
    if busy_start is None or busy_end is None or elapsed <= 0:
        return result, None
    return result, max(0.0, (busy_end - busy_start) - (own_end - own_start)) / elapsed


def describe_machine(device: str) -> dict[str, object]:
    """Return the facts about this machine and its software that the benchmark figures depend on."""
    import napari_gan

    machine: dict[str, object] = {
        "cpu": cpu_model(),
        "cores": usable_cores(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "numpy": np.__version__,
        "napari_gan": napari_gan.__version__,
        "device": device,
        "load_average": os.getloadavg(),
    }
    if device.startswith("cuda"):
        machine["gpu"] = torch.cuda.get_device_name(device)
    return machine


def add_device_argument(parser) -> None:
    """Add the ``--device`` option that every benchmark script takes."""
    parser.add_argument(
        "--device",
        default="cpu",
        help="torch device to benchmark: cpu (default), cuda, cuda:N or mps",
    )


def add_threads_argument(parser) -> None:
    """Add the ``--threads`` option, which sets torch's intra-op thread count."""
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads for CPU work (default: torch's default, one per physical core)",
    )


def set_threads(threads: int | None) -> None:
    """Set torch's intra-op thread count unless ``threads`` is None."""
    if threads is not None:
        torch.set_num_threads(threads)


def format_table(headers: list[str], rows: list[list[object]]) -> str:
    """Format ``rows`` as a Markdown table. Cells are printed with str(), so format floats first."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(str(cell) for cell in row) + " |")
    return "\n".join(lines)
