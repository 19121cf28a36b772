"""Cover/stego pairs for steganalysis, written as plain 8-bit RGB PNG files and read back.

Each chosen image is a cover once (centre-cropped to S x S); its N secrets are drawn from the other images with a
fixed seed. For every cover four files are written: the cover, the model's stego, the cover re-saved through the
stego's PNG path (a sanity check that file handling alone is not detectable) and LSB matching at a stated
payload (``conseal``), so a reader sees the scale. Pairs are split into folds by cover image.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import conseal as cl
import numpy as np
import torch
from tqdm import tqdm

from inference.round_trip import round_trip
from inference.stego_model import StegoModel
from models.config import NetworkConfig
from utils.image_io import hwc_to_chw, list_images, read_image, save_image, to_uint8

KINDS = ('stego', 'resaved', 'lsbm')


@dataclass(frozen=True)
class Pair:
    """One cover and what was made from it (file paths), with the stego's quality."""
    index: int
    name: str
    secrets: tuple[str, ...]
    cover: Path
    stego: Path
    resaved: Path
    lsbm: Path
    stego_psnr: float
    secret_psnr: float


def center_crop(pixels: np.ndarray, size: int) -> np.ndarray:
    """The central ``size x size`` window of an HWC image."""
    height, width = pixels.shape[:2]
    top, left = (height - size) // 2, (width - size) // 2
    return np.ascontiguousarray(pixels[top:top + size, left:left + size])


def load_crops(folder: str | os.PathLike, size: int) -> tuple[list[str], list[np.ndarray], list[str]]:
    """(names, ``size x size`` uint8 centre crops, skipped names) of the images in ``folder``; images smaller
    than ``size`` on either side are skipped."""
    names, crops, skipped = [], [], []
    for path in list_images(folder):
        pixels = to_uint8(read_image(path))
        if min(pixels.shape[:2]) < size:
            skipped.append(path.name)
            continue
        names.append(str(Path(path).relative_to(folder)))
        crops.append(center_crop(pixels, size))
    return names, crops, skipped


def choose_pairs(num_images: int, num_pairs: int, num_secrets: int, seed: int) -> list[tuple[int, list[int]]]:
    """(cover index, secret indices) for ``num_pairs`` distinct covers, secrets drawn from the other images."""
    if num_images < num_secrets + 1:
        raise ValueError(f'{num_images} usable image(s): a cover and {num_secrets} secrets need at least '
                         f'{num_secrets + 1}')
    rng = np.random.default_rng(seed)
    covers = rng.permutation(num_images)[:num_pairs]
    chosen = []
    for cover in covers:
        others = np.delete(np.arange(num_images), cover)
        chosen.append((int(cover), [int(i) for i in rng.choice(others, num_secrets, replace=False)]))
    return chosen


def _read_back(path: Path) -> np.ndarray:
    return to_uint8(read_image(path))


def make_pairs(model: StegoModel, folder: str | os.PathLike, out_dir: str | os.PathLike, num_pairs: int, size: int,
               seed: int = 0, lsbm_rate: float = 0.4, gaussian_scale: float = 1.0) -> tuple[list[Pair], list[str]]:
    """Write cover, stego, re-saved cover and LSB-matching files for ``num_pairs`` covers of ``folder`` under
    ``out_dir/{cover,stego,resaved,lsbm}``; returns the pairs and the names of images skipped as too small.

    The stego is the 8-bit stego of :func:`inference.round_trip.round_trip` saved as PNG (the secrets are revealed
    from its pixels); the stego PSNR (vs the cover) and mean recovered-secret PSNR are measured on 8-bit
    images."""
    config: NetworkConfig = model.network_config
    config.check_size(size, size, what='the --size crop')
    names, crops, skipped = load_crops(folder, size)
    if not names:
        raise ValueError(f'{folder}: no image of at least {size} x {size}')
    plan = choose_pairs(len(names), num_pairs, config.num_images, seed)
    out = Path(out_dir)
    generator = torch.Generator().manual_seed(seed)
    pairs = []
    for index, (cover_i, secret_is) in enumerate(tqdm(plan, desc='cover/stego pairs', unit='pair')):
        stem = f'{index:04d}_{Path(names[cover_i]).stem}'
        files = {kind: out / kind / f'{stem}.png' for kind in ('cover',) + KINDS}
        cover = crops[cover_i]
        save_image(cover, files['cover'])
        cover_read = _read_back(files['cover'])
        secrets = torch.stack([hwc_to_chw(crops[i]) for i in secret_is])
        result = round_trip(model, hwc_to_chw(cover_read)[None], secrets, gaussian_scale=gaussian_scale,
                            generator=generator)
        save_image(result.stego, files['stego'])
        save_image(hwc_to_chw(cover_read), files['resaved'])
        lsbm = cl.lsb.simulate(cover_read, lsbm_rate, modify=cl.LSB_MATCHING, seed=seed * 100003 + index)
        save_image(lsbm.astype(np.uint8), files['lsbm'])
        pairs.append(Pair(index=index, name=names[cover_i], secrets=tuple(names[i] for i in secret_is),
                          cover=files['cover'], stego=files['stego'], resaved=files['resaved'],
                          lsbm=files['lsbm'], **result.psnr_metrics()))
    return pairs, skipped


def fold_assignment(num_pairs: int, folds: int, seed: int) -> np.ndarray:
    """The test fold (0 .. folds - 1) of each pair, balanced, by cover image: a cover and everything made from it
    are on one side of every split."""
    if folds < 2:
        raise ValueError(f'--folds must be at least 2, got {folds}')
    if num_pairs < 2 * folds:
        raise ValueError(f'{num_pairs} pairs are too few for {folds} folds (need at least {2 * folds})')
    order = np.random.default_rng(seed + 1).permutation(num_pairs)
    assignment = np.empty(num_pairs, dtype=int)
    assignment[order] = np.arange(num_pairs) % folds
    return assignment


def paths_of(pairs: Sequence[Pair], kind: str) -> list[Path]:
    """The files of one kind (``cover``, ``stego``, ``resaved``, ``lsbm``) of every pair, in pair order."""
    return [getattr(pair, kind) for pair in pairs]
