"""test.attacks in test.py: every attack evaluated on the saved 8-bit stego; metrics.csv rows, robustness.json,
the console table and robustness.png."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import pytest
import torch
import yaml

import test as test_script
from models.checkpoint import save_iih, save_iir
from models.config import NetworkConfig
from models.invmihnet import InvMIHNet
from models.distortions import attack, parse_distortion
from options import parse
from utils.metrics import psnr

ATTACKS = ['none', 'jpeg90', 'jpeg50', 'gaussian2', 'resize0.5']


def _option_file(photos, repo, folder: Path, test_section: dict) -> Path:
    """The demo test option with a small randomised 4-image network, on 48 x 48 centre crops of the Kodak test
    crops (one image set)."""
    torch.manual_seed(0)
    net = InvMIHNet(NetworkConfig(2, 2, (1,), iih_block_num=2))
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if 'haar_weights' not in name:
                p.add_(torch.randn(p.shape, generator=g) * 0.01)
    folder.mkdir(parents=True)
    save_iir(net.iir, folder / 'IIR.pth')
    save_iih(net.iih, folder / 'IIH.pth')
    opt = yaml.safe_load((repo / 'options/test/test_InvMIHNet_4images_demo.yml').read_text())
    opt['gpu_ids'] = None
    opt['datasets']['test_1'].update(dataroot_GT=str(photos / 'test'), max_batches=1)
    opt['network_G']['block_num'] = [1]
    opt['network_H']['block_num'] = 2
    opt['path'].update(pretrain_model_G=str(folder / 'IIR.pth'), pretrain_model_H=str(folder / 'IIH.pth'),
                       root=str(folder))
    opt['test'].update(center_crop=48, **test_section)
    path = folder / 'test.yml'
    path.write_text(yaml.safe_dump(opt))
    return path


def test_attacks_are_evaluated_on_the_saved_stego(tmp_path, metric_keys, photos, repo):
    clean_opt = parse(_option_file(photos, repo, tmp_path / 'clean', {'attacks': ['none']}), is_train=False)
    clean = test_script.run(clean_opt)['kodak_demo_test']
    assert not (Path(clean_opt['path']['results_root']) / 'kodak_demo_test' / 'robustness.json').exists()

    opt = parse(_option_file(photos, repo, tmp_path / 'attacked', {'attacks': ATTACKS}), is_train=False)
    means = test_script.run(opt)['kodak_demo_test']
    out = Path(opt['path']['results_root']) / 'kodak_demo_test'
    assert means == pytest.approx(clean)
    assert json.loads((out / 'metrics.json').read_text())['secret_psnr'] == pytest.approx(clean['secret_psnr'])

    robustness = json.loads((out / 'robustness.json').read_text())
    assert list(robustness) == ATTACKS
    assert all(set(values) == metric_keys for values in robustness.values())
    for key in metric_keys:
        assert robustness['none'][key] == pytest.approx(clean[key])
    stego = torch.from_numpy(cv2.imread(str(next((out / 'steg').glob('b0000_*.png'))))[:, :, ::-1].copy())
    cover = cv2.imread(str(next((out / 'cover').glob('b0000_*.png'))))[:, :, ::-1]
    for name in ATTACKS[1:]:
        attacked = attack(stego.permute(2, 0, 1).float() / 255, parse_distortion(name),
                          torch.Generator().manual_seed(1))
        expected = psnr((attacked * 255).round().permute(1, 2, 0).numpy().astype('uint8'), cover)
        assert robustness[name]['stego_psnr'] == pytest.approx(expected), name
        assert robustness[name]['secret_psnr'] != robustness['none']['secret_psnr'], name

    rows = list(csv.DictReader((out / 'metrics.csv').open()))
    assert [(r['batch'], r['attack']) for r in rows] == [('0', a) for a in ATTACKS]
    assert float(rows[1]['secret_psnr']) == pytest.approx(robustness['jpeg90']['secret_psnr'])
    assert (out / 'robustness.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    log = (Path(opt['path']['results_root']) / f'test_{opt["name"]}.log').read_text()
    table = log[log.index('under attack'):]
    assert all(f'\n{name} ' in table for name in ATTACKS)


def test_attack_noise_is_seeded_and_independent_of_the_other_attacks(tmp_path, photos, repo):
    results = []
    for run, attacks in enumerate((['gaussian4'], ['jpeg90', 'gaussian4'])):
        opt = parse(_option_file(photos, repo, tmp_path / str(run),
                                 {'seed': 5, 'save_images': False, 'attacks': attacks}),
                    is_train=False)
        test_script.run(opt)
        results.append(json.loads((Path(opt['path']['results_root']) / 'kodak_demo_test' /
                                   'robustness.json').read_text())['gaussian4'])
    assert results[0] == results[1]
