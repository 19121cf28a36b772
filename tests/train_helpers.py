"""Small training configurations for the tests: tiny networks, small crops, real photographs."""
from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
PHOTOS = REPO / 'datasets' / 'kodak_demo'


def tiny_train_options(tmp_path: Path, name: str = 'tiny', niter: int = 6, save_freq: int = 3,
                       val_freq: int = 1000, **train_overrides) -> Path:
    """A 4-image training option file (IIR [1], IIH 2 blocks, 32 x 32 crops) writing under ``tmp_path``."""
    opt = yaml.safe_load((REPO / 'options/train/train_InvMIHNet_4images_demo.yml').read_text())
    opt['name'] = name
    opt['gpu_ids'] = None
    opt['datasets']['train'].update(dataroot_GT=str(PHOTOS / 'train'), GT_size=32)
    opt['datasets']['val'].update(dataroot_GT=str(PHOTOS / 'test'), max_batches=1)
    opt['network_G']['block_num'] = [1]
    opt['network_H']['block_num'] = 2
    opt['path']['root'] = str(tmp_path)
    opt['train'].update(niter=niter, val_freq=val_freq, warmup_iter=-1, lr_steps=[4], **train_overrides)
    opt['logger'].update(print_freq=1, save_checkpoint_freq=save_freq)
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / f'{name}.yml'
    path.write_text(yaml.safe_dump(opt))
    return path
