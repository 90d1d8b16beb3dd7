"""Typed training configurations: one dataclass per task, one source of defaults."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from napari_gan.errors import NapariGanError
from napari_gan.training.losses import GAN_LOSSES

ConfigType = TypeVar("ConfigType", bound="LoopConfig")

LR_SCHEDULES = ("constant", "linear", "cosine")
MIXED_PRECISION = ("auto", "no", "bf16")


@dataclass
class LoopConfig:
    """Settings of the GAN loop shared by every task."""

    steps: int = 2000
    """Total training steps; a resumed run continues up to this number."""
    batch_size: int = 8
    lr_g: float = 1e-4
    """Generator learning rate (Adam)."""
    lr_d: float = 1e-4
    """Discriminator learning rate (Adam)."""
    betas: tuple[float, float] = (0.9, 0.99)
    """Adam betas. Real-ESRGAN uses (0.9, 0.99); DCGAN and pix2pix use (0.5, 0.999)."""
    lr_schedule: str = "constant"
    """``constant``, ``linear`` (decay to zero over the second half) or ``cosine`` (over all steps)."""
    gan_loss: str = "nonsaturating"
    """``nonsaturating``, ``lsgan``, ``hinge`` or ``relativistic``."""
    ema_decay: float = 0.999
    """Decay of the exponential moving average of the generator's weights, used for previews and
    exports; 0 turns it off."""
    r1_gamma: float = 0.0
    """Weight gamma of the R1 penalty (gamma / 2 * E|grad D(real)|^2); 0 turns it off."""
    r1_every: int = 16
    """Steps between R1 evaluations (lazy regularisation, scaled up to compensate)."""
    mixed_precision: str = "auto"
    """``auto`` (bf16 on CUDA GPUs that support it), ``no`` or ``bf16``."""
    seed: int = 0
    device: str = "auto"
    autosave_every_steps: int = 500
    autosave_every_minutes: float = 10.0
    keep_checkpoints: int = 3
    """Autosaved checkpoints kept in the run folder; older ones are deleted."""
    preview_every: int = 100
    """Steps between previews of the current generator on a fixed crop."""

    def validate(self) -> None:
        """Raise ``NapariGanError`` naming the first invalid setting and its valid range."""
        checks = [
            (self.steps > 0, f"steps must be positive, got {self.steps}"),
            (self.batch_size > 0, f"batch_size must be positive, got {self.batch_size}"),
            (self.lr_g > 0 and self.lr_d > 0, f"learning rates must be positive, got lr_g={self.lr_g}, lr_d={self.lr_d}"),
            (self.lr_schedule in LR_SCHEDULES, f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {self.lr_schedule!r}"),
            (self.gan_loss in GAN_LOSSES, f"gan_loss must be one of {', '.join(GAN_LOSSES)}, got {self.gan_loss!r}"),
            (0 <= self.ema_decay < 1, f"ema_decay must be in [0, 1), got {self.ema_decay}"),
            (self.r1_gamma >= 0, f"r1_gamma must not be negative, got {self.r1_gamma}"),
            (self.mixed_precision in MIXED_PRECISION, f"mixed_precision must be one of {', '.join(MIXED_PRECISION)}, got {self.mixed_precision!r}"),
            (self.keep_checkpoints >= 1, f"keep_checkpoints must be at least 1, got {self.keep_checkpoints}"),
            (self.autosave_every_steps > 0, f"autosave_every_steps must be positive, got {self.autosave_every_steps}"),
            (self.preview_every > 0, f"preview_every must be positive, got {self.preview_every}"),
        ]
        for valid, message in checks:
            if not valid:
                raise NapariGanError(message)

    def to_dict(self) -> dict[str, Any]:
        return {"task": TASK_NAMES.get(type(self), "loop"), **dataclasses.asdict(self)}


@dataclass
class SuperResConfig(LoopConfig):
    """Super-resolution GAN training: ESRGAN/Real-ESRGAN style, pixel warm-up then GAN fine-tuning."""

    scale: int = 4
    patch_size: int = 128
    """High-resolution patch edge in pixels; low-resolution patches are patch_size / scale."""
    channels: int = 0
    """Generator input and output channels; 0 picks 1 for grayscale data and 3 for RGB data.
    A single-channel generator learns from and applies to every channel separately."""
    arch: str = "srvgg"
    """``srvgg`` (compact, fast) or ``rrdbnet`` (ESRGAN, large)."""
    num_feat: int = 32
    num_conv: int = 10
    """Hidden convolutions of the srvgg generator."""
    num_block: int = 6
    """Residual-in-residual dense blocks of the rrdbnet generator."""
    discriminator: str = "unet_sn"
    """``unet_sn`` (U-Net with spectral normalisation, as Real-ESRGAN) or ``patchgan``."""
    d_num_feat: int = 32
    """Discriminator width; Real-ESRGAN uses 64, 32 trains twice as fast on a CPU."""
    init_from: str = "auto"
    """Bundled model name or weights file to fine-tune; ``auto`` fine-tunes the bundled
    ``superres-xN`` when the generator settings match it (srvgg, one channel, same width and depth)
    and trains from scratch otherwise; ``none`` always trains from scratch. A compact network
    trained from scratch needs thousands of steps to get past bicubic quality."""
    warmup_steps: int = 500
    """Steps with the pixel loss only, before the discriminator joins in."""
    pixel_weight: float = 1.0
    gan_weight: float = 0.1
    perceptual_weight: float = 0.0
    vgg_weights: str = ""
    """Path of a torchvision VGG19 state dict (.pth) for the perceptual loss; nothing is downloaded."""
    degradation: str = "bicubic"
    """``bicubic`` (antialiased down-scaling only), ``realistic`` (blur, resize, noise, JPEG) or
    ``second_order`` (the realistic chain applied twice, as Real-ESRGAN does). Ignored with paired data."""
    augment: bool = True
    """Random flips and 90-degree rotations of the patches."""

    def validate(self) -> None:
        super().validate()
        from napari_gan.data.degradation import DEGRADATIONS

        checks = [
            (self.scale in (2, 4) or (self.arch == "srvgg" and self.scale in (1, 3)), f"scale must be 2 or 4 (1 or 3 for srvgg), got {self.scale}"),
            (self.patch_size % self.scale == 0, f"patch_size ({self.patch_size}) must be a multiple of the scale ({self.scale})"),
            (self.patch_size // self.scale >= 8, f"patch_size ({self.patch_size}) must be at least {8 * self.scale} for x{self.scale}"),
            (self.arch in ("srvgg", "rrdbnet"), f"arch must be srvgg or rrdbnet, got {self.arch!r}"),
            (self.discriminator in ("unet_sn", "patchgan"), f"discriminator must be unet_sn or patchgan, got {self.discriminator!r}"),
            (self.discriminator != "unet_sn" or self.patch_size % 8 == 0, f"patch_size ({self.patch_size}) must be a multiple of 8 for the unet_sn discriminator"),
            (self.channels in (0, 1, 3), f"channels must be 0 (automatic), 1 or 3, got {self.channels}"),
            (self.degradation in DEGRADATIONS, f"degradation must be one of {', '.join(DEGRADATIONS)}, got {self.degradation!r}"),
            (0 <= self.warmup_steps, f"warmup_steps must not be negative, got {self.warmup_steps}"),
            (not self.perceptual_weight or self.vgg_weights, "perceptual_weight needs vgg_weights: the path of a VGG19 .pth file"),
        ]
        for valid, message in checks:
            if not valid:
                raise NapariGanError(message)


TASK_NAMES: dict[type, str] = {}
CONFIG_TYPES: dict[str, type[LoopConfig]] = {}


def register_config(task: str, cls: type[LoopConfig]) -> None:
    """Register the configuration dataclass of ``task`` so that saved configurations can be read back."""
    if task in CONFIG_TYPES:
        raise KeyError(f"training task {task!r} is already registered by {CONFIG_TYPES[task].__name__}")
    TASK_NAMES[cls] = task
    CONFIG_TYPES[task] = cls


register_config("superres", SuperResConfig)


def field_docs(cls: type) -> dict[str, str]:
    """Return the docstring written under each field of dataclass ``cls`` and its bases, for help texts."""
    import ast
    import inspect

    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        body = ast.parse(inspect.getsource(klass)).body[0].body
        for node, following in zip(body, body[1:]):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            ):
                docs[node.target.id] = " ".join(following.value.value.split())
    return docs


def config_from_dict(values: dict[str, Any]) -> LoopConfig:
    """Rebuild a configuration written by :meth:`LoopConfig.to_dict`."""
    import napari_gan.training  # noqa: F401, registers every task's configuration

    values = dict(values)
    task = values.pop("task", "")
    if task not in CONFIG_TYPES:
        raise NapariGanError(f"unknown training task {task!r} in configuration; valid: {', '.join(CONFIG_TYPES)}")
    cls = CONFIG_TYPES[task]
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise NapariGanError(f"unknown {task} settings {', '.join(unknown)}; they may come from a newer napari-gan")
    if "betas" in values:
        values["betas"] = tuple(values["betas"])
    return cls(**values)


def save_config(config: LoopConfig, path: Path) -> None:
    """Write ``config`` as JSON to ``path``."""
    from napari_gan.weights.native import atomic_write

    text = json.dumps(config.to_dict(), indent=2)
    atomic_write(path, lambda temporary: Path(temporary).write_text(text, encoding="utf-8"))


def load_config(path: Path) -> LoopConfig:
    """Read a configuration written by :func:`save_config`."""
    try:
        return config_from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as error:
        raise NapariGanError(f"cannot read training configuration {str(path)!r}: {error}") from None
