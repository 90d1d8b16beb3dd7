"""Registry of network architectures by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from torch import nn

from napari_gan.errors import NapariGanError

ModuleType = TypeVar("ModuleType", bound=type[nn.Module])

_ARCHITECTURES: dict[str, type[nn.Module]] = {}


def register_arch(name: str) -> Callable[[ModuleType], ModuleType]:
    """Register an ``nn.Module`` class under ``name``; a duplicate name raises ``KeyError``."""

    def decorator(cls: ModuleType) -> ModuleType:
        if name in _ARCHITECTURES:
            raise KeyError(f"architecture {name!r} is already registered by {_ARCHITECTURES[name].__name__}")
        _ARCHITECTURES[name] = cls
        return cls

    return decorator


def list_archs() -> list[str]:
    """Return the registered architecture names, sorted."""
    return sorted(_ARCHITECTURES)


def build_arch(name: str, **kwargs: object) -> nn.Module:
    """Build the architecture registered as ``name`` with ``kwargs``.

    Raises
    ------
    NapariGanError
        If ``name`` is not registered (the message lists the valid names) or the
        arguments do not fit the architecture.
    """
    try:
        cls = _ARCHITECTURES[name]
    except KeyError:
        raise NapariGanError(
            f"unknown architecture {name!r}; valid names: {', '.join(list_archs())}"
        ) from None
    try:
        return cls(**kwargs)
    except TypeError as error:
        raise NapariGanError(f"invalid arguments for architecture {name!r}: {error}") from error
