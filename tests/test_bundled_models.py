"""benchmarks.bundled_models: a model folder's row (test.py's metrics, JPEG 90, the outline leak), and the
outline leak finds the secrets' edges in a residual that carries them."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image
from skimage.filters import sobel

from benchmarks.bundled_models import _mosaic, evaluate, outline_leak
from utils.image_io import save_image
from utils.metrics import residual_edge_correlation, rgb_to_y

DEMO = 'experiments/pretrained_models/InvMIHNet_4images_demo'


def _photos(folder, count: int, size: int = 64):
    folder.mkdir()
    sources = sorted(p for p in Path('datasets/kodak_demo/test').iterdir() if p.suffix == '.png')
    for i in range(count):
        image = Image.open(sources[i % len(sources)]).convert('RGB').resize((size, size), Image.BICUBIC)
        image.save(folder / f'{i:02d}.png')
    return folder


def test_a_model_folder_row(tmp_path):
    (tmp_path / 'work').mkdir()
    row = evaluate(Path(DEMO), _photos(tmp_path / 'photos', 10), tmp_path / 'work')
    assert row['model'] == 'InvMIHNet_4images_demo' and row['image sets'] == 2 and row['iterations'] == 1500
    for key in ('stego PSNR', 'secret PSNR', 'secret PSNR JPEG 90'):
        assert 10 < row[key] < 60, (key, row[key])
    assert row['secret PSNR JPEG 90'] < row['secret PSNR']
    assert -1 <= row['outline leak'] <= 1 and -1 <= row['outline leak, other set'] <= 1


def test_the_outline_leak_sees_secret_edges_in_the_residual(tmp_path):
    rng = np.random.default_rng(0)
    for b in range(3):
        cover = rng.uniform(0.2, 0.8, (32, 32, 3))
        secrets = []
        for i in range(4):
            secret = np.full((32, 32, 3), 0.1)
            top, left = rng.integers(2, 14, 2)
            secret[top:top + 14, left:left + 14] = 0.9
            secrets.append(secret)
            save_image(secret.astype(np.float32), tmp_path / 'secret' / f'b{b:04d}_{i + 1:02d}_s.png')
        edges = sobel(rgb_to_y(_mosaic([s.astype(np.float32) for s in secrets], 2, 2) * 255))
        stego = np.clip(cover + 0.002 * edges[..., None], 0, 1)
        save_image(cover.astype(np.float32), tmp_path / 'cover' / f'b{b:04d}_c.png')
        save_image(stego.astype(np.float32), tmp_path / 'steg' / f'b{b:04d}_c.png')
    leak, chance = outline_leak(tmp_path, 2, 2)
    assert leak > 0.5 and abs(chance) < 0.3


def test_residual_edge_correlation_is_nan_for_a_flat_residual():
    image = np.random.default_rng(1).integers(0, 255, (16, 16, 3)).astype(np.uint8)
    assert math.isnan(residual_edge_correlation(image, image, image))
