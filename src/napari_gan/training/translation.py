"""Image-to-image translation: pix2pix on paired images and CycleGAN on unpaired image sets.

pix2pix (Isola et al., "Image-to-Image Translation with Conditional Adversarial Networks", CVPR
2017) learns a generator from aligned input/target pairs with an L1 loss and a conditional
PatchGAN. CycleGAN (Zhu et al., "Unpaired Image-to-Image Translation using Cycle-Consistent
Adversarial Networks", ICCV 2017) learns two generators, A to B and B to A, from two unpaired image
sets, held together by a cycle-consistency loss. Defaults follow the pytorch-CycleGAN-and-pix2pix
repository. Both run in the shared :class:`~napari_gan.training.Trainer`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from napari_gan.archs import build_arch
from napari_gan.archs.pix2pix import UNET_MIN_DOWNS
from napari_gan.data.layout import plan_layout
from napari_gan.errors import NapariGanError
from napari_gan.generator import Generator, GeneratorInfo
from napari_gan.training.commands import TrainCommand, register_train_command
from napari_gan.training.config import LoopConfig, register_config
from napari_gan.training.data import TrainingImage, check_patch_fits, random_crop, to_planes
from napari_gan.training.events import Phase, PreviewEvent
from napari_gan.training.losses import GANLoss
from napari_gan.training.task import Batch, DiscriminatorResult, GanTask, Networks
from napari_gan.weights.importers_translation import RESNET_SIZE_MULTIPLE, translation_min_size

PREVIEW_SIZE = 256
"""Largest edge of the fixed preview crop, in pixels."""
GENERATORS = ("unet", "resnet")
DISCRIMINATORS = ("patchgan", "pixelgan")
NORMS = ("batch", "instance", "none")
PATCHGAN_MIN_SIZE = 32
"""A 3-layer PatchGAN shrinks its input 8 times and its last two 4x4 convolutions take 3 more
pixels, so 32-pixel patches give 2x2 logits."""


@dataclass
class TranslationConfig(LoopConfig):
    """Settings shared by pix2pix and CycleGAN, with the defaults of pytorch-CycleGAN-and-pix2pix."""

    batch_size: int = 1
    """Images per step. pix2pix and CycleGAN use 1, so that batch normalisation works per image."""
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    """Adam betas (0.5, 0.999), as pix2pix and CycleGAN use."""
    lr_schedule: str = "linear"
    """Constant learning rate for the first half of the steps, then linear decay to zero."""
    ema_decay: float = 0.0
    """Moving average of the generator weights; pix2pix and CycleGAN use none (0)."""
    patch_size: int = 256
    """Edge of the random training crops in pixels; a multiple of the generator's size multiple."""
    net_g: str = "unet"
    """Generator: ``unet`` (skip connections, for aligned pairs) or ``resnet`` (residual blocks)."""
    num_downs: int = 8
    """Downsamplings of the U-Net: 8 is unet_256, 7 unet_128. Patches must divide by 2**num_downs."""
    n_blocks: int = 9
    """Residual blocks of the ResNet generator: 9 or 6."""
    ngf: int = 64
    """Generator width: feature channels of its first convolution."""
    ndf: int = 64
    """Discriminator width: feature channels of its first convolution."""
    norm: str = "batch"
    """Normalisation in both networks: ``batch``, ``instance`` or ``none``."""
    use_dropout: bool = True
    """Dropout (p=0.5) in the generator while training; it is always off when applying."""
    discriminator: str = "patchgan"
    """``patchgan`` (70x70 receptive field with 3 layers) or ``pixelgan`` (1x1)."""
    n_layers_d: int = 3
    """Stride-2 convolutions of the PatchGAN."""
    flip: bool = True
    """Random horizontal flips of the training crops."""

    def size_multiple(self) -> int:
        return 2**self.num_downs if self.net_g == "unet" else RESNET_SIZE_MULTIPLE

    def validate(self) -> None:
        super().validate()
        multiple = self.size_multiple()
        checks = [
            (self.net_g in GENERATORS, f"net_g must be one of {', '.join(GENERATORS)}, got {self.net_g!r}"),
            (self.discriminator in DISCRIMINATORS, f"discriminator must be one of {', '.join(DISCRIMINATORS)}, got {self.discriminator!r}"),
            (self.norm in NORMS, f"norm must be one of {', '.join(NORMS)}, got {self.norm!r}"),
            (self.num_downs >= UNET_MIN_DOWNS, f"num_downs must be at least {UNET_MIN_DOWNS}, got {self.num_downs}"),
            (self.n_blocks >= 0, f"n_blocks must not be negative, got {self.n_blocks}"),
            (self.ngf > 0 and self.ndf > 0, f"ngf and ndf must be positive, got {self.ngf} and {self.ndf}"),
            (
                self.patch_size % multiple == 0,
                f"patch_size {self.patch_size} must be a multiple of {multiple} for the {self.net_g} generator"
                + (f" with num_downs {self.num_downs}; use {max(multiple, self.patch_size // multiple * multiple)} or fewer num_downs" if self.net_g == "unet" else ""),
            ),
            (
                self.discriminator != "patchgan" or self.patch_size >= 2 ** (self.n_layers_d + 2),
                f"patch_size {self.patch_size} is too small for a {self.n_layers_d}-layer PatchGAN; use at least {2 ** (self.n_layers_d + 2)}",
            ),
        ]
        for valid, message in checks:
            if not valid:
                raise NapariGanError(message)


@dataclass
class Pix2PixConfig(TranslationConfig):
    """pix2pix: a U-Net generator and a conditional PatchGAN learn from aligned input/target pairs."""

    gan_loss: str = "nonsaturating"
    """``nonsaturating`` (pix2pix's "vanilla" cross-entropy) or ``lsgan``; ``hinge`` also works."""
    l1_weight: float = 100.0
    """Weight of the L1 distance to the target; 100 in Isola et al. 2017."""
    input_channels: int = 0
    """Generator input channels; 0 picks 3 when every input image is RGB and 1 otherwise."""
    output_channels: int = 0
    """Generator output channels; 0 picks 3 when every target image is RGB and 1 otherwise."""


@dataclass
class CycleGANConfig(TranslationConfig):
    """CycleGAN: two ResNet generators and two PatchGANs learn from two unpaired image sets."""

    gan_loss: str = "lsgan"
    """Least-squares GAN loss, as CycleGAN uses."""
    net_g: str = "resnet"
    norm: str = "instance"
    use_dropout: bool = False
    cycle_weight: float = 10.0
    """Weight of the cycle-consistency losses |G_B(G_A(a)) - a| and |G_A(G_B(b)) - b|; 10 in Zhu et al. 2017."""
    identity_weight: float = 0.5
    """Identity loss |G_A(b) - b| as a fraction of the cycle weight; 0.5 in CycleGAN. Used only when
    both domains have the same channel count."""
    pool_size: int = 50
    """Generated images kept to show the discriminators a history of the generators (Shrivastava et al. 2017); 0 turns it off."""
    a_channels: int = 0
    """Channels of domain A; 0 picks 3 when every A image is RGB and 1 otherwise."""
    b_channels: int = 0
    """Channels of domain B; 0 picks 3 when every B image is RGB and 1 otherwise."""

    def validate(self) -> None:
        super().validate()
        if self.pool_size < 0:
            raise NapariGanError(f"pool_size must not be negative, got {self.pool_size}")


register_config("pix2pix", Pix2PixConfig)
register_config("cyclegan", CycleGANConfig)


# -- helpers shared by both tasks ----------------------------------------------------------


def _to_network(images: torch.Tensor) -> torch.Tensor:
    """Map images in [0, 1] to the generators' range [-1, 1]."""
    return images * 2 - 1


def _from_network(images: torch.Tensor) -> torch.Tensor:
    return ((images + 1) / 2).clamp(0, 1)


def _discriminator_loss(gan_loss: GANLoss, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Return pix2pix's discriminator loss, the mean of the real and the fake term."""
    # GANLoss halves the least-squares loss already; the other kinds return the sum of both terms.
    loss = gan_loss.discriminator(real, fake)
    return loss if gan_loss.kind == "lsgan" else 0.5 * loss


def _generator_gan_loss(gan_loss: GANLoss, fake: torch.Tensor) -> torch.Tensor:
    """Return the generator's adversarial loss as pix2pix computes it: MSE to 1 for lsgan, else GANLoss's."""
    if gan_loss.kind == "lsgan":
        return F.mse_loss(fake, torch.ones_like(fake))
    return gan_loss.generator(fake)


def _build_generator(config: TranslationConfig, input_nc: int, output_nc: int) -> tuple[nn.Module, dict]:
    if config.net_g == "unet":
        kwargs = dict(input_nc=input_nc, output_nc=output_nc, num_downs=config.num_downs, ngf=config.ngf, norm=config.norm, use_dropout=config.use_dropout)
    else:
        kwargs = dict(input_nc=input_nc, output_nc=output_nc, ngf=config.ngf, norm=config.norm, use_dropout=config.use_dropout, n_blocks=config.n_blocks)
    return build_arch(config.net_g, **kwargs), kwargs


def _build_discriminator(config: TranslationConfig, input_nc: int) -> nn.Module:
    if config.discriminator == "pixelgan":
        return build_arch("pixelgan", input_nc=input_nc, ndf=config.ndf, norm=config.norm)
    return build_arch("patchgan", input_nc=input_nc, ndf=config.ndf, n_layers=config.n_layers_d, norm=config.norm)


def _flip(patches: list[torch.Tensor], rng: torch.Generator) -> list[torch.Tensor]:
    """Flip every patch left-right alike, with probability 0.5."""
    if bool(torch.rand(1, generator=rng) < 0.5):
        return [patch.flip(-1) for patch in patches]
    return patches


def _crop(plane: torch.Tensor, top: int, left: int, size: int) -> torch.Tensor:
    return plane[:, top : top + size, left : left + size]


def _centre_crop(plane: torch.Tensor, multiple: int) -> tuple[int, int, int]:
    """Return (top, left, size) of the largest centred square crop of ``plane`` up to PREVIEW_SIZE."""
    size = min(PREVIEW_SIZE, *plane.shape[-2:]) // multiple * multiple
    return (plane.shape[-2] - size) // 2, (plane.shape[-1] - size) // 2, size


def _preview_image(images: torch.Tensor) -> np.ndarray:
    """Return ``(1, C, H, W)`` in [0, 1] as ``(H, W)`` or ``(H, W, C)`` float32."""
    image = images[0].float().cpu().permute(1, 2, 0).numpy()
    return np.ascontiguousarray(image[..., 0] if image.shape[-1] == 1 else image)


def _translation_info(name: str, arch: str, arch_kwargs: dict, input_nc: int, output_nc: int, config: TranslationConfig) -> GeneratorInfo:
    return GeneratorInfo(
        name=name,
        arch=arch,
        arch_kwargs=arch_kwargs,
        task="translation",
        in_channels=input_nc,
        out_channels=output_nc,
        value_range=(-1.0, 1.0),
        min_size=translation_min_size(config.net_g, dict(num_downs=config.num_downs)),
        size_multiple=config.size_multiple(),
        source="trained in this session",
    )


def _channel_count(images: list[TrainingImage], channels: int, role: str) -> int:
    if channels not in (0, 1, 3):
        raise NapariGanError(f"{role} channels must be 0 (automatic), 1 or 3, got {channels}")
    _, found = to_planes(images, channels)
    return found


# -- pix2pix -------------------------------------------------------------------------------


class Pix2PixTask(GanTask):
    """Train a U-Net (or ResNet) generator on aligned input/target pairs.

    Parameters
    ----------
    config : Pix2PixConfig
    inputs, targets : list of TrainingImage
        Paired one to one, each pair of the same height and width. A stack pairs slice by slice
        with a stack of as many slices. Channel counts may differ between inputs and targets.
    """

    def __init__(self, config: Pix2PixConfig, inputs: list[TrainingImage], targets: list[TrainingImage]) -> None:
        config.validate()
        self.config = config
        if len(inputs) != len(targets):
            raise NapariGanError(f"{len(inputs)} input and {len(targets)} target images; pair them one to one")
        self.input_nc = _channel_count(inputs, config.input_channels, "input")
        self.output_nc = _channel_count(targets, config.output_channels, "target")
        self.inputs: list[torch.Tensor] = []
        self.targets: list[torch.Tensor] = []
        for source, target in zip(inputs, targets):
            source_planes, target_planes = self._pair(source, target)
            self.inputs.extend(source_planes)
            self.targets.extend(target_planes)
        self.usable = check_patch_fits(self.inputs, config.patch_size)
        net_g, self.arch_kwargs = _build_generator(config, self.input_nc, self.output_nc)
        # The discriminator judges (input, output) pairs, so it takes both sets of channels.
        net_d = _build_discriminator(config, self.input_nc + self.output_nc)
        self.networks = Networks(generators={"net_g": net_g}, discriminators={"net_d": net_d})
        index = self.usable[0]
        top, left, size = _centre_crop(self.inputs[index], config.size_multiple())
        self.preview_a = _crop(self.inputs[index], top, left, size)[None]
        self.preview_b = _crop(self.targets[index], top, left, size)[None]

    def _pair(self, source: TrainingImage, target: TrainingImage) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        source_shape = _spatial_shape(source)
        target_shape = _spatial_shape(target)
        if source_shape[-2:] != target_shape[-2:]:
            raise NapariGanError(
                f"paired images of different sizes: input {source.name} is {source_shape[-2]}x{source_shape[-1]} but "
                f"target {target.name} is {target_shape[-2]}x{target_shape[-1]}; crop or resize them to the same height and width"
            )
        source_planes, _ = to_planes([source], self.input_nc)
        target_planes, _ = to_planes([target], self.output_nc)
        if len(source_planes) != len(target_planes):
            raise NapariGanError(
                f"input {source.name} has {len(source_planes)} slice(s) but target {target.name} has "
                f"{len(target_planes)}; a stack pairs slice by slice with a stack of as many slices, so give "
                "both as stacks of the same length or both as single images"
            )
        return source_planes, target_planes

    def sample_batch(self, rng: torch.Generator) -> Batch:
        size = self.config.patch_size
        real_a, real_b = [], []
        for _ in range(self.config.batch_size):
            index, top, left = random_crop(self.inputs, self.usable, size, rng)
            patches = [_crop(self.inputs[index], top, left, size), _crop(self.targets[index], top, left, size)]
            if self.config.flip:
                patches = _flip(patches, rng)
            real_a.append(patches[0])
            real_b.append(patches[1])
        return {"real_a": _to_network(torch.stack(real_a)), "real_b": _to_network(torch.stack(real_b))}

    def forward(self, generators: dict[str, nn.Module], batch: Batch) -> Batch:
        return {"fake_b": generators["net_g"](batch["real_a"])}

    def discriminator_losses(self, discriminators, batch, outputs, gan_loss: GANLoss) -> DiscriminatorResult:
        net_d = discriminators["net_d"]
        # Conditional GAN: D judges the output together with its input, detached so only D learns here.
        logits_fake = net_d(torch.cat([batch["real_a"], outputs["fake_b"].detach()], dim=1))
        logits_real = net_d(torch.cat([batch["real_a"], batch["real_b"]], dim=1))
        loss_d = _discriminator_loss(gan_loss, logits_real, logits_fake)
        return DiscriminatorResult({"loss_d": loss_d}, logits_real, logits_fake)

    def generator_losses(self, discriminators, batch, outputs, gan_loss: GANLoss, phase: Phase) -> dict[str, torch.Tensor]:
        fake_b = outputs["fake_b"]
        # L1 keeps the output close to the target at low frequencies; the GAN term sharpens it.
        losses = {"loss_g_l1": self.config.l1_weight * F.l1_loss(fake_b, batch["real_b"])}
        if discriminators is None:
            return losses
        logits_fake = discriminators["net_d"](torch.cat([batch["real_a"], fake_b], dim=1))
        losses["loss_g_gan"] = _generator_gan_loss(gan_loss, logits_fake)
        return losses

    def r1_real(self, batch: Batch) -> torch.Tensor:
        return torch.cat([batch["real_a"], batch["real_b"]], dim=1)

    def preview(self, generator: nn.Module, step: int) -> PreviewEvent:
        device = next(generator.parameters()).device
        fake_b = _from_network(generator(_to_network(self.preview_a).to(device)))
        return PreviewEvent(step, _preview_image(fake_b), _preview_image(self.preview_b))

    def export(self, generator: nn.Module) -> Generator:
        net = copy.deepcopy(generator).cpu().eval()
        info = _translation_info("pix2pix", self.config.net_g, self.arch_kwargs, self.input_nc, self.output_nc, self.config)
        return Generator(net, info)


def _spatial_shape(image: TrainingImage) -> tuple[int, ...]:
    """Return the shape of ``image`` without its channel axis: leading axes, then height and width."""
    layout = plan_layout(tuple(image.data.shape), rgb=image.rgb)
    return tuple(size for axis, size in enumerate(image.data.shape) if axis != layout.channel_axis)


# -- CycleGAN ------------------------------------------------------------------------------


class ImagePool(nn.Module):
    """A history of generated images for the discriminator (Shrivastava et al., 2017).

    ``query`` returns each new image, or with probability 0.5, once the pool is full, a stored one
    that the new image replaces. The images are buffers, so the pool is saved in checkpoints and a
    resumed run continues with the same history. Random draws use torch's global generator, which
    the checkpoints also store.
    """

    def __init__(self, size: int, channels: int, patch_size: int) -> None:
        super().__init__()
        self.size = size
        self.register_buffer("images", torch.zeros(size, channels, patch_size, patch_size))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    def query(self, images: torch.Tensor) -> torch.Tensor:
        """Return a batch ``(B, C, H, W)`` of new and stored images for the detached ``images``."""
        if self.size == 0:
            return images
        result = []
        for image in images.detach():
            count = int(self.count)
            if count < self.size:
                self.images[count] = image
                self.count += 1
                result.append(image)
            elif float(torch.rand(1)) > 0.5:
                index = int(torch.randint(self.size, (1,)))
                result.append(self.images[index].clone())
                self.images[index] = image
            else:
                result.append(image)
        return torch.stack(result)


class CycleGANTask(GanTask):
    """Train generators A to B and B to A from two unpaired image sets.

    Parameters
    ----------
    config : CycleGANConfig
    domain_a, domain_b : list of TrainingImage
        Images of each domain; stacks give one training image per slice.

    Notes
    -----
    Names follow pytorch-CycleGAN-and-pix2pix: ``net_g_a`` maps A to B and ``net_d_a`` judges its
    output against real B images; ``net_g_b`` and ``net_d_b`` do the reverse. The image pools sit
    with the discriminators so that checkpoints store them.
    """

    primary_generator = "net_g_a"
    primary_discriminator = "net_d_a"

    def __init__(self, config: CycleGANConfig, domain_a: list[TrainingImage], domain_b: list[TrainingImage]) -> None:
        config.validate()
        self.config = config
        self.a_nc = _channel_count(domain_a, config.a_channels, "domain A")
        self.b_nc = _channel_count(domain_b, config.b_channels, "domain B")
        self.planes_a, _ = to_planes(domain_a, self.a_nc)
        self.planes_b, _ = to_planes(domain_b, self.b_nc)
        self.usable_a = check_patch_fits(self.planes_a, config.patch_size, "domain A images")
        self.usable_b = check_patch_fits(self.planes_b, config.patch_size, "domain B images")
        net_g_a, self.kwargs_a = _build_generator(config, self.a_nc, self.b_nc)
        net_g_b, self.kwargs_b = _build_generator(config, self.b_nc, self.a_nc)
        # The identity loss feeds B images to G_A, which needs as many channels in A as in B.
        self.use_identity = config.identity_weight > 0 and self.a_nc == self.b_nc
        self.networks = Networks(
            generators={"net_g_a": net_g_a, "net_g_b": net_g_b},
            discriminators={
                "net_d_a": _build_discriminator(config, self.b_nc),
                "net_d_b": _build_discriminator(config, self.a_nc),
                "pool_fake_b": ImagePool(config.pool_size, self.b_nc, config.patch_size),
                "pool_fake_a": ImagePool(config.pool_size, self.a_nc, config.patch_size),
            },
        )
        index = self.usable_a[0]
        top, left, size = _centre_crop(self.planes_a[index], config.size_multiple())
        self.preview_a = _crop(self.planes_a[index], top, left, size)[None]

    def _sample(self, planes: list[torch.Tensor], usable: list[int], rng: torch.Generator) -> torch.Tensor:
        size = self.config.patch_size
        patches = []
        for _ in range(self.config.batch_size):
            index, top, left = random_crop(planes, usable, size, rng)
            patch = [_crop(planes[index], top, left, size)]
            if self.config.flip:
                patch = _flip(patch, rng)
            patches.append(patch[0])
        return _to_network(torch.stack(patches))

    def sample_batch(self, rng: torch.Generator) -> Batch:
        return {"real_a": self._sample(self.planes_a, self.usable_a, rng), "real_b": self._sample(self.planes_b, self.usable_b, rng)}

    def forward(self, generators: dict[str, nn.Module], batch: Batch) -> Batch:
        net_g_a, net_g_b = generators["net_g_a"], generators["net_g_b"]
        fake_b = net_g_a(batch["real_a"])
        fake_a = net_g_b(batch["real_b"])
        outputs = {"fake_b": fake_b, "rec_a": net_g_b(fake_b), "fake_a": fake_a, "rec_b": net_g_a(fake_a)}
        if self.use_identity:
            outputs["idt_a"] = net_g_a(batch["real_b"])
            outputs["idt_b"] = net_g_b(batch["real_a"])
        return outputs

    def discriminator_losses(self, discriminators, batch, outputs, gan_loss: GANLoss) -> DiscriminatorResult:
        net_d_a, net_d_b = discriminators["net_d_a"], discriminators["net_d_b"]
        # Each D judges a mix of new and older generated images from its pool, which damps oscillation.
        fake_b = discriminators["pool_fake_b"].query(outputs["fake_b"].detach())
        fake_a = discriminators["pool_fake_a"].query(outputs["fake_a"].detach())
        real_logits_a, fake_logits_a = net_d_a(batch["real_b"]), net_d_a(fake_b)
        real_logits_b, fake_logits_b = net_d_b(batch["real_a"]), net_d_b(fake_a)
        losses = {
            "loss_d_a": _discriminator_loss(gan_loss, real_logits_a, fake_logits_a),
            "loss_d_b": _discriminator_loss(gan_loss, real_logits_b, fake_logits_b),
        }
        logits_real = torch.cat([real_logits_a.flatten(), real_logits_b.flatten()])
        logits_fake = torch.cat([fake_logits_a.flatten(), fake_logits_b.flatten()])
        return DiscriminatorResult(losses, logits_real, logits_fake)

    def generator_losses(self, discriminators, batch, outputs, gan_loss: GANLoss, phase: Phase) -> dict[str, torch.Tensor]:
        config = self.config
        real_a, real_b = batch["real_a"], batch["real_b"]
        # Cycle consistency: translating there and back must return the original image.
        losses = {
            "loss_cycle_a": config.cycle_weight * F.l1_loss(outputs["rec_a"], real_a),
            "loss_cycle_b": config.cycle_weight * F.l1_loss(outputs["rec_b"], real_b),
        }
        if self.use_identity:
            # An image already in the target domain should pass unchanged, which preserves colours.
            weight = config.cycle_weight * config.identity_weight
            losses["loss_idt_a"] = weight * F.l1_loss(outputs["idt_a"], real_b)
            losses["loss_idt_b"] = weight * F.l1_loss(outputs["idt_b"], real_a)
        if discriminators is None:
            return losses
        losses["loss_g_a"] = _generator_gan_loss(gan_loss, discriminators["net_d_a"](outputs["fake_b"]))
        losses["loss_g_b"] = _generator_gan_loss(gan_loss, discriminators["net_d_b"](outputs["fake_a"]))
        return losses

    def r1_real(self, batch: Batch) -> torch.Tensor:
        return batch["real_b"]

    def preview(self, generator: nn.Module, step: int) -> PreviewEvent:
        device = next(generator.parameters()).device
        fake_b = _from_network(generator(_to_network(self.preview_a).to(device)))
        return PreviewEvent(step, _preview_image(fake_b))

    def export(self, generator: nn.Module) -> Generator:
        """Return both directions in one ``translation_pair`` generator that translates A to B.

        ``generator`` is the A-to-B generator the loop picked (its moving average where there is
        one); the B-to-A generator is the trained one. Use
        :func:`napari_gan.weights.importers_translation.select_direction` for B to A.
        """
        arch_kwargs = {"arch": self.config.net_g, "a_to_b": self.kwargs_a, "b_to_a": self.kwargs_b, "direction": "AtoB"}
        pair = build_arch("translation_pair", **arch_kwargs)
        pair.a_to_b.load_state_dict(generator.state_dict())
        pair.b_to_a.load_state_dict(self.networks.generators["net_g_b"].state_dict())
        info = _translation_info("cyclegan", "translation_pair", arch_kwargs, self.a_nc, self.b_nc, self.config)
        return Generator(pair.cpu().eval(), info)


def _build_pix2pix(config: Pix2PixConfig, images: dict[str, list[TrainingImage] | None]) -> Pix2PixTask:
    return Pix2PixTask(config, images["input"], images["target"])


def _build_cyclegan(config: CycleGANConfig, images: dict[str, list[TrainingImage] | None]) -> CycleGANTask:
    return CycleGANTask(config, images["domain_a"], images["domain_b"])


register_train_command(
    TrainCommand(
        name="pix2pix",
        help="paired image-to-image translation: learn to turn each input into its target",
        description="Train pix2pix on aligned image pairs: a U-Net generator with an L1 loss and a conditional "
        "PatchGAN. RUN_DIR receives config.json, autosaved checkpoints and generator.safetensors.",
        config_class=Pix2PixConfig,
        data_options={
            "input": "input image files or folders of them",
            "target": "target images paired with --input, in the same order and of the same sizes",
        },
        required_data=("input", "target"),
        build_task=_build_pix2pix,
    )
)

register_train_command(
    TrainCommand(
        name="cyclegan",
        help="unpaired image-to-image translation between two sets of images",
        description="Train CycleGAN on two unpaired image sets: generators A to B and B to A with cycle and "
        "identity losses and least-squares PatchGANs. RUN_DIR receives config.json, autosaved checkpoints "
        "and generator.safetensors with both directions (apply with --direction AtoB or BtoA).",
        config_class=CycleGANConfig,
        data_options={
            "domain_a": "images of domain A: files or folders",
            "domain_b": "images of domain B: files or folders",
        },
        required_data=("domain_a", "domain_b"),
        build_task=_build_cyclegan,
    )
)
