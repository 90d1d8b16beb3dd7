"""Train the bundled face generator ``faces`` and write its model card.

The training set is fixed and ships with scikit-image, so anyone can rerun this offline and get
the same file on the same torch build (fixed seed, fixed image list, fixed steps)::

    python scripts/train_bundled_faces.py

``skimage.data.lfw_subset()`` contains 200 grayscale 25x25 float images in [0, 1]: the first 100
are faces from Labeled Faces in the Wild, the last 100 are not faces. Faces 0-89 train the
generator and faces 90-99 are held out to measure the discriminator's accuracy on real
images it never saw. Each 25x25 face is resized to 32x32 by bilinear interpolation (it is
square already, so the centre crop of the synthesis task keeps it whole).

The generator is a DCGAN (Radford et al., 2016) trained with the non-saturating loss, R1 on
real images and DiffAugment (colour, translation, cutout), as ``napari-gan train synthesis``
does. The model card beside the file records the settings and the measured metrics.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import time
from pathlib import Path

import numpy as np
import skimage.data
import torch

from napari_gan.generator import Generator
from napari_gan.training import SynthesisConfig, SynthesisTask, Trainer, TrainingImage
from napari_gan.training.checkpoint import list_checkpoints
from napari_gan.weights.loader import load_generator

BUNDLED = Path(__file__).resolve().parents[1] / "src" / "napari_gan" / "weights" / "bundled"
NAME = "faces"
FACE_COUNT = 100
"""``lfw_subset()`` images 0-99 are faces; 100-199 are not."""
TRAINING_FACES = range(0, 90)
HELD_OUT_FACES = range(90, 100)
METRIC_SAMPLES = 512
"""Generated images scored against the real faces; enough for a stable SWD on 90 real faces."""
METRIC_SEED = 12345

SETTINGS = SynthesisConfig(
    arch="dcgan",
    resolution=32,
    z_dim=64,
    num_feat=32,
    d_num_feat=32,
    batch_size=32,
    steps=6000,
    seed=0,
    device="cpu",
    mixed_precision="no",
    preview_every=500,
    autosave_every_steps=1000,
    autosave_every_minutes=5.0,
)


def faces() -> np.ndarray:
    """Return the 100 faces of ``lfw_subset`` as float ``(100, 25, 25)`` in [0, 1]."""
    return skimage.data.lfw_subset()[:FACE_COUNT]


def train(run_dir: Path, steps: int) -> None:
    """Train in ``run_dir``, resuming an earlier run there; print one line per preview interval."""
    torch.manual_seed(SETTINGS.seed)
    config = dataclasses.replace(SETTINGS, steps=steps)
    task = SynthesisTask(config, [TrainingImage(faces()[list(TRAINING_FACES)], name="lfw faces 0-89")])
    trainer = Trainer(task, run_dir, resume=bool(list_checkpoints(run_dir)))
    started = time.monotonic()
    for event in trainer.run():
        step = getattr(event, "step", 0)
        losses = getattr(event, "losses", None)
        if losses is not None and (step % SETTINGS.preview_every == 0 or step == steps):
            values = " ".join(f"{name}={value:.3f}" for name, value in losses.items())
            print(
                f"step {step}/{steps} {values} D acc real/fake {event.d_accuracy_real:.2f}/{event.d_accuracy_fake:.2f} "
                f"{time.monotonic() - started:.0f} s",
                flush=True,
            )


def model_card(generator: Generator, run_dir: Path, trained_steps: int, seconds: float | None) -> str:
    """Measure ``generator`` against the real faces and return the Markdown model card."""
    from napari_gan.metrics_synthesis import score_synthesis
    from napari_gan.training.synthesis import fit_to_resolution, load_run_discriminator

    all_faces = torch.from_numpy(faces()).float()[:, None]
    real = torch.stack([fit_to_resolution(face, SETTINGS.resolution) for face in all_faces]).numpy()[:, 0]
    real_uint8 = np.rint(real * 255).astype(np.uint8)
    score = score_synthesis(
        generator,
        real_uint8[list(TRAINING_FACES)],
        held_out=real_uint8[list(HELD_OUT_FACES)],
        discriminator=load_run_discriminator(run_dir, channels=1),
        n_samples=METRIC_SAMPLES,
        seed=METRIC_SEED,
    )
    config = dataclasses.asdict(SETTINGS)
    # The style generator's settings do not apply to this DCGAN.
    unused = ("device", "mapping_layers", "style_mixing")
    settings = "\n".join(f"| {key} | {value} |" for key, value in config.items() if key not in unused)
    duration = f"{seconds / 60:.0f} minutes" if seconds else "see the training log"
    return f"""# faces

A DCGAN generator of 32x32 grayscale faces, trained from scratch by `scripts/train_bundled_faces.py`.
Generate with `napari-gan sample --model faces --n 64 faces.tif` or `load_generator("faces").sample(64, seed=0)`.
Outputs are uint8 `(N, 32, 32)`; the network's [-1, 1] maps to 0-255 by `round((x + 1) * 127.5)`.

## Training set

scikit-image `data.lfw_subset()` (Labeled Faces in the Wild, 25x25, grayscale, float in [0, 1]):
faces 0-89 train the generator; faces 90-99 are held out. Images 100-199 of that set are not faces
and are not used. Each face is resized from 25x25 to 32x32 by bilinear interpolation.

## Settings

{trained_steps} steps of batch {SETTINGS.batch_size} on a CPU ({duration}), non-saturating loss, lazy R1
(gamma {SETTINGS.r1_gamma}, every {SETTINGS.r1_every} steps), DiffAugment colour, translation and cutout on
real and generated images, random left-right flips of the real faces, EMA of the generator weights
(decay {SETTINGS.ema_decay}). Seed {SETTINGS.seed}, torch {torch.__version__}.

| setting | value |
| --- | --- |
{settings}

## Metrics

Measured on {METRIC_SAMPLES} samples (seed {METRIC_SEED}) by `napari_gan.metrics_synthesis.score_synthesis`
against the 90 training faces. The discriminator of the last checkpoint judges the 10 held-out faces
(90-99) and the samples; about 0.5 on both means it can no longer tell them apart. Lower SWD is
better; diversity near 1 means the samples vary as much as the real faces. FID is not given because
no Inception weights are available offline.

{score.to_markdown()}

## Limitations

Ninety training faces is a very small set: samples are blurry, low-resolution and close to the
typical pose and lighting of LFW, and some show artefacts. The generator is a demonstration of
the synthesis tools, not a model of human faces.
"""


def write_bundle(run_dir: Path, out: Path) -> None:
    """Copy the run's generator to ``out/faces.safetensors`` with its model card, also as ``faces.md``."""
    generator = load_generator(run_dir / "generator.safetensors")
    trained_steps = int(generator.info.training_config.get("trained_steps", 0))
    log = run_dir / "seconds.txt"
    seconds = float(log.read_text()) if log.is_file() else None
    card = model_card(generator, run_dir, trained_steps, seconds)
    generator.info.name = NAME
    generator.info.model_card = card
    generator.save(out / f"{NAME}.safetensors")
    (out / f"{NAME}.md").write_text(card, encoding="utf-8")
    print(card)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=SETTINGS.steps, help="training steps (default %(default)s)")
    parser.add_argument("--run-dir", type=Path, default=Path("runs/faces"), help="run folder; an existing run resumes (default %(default)s)")
    parser.add_argument("--out", type=Path, default=BUNDLED, help="folder for faces.safetensors and faces.md")
    parser.add_argument("--train-only", action="store_true", help="train, but write no bundle")
    parser.add_argument("--card-only", action="store_true", help="do not train: measure the run's generator and write the bundle")
    parser.add_argument("--fresh", action="store_true", help="delete the run folder first")
    arguments = parser.parse_args()
    torch.set_num_threads(1)
    if arguments.fresh:
        shutil.rmtree(arguments.run_dir, ignore_errors=True)
    arguments.run_dir.mkdir(parents=True, exist_ok=True)
    if not arguments.card_only:
        started = time.monotonic()
        train(arguments.run_dir, arguments.steps)
        (arguments.run_dir / "seconds.txt").write_text(f"{time.monotonic() - started:.0f}")
    if not arguments.train_only:
        write_bundle(arguments.run_dir, arguments.out)


if __name__ == "__main__":
    main()
