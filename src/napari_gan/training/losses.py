"""Adversarial losses, the R1 penalty and the discriminator's accuracy."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

GAN_LOSSES = ("nonsaturating", "lsgan", "hinge", "relativistic")


class GANLoss:
    """The discriminator and generator objectives of one GAN formulation.

    ``kind`` is one of:

    - ``"nonsaturating"``: D minimises binary cross-entropy; G maximises log D(G(z)) instead of
      minimising log(1 - D(G(z))), which keeps its gradient alive early on (Goodfellow et al., 2014).
    - ``"lsgan"``: least squares towards 1 for real and 0 for fake (Mao et al., 2017).
    - ``"hinge"``: D minimises relu(1 - real) + relu(1 + fake); G minimises -D(G(z)) (Miyato et al., 2018).
    - ``"relativistic"``: relativistic average GAN, as ESRGAN uses: D judges whether real images look
      more real than the average fake, and G the reverse (Jolicoeur-Martineau, 2019).

    Logits are raw discriminator outputs of any shape; patch discriminators are averaged over patches.
    """

    def __init__(self, kind: str) -> None:
        if kind not in GAN_LOSSES:
            raise ValueError(f"unknown GAN loss {kind!r}; valid: {', '.join(GAN_LOSSES)}")
        self.kind = kind

    def discriminator(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """Return D's loss for logits on real and on detached generated images."""
        if self.kind == "nonsaturating":
            return F.softplus(-real).mean() + F.softplus(fake).mean()
        if self.kind == "lsgan":
            return 0.5 * (((real - 1) ** 2).mean() + (fake**2).mean())
        if self.kind == "hinge":
            return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
        return 0.5 * (
            F.softplus(-(real - fake.mean())).mean() + F.softplus(fake - real.mean()).mean()
        )

    def generator(self, fake: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
        """Return G's adversarial loss for D's logits on generated images.

        ``real`` (logits on real images, detached) is needed by the relativistic loss only.
        """
        if self.kind == "nonsaturating":
            return F.softplus(-fake).mean()
        if self.kind == "lsgan":
            return 0.5 * ((fake - 1) ** 2).mean()
        if self.kind == "hinge":
            return -fake.mean()
        if real is None:
            raise ValueError("the relativistic loss needs the discriminator's logits on real images")
        return 0.5 * (F.softplus(real - fake.mean()).mean() + F.softplus(-(fake - real.mean())).mean())

    def accuracy(self, real: torch.Tensor, fake: torch.Tensor) -> tuple[float, float]:
        """Return the fractions of real and of generated patches that D classifies correctly.

        A balanced GAN sits near 0.5 on both; D near 1.0 means the generator is losing.
        """
        # LSGAN regresses towards 1 and 0, so its decision boundary is 0.5; the others use 0.
        threshold = 0.5 if self.kind == "lsgan" else 0.0
        if self.kind == "relativistic":
            real, fake = real - fake.mean(), fake - real.mean()
        return float((real > threshold).float().mean()), float((fake <= threshold).float().mean())


def r1_penalty(net_d: nn.Module, real: torch.Tensor) -> torch.Tensor:
    """Return the R1 penalty E[|grad_x D(x)|^2] on real images (Mescheder et al., 2018).

    Multiply by gamma / 2 for the loss; ``real`` must not require grad already.
    """
    real = real.detach().requires_grad_(True)
    logits = net_d(real)
    (gradient,) = torch.autograd.grad(logits.sum(), real, create_graph=True)
    return gradient.pow(2).flatten(1).sum(1).mean()
