"""Generators made in this napari session, where the training widget hands them to the apply widget."""

from __future__ import annotations

from psygnal import Signal

from napari_gan.generator import Generator


class SessionGenerators:
    """Registry of the generators trained in this napari session.

    The "Super-resolution training" widget adds each generator it exports. Every
    "Super-resolution" widget lists the generators already here when it opens, and
    connects to :attr:`added` to list those trained later.
    """

    added = Signal(object)
    """Emitted with each :class:`~napari_gan.generator.Generator` passed to :meth:`add`."""

    def __init__(self) -> None:
        self._generators: list[Generator] = []

    def add(self, generator: Generator) -> None:
        """Store ``generator`` and emit :attr:`added` with it."""
        self._generators.append(generator)
        self.added.emit(generator)

    def items(self) -> list[Generator]:
        """Return the stored generators, oldest first."""
        return list(self._generators)


session_generators = SessionGenerators()
"""The registry shared by all widgets of this Python process."""


def unique_name(generators: dict[str, object], generator: Generator) -> str:
    """Return ``generator.name``, or ``"name (2)"``, ``"name (3)"``... if another generator in ``generators`` has it."""
    name = generator.name
    suffix = 2
    while name in generators and generators[name] is not generator:
        name = f"{generator.name} ({suffix})"
        suffix += 1
    return name


def forward_progress(steps):
    """Run an ``iter_apply`` generator in a worker thread, passing its progress on; return its result."""
    return (yield from steps)
