"""The ``napari-gan`` command line; ``python -m napari_gan`` runs the same."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from napari_gan.errors import NapariGanError

EXIT_USAGE = 2


def _positive_or_none(text: str) -> int | None:
    """Parse a tile size: a positive number of pixels, or 0 for whole-image passes."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid tile size {text!r}: give a whole number of pixels, or 0 for no tiling") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"invalid tile size {value}: give a positive number of pixels, or 0 for no tiling")
    return value or None


def _build_parser() -> argparse.ArgumentParser:
    from napari_gan import __version__
    from napari_gan.inference import DEFAULT_TILE, DEFAULT_TILE_OVERLAP, DEFAULT_TILE_PAD

    parser = argparse.ArgumentParser(
        prog="napari-gan",
        description="Generative adversarial networks for images: super-resolution and more, also in napari.",
    )
    parser.add_argument("--version", action="version", version=f"napari-gan {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("models", help="list the bundled generators and the weight formats napari-gan reads")

    apply = commands.add_parser(
        "apply",
        help="apply a generator to an image file",
        description="Apply a generator to an image file and write the result in the input's dtype.",
    )
    apply.add_argument("--model", "-m", required=True, help="bundled generator name (see 'napari-gan models') or weights file")
    apply.add_argument("input", type=Path, help="input image: .png, .jpg, .tif/.tiff or .npy")
    apply.add_argument("output", type=Path, help="output image path (same formats); the folder must exist")
    apply.add_argument("--tile", type=_positive_or_none, default=DEFAULT_TILE, help="tile edge in input pixels, 0 for whole planes (default %(default)s)")
    apply.add_argument("--tile-pad", type=int, default=DEFAULT_TILE_PAD, help="context pixels around each tile (default %(default)s)")
    apply.add_argument("--tile-overlap", type=int, default=DEFAULT_TILE_OVERLAP, help="blended overlap between tiles in pixels (default %(default)s)")
    apply.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps (default %(default)s)")
    apply.add_argument("--no-half", action="store_true", help="compute in float32 on CUDA too (default: float16 on CUDA)")
    apply.add_argument("--channel-axis", type=int, default=None, help="axis holding channels (default: last axis if it has 3 or 4 entries)")
    apply.add_argument(
        "--direction",
        choices=("AtoB", "BtoA"),
        default=None,
        help="for CycleGAN generators: translate A to B or B to A; BtoA reads latest_net_G_B.pth next to a "
        "latest_net_G_A.pth, or the second generator of a napari-gan CycleGAN run (default: the file's own direction)",
    )
    apply.add_argument(
        "--norm-statistics",
        choices=("image", "running"),
        default="image",
        help="normalisation statistics of pix2pix/CycleGAN generators: per image, over the whole image even when "
        "tiled, or the stored running statistics of batch normalisation (default %(default)s)",
    )

    sample = commands.add_parser(
        "sample",
        help="generate new images with a synthesis generator",
        description="Generate N images from seeded random latents, or a morph through them, and write them "
        "as one uint8 stack (N, H, W) or (N, H, W, 3). The same seed gives the same images.",
    )
    sample.add_argument("--model", "-m", required=True, help="bundled synthesis generator (see 'napari-gan models') or weights file")
    sample.add_argument("--n", type=int, required=True, help="number of images")
    sample.add_argument("output", type=Path, help="output stack: .tif/.tiff or .npy; the folder must exist")
    sample.add_argument("--seed", type=int, default=0, help="random seed of the latents (default %(default)s)")
    sample.add_argument("--truncation", type=float, default=1.0, help="0 to 2; below 1 gives more typical, less varied images (default %(default)s)")
    sample.add_argument("--interpolate", type=int, default=None, metavar="STEPS", help="write a morph through the N samples of --seed instead, STEPS images from each to the next (both included)")
    sample.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps (default %(default)s)")
    sample.add_argument("--score", type=Path, default=None, metavar="REAL", help="also measure SWD and diversity against this stack of real images")
    sample.add_argument("--run-dir", type=Path, default=None, help="with --score: training run whose discriminator accuracy to measure")
    sample.add_argument("--inception", type=Path, default=None, metavar="PTH", help="with --score: local torchvision inception_v3 state dict for FID")

    from napari_gan.cli_train import add_train_parser

    add_train_parser(commands)

    demo = commands.add_parser(
        "demo",
        help="open napari with sample images and the widgets; headless, write results and a screenshot",
        description="Open napari with sample images and the napari-gan widgets and apply the bundled generator. "
        "Without a display the same session runs on a virtual X server (Xvfb) when one is installed, "
        "otherwise without napari; results go to --out.",
    )
    demo.add_argument("--out", type=Path, default=Path("demo-output"), help="folder for results and the screenshot (default %(default)s)")
    demo.add_argument("--headless", action="store_true", help="do not wait for the user: write the results and exit, even with a display")
    return parser


def _run_models() -> None:
    from napari_gan import load_generator
    from napari_gan.weights import WEIGHT_FORMATS, list_models

    print("Bundled generators:")
    for name in list_models():
        generator = load_generator(name)
        if generator.task == "synthesis":
            size = generator.info.arch_kwargs.get("resolution")
            print(f"  {name:<16} synthesis, {size}x{size} {generator.out_channels}-channel ({generator.info.arch})")
        else:
            print(f"  {name:<16} x{generator.scale} super-resolution, {generator.in_channels}-channel ({generator.info.arch})")
    print("\nWeight files napari-gan reads:")
    for name, description in WEIGHT_FORMATS.items():
        print(f"  {name:<36} {description}")


def _run_apply(arguments: argparse.Namespace) -> None:
    from tqdm import tqdm

    from napari_gan import load_generator
    from napari_gan.io import check_output_path, read_image, write_image

    check_output_path(arguments.output, inputs=(arguments.input,))
    generator = load_generator(arguments.model)
    if arguments.direction is not None:
        from napari_gan.weights.importers_translation import select_direction

        generator = select_direction(generator, arguments.direction)
    image = read_image(arguments.input)
    steps = generator.iter_apply(
        image,
        name=f"image {str(arguments.input)!r}",
        channel_axis=arguments.channel_axis,
        tile=arguments.tile,
        tile_pad=arguments.tile_pad,
        tile_overlap=arguments.tile_overlap,
        device=arguments.device,
        half=not arguments.no_half,
        norm_statistics=arguments.norm_statistics,
    )
    with tqdm(desc=f"{generator.name} x{generator.scale}", unit="tile", file=sys.stderr, disable=None) as bar:
        while True:
            try:
                event = next(steps)
            except StopIteration as finished:
                result = finished.value
                break
            bar.total = event.total
            bar.update(event.done - bar.n)
    write_image(arguments.output, result)
    print(f"wrote {arguments.output} {result.shape} {result.dtype}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (0 on success, 2 on invalid input)."""
    parser = _build_parser()
    arguments = parser.parse_args(argv)
    try:
        if arguments.command == "models":
            _run_models()
        elif arguments.command == "apply":
            _run_apply(arguments)
        elif arguments.command == "sample":
            from napari_gan.cli_sample import run_sample

            run_sample(arguments)
        elif arguments.command == "train":
            from napari_gan.cli_train import run_train

            run_train(arguments)
        elif arguments.command == "demo":
            from napari_gan.demo import run_demo

            run_demo(arguments.out, headless=arguments.headless)
    except NapariGanError as error:
        print(f"napari-gan: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("napari-gan: interrupted; no output was written", file=sys.stderr)
        return 130
    return 0



def console_main() -> None:
    """Entry point of the ``napari-gan`` console script."""
    sys.exit(main())


if __name__ == "__main__":
    sys.exit(main())
