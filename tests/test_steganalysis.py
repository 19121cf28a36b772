"""steganalysis.py: P_E / AUC on known scores, pair and fold planning, and the script end to end on a tiny set."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import steganalysis
from models.checkpoint import save_iih, save_iir
from models.config import NetworkConfig
from models.invmihnet import InvMIHNet
from security.features import pixel_key, read_pixels
from security.metrics import best_threshold, min_pe, roc_auc, roc_curve
from security.pairs import choose_pairs, fold_assignment

REPO = Path(__file__).resolve().parents[1]
ROW_KEYS = {'accuracy', 'pe', 'pe_std', 'auc', 'folds', 'pairs'}


def test_pe_and_auc_on_known_scores():
    labels = np.array([0, 0, 0, 1, 1, 1])
    scores = np.array([0.1, 0.4, 0.35, 0.8, 0.3, 0.9])
    # stego > cover in 7 of the 9 (stego, cover) pairs; the best threshold (0.8) misses one stego of three
    assert roc_auc(labels, scores) == pytest.approx(7 / 9)
    assert min_pe(labels, scores) == pytest.approx(1 / 6)
    assert min_pe(labels, labels * 2.0) == 0.0 and roc_auc(labels, labels * 2.0) == 1.0
    assert roc_auc(labels, -labels * 1.0) == 0.0 and min_pe(labels, -labels * 1.0) == 0.5
    assert min_pe(labels, np.ones(6)) == 0.5 and roc_auc(labels, np.ones(6)) == 0.5
    ties = np.array([1.0, 2.0, 3.0, 1.0, 2.0, 3.0])
    assert min_pe(labels, ties) == 0.5 and roc_auc(labels, ties) == 0.5
    p_fa, p_d, _ = roc_curve(labels, scores)
    assert (p_fa[0], p_d[0], p_fa[-1], p_d[-1]) == (0, 0, 1, 1)
    assert np.all(np.diff(p_fa) >= 0) and np.all(np.diff(p_d) >= 0)
    with pytest.raises(ValueError, match='both classes'):
        min_pe(np.ones(3), np.arange(3.0))


def test_best_threshold_learns_the_direction():
    labels = np.array([0, 0, 0, 1, 1, 1])
    sign, threshold = best_threshold(labels, np.array([5.0, 6.0, 7.0, 1.0, 2.0, 3.0]))
    assert sign == -1.0 and threshold == pytest.approx(-4.0)
    sign, threshold = best_threshold(labels, np.array([1.0, 2.0, 3.0, 5.0, 6.0, 7.0]))
    assert sign == 1.0 and threshold == pytest.approx(4.0)


def test_pairs_and_folds_are_seeded_and_split_by_cover():
    plan = choose_pairs(num_images=10, num_pairs=8, num_secrets=4, seed=3)
    assert plan == choose_pairs(num_images=10, num_pairs=8, num_secrets=4, seed=3)
    covers = [cover for cover, _ in plan]
    assert len(set(covers)) == 8
    for cover, secrets in plan:
        assert len(set(secrets)) == 4 and cover not in secrets
    folds = fold_assignment(10, 3, seed=0)
    assert sorted(np.bincount(folds)) == [3, 3, 4]
    assert np.array_equal(folds, fold_assignment(10, 3, seed=0))
    with pytest.raises(ValueError, match='too few'):
        fold_assignment(5, 3, seed=0)
    with pytest.raises(ValueError, match='at least 5'):
        choose_pairs(num_images=4, num_pairs=4, num_secrets=4, seed=0)


def _random_checkpoints(tmp_path: Path) -> tuple[Path, Path]:
    """A 1-block IIR / 1-block IIH network with random weights that visibly change the cover."""
    torch.manual_seed(0)
    net = InvMIHNet(NetworkConfig(2, 2, (1,), False, 1, 3))
    with torch.no_grad():
        for param in net.parameters():
            param.add_(torch.randn_like(param) * 0.05)
    iir, iih = tmp_path / 'IIR_tiny.pth', tmp_path / 'IIH_tiny.pth'
    save_iir(net.iir, iir)
    save_iih(net.iih, iih)
    return iir, iih


def _tiny_options(tmp_path: Path) -> Path:
    iir, iih = _random_checkpoints(tmp_path)
    opt = {'name': 'tiny_steganalysis', 'model': 'InvMIHNet', 'scale_H': 2, 'scale_W': 2,
           'datasets': {'test_1': {'name': 'kodak_demo', 'mode': 'Steg',
                                   'dataroot_GT': str(REPO / 'datasets' / 'kodak_demo')}},
           'network_G': {'which_model_G': {'subnet_type': 'DBNet'}, 'block_num': [1]},
           'network_H': {'block_num': 1},
           'path': {'root': str(tmp_path), 'pretrain_model_G': str(iir), 'pretrain_model_H': str(iih)}}
    path = tmp_path / 'tiny.yml'
    path.write_text(yaml.safe_dump(opt))
    return path


@pytest.mark.slow
def test_steganalysis_end_to_end_on_a_tiny_set(tmp_path):
    out = tmp_path / 'out'
    rows = steganalysis.main(['-opt', str(_tiny_options(tmp_path)), '--pairs', '12', '--size', '64',
                              '--folds', '2', '--epochs', '1', '--cnn-crop', '32', '--workers', '1',
                              '--out', str(out), '--results', str(tmp_path / 'results.json')])
    for name in ('steganalysis.json', 'steganalysis.csv', 'pairs.csv', 'run.json', 'roc.png'):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    saved = json.loads((out / 'steganalysis.json').read_text())
    assert set(saved) == set(rows)
    for name, row in rows.items():
        assert saved[name] == pytest.approx(row), name
    detectors = ('spam_fld', 'crm_fld', 'chi2', 'ws', 'xunet')
    expected = {f'{task}/{d}' for task in ('cover_vs_stego', 'cover_vs_resaved', 'cover_vs_lsbm0.4')
                for d in detectors}
    assert set(saved) == expected
    for name, row in saved.items():
        assert ROW_KEYS <= set(row), name
        assert 0 <= row['accuracy'] <= 1 and 0 <= row['pe'] <= 0.5 and 0 <= row['auc'] <= 1, name
        assert row['pe_std'] >= 0 and row['folds'] == 2 and row['pairs'] == 12, name
    for detector in detectors:
        # the re-saved cover has the cover's pixels: every detector must score them alike, exactly chance
        row = saved[f'cover_vs_resaved/{detector}']
        assert row['pe'] == 0.5 and row['auc'] == 0.5, detector
    with open(out / 'steganalysis.csv', newline='') as handle:
        table = list(csv.DictReader(handle))
    assert {r['row'] for r in table} == expected
    with open(out / 'pairs.csv', newline='') as handle:
        pairs = list(csv.DictReader(handle))
    assert len(pairs) == 12 and len({p['cover'] for p in pairs}) == 12
    assert {p['fold'] for p in pairs} == {'0', '1'}
    run = json.loads((out / 'run.json').read_text())
    assert run['pairs'] == 12 and run['resaved_identical_to_cover'] == 12
    assert 0 < run['stego_psnr'] < 60 and np.isfinite(run['secret_psnr_from_png'])
    distinct = set()
    for kind in ('cover', 'stego', 'resaved', 'lsbm'):
        files = sorted((out / 'images' / kind).glob('*.png'))
        assert len(files) == 12, kind
        assert files[0].read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
        distinct |= {pixel_key(read_pixels(f)) for f in files}
    assert len(distinct) == 36  # the re-saved covers have the covers' pixels
    cached = list((out / 'feature_cache').rglob('*.npy'))
    assert len(cached) == 4 * 36  # spam, crm, chi2, ws: once per distinct image
    results = json.loads((tmp_path / 'results.json').read_text())
    assert results['columns'] == ['row', 'accuracy', 'P_E', 'AUC'] and 'cpu' in results['machine']
    assert [r['row'] for r in results['rows']] == list(rows)
    crm = rows['cover_vs_stego/crm_fld']
    assert results['rows'][1]['P_E'] == f"{crm['pe']:.3f} ± {crm['pe_std']:.3f}"
    assert '12 pairs of 64 x 64' in results['notes'] and f"{run['stego_psnr']:.2f} dB" in results['notes']


def test_size_that_does_not_fit_the_grid_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match=r'error: the --size crop size 66 x 66 .* 2 x 2 grid'):
        steganalysis.main(['-opt', str(_tiny_options(tmp_path)), '--size', '66', '--pairs', '6', '--folds', '2',
                           '--out', str(tmp_path / 'out')])
