"""Choice of the torch device and precision."""

from __future__ import annotations

import torch

from napari_gan.errors import NapariGanError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def available_devices() -> list[str]:
    """Return the device names usable on this machine, ``"auto"`` first."""
    names = ["auto", "cpu"]
    if torch.cuda.is_available():
        names.append("cuda")
        names.extend(f"cuda:{index}" for index in range(torch.cuda.device_count()) if torch.cuda.device_count() > 1)
    if torch.backends.mps.is_available():
        names.append("mps")
    return names


def resolve_device(name: str | torch.device | None = None) -> torch.device:
    """Return the torch device for ``name``: CUDA, then MPS, then CPU when ``name`` is None or ``"auto"``.

    Raises
    ------
    NapariGanError
        If ``name`` is not a device name or the device is not available here.
    """
    if isinstance(name, torch.device):
        return name
    if name is None or name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise NapariGanError(f"invalid device {name!r}; use one of {', '.join(DEVICE_CHOICES)} or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise NapariGanError(f"device {name!r} is not available: this torch build finds no CUDA GPU; use 'cpu' or 'auto'")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise NapariGanError(f"device {name!r} does not exist: {torch.cuda.device_count()} CUDA GPU(s) found")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise NapariGanError(f"device {name!r} is not available on this machine; use 'cpu' or 'auto'")
    if device.type not in ("cpu", "cuda", "mps"):
        raise NapariGanError(f"device {name!r} is not supported; use one of {', '.join(DEVICE_CHOICES)}")
    return device


def uses_half(device: torch.device, half: bool) -> bool:
    """Return whether to compute in float16: on CUDA when ``half`` allows it, never elsewhere.

    CPU kernels for float16 convolutions are slow or missing, and MPS float16 results vary
    between macOS versions, so half precision is used on CUDA only.
    """
    return half and device.type == "cuda"
