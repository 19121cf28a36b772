"""Evaluate model folders on a folder of photographs as test.py does (hide, 8-bit PNG, reveal; RGB PSNR) and write
the table of docs/bundled_models.md.

    python -m benchmarks.bundled_models --photos datasets/photos_heldout \\
        --models experiments/pretrained_models/InvMIHNet_4images_demo experiments/pretrained_models/InvMIHNet_4images_cpu \\
        --results benchmarks/results/bundled_models.json

``--photos`` holds images of one size (e.g. ``python -m scripts.prepare_testset ... --size 256``), taken in sets
of N + 1 (cover, then the N secrets) in name order; clean and after JPEG 90 (4:2:0) of the stego, test seed 0.
``outline leak`` is the correlation of the residual |stego - cover| with the outlines (Sobel) of the set's own
secrets' mosaic; ``outline leak, other set`` the same with the next set's secrets, the level of chance.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch
import yaml

import test as test_script
from models.model_folder import IIH_FILE, IIR_FILE, load_model_folder
from models.mosaic import from_tiles
from options import parse
from utils.image_io import chw_to_hwc, hwc_to_chw, read_image, resize_image
from utils.metrics import residual_edge_correlation
from utils.results import write_results

COLUMNS = ('model', 'trained on', 'iterations', 'image sets', 'stego PSNR', 'secret PSNR', 'secret PSNR JPEG 90',
           'stego SSIM', 'secret SSIM', 'outline leak', 'outline leak, other set')


def _mosaic(secrets: list[np.ndarray], scale_h: int, scale_w: int) -> np.ndarray:
    """The secrets (HxWx3 floats) downscaled (area) to tiles and laid out row-major on the stego's grid."""
    height, width = secrets[0].shape[:2]
    tiles = torch.stack([hwc_to_chw(resize_image(secret, height // scale_h, width // scale_w)) for secret in secrets])
    return chw_to_hwc(from_tiles(tiles, scale_h, scale_w)[0])


def outline_leak(out_dir: Path, scale_h: int, scale_w: int) -> tuple[float, float]:
    """From test.py's saved images: the mean correlation of each set's residual with the outlines of its own
    secrets' mosaic (:func:`utils.metrics.residual_edge_correlation`), and with the next set's (the level of
    chance)."""
    covers = sorted((out_dir / 'cover').iterdir())
    sets = [(read_image(path), read_image(out_dir / 'steg' / path.name),
             _mosaic([read_image(p) for p in sorted((out_dir / 'secret').glob(path.name.split('_')[0] + '_*'))],
                     scale_h, scale_w)) for path in covers]
    own = [residual_edge_correlation(c * 255, s * 255, m * 255) for c, s, m in sets]
    other = [residual_edge_correlation(c * 255, s * 255, sets[(i + 1) % len(sets)][2] * 255)
             for i, (c, s, _) in enumerate(sets)]
    return float(np.nanmean(own)), float(np.nanmean(other))


def evaluate(folder: Path, photos: Path, work: Path) -> dict:
    """One row: the model folder ``folder`` evaluated by test.py on ``photos``."""
    net, info = load_model_folder(folder)
    config = info.config
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
    sets = len(sorted(p for p in photos.iterdir() if p.is_file())) // (config.num_images + 1)
    leak, chance = outline_leak(Path(parsed['path']['results_root']) / 'photos', config.scale_h, config.scale_w)
    return {'model': folder.name, 'trained on': info.training.data, 'iterations': info.training.iterations,
            'image sets': sets, 'stego PSNR': means['stego_psnr'], 'secret PSNR': means['secret_psnr'],
            'secret PSNR JPEG 90': attacked['jpeg90']['secret_psnr'],
            'stego SSIM': means['stego_ssim'], 'secret SSIM': means['secret_ssim'], 'outline leak': leak,
            'outline leak, other set': chance}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--photos', required=True, help='folder of same-size photographs never trained on')
    parser.add_argument('--models', nargs='+', required=True, help='model folders')
    parser.add_argument('--results', default=None, help='results file (JSON) to write')
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        rows = [evaluate(Path(folder), Path(args.photos), Path(work)) for folder in args.models]
    for row in rows:
        print(row)
    if args.results:
        write_results(args.results, rows, COLUMNS, notes=f'photographs: {Path(args.photos).name}, RGB PSNR (dB) '
                                                          f'revealed from the 8-bit PNG stego, test seed 0')


if __name__ == '__main__':
    main()
