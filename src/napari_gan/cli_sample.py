"""``napari-gan sample``: new images from a synthesis generator, written as one stack."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from napari_gan.errors import NapariGanError

STACK_SUFFIXES = (".tif", ".tiff", ".npy")
"""Formats that hold a stack of images in one file."""


def morph(generator, n: int, seed: int, steps: int, truncation: float, device: str) -> np.ndarray:
    """Return a morph through samples 0 to n-1 of ``seed``: ``(n - 1) * (steps - 1) + 1`` images."""
    if n < 2:
        raise NapariGanError(f"--interpolate needs --n of at least 2 samples to morph between, got {n}")
    parts = []
    for index in range(n - 1):
        frames = generator.interpolate((seed, index), (seed, index + 1), steps, truncation=truncation, device=device)
        parts.append(frames if index == 0 else frames[1:])
    return np.concatenate(parts)


def read_real_stack(path: Path, resolution: int) -> np.ndarray:
    """Read a stack of real images and map it to uint8 at ``resolution`` with the training rule."""
    from napari_gan.io import read_image
    from napari_gan.metrics_synthesis import real_images_uint8
    from napari_gan.training.data import TrainingImage

    return real_images_uint8([TrainingImage(read_image(path), name=f"image {str(path)!r}")], resolution)


def run_sample(arguments: argparse.Namespace) -> None:
    """Write the samples (or the morph) and, with ``--score``, print the synthesis metrics."""
    from napari_gan import load_generator
    from napari_gan.io import check_output_path, write_image

    output = check_output_path(arguments.output)
    if output.suffix.lower() not in STACK_SUFFIXES:
        raise NapariGanError(f"output {str(output)!r} must hold a stack of images; use one of {', '.join(STACK_SUFFIXES)}")
    if arguments.n < 1:
        raise NapariGanError(f"--n must be at least 1, got {arguments.n}")
    generator = load_generator(arguments.model)
    if arguments.interpolate is not None:
        images = morph(generator, arguments.n, arguments.seed, arguments.interpolate, arguments.truncation, arguments.device)
    else:
        images = generator.sample(arguments.n, seed=arguments.seed, truncation=arguments.truncation, device=arguments.device)
    write_image(output, images)
    print(f"wrote {output} {images.shape} {images.dtype}")
    if arguments.score is not None:
        print_score(generator, arguments)


def print_score(generator, arguments: argparse.Namespace) -> None:
    """Measure the generator against ``--score`` and print one metric per line."""
    from napari_gan.metrics_synthesis import score_synthesis
    from napari_gan.training.synthesis import load_run_discriminator

    real = read_real_stack(arguments.score, int(generator.info.arch_kwargs["resolution"]))
    discriminator = load_run_discriminator(arguments.run_dir, generator.out_channels) if arguments.run_dir else None
    score = score_synthesis(
        generator,
        real,
        discriminator=discriminator,
        n_samples=max(arguments.n, 2),
        seed=arguments.seed,
        truncation=arguments.truncation,
        inception_weights=arguments.inception,
    )
    for name, value in score.rows():
        print(f"{name}: {value}")
