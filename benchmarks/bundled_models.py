"""Evaluate model folders on a folder of photographs as test.py does (hide, 8-bit PNG, reveal; RGB PSNR) and write
the table of docs/bundled_models.md.

    python -m benchmarks.bundled_models --photos datasets/photos_heldout \\
        --models experiments/pretrained_models/InvMIHNet_4images_demo experiments/pretrained_models/InvMIHNet_4images_cpu \\
        --results benchmarks/results/bundled_models.json

``--photos`` holds images of one size (e.g. ``python -m scripts.prepare_testset ... --size 256``), taken in sets
of N + 1 (cover, then the N secrets) in name order; with ``--every-cover`` each photograph is the cover once, its
N successors in name order (cyclically) the secrets, so that a few photographs make as many sets as there are of
them. Clean and after JPEG 90 (4:2:0) of the stego, test seed 0.
``outline leak`` is the correlation of the residual |stego - cover| with the outlines (Sobel) of the set's own
secrets' mosaic; ``outline leak, other set`` the same with the next set's secrets, the level of chance;
``texture leak`` (and its ``other set``) correlates the residual's strength in 8 x 8 blocks with the local
variance of the secrets' mosaic: the secrets' busy and flat regions; ``colour leak`` (and its ``other set``) is the
largest canonical correlation of the residual's strength per channel in 4 x 4 blocks with the mosaic's colour,
local variance and outlines there, each tile centred: the secrets' regions in the residual's hue; ``pattern leak``
(and its ``other set``) the largest canonical correlation, pixel by pixel, of the fine detail of the signed residual
with that of the mosaic's luma around the pixel: thin lines along the secrets' contours; ``wavelet leak`` (and its
``other set``) the largest canonical correlation, over the 2 x 2 blocks of the Haar grid, of the signed residual's
12 Haar coefficients with the mosaic's colour there: the secrets' shapes in the residual's fine stripes. The
artefacts the 10x difference view shows: ``colour shift`` (the stego's largest mean channel difference, in
levels), ``tile seams`` (the residual's jumps across the mosaic's tile seams over its jumps elsewhere, 1: none)
and ``pixel grid`` (the stego's blockiness on the Haar wavelet's 2-pixel grid over the cover's, 1: none).
"""
from __future__ import annotations

import argparse
import json
import math
import tempfile
from pathlib import Path

import numpy as np
import torch
import yaml

import test as test_script
from models.model_folder import IIH_FILE, IIR_FILE, load_model_folder
from models.mosaic import from_tiles
from options import parse
from utils.image_io import chw_to_hwc, hwc_to_chw, list_images, read_image, resize_image
from utils.metrics import (colour_shift, pixel_grid_ratio, residual_colour_correlation, residual_edge_correlation,
                           residual_pattern_correlation, residual_texture_correlation, residual_wavelet_correlation,
                           tile_seam_ratio)
from utils.results import write_results

COLUMNS = ('model', 'trained on', 'iterations', 'image sets', 'stego PSNR', 'secret PSNR', 'secret PSNR JPEG 90',
           'stego SSIM', 'secret SSIM', 'outline leak', 'outline leak, other set', 'texture leak',
           'texture leak, other set', 'colour leak', 'colour leak, other set', 'pattern leak',
           'pattern leak, other set', 'wavelet leak', 'wavelet leak, other set', 'colour shift', 'tile seams',
           'pixel grid')
RESIDUAL_COLUMNS = COLUMNS[-13:]


def _mosaic(secrets: list[np.ndarray], scale_h: int, scale_w: int) -> np.ndarray:
    """The secrets (HxWx3 floats) downscaled (area) to tiles and laid out row-major on the stego's grid."""
    height, width = secrets[0].shape[:2]
    tiles = torch.stack([hwc_to_chw(resize_image(secret, height // scale_h, width // scale_w)) for secret in secrets])
    return chw_to_hwc(from_tiles(tiles, scale_h, scale_w)[0])


def residual_measures(out_dir: Path, scale_h: int, scale_w: int) -> dict[str, float]:
    """From test.py's saved images, the means over the image sets of what the residual shows: the correlation of
    each set's residual with the outlines of its own secrets' mosaic (:func:`utils.metrics.residual_edge_correlation`)
    and with the next set's (the level of chance; NaN for a single set), the same for the texture
    (:func:`utils.metrics.residual_texture_correlation`), the colour
    (:func:`utils.metrics.residual_colour_correlation`) and the fine pattern
    (:func:`utils.metrics.residual_pattern_correlation`), the secret's colour in the residual's Haar coefficients
    (:func:`utils.metrics.residual_wavelet_correlation`), the colour shift, the tile seams and the pixel grid
    (:mod:`utils.metrics`); keyed by ``RESIDUAL_COLUMNS``."""
    covers = sorted((out_dir / 'cover').iterdir())
    sets = [(read_image(path) * 255, read_image(out_dir / 'steg' / path.name) * 255,
             _mosaic([read_image(p) for p in sorted((out_dir / 'secret').glob(path.name.split('_')[0] + '_*'))],
                     scale_h, scale_w) * 255) for path in covers]

    def other(measure, i: int) -> float:
        return measure(*sets[i][:2], sets[(i + 1) % len(sets)][2]) if len(sets) > 1 else math.nan

    def colour(cover: np.ndarray, stego: np.ndarray, mosaic: np.ndarray) -> float:
        return residual_colour_correlation(cover, stego, mosaic, scale_h, scale_w)

    def pattern(cover: np.ndarray, stego: np.ndarray, mosaic: np.ndarray) -> float:
        return residual_pattern_correlation(cover, stego, mosaic, scale_h, scale_w)

    def wavelet(cover: np.ndarray, stego: np.ndarray, mosaic: np.ndarray) -> float:
        return residual_wavelet_correlation(cover, stego, mosaic, scale_h, scale_w)

    values = [(residual_edge_correlation(c, s, m), other(residual_edge_correlation, i),
               residual_texture_correlation(c, s, m), other(residual_texture_correlation, i),
               colour(c, s, m), other(colour, i), pattern(c, s, m), other(pattern, i), wavelet(c, s, m),
               other(wavelet, i),
               colour_shift(c, s), tile_seam_ratio(c, s, scale_h, scale_w), pixel_grid_ratio(c, s))
              for i, (c, s, m) in enumerate(sets)]
    return {key: _mean_of_numbers(column) for key, column in zip(RESIDUAL_COLUMNS, zip(*values))}


def _mean_of_numbers(values) -> float:
    """The mean of the values that are not NaN; NaN when none is."""
    numbers = np.asarray(values, dtype=np.float64)
    numbers = numbers[~np.isnan(numbers)]
    return float(numbers.mean()) if numbers.size else math.nan


def every_cover_sets(photos: Path, secrets: int, out: Path) -> Path:
    """Links in ``out`` (made) to the photographs of ``photos``, as one set per photograph: the photograph as the
    cover, then its ``secrets`` successors in name order, cyclically."""
    files = list_images(photos)
    if len(files) < secrets + 1:
        raise ValueError(f"{photos}: {len(files)} photographs, a set of a cover and {secrets} secrets needs "
                         f"{secrets + 1}")
    out.mkdir(parents=True)
    for k in range(len(files)):
        for j in range(secrets + 1):
            source = files[(k + j) % len(files)]
            (out / f'{k:03d}_{j:02d}{source.suffix}').symlink_to(source.resolve())
    return out


def evaluate(folder: Path, photos: Path, work: Path, every_cover: bool = False) -> dict:
    """One row: the model folder ``folder`` evaluated by test.py on ``photos`` (with ``every_cover``, on
    :func:`every_cover_sets` of them)."""
    net, info = load_model_folder(folder)
    config = info.config
    if every_cover:
        photos = every_cover_sets(photos, config.num_images, work / f'{folder.name}_sets')
    opt = {'name': f'eval_{folder.name}', 'model': 'InvMIHNet', 'scale_H': config.scale_h, 'scale_W': config.scale_w,
           'gpu_ids': None,
           'datasets': {'test_1': {'name': 'photos', 'mode': 'Steg', 'dataroot_GT': str(photos.resolve())}},
           'network_G': {'which_model_G': {'subnet_type': 'DBNet', 'use_ConvDownsampling': config.use_conv_downsampling},
                         'in_nc': 3, 'out_nc': 3, 'block_num': list(config.iir_block_num), 'init': 'xavier'},
           'network_H': {'block_num': config.iih_block_num},
           'path': {'root': str(work), 'pretrain_model_G': str((folder / IIR_FILE).resolve()),
                    'pretrain_model_H': str((folder / IIH_FILE).resolve()), 'strict_load': True},
           'test': {'reveal_from': 'png', 'seed': 0, 'save_images': True, 'attacks': ['none', 'jpeg90'],
                    'trained_distortions': list(info.training.distortion_names)}}
    path = work / f'{folder.name}.yml'
    path.write_text(yaml.safe_dump(opt))
    parsed = parse(path, is_train=False)
    means = test_script.run(parsed)['photos']
    attacked = json.loads((Path(parsed['path']['results_root']) / 'photos' / 'robustness.json').read_text())
    sets = len(list_images(photos)) // (config.num_images + 1)
    residual = residual_measures(Path(parsed['path']['results_root']) / 'photos', config.scale_h, config.scale_w)
    return {'model': folder.name, 'trained on': info.training.data, 'iterations': info.training.iterations,
            'image sets': sets, 'stego PSNR': means['stego_psnr'], 'secret PSNR': means['secret_psnr'],
            'secret PSNR JPEG 90': attacked['jpeg90']['secret_psnr'],
            'stego SSIM': means['stego_ssim'], 'secret SSIM': means['secret_ssim'], **residual}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--photos', required=True, help='folder of same-size photographs never trained on')
    parser.add_argument('--models', nargs='+', required=True, help='model folders')
    parser.add_argument('--every-cover', action='store_true',
                        help='each photograph the cover once, its successors the secrets (a few photographs)')
    parser.add_argument('--results', default=None, help='results file (JSON) to write')
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        rows = [evaluate(Path(folder), Path(args.photos), Path(work), args.every_cover) for folder in args.models]
    for row in rows:
        print(row)
    if args.results:
        sets = ', each the cover once' if args.every_cover else ''
        write_results(args.results, rows, COLUMNS, notes=f'photographs: {Path(args.photos).name}{sets}, RGB PSNR '
                                                          f'(dB) revealed from the 8-bit PNG stego, test seed 0')


if __name__ == '__main__':
    main()
