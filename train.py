"""Train InvMIHNet: ``python train.py -opt options/train/train_InvMIHNet_<N>images.yml``.

Distributed: ``torchrun --nproc_per_node=K train.py -opt ... --launcher pytorch`` (gloo on CPU, nccl on CUDA).
"""
from __future__ import annotations

import argparse
import logging
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from data import create_dataloader, create_dataset
from data.image_io import save_image
from models import create_model
from models.checkpoint import CheckpointError
from models.invmihnet_model import InvMIHNetModel, NonFiniteLossError, set_rng_states
from options import OptionError, dict_to_yaml, parse
from utils.device import select_device
from utils.evaluation import evaluate_batch
from utils.logger import archive_existing, setup_logger
from utils.metrics import MetricTable

LOG = 'invmihnet'


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train InvMIHNet.')
    parser.add_argument('-opt', '--opt', required=True, help='path to a training option YAML file')
    parser.add_argument('--launcher', choices=['none', 'pytorch'], default='none',
                        help='pytorch: distributed data parallel under torchrun')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def init_distributed() -> tuple[int, int, int]:
    """Join the process group torchrun set up; returns (rank, world_size, local_rank)."""
    for key in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT'):
        if key not in os.environ:
            raise SystemExit(f'error: --launcher pytorch needs the environment of torchrun ({key} is not set)')
    backend = 'nccl' if torch.cuda.is_available() else 'gloo'
    dist.init_process_group(backend=backend)
    return dist.get_rank(), dist.get_world_size(), int(os.environ['LOCAL_RANK'])


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and Torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def find_resume_state(opt: dict) -> str | None:
    """``path.resume_state``: a file, or ``auto`` for the newest ``<iter>.state`` of this experiment."""
    resume = opt['path']['resume_state']
    if resume != 'auto':
        if resume is not None and not Path(resume).is_file():
            raise SystemExit(f'error: path.resume_state {resume} does not exist')
        return resume
    states = sorted(Path(opt['path']['training_state']).glob('*.state'),
                    key=lambda p: int(p.stem) if p.stem.isdigit() else -1)
    return str(states[-1]) if states else None


def validate(model: InvMIHNetModel, loader, opt: dict, current_step: int, log: logging.Logger,
             tb_writer=None) -> dict[str, float]:
    """Metrics on the validation set (revealing from the 8-bit stego); sample images of the first set."""
    test_opt = opt['test']
    generator = torch.Generator().manual_seed(test_opt['seed'] or 0)
    table = MetricTable()
    max_batches = opt['datasets']['val']['max_batches']
    out_dir = Path(opt['path']['val_images']) / str(current_step)
    for index, batch in enumerate(loader):
        if max_batches is not None and index >= max_batches:
            break
        result = evaluate_batch(model, batch['GT'], 'png', test_opt['gaussian_scale'], generator)
        table.add(result.metrics, index)
        if index == 0:
            save_image(result.cover, out_dir / 'cover.png')
            save_image(result.stego, out_dir / 'stego.png')
            for i, (secret, recovered) in enumerate(zip(result.secrets, result.recovered), 1):
                save_image(secret, out_dir / f'secret_{i:02d}.png')
                save_image(recovered, out_dir / f'secret_recover_{i:02d}.png')
            if tb_writer is not None:
                tb_writer.add_image('val/stego', result.stego, current_step, dataformats='HWC')
                tb_writer.add_image('val/secret_recover_01', result.recovered[0], current_step, dataformats='HWC')
    means = table.means()
    log.info('<iter:%8d> validation: stego PSNR %.2f dB (Y %.2f), SSIM %.4f | secret PSNR %.2f dB (Y %.2f), '
             'SSIM %.4f', current_step, means['stego_psnr'], means['stego_psnr_y'], means['stego_ssim'],
             means['secret_psnr'], means['secret_psnr_y'], means['secret_ssim'])
    if tb_writer is not None:
        for key, value in means.items():
            tb_writer.add_scalar(f'val/{key}', value, current_step)
    return means


def check_replicas_identical(model: InvMIHNetModel, world_size: int, log: logging.Logger) -> None:
    """Every rank must hold the same weights after distributed training; raises if they differ."""
    flat = torch.cat([p.detach().flatten().double().cpu() for p in model.net.parameters()])
    fingerprint = torch.stack([flat.sum(), (flat * torch.arange(flat.numel(), dtype=torch.float64)).sum()])
    gathered = [torch.zeros_like(fingerprint) for _ in range(world_size)]
    dist.all_gather_object(gathered, fingerprint)
    if any(not torch.equal(g, gathered[0]) for g in gathered):
        raise RuntimeError(f'weights differ across ranks: {[g.tolist() for g in gathered]}')
    log.info('Weights identical on all %d ranks', world_size)


def train(opt: dict, rank: int = 0, world_size: int = 1, local_rank: int | None = None) -> InvMIHNetModel:
    """The training loop; returns the trained model."""
    distributed = world_size > 1
    paths = opt['path']
    resume_path = find_resume_state(opt)
    train_opt = opt['train']
    seed = train_opt['manual_seed'] if train_opt['manual_seed'] is not None else random.randint(1, 10000)
    if distributed:
        shared = [seed]
        dist.broadcast_object_list(shared, src=0)
        seed = shared[0]
    # Datasets first: a bad dataroot stops the run before any experiment folder is touched.
    train_ds_opt = opt['datasets']['train']
    train_set = create_dataset(train_ds_opt)
    train_loader = create_dataloader(train_set, train_ds_opt, opt['num_images'], dist=distributed, seed=seed,
                                     rank=rank, world_size=world_size)
    sampler = train_loader.sampler
    batches_per_epoch = len(train_loader)
    val_loader = None
    if 'val' in opt['datasets'] and rank == 0:
        val_set = create_dataset(opt['datasets']['val'])
        val_loader = create_dataloader(val_set, opt['datasets']['val'], opt['num_images'], seed=seed)
    moved = None
    if rank == 0 and resume_path is None:
        moved = archive_existing(paths['experiments_root'])
        for key in ('experiments_root', 'models', 'training_state', 'val_images'):
            Path(paths[key]).mkdir(parents=True, exist_ok=True)
    if distributed:
        dist.barrier()
    log = setup_logger(LOG, Path(paths['log']) / f'train_{opt["name"]}.log', rank)
    if rank == 0:
        if moved is not None:
            log.info('Moved the existing experiment folder aside to %s', moved)
        (Path(paths['experiments_root']) / f'options_{time.strftime("%y%m%d-%H%M%S")}.yml').write_text(
            dict_to_yaml(opt), encoding='utf-8')
    device = select_device(opt['gpu_ids'], local_rank if distributed else None)
    seed_everything(seed)
    log.info('Device %s, world size %d, seed %d', device, world_size, seed)
    log.info('Training images: %d, %d image sets per epoch per rank', len(train_set), batches_per_epoch)

    state = None
    if resume_path is not None:
        try:
            state = torch.load(resume_path, map_location='cpu', weights_only=True)
        except Exception as err:  # a damaged or foreign file: torch raises many types
            raise CheckpointError(f'cannot read training state {resume_path}: {err}') from err
        if not isinstance(state, dict) or not {'iter', 'epoch', 'optimizers', 'schedulers', 'rng'} <= set(state):
            raise CheckpointError(f'{resume_path} is not a training state written by this train.py')
        models_dir = Path(paths['models'])
        opt['path'].update(pretrain_model_G=str(models_dir / f'IIR_{state["iter"]}.pth'),
                           pretrain_model_H=str(models_dir / f'IIH_{state["iter"]}.pth'), strict_load=True)
    model = create_model(opt, device, dist=distributed)
    log.info('%s: %s parameters in IIR, %s in IIH', model.config,
             f'{sum(p.numel() for p in model.net.iir.parameters()):,}',
             f'{sum(p.numel() for p in model.net.iih.parameters()):,}')
    current_step = 0
    if state is not None:
        model.resume_training(state)
        current_step = state['iter']
        set_rng_states(state['rng'])
        log.info('Resumed from %s at iteration %d (epoch %d)', resume_path, current_step, state['epoch'])

    tb_writer = None
    if opt['use_tb_logger'] and rank == 0:
        from torch.utils.tensorboard import SummaryWriter
        tb_writer = SummaryWriter(log_dir=paths['tb_logger'])

    total_iters = train_opt['niter']
    logger_opt = opt['logger']
    progress = tqdm(total=total_iters, initial=current_step, disable=rank != 0, dynamic_ncols=True,
                    desc='train', file=sys.stderr)
    epoch = current_step // batches_per_epoch
    try:
        while current_step < total_iters:
            sampler.set_epoch(epoch, current_step - epoch * batches_per_epoch)
            for batch in train_loader:
                current_step += 1
                losses = model.optimize_parameters(batch['GT'], batch['LQ'])
                model.update_learning_rate(current_step, train_opt['warmup_iter'])
                progress.update(1)
                progress.set_postfix(loss=f'{losses["total"]:.4g}')
                if current_step % logger_opt['print_freq'] == 0 or current_step == total_iters:
                    lrs = model.learning_rates()
                    log.info('<epoch:%3d, iter:%8d, lr_G:%.3e, lr_H:%.3e> %s', epoch, current_step, lrs['lr_G'],
                             lrs['lr_H'], ' '.join(f'{k}: {v:.4e}' for k, v in losses.items()))
                    if tb_writer is not None:
                        for key, value in {**losses, **lrs}.items():
                            tb_writer.add_scalar(f'train/{key}', value, current_step)
                if val_loader is not None and current_step % train_opt['val_freq'] == 0:
                    validate(model, val_loader, opt, current_step, log, tb_writer)
                if rank == 0 and current_step % logger_opt['save_checkpoint_freq'] == 0:
                    model.save(current_step)
                    model.save_training_state(epoch, current_step)
                    log.info('Saved models and training state at iteration %d', current_step)
                if current_step >= total_iters:
                    break
            epoch += 1
    except NonFiniteLossError as err:
        log.error('Stopped at iteration %d: %s. The last saved checkpoint in %s is intact.', current_step + 1,
                  err, paths['models'])
        raise
    finally:
        progress.close()
        if tb_writer is not None:
            tb_writer.close()
    if distributed:
        check_replicas_identical(model, world_size, log)
    if rank == 0:
        model.save(current_step)
        model.save('latest')
        model.save_training_state(epoch, current_step)
        log.info('Training finished at iteration %d; models in %s', current_step, paths['models'])
    return model


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        opt = parse(args.opt, is_train=True)
    except OptionError as err:
        raise SystemExit(f'error: {err}') from None
    rank, world_size, local_rank = (0, 1, None) if args.launcher == 'none' else init_distributed()
    try:
        train(opt, rank, world_size, local_rank)
    except (NonFiniteLossError, CheckpointError, OptionError, ValueError) as err:
        raise SystemExit(f'error: {err}') from None
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


if __name__ == '__main__':
    main()
