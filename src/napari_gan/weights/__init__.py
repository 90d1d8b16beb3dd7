"""Weight files: the project's own safetensors format, published layouts and the bundled generators."""

from napari_gan.weights.loader import WEIGHT_FORMATS, bundled_model_card, list_models, load_generator
from napari_gan.weights.native import save_generator

__all__ = ["WEIGHT_FORMATS", "bundled_model_card", "list_models", "load_generator", "save_generator"]
