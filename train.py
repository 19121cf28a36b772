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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader
from torchvision.utils import make_grid
from tqdm import tqdm

from data import create_dataloader, create_dataset
from inference.evaluation import BatchEvaluation, evaluate_dataset
from inference.stego_model import StegoModel
from models.checkpoint import CheckpointError
from models.divergence import DivergenceError, LossSpikeError, SpikeDetector, TrainingSnapshot, scale_learning_rates
from models.model_folder import IIH_FILE, IIR_FILE
from models.trainer import InvMIHNetTrainer, NonFiniteLossError
from models.training_state import read_training_state, rng_states, set_rng_states
from options import OptionError, dict_to_yaml, parse
from utils.device import select_device
from utils.image_io import hwc_to_chw, save_image
from utils.logger import archive_existing, setup_logger

LOG = 'invmihnet'


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train InvMIHNet.')
    parser.add_argument('-opt', '--opt', required=True, help='path to a training option YAML file')
    parser.add_argument('--launcher', choices=['none', 'pytorch'], default='none',
                        help='pytorch: distributed data parallel under torchrun')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def init_distributed(gpu_ids: list[int] | None) -> tuple[int, int, int]:
    """Join the process group torchrun set up; returns (rank, world_size, local_rank).

    Training on CUDA, each rank first makes its own GPU, ``cuda:<LOCAL_RANK>``, the current device and then joins
    with NCCL: NCCL puts the tensors of ``barrier``, ``broadcast_object_list`` and ``all_gather_object`` on the
    current device, which would otherwise be cuda:0 in every rank (on a multi-GPU node the "duplicate GPU" error or
    a hang); ``device_id`` binds the process group to that GPU too. Training on the CPU (``gpu_ids`` null, or no
    CUDA) the ranks join with gloo.
    """
    for key in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT'):
        if key not in os.environ:
            raise SystemExit(f'error: --launcher pytorch needs the environment of torchrun ({key} is not set)')
    local_rank = int(os.environ['LOCAL_RANK'])
    try:
        device = select_device(gpu_ids, local_rank)
    except ValueError as err:
        raise SystemExit(f'error: LOCAL_RANK {local_rank}: {err}') from None
    if device.type == 'cuda':
        torch.cuda.set_device(device)
        dist.init_process_group(backend='nccl', device_id=device)
    else:
        dist.init_process_group(backend='gloo')
    return dist.get_rank(), dist.get_world_size(), local_rank


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


@dataclass
class TrainingRun:
    """Everything one training process works with; ``step`` and ``epoch`` advance as it trains."""
    opt: dict
    rank: int
    world_size: int
    log: logging.Logger
    model: InvMIHNetTrainer
    train_loader: DataLoader
    val_loader: DataLoader | None
    tb_writer: Any
    detector: SpikeDetector
    step: int = 0
    epoch: int = 0
    rollbacks: int = 0
    snapshot: TrainingSnapshot | None = None
    spiked_steps: set[int] = field(default_factory=set)
    skip_steps: set[int] = field(default_factory=set)
    skipped_in_a_row: int = 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


# ------------------------------------------------------------------ set-up and resume
def agree_on_seed(opt: dict, distributed: bool) -> int:
    """``train.manual_seed``, or a random one that rank 0 draws and every rank receives."""
    seed = opt['train']['manual_seed']
    seed = seed if seed is not None else random.randint(1, 10000)
    if distributed:
        shared = [seed]
        dist.broadcast_object_list(shared, src=0)
        seed = shared[0]
    return seed


def create_loaders(opt: dict, seed: int, rank: int, world_size: int) -> tuple[DataLoader, DataLoader | None]:
    """The training loader (this rank's share) and, on rank 0, the validation loader."""
    train_opt = opt['datasets']['train']
    train_loader = create_dataloader(create_dataset(train_opt), train_opt, opt['num_images'], dist=world_size > 1,
                                     seed=seed, rank=rank, world_size=world_size)
    val_loader = None
    if 'val' in opt['datasets'] and rank == 0:
        val_opt = opt['datasets']['val']
        val_loader = create_dataloader(create_dataset(val_opt), val_opt, opt['num_images'], seed=seed)
    return train_loader, val_loader


def prepare_experiment(opt: dict, rank: int, distributed: bool, fresh: bool) -> logging.Logger:
    """Folders, logger and a copy of the options; a fresh run first moves an existing experiment aside."""
    paths = opt['path']
    moved = None
    if rank == 0 and fresh:
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
    return log


def restore_rng(state: dict[str, Any], rank: int, world_size: int, device: torch.device,
                log: logging.Logger) -> None:
    """This rank's saved RNG state (its CUDA part into ``device``). A state saved by a different number of
    processes cannot give every rank its own: the ranks keep their fresh ``seed + rank`` streams (a statistically,
    not bitwise, identical resume)."""
    per_rank = state.get('rng_ranks')
    if world_size == 1:
        set_rng_states(state['rng'], device)
    elif per_rank is not None and len(per_rank) == world_size:
        set_rng_states(per_rank[rank], device)
    else:
        log.warning('The training state holds RNG states of %d process(es), this run has %d: every rank '
                    'continues from its own seed + rank stream, so the resume is statistically, not bitwise, '
                    'identical', 1 if per_rank is None else len(per_rank), world_size)


def setup_run(opt: dict, rank: int, world_size: int, local_rank: int | None) -> TrainingRun:
    """Seeds, data, experiment folder, logger, model, and the resumed training state when there is one."""
    distributed = world_size > 1
    resume_path = find_resume_state(opt)
    seed = agree_on_seed(opt, distributed)
    # Datasets first: a bad dataroot stops the run before any experiment folder is touched.
    train_loader, val_loader = create_loaders(opt, seed, rank, world_size)
    log = prepare_experiment(opt, rank, distributed, fresh=resume_path is None)
    device = select_device(opt['gpu_ids'], local_rank if distributed else None)
    seed_everything(seed + rank)
    log.info('Device %s, world size %d, seed %d (+ rank)', device, world_size, seed)
    log.info('Training images: %d, %d image sets per epoch per rank', len(train_loader.dataset),
             len(train_loader))
    state = None
    if resume_path is not None:
        state = read_training_state(resume_path)
        saved = Path(opt['path']['models']) / str(state['iter'])
        opt['path'].update(pretrain_model_G=str(saved / IIR_FILE), pretrain_model_H=str(saved / IIH_FILE),
                           strict_load=True)
    model = InvMIHNetTrainer(opt, device, dist=distributed)
    log.info('%s: %s parameters in IIR, %s in IIH', model.config,
             f'{sum(p.numel() for p in model.net.iir.parameters()):,}',
             f'{sum(p.numel() for p in model.net.iih.parameters()):,}')
    tb_writer = None
    if opt['use_tb_logger'] and rank == 0:
        from torch.utils.tensorboard import SummaryWriter
        tb_writer = SummaryWriter(log_dir=opt['path']['tb_logger'])
    train_opt = opt['train']
    detector = SpikeDetector(train_opt['divergence_factor'], train_opt['divergence_window'])
    run = TrainingRun(opt, rank, world_size, log, model, train_loader, val_loader, tb_writer, detector)
    if state is not None:
        model.resume_training(state)
        restore_rng(state, rank, world_size, device, log)
        run.step = state['iter']
        if 'divergence' in state:
            detector.load_state_dict(state['divergence'])
            run.rollbacks = state['divergence']['rollbacks']
        log.info('Resumed from %s at iteration %d (epoch %d)', resume_path, run.step, state['epoch'])
    run.epoch = run.step // len(train_loader)
    return run


# ------------------------------------------------------------------ the loop
def training_loop(run: TrainingRun) -> None:
    """Train from ``run.step`` to ``train.niter``: log, validate and save at their frequencies; a divergence stops
    the run or rolls it back (``train.on_divergence``, see :func:`roll_back`)."""
    train_opt, logger_opt = run.opt['train'], run.opt['logger']
    total_iters, batches_per_epoch = train_opt['niter'], len(run.train_loader)
    progress = tqdm(total=total_iters, initial=run.step, disable=run.rank != 0, dynamic_ncols=True, desc='train',
                    file=sys.stderr)
    remember_good_state(run)
    guard = None
    if train_opt['on_divergence'] == 'skip':
        def guard(total: float) -> None:
            run.detector.check(agreed_total(run, total))
    try:
        while run.step < total_iters:
            run.train_loader.sampler.set_epoch(run.epoch, run.step - run.epoch * batches_per_epoch)
            for batch in run.train_loader:
                run.step += 1
                losses = None
                if run.step in run.skip_steps:
                    run.log.warning('Iteration %d: skipped its batch, which spiked at every try', run.step)
                else:
                    try:
                        losses = run.model.optimize_parameters(batch['GT'], batch['LQ'], guard)
                        if guard is None:
                            run.detector.check(agreed_total(run, losses['total']))
                        run.skipped_in_a_row = 0
                    except (NonFiniteLossError, LossSpikeError) as err:
                        if guard is not None:
                            skip_batch(run, err)
                        else:
                            roll_back(run, err)
                            progress.n = run.step
                            progress.refresh()
                            break
                run.model.update_learning_rate(run.step, train_opt['warmup_iter'])
                progress.update(1)
                if losses is not None:
                    progress.set_postfix(loss=f'{losses["total"]:.4g}')
                    if run.step % logger_opt['print_freq'] == 0 or run.step == total_iters:
                        log_losses(run, losses)
                if run.val_loader is not None and run.step % train_opt['val_freq'] == 0:
                    validate(run)
                if run.step % logger_opt['save_checkpoint_freq'] == 0:
                    save_checkpoint(run)
                    remember_good_state(run)
                if run.step >= total_iters:
                    run.epoch += 1
                    break
            else:
                run.epoch += 1
    except (NonFiniteLossError, LossSpikeError, DivergenceError) as err:
        run.log.error('Stopped at iteration %d: %s. The last saved checkpoint in %s is intact.', run.step, err,
                      run.opt['path']['models'])
        raise
    finally:
        progress.close()


# ------------------------------------------------------------------ divergence
def agreed_total(run: TrainingRun, total: float) -> float:
    """The total loss the ranks judge together: this process's, or under distributed training the mean over the
    ranks (one all-reduce), so that every rank sees the same spike and rolls back or stops with the others.
    Without spike detection (``train.divergence_factor`` null) nothing is exchanged."""
    if not run.distributed or run.detector.factor is None:
        return total
    value = torch.tensor([total], dtype=torch.float64, device=run.model.device)
    dist.all_reduce(value)
    return value.item() / run.world_size


def remember_good_state(run: TrainingRun) -> None:
    """With ``train.on_divergence: rollback``, keep the state at ``run.step`` (the start, then every saved
    checkpoint) in memory as the one to go back to."""
    if run.opt['train']['on_divergence'] == 'rollback':
        run.snapshot = TrainingSnapshot.take(run.model, run.step, run.epoch, run.detector)


def skip_batch(run: TrainingRun, err: Exception) -> None:
    """Under ``train.on_divergence: skip``: log the batch that diverged before its step (the weights and the
    learning rates stay as they were) and go on; raise :class:`DivergenceError` when more than
    ``train.max_consecutive_skips`` batches in a row have diverged, which is the model, not its data."""
    run.skipped_in_a_row += 1
    limit = run.opt['train']['max_consecutive_skips']
    if run.skipped_in_a_row > limit:
        raise DivergenceError(
            f'training diverged at iteration {run.step} ({err}) on {run.skipped_in_a_row} batches in a row, more '
            f'than train.max_consecutive_skips ({limit}) allows: resume from the last checkpoint in '
            f'{run.opt["path"]["training_state"]} with lower train.lr_G / lr_H') from None
    run.log.warning('Iteration %d: skipped its batch before the step, the weights untouched (%s)', run.step, err)
    if run.tb_writer is not None:
        run.tb_writer.add_scalar('train/skipped_batches', run.skipped_in_a_row, run.step)


def roll_back(run: TrainingRun, err: Exception) -> None:
    """Go back to the last good state with the learning rates times ``train.rollback_lr_factor`` and log it
    (console, log file, TensorBoard). A loss spike at an iteration that spiked before comes from its batch, which
    the replay brings back: that iteration's batch is skipped from then on. Re-raises ``err`` under
    ``on_divergence: stop``; raises
    :class:`DivergenceError` once ``train.max_rollbacks`` rollbacks are spent. Every rank reaches the same
    decision: the non-finite check and the spike check both judge values all ranks agree on."""
    train_opt = run.opt['train']
    if train_opt['on_divergence'] != 'rollback':
        raise err
    snapshot = run.snapshot
    limit = train_opt['max_rollbacks']
    if run.rollbacks >= limit:
        saved = Path(run.opt['path']['training_state']) / f'{snapshot.step}.state'
        where = f' ({saved})' if saved.is_file() else ''
        raise DivergenceError(
            f'training diverged at iteration {run.step} ({err}) after {run.rollbacks} rollback(s), the most '
            f'train.max_rollbacks allows; the last good state is iteration {snapshot.step}{where}: resume from it '
            f'with lower train.lr_G / lr_H, or allow more rollbacks') from None
    failed_step = run.step
    if isinstance(err, LossSpikeError):
        if failed_step in run.spiked_steps:
            run.skip_steps.add(failed_step)
            run.log.warning('Iteration %d spiked again on the same batch (the replay brings the same data back): '
                            'the replay skips that batch', failed_step)
        run.spiked_steps.add(failed_step)
    snapshot.restore(run.model, run.detector)
    factor = train_opt['rollback_lr_factor']
    scale_learning_rates(run.model, factor)
    run.step, run.epoch = snapshot.step, snapshot.epoch
    run.rollbacks += 1
    lrs = run.model.learning_rates()
    run.log.warning('Iteration %d diverged (%s): rolled back to iteration %d (rollback %d of %d), learning rates '
                    'x %g: %s', failed_step, err, snapshot.step, run.rollbacks, limit, factor,
                    ', '.join(f'{k} {v:.3e}' for k, v in lrs.items()))
    if run.tb_writer is not None:
        run.tb_writer.add_scalar('train/rollbacks', run.rollbacks, failed_step)
        for key, value in lrs.items():
            run.tb_writer.add_scalar(f'train/{key}', value, snapshot.step)


def log_losses(run: TrainingRun, losses: dict[str, float]) -> None:
    """Every loss term and both learning rates to the log and TensorBoard."""
    lrs = run.model.learning_rates()
    rates = ', '.join(f'{k}:{v:.3e}' for k, v in lrs.items())
    run.log.info('<epoch:%3d, iter:%8d, %s> %s', run.epoch, run.step, rates,
                 ' '.join(f'{k}: {v:.4e}' for k, v in losses.items()))
    if run.tb_writer is not None:
        for key, value in {**losses, **lrs}.items():
            run.tb_writer.add_scalar(f'train/{key}', value, run.step)


# ------------------------------------------------------------------ validation
def validate(run: TrainingRun) -> dict[str, float]:
    """The evaluation of test.py on the validation set; the first image set's images are saved under
    ``val_images/<iter>/`` and, as one grid (cover, stego, secrets, recovered secrets), sent to TensorBoard."""
    out_dir = Path(run.opt['path']['val_images']) / str(run.step)

    def save_first(index: int, batch: dict, result: BatchEvaluation) -> None:
        if index:
            return
        save_image(result.cover, out_dir / 'cover.png')
        save_image(result.stego, out_dir / 'stego.png')
        for i, (secret, recovered) in enumerate(zip(result.secrets, result.recovered), 1):
            save_image(secret, out_dir / f'secret_{i:02d}.png')
            save_image(recovered, out_dir / f'secret_recover_{i:02d}.png')
        if run.tb_writer is not None:
            images = [result.cover, result.stego, *result.secrets, *result.recovered]
            grid = make_grid([hwc_to_chw(im) for im in images], nrow=2 + len(result.secrets), padding=2)
            run.tb_writer.add_image('val/cover_stego_secrets_recovered', grid, run.step)

    model = StegoModel(run.model.net, run.model.device, precision=run.opt['train']['precision'],
                       source=run.opt['source'], key='train')
    means = evaluate_dataset(model, run.val_loader, run.opt['test'], run.opt['datasets']['val']['max_batches'],
                             save_first).means()
    run.log.info('<iter:%8d> validation: stego PSNR %.2f dB (Y %.2f), SSIM %.4f | secret PSNR %.2f dB (Y %.2f), '
                 'SSIM %.4f', run.step, means['stego_psnr'], means['stego_psnr_y'], means['stego_ssim'],
                 means['secret_psnr'], means['secret_psnr_y'], means['secret_ssim'])
    if run.tb_writer is not None:
        for key, value in means.items():
            run.tb_writer.add_scalar(f'val/{key}', value, run.step)
    return means


# ------------------------------------------------------------------ saving
def gather_rng_states(run: TrainingRun) -> list[dict[str, Any]] | None:
    """Every rank's RNG states, in rank order, on every rank (None in a single process)."""
    if not run.distributed:
        return None
    gathered: list[Any] = [None] * run.world_size
    dist.all_gather_object(gathered, rng_states(run.model.device))
    return gathered


def save_checkpoint(run: TrainingRun, final: bool = False) -> None:
    """Models and training state (with every rank's RNG states) at ``run.step``; ``final`` adds the
    ``latest`` models. Every rank calls it; rank 0 writes."""
    per_rank_rng = gather_rng_states(run)
    if run.rank != 0:
        return
    run.model.save(run.step)
    if final:
        run.model.save('latest', run.step)
    run.model.save_training_state(run.epoch, run.step, per_rank_rng,
                                  divergence={**run.detector.state_dict(), 'rollbacks': run.rollbacks})
    run.log.info('Saved models and training state at iteration %d', run.step)


def check_replicas_identical(run: TrainingRun) -> None:
    """Every rank must hold the same weights after distributed training; raises if they differ."""
    flat = torch.cat([p.detach().flatten().double().cpu() for p in run.model.net.parameters()])
    fingerprint = torch.stack([flat.sum(), (flat * torch.arange(flat.numel(), dtype=torch.float64)).sum()])
    gathered = [torch.zeros_like(fingerprint) for _ in range(run.world_size)]
    dist.all_gather_object(gathered, fingerprint)
    if any(not torch.equal(g, gathered[0]) for g in gathered):
        raise RuntimeError(f'weights differ across ranks: {[g.tolist() for g in gathered]}')
    run.log.info('Weights identical on all %d ranks', run.world_size)


def train(opt: dict, rank: int = 0, world_size: int = 1, local_rank: int | None = None) -> InvMIHNetTrainer:
    """Set up (or resume) a run, train it to ``train.niter`` and save it; returns the trained model."""
    run = setup_run(opt, rank, world_size, local_rank)
    try:
        training_loop(run)
    finally:
        if run.tb_writer is not None:
            run.tb_writer.close()
    if run.distributed:
        check_replicas_identical(run)
    save_checkpoint(run, final=True)
    run.log.info('Training finished at iteration %d; models in %s', run.step, opt['path']['models'])
    return run.model


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        opt = parse(args.opt, is_train=True)
    except OptionError as err:
        raise SystemExit(f'error: {err}') from None
    rank, world_size, local_rank = (0, 1, None) if args.launcher == 'none' else init_distributed(opt['gpu_ids'])
    try:
        train(opt, rank, world_size, local_rank)
    except (NonFiniteLossError, LossSpikeError, DivergenceError, CheckpointError, OptionError, ValueError) as err:
        raise SystemExit(f'error: {err}') from None
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


if __name__ == '__main__':
    main()
