"""Network architectures, registered by name so that a weights file can name its network."""

from napari_gan.archs.dcgan import DCGANDiscriminator, DCGANGenerator
from napari_gan.archs.discriminators import NLayerDiscriminator, PixelDiscriminator, UNetDiscriminatorSN
from napari_gan.archs.pix2pix import ResnetGenerator, TranslationPair, UnetGenerator
from napari_gan.archs.registry import build_arch, list_archs, register_arch
from napari_gan.archs.rrdbnet import RRDBNet
from napari_gan.archs.srvgg import SRVGGNetCompact
from napari_gan.archs.stylegan import StyleDiscriminator, StyleGenerator

__all__ = [
    "DCGANDiscriminator",
    "DCGANGenerator",
    "NLayerDiscriminator",
    "PixelDiscriminator",
    "RRDBNet",
    "ResnetGenerator",
    "SRVGGNetCompact",
    "StyleDiscriminator",
    "StyleGenerator",
    "TranslationPair",
    "UNetDiscriminatorSN",
    "UnetGenerator",
    "build_arch",
    "list_archs",
    "register_arch",
]
