"""test.py end to end: folders, metrics.csv / metrics.json, the published float path against the golden stego,
and the errors for test sets of mixed sizes."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import test as test_script
from options import parse


def _write_pngs(images_u8: torch.Tensor, folder: Path) -> None:
    folder.mkdir(parents=True)
    for i, img in enumerate(images_u8):
        cv2.imwrite(str(folder / f'img{i:02d}.png'), img.permute(1, 2, 0).numpy()[:, :, ::-1])


def _read_png(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)[:, :, ::-1]


@pytest.mark.parametrize('num_images', [4, 6])
def test_float_path_reproduces_the_golden_stego(tmp_path, num_images, golden_case, golden_option_file, metric_keys):
    ref = golden_case(num_images)
    _write_pngs((ref['images'] * 255).round().to(torch.uint8), tmp_path / 'photos')
    opt_path = golden_option_file(num_images, tmp_path, dataroot=tmp_path / 'photos',
                               extra='test:\n  reveal_from: float\n  seed: 0\n')
    opt = parse(opt_path, is_train=False)
    means = test_script.run(opt)['DIV2K_valid_HR_1024']
    out = Path(opt['path']['results_root']) / 'DIV2K_valid_HR_1024'
    for sub, count in (('cover', 1), ('steg', 1), ('secret', num_images), ('secret_recover', num_images)):
        assert len(list((out / sub).glob('b0000_*.png'))) == count, sub
    stego = _read_png(out / 'steg' / 'b0000_img00.png').astype(int)
    expected = (ref['steg'] * 255).round().permute(1, 2, 0).numpy().astype(int)
    diff = np.abs(stego - expected)
    assert diff.max() <= 1 and (diff > 0).mean() <= 0.001
    saved = json.loads((out / 'metrics.json').read_text())
    assert metric_keys <= set(saved)
    assert saved['stego_psnr'] == pytest.approx(means['stego_psnr'])
    csv_lines = (out / 'metrics.csv').read_text().strip().splitlines()
    assert len(csv_lines) == 2 and 'stego_psnr' in csv_lines[0]
    cover = _read_png(out / 'cover' / 'b0000_img00.png').astype(float)
    mse = ((stego - cover) ** 2).mean()
    assert saved['stego_psnr'] == pytest.approx(10 * np.log10(255 ** 2 / mse), rel=1e-6)


def test_png_path_differs_from_float_only_slightly(tmp_path, golden_case, golden_option_file):
    ref = golden_case(4)
    _write_pngs((ref['images'] * 255).round().to(torch.uint8), tmp_path / 'photos')
    results = {}
    for mode in ('png', 'float'):
        opt_path = golden_option_file(4, tmp_path / mode, dataroot=tmp_path / 'photos',
                                   extra=f'test:\n  reveal_from: {mode}\n  seed: 3\n')
        results[mode] = test_script.run(parse(opt_path, is_train=False))['DIV2K_valid_HR_1024']
    assert results['png']['stego_psnr'] == results['float']['stego_psnr']
    assert results['png']['secret_psnr'] != results['float']['secret_psnr']
    assert abs(results['png']['secret_psnr'] - results['float']['secret_psnr']) < 3


def test_mixed_sizes_error_and_center_crop(tmp_path, golden_option_file):
    photos = tmp_path / 'photos'
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(5):
        size = (72, 80) if i % 2 else (64, 64)
        cv2.imwrite(str(photos / f'p{i}.png'), rng.integers(0, 256, (*size, 3), dtype=np.uint8))
    opt_path = golden_option_file(4, tmp_path, dataroot=photos)
    with pytest.raises(ValueError, match='same size'):
        test_script.run(parse(opt_path, is_train=False))
    opt_path = golden_option_file(4, tmp_path, dataroot=photos, extra='test:\n  center_crop: 64\n  save_images: false\n')
    means = test_script.run(parse(opt_path, is_train=False))['DIV2K_valid_HR_1024']
    assert np.isfinite(means['secret_psnr'])


def test_cli_reports_errors_without_traceback(tmp_path, golden_option_file):
    opt_path = golden_option_file(4, tmp_path, dataroot=tmp_path / 'missing')
    with pytest.raises(SystemExit, match=r'error: .*datasets\.test_1\.dataroot_GT'):
        test_script.main(['-opt', str(opt_path)])
    assert not (tmp_path / 'results').exists()


def test_missing_checkpoint_leaves_nothing_behind_and_says_where_to_get_it(tmp_path, golden_option_file):
    opt_path = golden_option_file(4, tmp_path, dataroot=tmp_path / 'photos')
    opt_path.write_text(opt_path.read_text().replace('IIR_4images_golden.pth', 'IIR_4images.pth'))
    with pytest.raises(SystemExit, match=r'IIR checkpoint .*IIR_4images.pth does not exist .*Google Drive.*'
                                         r'README.md.*drive.google.com'):
        test_script.main(['-opt', str(opt_path)])
    assert not (tmp_path / 'results').exists()
