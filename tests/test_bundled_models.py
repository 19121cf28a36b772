"""benchmarks.bundled_models: a model folder's row (test.py's metrics, JPEG 90, what the residual shows), the
outline leak finds the secrets' edges in a residual that carries them, and the artefact measures find a colour
cast, tinted tiles and a 2-pixel grid put into a stego, and nothing in a clean one."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage.filters import sobel

from benchmarks.bundled_models import _mosaic, evaluate, every_cover_sets, residual_measures
from utils.image_io import save_image
from utils.metrics import (colour_shift, pixel_grid_ratio, residual_colour_correlation, residual_edge_correlation,
                           residual_pattern_correlation, residual_texture_correlation, residual_wavelet_correlation,
                           rgb_to_y, tile_seam_ratio)

DEMO = 'experiments/pretrained_models/InvMIHNet_4images_demo'


def _photos(folder, count: int, size: int = 64):
    folder.mkdir()
    sources = sorted(p for p in Path('datasets/kodak_demo/test').iterdir() if p.suffix == '.png')
    for i in range(count):
        image = Image.open(sources[i % len(sources)]).convert('RGB').resize((size, size), Image.BICUBIC)
        image.save(folder / f'{i:02d}.png')
    return folder


def _haar_image(coefficients: np.ndarray) -> np.ndarray:
    """The H x W x C image whose 2 x 2 blocks have the orthonormal Haar coefficients (LL, HL, LH, HH of each
    channel, (H / 2) x (W / 2) x 4C) ``coefficients``."""
    ll, hl, lh, hh = np.split(coefficients, 4, axis=2)
    image = np.zeros((2 * ll.shape[0], 2 * ll.shape[1], ll.shape[2]))
    image[0::2, 0::2] = (ll + hl + lh + hh) / 2
    image[0::2, 1::2] = (ll - hl + lh - hh) / 2
    image[1::2, 0::2] = (ll + hl - lh - hh) / 2
    image[1::2, 1::2] = (ll - hl - lh + hh) / 2
    return image


def test_the_wavelet_leak_sees_the_secrets_colour_in_the_residuals_stripes():
    rng = np.random.default_rng(9)
    reference = np.kron(rng.uniform(20, 235, (16, 16, 3)), np.ones((2, 2, 1)))
    cover = rng.uniform(60, 190, (32, 32, 3))
    noise = rng.normal(0, 1, cover.shape)
    coefficients = np.zeros((16, 16, 12))
    coefficients[..., 3:6] = 0.05 * reference[0::2, 0::2] @ np.array([[1.0, 0, 0], [0.5, 1, 0], [0, 0, -1]])
    stripes = _haar_image(coefficients)
    assert residual_wavelet_correlation(cover, cover + noise + stripes, reference) > 0.9
    assert residual_wavelet_correlation(cover, cover + noise + stripes, reference, 2, 2) > 0.9
    assert residual_wavelet_correlation(cover, cover + noise, reference) < 0.5
    other = np.kron(rng.uniform(20, 235, (16, 16, 3)), np.ones((2, 2, 1)))
    assert residual_wavelet_correlation(cover, cover + noise + stripes, other) < 0.5
    assert residual_pattern_correlation(cover, cover + noise + stripes, reference) < 0.5
    cast = cover + noise + stripes + np.array([20.0, 0.0, -20.0])
    assert abs(residual_wavelet_correlation(cover, cast, reference)
               - residual_wavelet_correlation(cover, cover + noise + stripes, reference)) < 1e-9
    assert math.isnan(residual_wavelet_correlation(cover, cover, reference))
    with pytest.raises(ValueError, match='32x32 does not split into 1x3 tiles of even size'):
        residual_wavelet_correlation(cover, cover, reference, 1, 3)


def test_a_model_folder_row(tmp_path):
    (tmp_path / 'work').mkdir()
    row = evaluate(Path(DEMO), _photos(tmp_path / 'photos', 10), tmp_path / 'work')
    assert row['model'] == 'InvMIHNet_4images_demo' and row['image sets'] == 2 and row['iterations'] == 1500
    for key in ('stego PSNR', 'secret PSNR', 'secret PSNR JPEG 90'):
        assert 10 < row[key] < 60, (key, row[key])
    assert row['secret PSNR JPEG 90'] < row['secret PSNR']
    for key in ('outline leak', 'outline leak, other set', 'texture leak', 'texture leak, other set'):
        assert -1 <= row[key] <= 1, (key, row[key])
    for key in ('colour leak', 'colour leak, other set', 'pattern leak', 'pattern leak, other set', 'wavelet leak',
                'wavelet leak, other set'):
        assert 0 <= row[key] <= 1, (key, row[key])
    assert 0 <= row['colour shift'] < 255 and row['tile seams'] > 0 and row['pixel grid'] > 0


def test_every_cover_makes_one_set_per_photograph(tmp_path):
    photos = _photos(tmp_path / 'photos', 6, size=16)
    (photos / 'README.md').write_text('not a photograph')
    sets = every_cover_sets(photos, 4, tmp_path / 'sets')
    links = sorted(sets.iterdir())
    assert len(links) == 30
    assert [link.resolve().name for link in links[5:10]] == ['01.png', '02.png', '03.png', '04.png', '05.png']
    assert [link.resolve().name for link in links[25:30]] == ['05.png', '00.png', '01.png', '02.png', '03.png']
    (tmp_path / 'work').mkdir()
    row = evaluate(Path(DEMO), photos, tmp_path / 'work', every_cover=True)
    assert row['image sets'] == 6
    with pytest.raises(ValueError, match='4 photographs, a set of a cover and 4 secrets needs 5'):
        every_cover_sets(_photos(tmp_path / 'few', 4), 4, tmp_path / 'few_sets')


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
    measures = residual_measures(tmp_path, 2, 2)
    assert measures['outline leak'] > 0.5 and abs(measures['outline leak, other set']) < 0.3
    for folder in ('cover', 'steg'):
        for path in (tmp_path / folder).glob('b000[12]_*'):
            path.unlink()
    alone = residual_measures(tmp_path, 2, 2)
    assert alone['outline leak'] > 0.5 and math.isnan(alone['outline leak, other set'])


def test_a_colour_cast_does_not_hide_the_outline_leak():
    rng = np.random.default_rng(4)
    cover = rng.uniform(60, 190, (32, 32, 3))
    reference = np.zeros((32, 32, 3))
    reference[:, 16:] = 200
    stego = cover + rng.normal(0, 1, cover.shape) + 6 * (sobel(rgb_to_y(reference)) > 0)[..., None]
    plain = residual_edge_correlation(cover, stego, reference)
    assert plain > 0.8
    assert abs(residual_edge_correlation(cover, stego + np.array([20.0, 0.0, -20.0]), reference) - plain) < 1e-9


def test_the_texture_leak_sees_busy_secret_regions_in_the_residual():
    rng = np.random.default_rng(5)
    busy = np.kron(rng.random((4, 4)) > 0.5, np.ones((8, 8)))[..., None]
    reference = 120 + busy * rng.uniform(-60, 60, (32, 32, 3))
    cover = rng.uniform(60, 190, (32, 32, 3))
    noise = rng.normal(0, 1, cover.shape)
    assert residual_texture_correlation(cover, cover + noise * (1 + 4 * busy), reference) > 0.8
    assert abs(residual_texture_correlation(cover, cover + noise, reference)) < 0.5
    with pytest.raises(ValueError, match='30x32 does not split into 8-pixel blocks'):
        residual_texture_correlation(cover[:30], cover[:30], reference[:30])


def test_the_colour_leak_sees_the_secrets_regions_in_the_residuals_hue():
    rng = np.random.default_rng(6)
    regions = np.kron(rng.random((8, 8)) > 0.5, np.ones((4, 4)))[..., None]
    reference = np.where(regions, [200.0, 60.0, 60.0], [60.0, 60.0, 200.0]) + rng.normal(0, 2, (32, 32, 3))
    cover = rng.uniform(60, 190, (32, 32, 3))
    noise = np.abs(rng.normal(0, 2, (32, 32, 3))) * rng.choice([-1, 1], (32, 32, 3))
    hue = np.where(regions, [1.0, 0.2, 0.2], [0.2, 0.2, 1.0])
    mean_strength = np.abs(noise * hue).mean(axis=2, keepdims=True)
    tinted = cover + noise * hue / mean_strength * np.abs(noise).mean()
    assert residual_colour_correlation(cover, tinted, reference) > 0.8
    assert residual_texture_correlation(cover, tinted, reference) < 0.5
    assert residual_colour_correlation(cover, cover + noise, reference) < 0.5
    assert residual_colour_correlation(cover, tinted, reference, 2, 2) > 0.8
    assert math.isnan(residual_colour_correlation(cover, cover, reference))
    with pytest.raises(ValueError, match='32x32 does not split into 3x1 tiles of 4-pixel blocks'):
        residual_colour_correlation(cover, tinted, reference, 3, 1)


def test_the_colour_leak_does_not_count_tiles_that_only_differ_in_level():
    rng = np.random.default_rng(7)
    reference = np.kron(rng.uniform(40, 220, (2, 2, 3)), np.ones((16, 16, 1))) + rng.normal(0, 2, (32, 32, 3))
    cover = rng.uniform(60, 190, (32, 32, 3))
    stego = cover + rng.normal(0, 1, cover.shape) * np.kron(rng.uniform(1, 4, (2, 2, 3)), np.ones((16, 16, 1)))
    assert residual_colour_correlation(cover, stego, reference) > 0.8
    assert residual_colour_correlation(cover, stego, reference, 2, 2) < 0.5


def _fine(image: np.ndarray) -> np.ndarray:
    """``image`` less its 5 x 5 box mean (edges replicated), the detail the pattern leak compares."""
    padded = np.pad(image, 2, mode='edge')
    return image - np.mean([padded[i:i + image.shape[0], j:j + image.shape[1]] for i in range(5) for j in range(5)],
                           axis=0)


def test_the_pattern_leak_sees_the_secrets_fine_lines_in_the_residual():
    rng = np.random.default_rng(8)
    reference = np.clip(rng.normal(120, 40, (32, 32, 3)), 0, 255)
    cover = rng.uniform(60, 190, (32, 32, 3))
    noise = rng.normal(0, 1, cover.shape)
    detail = _fine(rgb_to_y(reference))
    lines = 0.05 * (np.roll(detail, 1, axis=1) - detail)[..., None] * np.array([1.0, 0.5, -0.5])
    assert residual_pattern_correlation(cover, cover + noise + lines, reference) > 0.8
    assert residual_pattern_correlation(cover, cover + noise + lines, reference, 2, 2) > 0.8
    assert residual_pattern_correlation(cover, cover + noise, reference) < 0.3
    other = np.clip(rng.normal(120, 40, (32, 32, 3)), 0, 255)
    assert residual_pattern_correlation(cover, cover + noise + lines, other) < 0.3
    assert residual_edge_correlation(cover, cover + noise + lines, reference) < 0.5
    cast = cover + noise + lines + np.array([20.0, 0.0, -20.0])
    assert abs(residual_pattern_correlation(cover, cast, reference)
               - residual_pattern_correlation(cover, cover + noise + lines, reference)) < 1e-9
    assert math.isnan(residual_pattern_correlation(cover, cover, reference))
    with pytest.raises(ValueError, match='32x32 does not split into 3x1 tiles'):
        residual_pattern_correlation(cover, cover, reference, 3, 1)


def test_residual_edge_correlation_is_nan_for_a_flat_residual():
    image = np.random.default_rng(1).integers(0, 255, (16, 16, 3)).astype(np.uint8)
    assert math.isnan(residual_edge_correlation(image, image, image))


def _cover_and_noise(seed: int = 2):
    rng = np.random.default_rng(seed)
    y, x = np.indices((64, 64))
    cover = (40 + 2 * x + 30 * np.sin(y / 5))[..., None] + rng.normal(0, 2, (64, 64, 3))
    return cover, cover + rng.normal(0, 3, cover.shape)


def test_a_noise_residual_shows_no_artefact():
    cover, stego = _cover_and_noise()
    assert colour_shift(cover, stego) < 0.3
    assert abs(tile_seam_ratio(cover, stego, 2, 2) - 1) < 0.25
    assert abs(pixel_grid_ratio(cover, stego) - 1) < 0.05


def test_a_colour_cast_is_measured_in_levels():
    cover, stego = _cover_and_noise()
    stego[..., 2] -= 5
    assert 4.5 < colour_shift(cover, stego) < 5.5


def test_tinted_tiles_show_at_the_seams():
    cover, stego = _cover_and_noise()
    stego[:32, 32:, 0] += 4
    stego[32:, :32, 1] -= 4
    assert tile_seam_ratio(cover, stego, 2, 2) > 2
    assert abs(tile_seam_ratio(cover, stego, 4, 4) - tile_seam_ratio(cover, stego, 2, 2)) > 0.2


def test_a_two_pixel_grid_shows_in_the_blockiness():
    cover, stego = _cover_and_noise()
    offsets = np.random.default_rng(3).normal(0, 6, (32, 32, 3))
    blocky = stego + np.kron(offsets, np.ones((2, 2, 1)))
    diagonal = stego + np.kron(offsets, np.array([[1, -1], [-1, 1]])[..., None])
    assert pixel_grid_ratio(cover, blocky) > 1.2
    assert pixel_grid_ratio(cover, diagonal) < 0.9


def test_the_seam_ratio_names_a_shape_that_does_not_split():
    cover, stego = _cover_and_noise()
    with pytest.raises(ValueError, match='60x64 does not split into 2x2 tiles of 8-pixel blocks'):
        tile_seam_ratio(cover[:60], stego[:60], 2, 2)
