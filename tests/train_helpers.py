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


def tiny_grid_options(tmp_path: Path, grid: str, name: str = 'tiny', **train_overrides) -> Path:
    """:func:`tiny_train_options` for another shipped grid ('8images', 'HiNet_1image', ...): its scale and IIR
    levels (one block each), crops of 32 x 32."""
    path = tiny_train_options(tmp_path, name=name, **train_overrides)
    opt = yaml.safe_load(path.read_text())
    prefix = 'train_HiNet' if grid.startswith('HiNet') else 'train_InvMIHNet'
    src = yaml.safe_load((REPO / 'options' / 'train' / f'{prefix}_{grid.split("_")[-1]}.yml').read_text())
    opt.update(scale_H=src['scale_H'], scale_W=src['scale_W'])
    opt['network_G'] = src['network_G']
    opt['network_G']['block_num'] = [1] * len(src['network_G']['block_num'])
    path.write_text(yaml.safe_dump(opt))
    return path


def distributed_worker(rank: int, world_size: int, port: int, opt_path: str, out_dir: str,
                       poisoned_rank: int | None) -> None:
    """One rank of a gloo process group running ``train.train``; writes ``rank<k>.pt`` with the first noise it
    drew, its final weights, or the error that stopped it. ``poisoned_rank`` gets a NaN loss from its 2nd step on."""
    import torch
    import torch.distributed as dist

    import train
    from models.divergence import DivergenceError
    from models.invmihnet import InvMIHNet
    from models.invmihnet_model import NonFiniteLossError
    from models.losses import InvMIHNetLoss
    from options import parse

    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank, world_size=world_size)
    noises = []
    real_noise, real_loss = InvMIHNet._noise, InvMIHNetLoss.__call__

    def recording_noise(self, shape, like, generator):
        noises.append(real_noise(self, shape, like, generator).detach().clone())
        return noises[-1]

    def poisoned_loss(self, out, lr_ref, sets=1):
        losses = real_loss(self, out, lr_ref, sets)
        if len(noises) > 2:  # two draws per step: poison the second step
            losses['back_rec'] = losses['back_rec'] * float('nan')
        return losses

    InvMIHNet._noise = recording_noise
    if rank == poisoned_rank:
        InvMIHNetLoss.__call__ = poisoned_loss
    result: dict = {}
    try:
        model = train.train(parse(opt_path, is_train=True), rank, world_size)
        result['weights'] = {k: v.detach().clone() for k, v in model.net.state_dict().items()}
    except (NonFiniteLossError, DivergenceError) as err:
        result['error'] = str(err)
    finally:
        result['noise'] = noises[0]
        dist.destroy_process_group()
        torch.save(result, Path(out_dir) / f'rank{rank}.pt')
