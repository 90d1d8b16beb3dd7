"""Unconditional image synthesis: a GAN that learns a set of images and generates new ones from noise."""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from napari_gan.archs import build_arch
from napari_gan.data.diffaugment import DIFFAUGMENT_POLICIES, diff_augment
from napari_gan.data.layout import plan_layout
from napari_gan.errors import NapariGanError
from napari_gan.generator import Generator, GeneratorInfo
from napari_gan.training.commands import TrainCommand, register_train_command
from napari_gan.training.config import LoopConfig, register_config
from napari_gan.training.data import TrainingImage, check_patch_fits, random_crop, to_planes
from napari_gan.training.events import Phase, PreviewEvent
from napari_gan.training.losses import GANLoss
from napari_gan.training.task import Batch, DiscriminatorResult, GanTask, Networks

logger = logging.getLogger(__name__)

SYNTHESIS_ARCHS = {"dcgan": ("dcgan", "dcgan_d"), "style": ("style", "style_d")}
"""Generator and discriminator registered for each ``arch`` choice."""
RESOLUTIONS = {"dcgan": (32, 64, 128), "style": (32, 64, 128)}
DIFFAUGMENT_AUTO_LIMIT = 5000
"""With ``diffaugment="auto"`` DiffAugment is on below this many training images: Zhao et al. (2020)
show that discriminators overfit data sets of a few thousand images, and augmentation helps most there."""
PREVIEW_GRID = 4
"""Rows and columns of the preview grid of fixed latents."""
PREVIEW_GAP = 2
"""Pixels between the images of the preview grid."""
PREVIEW_SEED = 20_240_601
"""Seed of the fixed preview latents, so that every run previews the same points of latent space."""


@dataclass
class SynthesisConfig(LoopConfig):
    """Unconditional synthesis: DCGAN or a style-based generator, non-saturating loss, R1 and DiffAugment."""

    batch_size: int = 16
    lr_g: float = 2e-4
    """Generator learning rate (Adam); 2e-4 as in DCGAN."""
    lr_d: float = 2e-4
    """Discriminator learning rate (Adam)."""
    betas: tuple[float, float] = (0.5, 0.99)
    """Adam betas; DCGAN uses beta1 = 0.5, StyleGAN2 uses beta1 = 0 and beta2 = 0.99."""
    r1_gamma: float = 0.1
    """Weight gamma of the R1 penalty on real images; 0.1 suits images of 32 to 128 pixels."""
    ema_decay: float = 0.99
    """Decay of the exponential moving average of the generator's weights used for previews and export."""
    resolution: int = 32
    """Edge of the generated images in pixels: 32, 64 or 128. Each example is centre-cropped to a
    square and resized to it (bilinear, antialiased when shrinking)."""
    arch: str = "dcgan"
    """``dcgan`` (fast) or ``style`` (style-based, in the manner of StyleGAN2)."""
    z_dim: int = 128
    """Length of the latent vector."""
    num_feat: int = 64
    """Generator width: channels of its last hidden layer (dcgan) or its base width (style)."""
    d_num_feat: int = 64
    """Discriminator width."""
    mapping_layers: int = 4
    """Fully connected layers of the style generator's mapping network; StyleGAN2 uses 8."""
    style_mixing: float = 0.9
    """Probability that a training batch of the style generator mixes the styles of two latents."""
    channels: int = 0
    """Generated channels; 0 picks 3 when every image is RGB and 1 when every image is grayscale."""
    diffaugment: str = "auto"
    """``auto`` (on below 5000 images), ``off``, or a comma-separated list of color, translation, cutout."""
    xflip: bool = True
    """Mirror real images left-right at random, doubling the variety of symmetric subjects such as faces."""
    patches: bool = False
    """Learn from random patches of large images (texture synthesis) instead of whole examples."""
    patch_size: int = 0
    """Edge of the random patches in patch mode, resized to the resolution; 0 uses the resolution."""

    def validate(self) -> None:
        super().validate()
        resolutions = RESOLUTIONS.get(self.arch, ())
        power_of_two = self.resolution > 0 and self.resolution & (self.resolution - 1) == 0
        checks = [
            (self.arch in SYNTHESIS_ARCHS, f"arch must be one of {', '.join(SYNTHESIS_ARCHS)}, got {self.arch!r}"),
            (power_of_two, f"resolution must be a power of two, got {self.resolution}; use one of {', '.join(map(str, resolutions))}"),
            (self.resolution in resolutions, f"resolution {self.resolution} is not available for {self.arch}; use one of {', '.join(map(str, resolutions))}"),
            (self.z_dim >= 1, f"z_dim must be positive, got {self.z_dim}"),
            (self.num_feat >= 1 and self.d_num_feat >= 1, f"num_feat and d_num_feat must be positive, got {self.num_feat} and {self.d_num_feat}"),
            (self.mapping_layers >= 1, f"mapping_layers must be at least 1, got {self.mapping_layers}"),
            (0 <= self.style_mixing <= 1, f"style_mixing must be a probability in [0, 1], got {self.style_mixing}"),
            (self.channels in (0, 1, 3), f"channels must be 0 (automatic), 1 or 3, got {self.channels}"),
            (self.patch_size >= 0, f"patch_size must not be negative, got {self.patch_size}"),
        ]
        for valid, message in checks:
            if not valid:
                raise NapariGanError(message)
        self.augment_policy(0)

    def augment_policy(self, image_count: int) -> tuple[str, ...]:
        """Return the DiffAugment transforms for ``image_count`` training images (empty for none)."""
        setting = self.diffaugment.strip().lower()
        if setting == "auto":
            return DIFFAUGMENT_POLICIES if image_count < DIFFAUGMENT_AUTO_LIMIT else ()
        if setting in ("off", "none", ""):
            return ()
        policy = tuple(name.strip() for name in setting.split(","))
        unknown = [name for name in policy if name not in DIFFAUGMENT_POLICIES]
        if unknown:
            raise NapariGanError(
                f"diffaugment {self.diffaugment!r} has unknown transform {unknown[0]!r}; use auto, off or a "
                f"comma-separated list of {', '.join(DIFFAUGMENT_POLICIES)}"
            )
        return policy


register_config("synthesis", SynthesisConfig)


def fit_to_resolution(plane: torch.Tensor, resolution: int) -> torch.Tensor:
    """Centre-crop ``(C, H, W)`` to a square of the shorter side, then resize to ``resolution``.

    The resize is bilinear, antialiased when shrinking, so every example keeps its aspect ratio
    and loses the same share of its longer side on both ends.
    """
    height, width = plane.shape[-2:]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = plane[None, :, top : top + side, left : left + side]
    if side == resolution:
        return square[0]
    resized = F.interpolate(square, size=(resolution, resolution), mode="bilinear", align_corners=False, antialias=side > resolution)
    return resized[0].clamp(0, 1)


def _describe(shape: torch.Size) -> str:
    return f"{shape[-2]}x{shape[-1]}"


class SynthesisTask(GanTask):
    """Train an unconditional generator on example images or on random patches of large images.

    Parameters
    ----------
    config : SynthesisConfig
    images : list of TrainingImage
        Examples: stacks ``(N, H, W)`` or ``(N, H, W, 3)``, or several images of one size. In
        patch mode (``config.patches``): one or more large images to take random patches from.

    Raises
    ------
    NapariGanError
        For a single 2D image outside patch mode, images of mixed sizes, RGB mixed with
        grayscale, NaN or infinite values, and fewer examples than the batch size.
    """

    def __init__(self, config: SynthesisConfig, images: list[TrainingImage]) -> None:
        config.validate()
        self.config = config
        self._check_images(images)
        planes, self.channels = to_planes(images, config.channels)
        if config.patches:
            self.patch_size = config.patch_size or config.resolution
            self.planes = planes
            self.usable = check_patch_fits(planes, self.patch_size, "patch-mode images")
            self.examples = None
            self.image_count = len(planes)
        else:
            self._check_examples(images, planes)
            stacked = torch.stack([fit_to_resolution(plane, config.resolution) for plane in planes])
            self.examples = stacked * 2 - 1
            self.image_count = len(planes)
        self.policy = config.augment_policy(self.image_count)
        g_arch, d_arch = SYNTHESIS_ARCHS[config.arch]
        self.arch = g_arch
        self.arch_kwargs = self._generator_kwargs()
        self.networks = Networks(
            generators={"net_g": build_arch(g_arch, **self.arch_kwargs)},
            discriminators={"net_d": build_arch(d_arch, **self._discriminator_kwargs())},
        )
        self.preview_z = torch.randn(PREVIEW_GRID**2, config.z_dim, generator=torch.Generator().manual_seed(PREVIEW_SEED))
        logger.info("synthesis: %d %s, DiffAugment %s", self.image_count, "patch sources" if config.patches else "examples", ",".join(self.policy) or "off")

    # -- set-up -------------------------------------------------------------------------

    def _check_images(self, images: list[TrainingImage]) -> None:
        if not images:
            raise NapariGanError("no training images; pick a stack layer or image files")
        kinds = {}
        for image in images:
            shape = tuple(image.data.shape)
            layout = plan_layout(shape, rgb=image.rgb)
            kinds[image.name] = layout.rgb
            if not self.config.patches and len(images) == 1 and len(shape) - int(layout.rgb) == 2:
                raise NapariGanError(
                    f"{image.name} is one 2D image of shape {shape}, but synthesis learns from many examples: "
                    "give a stack (N, H, W) of examples, or turn on patch mode (patches=True, --patches true) "
                    "to learn its texture from random patches"
                )
        if len(set(kinds.values())) > 1 and self.config.channels != 1:
            rgb = next(name for name, is_rgb in kinds.items() if is_rgb)
            gray = next(name for name, is_rgb in kinds.items() if not is_rgb)
            raise NapariGanError(
                f"RGB and grayscale images are mixed ({rgb} is RGB, {gray} is grayscale); "
                "convert them all to one kind, or set channels=1 to train on every colour channel as grayscale"
            )

    def _check_examples(self, images: list[TrainingImage], planes: list[torch.Tensor]) -> None:
        sizes = sorted({_describe(plane.shape) for plane in planes})
        if len(sizes) > 1:
            raise NapariGanError(
                f"the examples have mixed sizes ({', '.join(sizes[:6])}); crop or resize them to one size, "
                f"or turn on patch mode to train on random {self.config.resolution}-pixel patches"
            )
        if len(planes) < self.config.batch_size:
            raise NapariGanError(
                f"{len(planes)} example image(s) but batch_size is {self.config.batch_size}; give at least "
                f"{self.config.batch_size} examples or set batch_size to at most {len(planes)}"
            )

    def _generator_kwargs(self) -> dict:
        config = self.config
        kwargs = dict(z_dim=config.z_dim, resolution=config.resolution, out_channels=self.channels, num_feat=config.num_feat)
        if config.arch == "style":
            kwargs["mapping_layers"] = config.mapping_layers
        return kwargs

    def _discriminator_kwargs(self) -> dict:
        config = self.config
        return dict(resolution=config.resolution, in_channels=self.channels, num_feat=config.d_num_feat)

    # -- the loop's interface -----------------------------------------------------------

    def sample_batch(self, rng: torch.Generator) -> Batch:
        config = self.config
        if self.examples is not None:
            indices = torch.randint(len(self.examples), (config.batch_size,), generator=rng)
            real = self.examples[indices]
        else:
            patches = []
            for _ in range(config.batch_size):
                index, top, left = random_crop(self.planes, self.usable, self.patch_size, rng)
                patch = self.planes[index][:, top : top + self.patch_size, left : left + self.patch_size]
                patches.append(fit_to_resolution(patch, config.resolution))
            real = torch.stack(patches) * 2 - 1
        if config.xflip:
            flip = torch.rand(config.batch_size, generator=rng) < 0.5
            real = torch.where(flip[:, None, None, None], real.flip(-1), real)
        batch = {"real": real.contiguous(), "z": torch.randn(config.batch_size, config.z_dim, generator=rng)}
        if config.arch == "style":
            layers = self.networks.generators["net_g"].num_ws
            mix = bool(torch.rand(1, generator=rng) < config.style_mixing)
            crossover = int(torch.randint(1, layers, (1,), generator=rng)) if mix else layers
            batch["z_mix"] = torch.randn(config.batch_size, config.z_dim, generator=rng)
            batch["crossover"] = torch.tensor([crossover])
        return batch

    def forward(self, generators: dict[str, nn.Module], batch: Batch) -> Batch:
        net_g = generators["net_g"]
        if self.config.arch == "style":
            return {"fake": net_g(batch["z"], z_mix=batch["z_mix"], crossover=int(batch["crossover"][0]))}
        return {"fake": net_g(batch["z"])}

    def _augment(self, images: torch.Tensor) -> torch.Tensor:
        return diff_augment(images, self.policy) if self.policy else images

    def discriminator_losses(self, discriminators, batch, outputs, gan_loss: GANLoss) -> DiscriminatorResult:
        # Real and generated images pass the same kind of random transforms, so D cannot tell
        # them apart by augmentation artefacts.
        net_d = discriminators["net_d"]
        logits_real = net_d(self._augment(batch["real"]))
        logits_fake = net_d(self._augment(outputs["fake"].detach()))
        loss = gan_loss.discriminator(logits_real, logits_fake)
        return DiscriminatorResult({"loss_d": loss}, logits_real, logits_fake)

    def generator_losses(self, discriminators, batch, outputs, gan_loss: GANLoss, phase: Phase) -> dict[str, torch.Tensor]:
        # G's gradient flows back through the differentiable augmentation.
        logits_fake = discriminators["net_d"](self._augment(outputs["fake"]))
        logits_real = discriminators["net_d"](self._augment(batch["real"])).detach() if gan_loss.kind == "relativistic" else None
        return {"loss_g_gan": gan_loss.generator(logits_fake, logits_real)}

    def r1_real(self, batch: Batch) -> torch.Tensor:
        return batch["real"]

    def preview(self, generator: nn.Module, step: int) -> PreviewEvent:
        device = next(generator.parameters()).device
        fake = generator(self.preview_z.to(device)).float().cpu()
        if self.examples is not None:
            real = self.examples[: PREVIEW_GRID**2]
        else:
            real = self.sample_batch(torch.Generator().manual_seed(PREVIEW_SEED))["real"]
        return PreviewEvent(step, image_grid(fake), image_grid(real))

    def export(self, generator: nn.Module) -> Generator:
        net = copy.deepcopy(generator).cpu().eval()
        info = GeneratorInfo(
            name=f"trained-{self.config.arch}-{self.config.resolution}",
            arch=self.arch,
            arch_kwargs=self.arch_kwargs,
            task="synthesis",
            scale=1,
            in_channels=0,
            out_channels=self.channels,
            value_range=(-1.0, 1.0),
            min_size=self.config.resolution,
            source="trained in this session",
        )
        return Generator(net, info)


def image_grid(images: torch.Tensor, columns: int = PREVIEW_GRID, gap: int = PREVIEW_GAP) -> np.ndarray:
    """Tile images ``(B, C, H, W)`` in [-1, 1] into one float32 grid in [0, 1].

    Returns ``(rows * (H + gap) - gap, columns * (W + gap) - gap)`` for one channel, with a last
    axis of C for colour; gaps are black.
    """
    images = ((images.detach().float().clamp(-1, 1) + 1) / 2).cpu()
    count, channels, height, width = images.shape
    rows = -(-count // columns)
    grid = torch.zeros(channels, rows * (height + gap) - gap, columns * (width + gap) - gap)
    for index in range(count):
        row, column = divmod(index, columns)
        top, left = row * (height + gap), column * (width + gap)
        grid[:, top : top + height, left : left + width] = images[index]
    array = grid.permute(1, 2, 0).numpy()
    return np.ascontiguousarray(array[..., 0] if channels == 1 else array)


def load_run_discriminator(run_dir: str | Path, channels: int) -> nn.Module:
    """Rebuild the discriminator of the newest checkpoint of a synthesis run, in eval mode on the CPU."""
    from napari_gan.training.checkpoint import list_checkpoints, read_checkpoint
    from napari_gan.training.config import config_from_dict

    checkpoints = list_checkpoints(Path(run_dir))
    if not checkpoints:
        raise NapariGanError(f"no checkpoint in {str(run_dir)!r}; give the run folder of a synthesis training run")
    state = read_checkpoint(checkpoints[-1])
    config = config_from_dict(state["config"])
    if not isinstance(config, SynthesisConfig):
        raise NapariGanError(f"{str(run_dir)!r} contains a {state['config'].get('task')} run, not a synthesis run; give a synthesis run folder")
    net_d = build_arch(SYNTHESIS_ARCHS[config.arch][1], resolution=config.resolution, in_channels=channels, num_feat=config.d_num_feat)
    net_d.load_state_dict(state["discriminators"]["net_d"])
    return net_d.eval()


def _build_task(config: SynthesisConfig, images: dict[str, list[TrainingImage] | None]) -> SynthesisTask:
    return SynthesisTask(config, images["data"])


register_train_command(
    TrainCommand(
        name="synthesis",
        help="synthesis: learn a set of images and generate new ones from noise",
        description="Train an unconditional GAN (DCGAN or style-based) on a stack of example images, or on random "
        "patches of large images with --patches true. RUN_DIR receives config.json, autosaved checkpoints and "
        "generator.safetensors, which 'napari-gan sample' reads.",
        config_class=SynthesisConfig,
        data_options={"data": "a stack (N, H, W[, C]) of examples, or image files or folders of one size"},
        required_data=("data",),
        build_task=_build_task,
    )
)
