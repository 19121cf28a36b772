"""Make a fixed-size test set (e.g. "DIV2K_valid_HR_1024") from a folder of images.

Every image of ``--input`` (not recursive) is centre-cropped to ``--size`` x ``--size-w`` pixels
(height x width; the width defaults to the height) and saved as PNG under ``--output`` with the same
stem. Images smaller than the crop in either dimension are skipped with a warning. Images are read as the
datasets read them (``utils.image_io.read_image``): grey expanded to three channels, alpha dropped, 16-bit
scaled to 8 bits.

Example::

    python -m scripts.prepare_testset --input DIV2K_valid_HR --output DIV2K_valid_HR_1024 --size 1024
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import numpy as np

from utils.image_io import IMAGE_EXTENSIONS, is_image_file, read_image, save_image, to_uint8

logger = logging.getLogger(__name__)


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files directly inside ``folder`` (not recursive), sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"input folder not found: {folder}")
    return sorted(p for p in folder.iterdir() if p.is_file() and is_image_file(p))


def center_crop(img: np.ndarray, size_h: int, size_w: int) -> np.ndarray:
    """Centre crop of ``size_h`` x ``size_w``; an odd margin leaves the extra pixel at the bottom/right."""
    h, w = img.shape[:2]
    if size_h > h or size_w > w:
        raise ValueError(f"crop {size_h}x{size_w} is larger than the image {h}x{w}")
    top = (h - size_h) // 2
    left = (w - size_w) // 2
    return img[top : top + size_h, left : left + size_w]


def prepare_testset(
    input_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    size_h: int,
    size_w: int | None = None,
) -> tuple[int, int]:
    """Centre-crop every image of ``input_dir`` to ``size_h`` x ``size_w`` into ``output_dir`` as PNG.

    Returns ``(written, skipped)``; skipped images are those smaller than the crop. Progress is
    logged at INFO level and each skipped image at WARNING level.
    """
    size_w = size_h if size_w is None else size_w
    if size_h <= 0 or size_w <= 0:
        raise ValueError(f"crop size must be positive, got {size_h}x{size_w}")
    input_dir = Path(input_dir)
    output_dir = Path(output_dir)
    paths = list_images(input_dir)
    if not paths:
        raise FileNotFoundError(f"no images ({', '.join(sorted(IMAGE_EXTENSIONS))}) in {input_dir}")
    if output_dir.exists() and output_dir.resolve() == input_dir.resolve():
        raise ValueError(f"output folder must differ from the input folder: {output_dir}")
    stems: dict[str, Path] = {}
    for path in paths:
        if path.stem in stems:
            raise ValueError(f"two inputs would both be written as {path.stem}.png: {stems[path.stem]} and {path}")
        stems[path.stem] = path

    output_dir.mkdir(parents=True, exist_ok=True)
    written = skipped = 0
    for i, path in enumerate(paths, start=1):
        img = to_uint8(read_image(path))
        h, w = img.shape[:2]
        if h < size_h or w < size_w:
            skipped += 1
            logger.warning("[%d/%d] skipped %s: %dx%d is smaller than the crop %dx%d",
                           i, len(paths), path.name, h, w, size_h, size_w)
            continue
        save_image(center_crop(img, size_h, size_w), output_dir / f"{path.stem}.png")
        written += 1
        logger.info("[%d/%d] %s: %dx%d -> %dx%d", i, len(paths), path.name, h, w, size_h, size_w)
    return written, skipped


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", required=True, help="folder of source images")
    parser.add_argument("--output", required=True, help="folder for the cropped PNG images")
    parser.add_argument("--size", type=int, required=True, help="crop height (and width unless --size-w)")
    parser.add_argument("--size-w", type=int, default=None, help="crop width (default: --size)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        written, skipped = prepare_testset(args.input, args.output, args.size, args.size_w)
    except (FileNotFoundError, ValueError) as exc:
        raise SystemExit(f"error: {exc}") from exc
    size_w = args.size if args.size_w is None else args.size_w
    logger.info("done: %d written, %d skipped (smaller than %dx%d) -> %s",
                written, skipped, args.size, size_w, args.output)


if __name__ == "__main__":
    main()
