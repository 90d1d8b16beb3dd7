"""The interface between the GAN loop and one kind of training (super-resolution, pix2pix, ...)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from napari_gan.generator import Generator
from napari_gan.training.config import LoopConfig
from napari_gan.training.events import Phase, PreviewEvent
from napari_gan.training.losses import GANLoss

Batch = dict[str, torch.Tensor]


@dataclass
class DiscriminatorResult:
    """Loss terms of a discriminator step and the logits that give D's accuracy."""

    losses: dict[str, torch.Tensor]
    logits_real: torch.Tensor
    logits_fake: torch.Tensor


@dataclass
class Networks:
    """The task's networks, in the roles the loop gives them."""

    generators: dict[str, nn.Module]
    discriminators: dict[str, nn.Module]
    extra: dict[str, nn.Module] = field(default_factory=dict)
    """Fixed networks such as a VGG19 for the perceptual loss; never trained or saved."""


class GanTask:
    """Networks, data and loss terms of one kind of GAN training.

    The loop calls, for every step: :meth:`sample_batch`, :meth:`forward` (the generators),
    :meth:`discriminator_losses` (generated images detached) once the warm-up is over, then
    :meth:`generator_losses` with the discriminators frozen. All randomness comes from the
    ``torch.Generator`` passed in, or the global torch RNG, so a resumed run repeats exactly.
    """

    config: LoopConfig
    networks: Networks
    primary_generator: str = "net_g"
    """The generator that previews and exports use."""
    primary_discriminator: str = "net_d"
    """The discriminator that the R1 penalty regularises."""

    def warmup_steps(self) -> int:
        """Steps with the generator losses alone, before discriminators train."""
        return 0

    def sample_batch(self, rng: torch.Generator) -> Batch:
        """Return one batch of CPU tensors for this process."""
        raise NotImplementedError

    def forward(self, generators: dict[str, nn.Module], batch: Batch) -> Batch:
        """Run the generators on ``batch`` and return their outputs (with gradients)."""
        raise NotImplementedError

    def discriminator_losses(
        self, discriminators: dict[str, nn.Module], batch: Batch, outputs: Batch, gan_loss: GANLoss
    ) -> DiscriminatorResult:
        """Return the discriminator loss terms; generated images must be detached."""
        raise NotImplementedError

    def generator_losses(
        self, discriminators: dict[str, nn.Module] | None, batch: Batch, outputs: Batch, gan_loss: GANLoss, phase: Phase
    ) -> dict[str, torch.Tensor]:
        """Return the generator loss terms; ``discriminators`` is None during warm-up."""
        raise NotImplementedError

    def r1_real(self, batch: Batch) -> torch.Tensor:
        """Return the real discriminator input that the R1 penalty differentiates."""
        raise NotImplementedError

    def preview(self, generator: nn.Module, step: int) -> PreviewEvent:
        """Apply ``generator`` (EMA weights, eval mode) to the fixed preview crop."""
        raise NotImplementedError

    def export(self, generator: nn.Module) -> Generator:
        """Return the trained generator, ready to apply and save."""
        raise NotImplementedError

    def images_per_batch(self) -> int:
        return self.config.batch_size
