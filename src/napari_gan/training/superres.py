"""Super-resolution GAN training (ESRGAN / Real-ESRGAN style) on user images."""

from __future__ import annotations

import copy
import logging

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from napari_gan.archs import build_arch
from napari_gan.data.degradation import bicubic_resize, degrade
from napari_gan.errors import NapariGanError
from napari_gan.generator import Generator, GeneratorInfo
from napari_gan.training.commands import TrainCommand, register_train_command
from napari_gan.training.config import SuperResConfig
from napari_gan.training.data import TrainingImage, augment, check_patch_fits, random_crop, to_planes
from napari_gan.training.events import Phase, PreviewEvent
from napari_gan.training.losses import GANLoss
from napari_gan.training.task import Batch, DiscriminatorResult, GanTask, Networks

logger = logging.getLogger(__name__)

PREVIEW_SIZE = 192
"""High-resolution edge of the fixed preview crop, in pixels."""
PAIRED_SIZE_TOLERANCE = 0
"""Paired low-resolution images must be exactly the high-resolution size divided by the scale."""


class SuperResolutionTask(GanTask):
    """Train a generator that maps low-resolution patches to high-resolution ones.

    Parameters
    ----------
    config : SuperResConfig
    high_res : list of TrainingImage
        High-resolution training images; low-resolution inputs are made from them by
        ``config.degradation`` unless ``low_res`` is given.
    low_res : list of TrainingImage, optional
        Real low-resolution images paired one to one with ``high_res``, each exactly
        ``1 / scale`` of its size.
    """

    def __init__(self, config: SuperResConfig, high_res: list[TrainingImage], low_res: list[TrainingImage] | None = None) -> None:
        config.validate()
        self.config = config
        self.high, channels = to_planes(high_res, config.channels)
        self.channels = channels
        self.low: list[torch.Tensor] | None = None
        if low_res is not None:
            self.low = self._pair(high_res, low_res, channels)
        self.usable = check_patch_fits(self.high, config.patch_size)
        self.networks = Networks(
            generators={"net_g": self._build_generator()},
            discriminators={"net_d": self._build_discriminator()},
        )
        if config.perceptual_weight > 0:
            from napari_gan.training.perceptual import PerceptualLoss

            self.networks.extra["perceptual"] = PerceptualLoss(config.vgg_weights)
        self.preview_low, self.preview_high = self._preview_crop()

    # -- set-up -------------------------------------------------------------------------

    def _pair(self, high_res: list[TrainingImage], low_res: list[TrainingImage], channels: int) -> list[torch.Tensor]:
        if len(low_res) != len(high_res):
            raise NapariGanError(
                f"{len(low_res)} low-resolution and {len(high_res)} high-resolution images; pair them one to one"
            )
        low, _ = to_planes(low_res, channels)
        scale = self.config.scale
        if len(low) != len(self.high):
            raise NapariGanError("the low- and high-resolution images have different numbers of planes or channels; pair them one to one")
        for index, (small, large) in enumerate(zip(low, self.high)):
            expected = (large.shape[-2] // scale, large.shape[-1] // scale)
            if tuple(small.shape[-2:]) != expected:
                raise NapariGanError(
                    f"paired plane {index}: low-resolution size {tuple(small.shape[-2:])} is not the high-resolution "
                    f"size {tuple(large.shape[-2:])} divided by {scale}, {expected}; crop or resize the pair to match"
                )
        return low

    def _build_generator(self) -> nn.Module:
        config = self.config
        init_from = self._resolve_init_from()
        if init_from:
            from napari_gan.weights import load_generator

            loaded = load_generator(init_from)
            if loaded.scale != config.scale or loaded.in_channels != self.channels:
                raise NapariGanError(
                    f"cannot fine-tune {init_from!r}: it is a x{loaded.scale} {loaded.in_channels}-channel generator, "
                    f"but training is x{config.scale} with {self.channels} channel(s); set scale and channels to match"
                )
            self.arch, self.arch_kwargs = loaded.info.arch, dict(loaded.info.arch_kwargs)
            self.size_multiple = loaded.size_multiple
            return copy.deepcopy(loaded.net).train()
        if config.arch == "srvgg":
            self.arch_kwargs = dict(
                num_in_ch=self.channels, num_out_ch=self.channels, num_feat=config.num_feat, num_conv=config.num_conv,
                upscale=config.scale, act_type="prelu", base_upsampling="bicubic", img_range=255.0,
            )
            self.size_multiple = 1
        else:
            self.arch_kwargs = dict(
                num_in_ch=self.channels, num_out_ch=self.channels, scale=config.scale, num_feat=config.num_feat,
                num_block=config.num_block, num_grow_ch=max(1, config.num_feat // 2),
            )
            self.size_multiple = 4 // config.scale
        self.arch = config.arch
        return build_arch(self.arch, **self.arch_kwargs)

    def _resolve_init_from(self) -> str:
        """Return the model to fine-tune, or "" to train from scratch."""
        config = self.config
        if config.init_from == "none":
            return ""
        if config.init_from != "auto":
            return config.init_from
        from napari_gan.weights import list_models, load_generator

        candidate = f"superres-x{config.scale}"
        if config.arch != "srvgg" or self.channels != 1 or candidate not in list_models():
            return ""
        bundled = load_generator(candidate).info.arch_kwargs
        if (bundled["num_feat"], bundled["num_conv"]) != (config.num_feat, config.num_conv):
            return ""
        logger.info("fine-tuning the bundled %s generator", candidate)
        return candidate

    def _build_discriminator(self) -> nn.Module:
        config = self.config
        if config.discriminator == "unet_sn":
            return build_arch("unet_sn", num_in_ch=self.channels, num_feat=config.d_num_feat)
        return build_arch("patchgan", input_nc=self.channels, ndf=config.d_num_feat, n_layers=3, norm="batch")

    def _preview_crop(self) -> tuple[torch.Tensor, torch.Tensor]:
        scale = self.config.scale
        index = self.usable[0]
        plane = self.high[index]
        size = min(PREVIEW_SIZE, *plane.shape[-2:]) // scale * scale
        top = (plane.shape[-2] - size) // 2 // scale * scale
        left = (plane.shape[-1] - size) // 2 // scale * scale
        high = plane[None, :, top : top + size, left : left + size]
        if self.low is not None:
            low = self.low[index][None, :, top // scale : (top + size) // scale, left // scale : (left + size) // scale]
        else:
            low = bicubic_resize(high, 1 / scale).clamp(0, 1)
        return low, high

    # -- the loop's interface -----------------------------------------------------------

    def warmup_steps(self) -> int:
        return self.config.warmup_steps

    def sample_batch(self, rng: torch.Generator) -> Batch:
        config = self.config
        scale, size = config.scale, config.patch_size
        highs, lows = [], []
        for _ in range(config.batch_size):
            index, top, left = random_crop(self.high, self.usable, size, rng, align=scale)
            patches = [self.high[index][:, top : top + size, left : left + size]]
            if self.low is not None:
                patches.append(self.low[index][:, top // scale : (top + size) // scale, left // scale : (left + size) // scale])
            if config.augment:
                patches = augment(patches, rng)
            highs.append(patches[0])
            if self.low is not None:
                lows.append(patches[1])
        high = torch.stack(highs)
        low = torch.stack(lows) if lows else degrade(high, scale, config.degradation, rng)
        return {"lq": low.contiguous(), "gt": high.contiguous()}

    def forward(self, generators: dict[str, nn.Module], batch: Batch) -> Batch:
        return {"output": generators["net_g"](batch["lq"])}

    def discriminator_losses(self, discriminators, batch, outputs, gan_loss: GANLoss) -> DiscriminatorResult:
        net_d = discriminators["net_d"]
        logits_real = net_d(batch["gt"])
        logits_fake = net_d(outputs["output"].detach())
        loss = gan_loss.discriminator(logits_real, logits_fake)
        return DiscriminatorResult({"loss_d": loss}, logits_real, logits_fake)

    def generator_losses(self, discriminators, batch, outputs, gan_loss: GANLoss, phase: Phase) -> dict[str, torch.Tensor]:
        config = self.config
        output, target = outputs["output"], batch["gt"]
        losses = {"loss_g_pixel": config.pixel_weight * F.l1_loss(output, target)}
        if phase is Phase.WARMUP or discriminators is None:
            return losses
        if config.perceptual_weight > 0:
            losses["loss_g_perceptual"] = config.perceptual_weight * self.networks.extra["perceptual"](output, target)
        net_d = discriminators["net_d"]
        logits_fake = net_d(output)
        logits_real = net_d(target).detach() if gan_loss.kind == "relativistic" else None
        losses["loss_g_gan"] = config.gan_weight * gan_loss.generator(logits_fake, logits_real)
        return losses

    def r1_real(self, batch: Batch) -> torch.Tensor:
        return batch["gt"]

    def preview(self, generator: nn.Module, step: int) -> PreviewEvent:
        device = next(generator.parameters()).device
        output = generator(self.preview_low.to(device)).clamp(0, 1).float().cpu()[0]
        image = output.permute(1, 2, 0).numpy()
        target = self.preview_high[0].permute(1, 2, 0).numpy()
        if self.channels == 1:
            image, target = image[..., 0], target[..., 0]
        return PreviewEvent(step, np.ascontiguousarray(image), np.ascontiguousarray(target))

    def export(self, generator: nn.Module) -> Generator:
        net = copy.deepcopy(generator).cpu().eval()
        info = GeneratorInfo(
            name=f"trained-x{self.config.scale}",
            arch=self.arch,
            arch_kwargs=self.arch_kwargs,
            task="superres",
            scale=self.config.scale,
            in_channels=self.channels,
            out_channels=self.channels,
            min_size=max(8, self.size_multiple),
            size_multiple=self.size_multiple,
            source="trained in this session",
        )
        return Generator(net, info)


def _build_task(config: SuperResConfig, images: dict[str, list[TrainingImage] | None]) -> SuperResolutionTask:
    return SuperResolutionTask(config, images["data"], images.get("low_res"))


register_train_command(
    TrainCommand(
        name="superres",
        help="super-resolution: learn to upscale your images",
        description="Train a super-resolution GAN on image files: pixel-loss warm-up, then adversarial training. "
        "RUN_DIR receives config.json, autosaved checkpoints and generator.safetensors.",
        config_class=SuperResConfig,
        data_options={
            "data": "high-resolution image files or folders of them",
            "low_res": "real low-resolution images paired with --data, in the same order",
        },
        required_data=("data",),
        build_task=_build_task,
    )
)
