"""Train the bundled super-resolution generators ``superres-x2`` and ``superres-x4``.

Everything comes from scikit-image's bundled sample images, so anyone can rerun this offline
and get the same files on the same torch build (fixed seed, fixed image list, fixed steps)::

    python scripts/train_bundled_superres.py --scale 2
    python scripts/train_bundled_superres.py --scale 4

The network is a compact single-channel SRVGGNet with a bicubic base: it learns only the
detail that bicubic interpolation misses, and applies to every channel of RGB or
multichannel images separately, so one model serves photographs and microscopy alike.
Training minimises the L1 distance to the original under the standard bicubic degradation
(antialiased bicubic down-scaling), the PSNR-oriented stage of ESRGAN-style training.
The model card beside each file records the settings and scores on held-out images.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import skimage.data
import torch
import torch.nn.functional as F

from napari_gan.archs import build_arch
from napari_gan.data.degradation import bicubic_resize
from napari_gan.generator import Generator, GeneratorInfo
from napari_gan.metrics import score_superresolution

BUNDLED = Path(__file__).resolve().parents[1] / "src" / "napari_gan" / "weights" / "bundled"

TRAINING_IMAGES = (
    "astronaut", "camera", "rocket", "hubble_deep_field", "immunohistochemistry", "retina",
    "coins", "brick", "grass", "gravel", "page", "text", "clock", "colorwheel",
)
# Never seen in training: natural photographs, and grayscale scientific images that are
# converted to 16 bits with a 12-bit camera-like range, as microscopy files often are.
VALIDATION_PHOTOS = ("coffee", "chelsea")
VALIDATION_SCIENTIFIC = ("cell", "moon", "microaneurysms", "shepp_logan_phantom")


@dataclass
class TrainingSettings:
    """Settings of one bundled training run; they are written into the model card."""

    scale: int
    seed: int = 0
    steps: int = 6000
    batch_size: int = 16
    lr_patch: int = 32
    """Low-resolution patch edge in pixels; high-resolution patches are ``lr_patch * scale``."""
    learning_rate: float = 1e-3
    final_learning_rate: float = 1e-5
    num_feat: int = 32
    num_conv: int = 10


def load_image(name: str) -> np.ndarray:
    image = getattr(skimage.data, name)()
    if name == "stereo_motorcycle":
        image = image[0]
    return image


def sixteen_bit(image: np.ndarray) -> np.ndarray:
    """Return ``image`` as uint16 spanning 100-4000, the range of a typical 12-bit camera."""
    values = image.astype(np.float64)
    values = (values - values.min()) / max(values.max() - values.min(), 1e-12)
    return np.round(100 + values * 3900).astype(np.uint16)


def training_planes() -> list[torch.Tensor]:
    """Return every training image channel as a float tensor ``(H, W)`` in [0, 1]."""
    planes = []
    for name in TRAINING_IMAGES:
        image = load_image(name).astype(np.float32) / 255.0
        channels = [image] if image.ndim == 2 else [image[..., c] for c in range(3)]
        planes.extend(torch.from_numpy(np.ascontiguousarray(channel)) for channel in channels)
    return planes


def sample_batch(planes: list[torch.Tensor], settings: TrainingSettings, rng: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Return low- and high-resolution batches ``(B, 1, p, p)`` and ``(B, 1, p*s, p*s)``."""
    size = settings.lr_patch * settings.scale
    patches = []
    for _ in range(settings.batch_size):
        plane = planes[int(torch.randint(len(planes), (1,), generator=rng))]
        top = int(torch.randint(plane.shape[0] - size + 1, (1,), generator=rng))
        left = int(torch.randint(plane.shape[1] - size + 1, (1,), generator=rng))
        patch = plane[top : top + size, left : left + size]
        patch = torch.rot90(patch, int(torch.randint(4, (1,), generator=rng)))
        if torch.rand(1, generator=rng) < 0.5:
            patch = patch.flip(1)
        # Random contrast: scientific images fill [0, 1] differently once their own
        # minimum and maximum are mapped to it, and inversion mimics dark backgrounds.
        gain = 0.3 + 0.7 * float(torch.rand(1, generator=rng))
        offset = (1 - gain) * float(torch.rand(1, generator=rng))
        patch = patch * gain + offset
        if torch.rand(1, generator=rng) < 0.3:
            patch = 1.0 - patch
        patches.append(patch)
    high = torch.stack(patches)[:, None]
    low = bicubic_resize(high, 1 / settings.scale)
    # Low-resolution inputs are stored quantised to 8 bits at least; learn on such inputs.
    low = torch.round(low.clamp(0, 1) * 255) / 255
    return low, high


def train(settings: TrainingSettings) -> Generator:
    torch.manual_seed(settings.seed)
    rng = torch.Generator().manual_seed(settings.seed)
    arch_kwargs = dict(
        num_in_ch=1, num_out_ch=1, num_feat=settings.num_feat, num_conv=settings.num_conv,
        upscale=settings.scale, act_type="prelu", base_upsampling="bicubic", img_range=255.0,
    )
    net = build_arch("srvgg", **arch_kwargs)
    optimiser = torch.optim.Adam(net.parameters(), lr=settings.learning_rate, betas=(0.9, 0.99))
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, settings.steps, eta_min=settings.final_learning_rate)
    planes = training_planes()
    started = time.monotonic()
    for step in range(1, settings.steps + 1):
        low, high = sample_batch(planes, settings, rng)
        loss = F.l1_loss(net(low), high)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        if step % 200 == 0 or step == 1:
            print(f"step {step}/{settings.steps} L1 {loss.item():.4f} ({time.monotonic() - started:.0f} s)", flush=True)
    info = GeneratorInfo(
        name=f"superres-x{settings.scale}",
        arch="srvgg",
        arch_kwargs=arch_kwargs,
        scale=settings.scale,
        in_channels=1,
        out_channels=1,
        min_size=8,
        training_config=asdict(settings),
    )
    return Generator(net.eval(), info)


def validation_images() -> dict[str, np.ndarray]:
    images = {name: load_image(name) for name in VALIDATION_PHOTOS}
    images.update({f"{name} (uint16)": sixteen_bit(load_image(name)) for name in VALIDATION_SCIENTIFIC})
    return images


def model_card(generator: Generator, settings: TrainingSettings) -> str:
    rows = []
    for name, image in validation_images().items():
        score = score_superresolution(generator, image, tile=None)
        rows.append(
            f"| {name} | {image.shape[1]}x{image.shape[0]} | {score.psnr:.2f} | {score.bicubic_psnr:.2f} | "
            f"{score.psnr - score.bicubic_psnr:+.2f} | {score.ssim:.4f} | {score.bicubic_ssim:.4f} |"
        )
    parameters = sum(p.numel() for p in generator.net.parameters())
    return "\n".join([
        f"# {generator.name}",
        "",
        f"x{settings.scale} super-resolution for grayscale, RGB and multichannel images; each channel is processed on its own.",
        f"Compact SRVGGNet: {settings.num_conv} hidden 3x3 convolutions of {settings.num_feat} channels, PReLU, "
        f"pixel shuffle, residual over bicubic upscaling; {parameters:,} parameters.",
        "",
        "## Training",
        "",
        f"- Script: `scripts/train_bundled_superres.py --scale {settings.scale}` (CPU, seed {settings.seed}).",
        f"- Images (scikit-image `skimage.data`, every colour channel used as a grayscale image): {', '.join(TRAINING_IMAGES)}.",
        f"- {settings.steps} steps of Adam (betas 0.9, 0.99), learning rate {settings.learning_rate:g} decayed by a cosine "
        f"to {settings.final_learning_rate:g}, batch {settings.batch_size}, high-resolution patches of "
        f"{settings.lr_patch * settings.scale} pixels with random flips, rotations, contrast and inversion.",
        "- Degradation: antialiased bicubic down-scaling, low-resolution values quantised to 8 bits. Loss: L1.",
        "- No adversarial loss: this is the PSNR-oriented generator, which adds no invented texture.",
        "",
        "## Validation on held-out images",
        "",
        "Each original is down-scaled with antialiased bicubic interpolation, then upscaled back by this",
        "generator and by bicubic interpolation; PSNR (dB) and SSIM are against the original. The `uint16`",
        "rows are grayscale scientific images (microscopy, astronomy, retina, CT phantom) converted to 16",
        "bits with values 100-4000, as a 12-bit camera writes them.",
        "",
        "| image | size | PSNR | bicubic PSNR | gain | SSIM | bicubic SSIM |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
        "## Limits",
        "",
        "Trained on the bicubic degradation only: images with strong noise, blur or JPEG artefacts get",
        "sharpened along with their defects. Not suitable for measurements that need the true high-",
        "resolution signal: the added detail is a prediction.",
        "",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, choices=(2, 4), required=True)
    parser.add_argument("--steps", type=int, default=TrainingSettings.steps, help="training steps (default %(default)s)")
    parser.add_argument("--out", type=Path, default=BUNDLED, help="folder for the .safetensors and .md files")
    arguments = parser.parse_args()
    settings = TrainingSettings(scale=arguments.scale, steps=arguments.steps)
    generator = train(settings)
    card = model_card(generator, settings)
    generator.info.model_card = card
    arguments.out.mkdir(parents=True, exist_ok=True)
    generator.save(arguments.out / f"{generator.name}.safetensors")
    (arguments.out / f"{generator.name}.md").write_text(card, encoding="utf-8")
    print(card)


if __name__ == "__main__":
    main()
