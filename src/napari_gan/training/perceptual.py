"""Perceptual loss: distances between VGG19 features of the generated and the real image.

Johnson et al., "Perceptual Losses for Real-Time Style Transfer and Super-Resolution", ECCV 2016.
ESRGAN (Wang et al., ECCVW 2018) compares the features before the ReLU, because the activated
ones are sparse, and Real-ESRGAN (Wang et al., ICCVW 2021) weights five layers.
The VGG19 weights come from a file that the user provides; nothing is downloaded.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from napari_gan.errors import NapariGanError

# Indices of the convolutions in torchvision's ``vgg19().features``. Their outputs are the
# features before the ReLU that follows each of them.
VGG19_LAYERS = {
    "conv1_1": 0,
    "conv1_2": 2,
    "conv2_1": 5,
    "conv2_2": 7,
    "conv3_1": 10,
    "conv3_2": 12,
    "conv3_3": 14,
    "conv3_4": 16,
    "conv4_1": 19,
    "conv4_2": 21,
    "conv4_3": 23,
    "conv4_4": 25,
    "conv5_1": 28,
    "conv5_2": 30,
    "conv5_3": 32,
    "conv5_4": 34,
}
# Real-ESRGAN's layer_weights, which give the two shallowest layers a tenth of the weight of the others.
DEFAULT_LAYER_WEIGHTS = {"conv1_2": 0.1, "conv2_2": 0.1, "conv3_4": 1.0, "conv4_4": 1.0, "conv5_4": 1.0}
# The distances of BasicSR's PerceptualLoss: mean absolute, mean squared, and the Frobenius norm.
CRITERIA = ("l1", "l2", "fro")
# Channel statistics of ImageNet, on which torchvision's VGG19 weights were trained.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# File name of torchvision's ImageNet VGG19 weights (VGG19_Weights.IMAGENET1K_V1), for messages.
TORCHVISION_VGG19_FILE = "vgg19-dcbb9e9d.pth"


class PerceptualLoss(nn.Module):
    """Weighted sum of distances between VGG19 features of ``output`` and ``target``.

    Parameters
    ----------
    vgg_weights : str or Path
        A ``.pth`` file saved with ``torch.save`` that contains a state dict of torchvision's
        VGG19. Accepted are the whole model (``features.N.weight``, ``classifier...``), its
        ``features`` alone (``N.weight``), or either of them cut after the deepest layer that
        ``layer_weights`` uses. torchvision's ``vgg19-dcbb9e9d.pth`` works as it is.
    layer_weights : dict of str to float, optional
        Weight per layer, named as in :data:`VGG19_LAYERS`; features are taken before the ReLU.
        Default: :data:`DEFAULT_LAYER_WEIGHTS`, as Real-ESRGAN uses.
    criterion : str
        ``"l1"`` (mean absolute difference, Real-ESRGAN's choice), ``"l2"`` (mean squared
        difference) or ``"fro"`` (Frobenius norm of the difference).

    Raises
    ------
    NapariGanError
        If a layer name or ``criterion`` is unknown, or the file is missing, unreadable, needs
        code execution to load, or lacks a needed weight of the right shape. The message names
        the file and the expected key, such as ``features.34.weight``.

    Notes
    -----
    The VGG19 layers stay frozen: their parameters never require gradients and the network
    stays in evaluation mode when the loss module is put into training mode.
    """

    def __init__(
        self,
        vgg_weights: str | Path,
        layer_weights: Mapping[str, float] | None = None,
        criterion: str = "l1",
    ) -> None:
        super().__init__()
        self.layer_weights = dict(DEFAULT_LAYER_WEIGHTS if layer_weights is None else layer_weights)
        _check_layer_names(self.layer_weights)
        if criterion not in CRITERIA:
            raise NapariGanError(f"unknown perceptual criterion {criterion!r}; valid: {', '.join(CRITERIA)}")
        self.criterion = criterion
        self._layer_indices = {VGG19_LAYERS[name]: name for name in self.layer_weights}

        self.vgg = _build_vgg19_features(Path(vgg_weights), max(self._layer_indices))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> PerceptualLoss:
        """Set the training mode of this module, keeping the VGG19 in evaluation mode."""
        super().train(mode)
        self.vgg.eval()
        return self

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Return the scalar loss between generated images and real images.

        Parameters
        ----------
        output : torch.Tensor
            Generated images ``(B, C, H, W)`` in [0, 1], with ``C`` 1 or 3. Gradients flow back to them.
        target : torch.Tensor
            Real images of the same shape and range; they are detached.

        Returns
        -------
        torch.Tensor
            ``sum(weight * criterion(vgg_layer(output), vgg_layer(target)))`` over the layers, a
            0-dimensional tensor.
        """
        output_features = self._features(output)
        target_features = self._features(target.detach())
        loss = output.new_zeros(())
        for name, weight in self.layer_weights.items():
            loss = loss + weight * self._distance(output_features[name], target_features[name])
        return loss

    def _features(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Return the features ``{layer name: (B, C_l, H_l, W_l)}`` of images ``(B, 1 or 3, H, W)``."""
        if images.ndim != 4 or images.shape[1] not in (1, 3):
            raise ValueError(f"expected images (B, C, H, W) with C = 1 or 3, got shape {tuple(images.shape)}")
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        x = (images - self.mean) / self.std
        features = {}
        for index, layer in enumerate(self.vgg):
            x = layer(x)
            if index in self._layer_indices:
                features[self._layer_indices[index]] = x
        return features

    def _distance(self, output_feature: torch.Tensor, target_feature: torch.Tensor) -> torch.Tensor:
        if self.criterion == "l1":
            return F.l1_loss(output_feature, target_feature)
        if self.criterion == "l2":
            return F.mse_loss(output_feature, target_feature)
        return torch.linalg.vector_norm(output_feature - target_feature)


def _check_layer_names(layer_weights: Mapping[str, float]) -> None:
    if not layer_weights:
        raise NapariGanError("perceptual layer_weights is empty; name at least one VGG19 layer, such as 'conv5_4'")
    unknown = [name for name in layer_weights if name not in VGG19_LAYERS]
    if unknown:
        raise NapariGanError(
            f"unknown VGG19 layer {', '.join(map(repr, unknown))} in perceptual layer_weights; "
            f"valid names: {', '.join(VGG19_LAYERS)}"
        )


def _build_vgg19_features(path: Path, last_index: int) -> nn.Sequential:
    """Build torchvision's ``vgg19().features`` up to ``last_index``, frozen, with weights from ``path``."""
    # On the meta device no memory is allocated and no random initialisation runs, which matters
    # because the unused classifier has 124 million parameters. Loading with assign=True then puts
    # the file's tensors in place.
    with torch.device("meta"):
        features = torchvision.models.vgg19(weights=None).features[: last_index + 1]
    features.load_state_dict(_read_vgg19_state(path, features), assign=True)
    for layer in features:
        # Each stored feature is a convolution output that the next ReLU would otherwise overwrite.
        if isinstance(layer, nn.ReLU):
            layer.inplace = False
    features.requires_grad_(False)
    return features.eval()


def _read_vgg19_state(path: Path, features: nn.Sequential) -> dict[str, torch.Tensor]:
    """Read the weights that ``features`` needs from ``path``, keyed as in ``features``."""
    advice = f"pass a VGG19 state dict saved with torch.save, such as torchvision's {TORCHVISION_VGG19_FILE}"
    if not path.is_file():
        raise NapariGanError(f"VGG19 weights file {path} not found; {advice}")
    state = _load_untrusted(path, advice)
    if not isinstance(state, Mapping):
        raise NapariGanError(f"VGG19 weights file {path} contains a {type(state).__name__}, not a state dict; {advice}")

    # A whole torchvision VGG19 names the layers "features.N"; a saved ``features`` names them "N".
    prefix = "features." if any(str(key).startswith("features.") for key in state) else ""
    loaded = {}
    for key, expected in features.state_dict().items():
        value = state.get(prefix + key)
        if value is None:
            raise NapariGanError(
                f"VGG19 weights file {path} is missing 'features.{key}' (or '{key}' in a features-only "
                f"state dict), which the perceptual layers need; {advice}"
            )
        if not isinstance(value, torch.Tensor) or not value.is_floating_point() or value.shape != expected.shape:
            found = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise NapariGanError(
                f"VGG19 weights file {path} has {found} for '{prefix}{key}', expected a float tensor of "
                f"shape {tuple(expected.shape)}; {advice}"
            )
        loaded[key] = value.to(torch.float32)
    return loaded


def _load_untrusted(path: Path, advice: str) -> object:
    """Load ``path`` with ``torch.load(weights_only=True)``, which never runs code from the file."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        # torch names the first class or function that the restricted unpickler rejected.
        match = re.search(r"Unsupported global: GLOBAL (\S+)", str(error))
        if match:
            raise NapariGanError(
                f"VGG19 weights file {path} contains the Python object {match.group(1)}, which only loads "
                f"by running code from the file, and napari-gan does not allow that; {advice}"
            ) from error
        raise NapariGanError(f"VGG19 weights file {path} is not a PyTorch file or is damaged; {advice}") from error
    # Damaged or foreign files fail in the zip reader or the unpickler with any of these.
    except (RuntimeError, OSError, EOFError, ValueError, KeyError) as error:
        raise NapariGanError(
            f"VGG19 weights file {path} is not a PyTorch file or is damaged ({type(error).__name__}); {advice}"
        ) from error
