"""The InvMIHNet model object: owns both networks, their optimizers, schedulers and losses (BasicSR style).

``train.py`` owns the loop and calls :meth:`optimize_parameters`; ``test.py``, ``hide.py`` and ``reveal.py`` use
:meth:`hide` and :meth:`reveal`.
"""
from __future__ import annotations

import logging
import math
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as torch_dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel

from models.checkpoint import (CheckpointError, atomic_save, load_state, read_iih_state, read_iir_state,
                               save_iih, save_iir)
from models.compile import compile_subnets
from models.config import NetworkConfig
from models.distortions import TrainingDistortions, parse_training_distortions
from models.invmihnet import HideOutput, InvMIHNet, RevealOutput
from models.losses import RESCALING_TERMS, InvMIHNetLoss
from models.lr_scheduler import build_scheduler
from models.modules.memory_saving import MEMORY_SAVING_MODES
from models.precision import grad_scaler, set_subnet_precision, subnet_dtype

logger = logging.getLogger('invmihnet')


class NonFiniteLossError(RuntimeError):
    """A training loss became NaN or infinite."""


def rng_states(device: torch.device | None = None) -> dict[str, Any]:
    """Every random state that drives training: Python, NumPy, Torch CPU and, when ``device`` is a CUDA device,
    that device's generator (as types that ``torch.load(weights_only=True)`` accepts).

    Only the training device's CUDA generator: the others draw nothing for this process, touching them would
    initialise them in every rank, and their states would stop a resume on a machine with fewer GPUs.
    """
    name, keys, pos, has_gauss, cached = np.random.get_state()
    states = {'python': random.getstate(), 'torch': torch.get_rng_state(),
              'numpy': (name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached)}
    if device is not None and device.type == 'cuda':
        states['cuda'] = torch.cuda.get_rng_state(device)
    return states


def set_rng_states(states: dict[str, Any], device: torch.device | None = None) -> None:
    """Restore what :func:`rng_states` captured; its CUDA state goes to ``device`` (when that is a CUDA device),
    whichever device index it was saved from."""
    random.setstate(states['python'])
    name, keys, pos, has_gauss, cached = states['numpy']
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(states['torch'])
    if 'cuda' in states and device is not None and device.type == 'cuda':
        torch.cuda.set_rng_state(states['cuda'], device)


class InvMIHNetModel:
    """Both networks on ``device``, plus optimizers, schedulers and losses when ``opt['is_train']``."""

    def __init__(self, opt: dict, device: torch.device, dist: bool = False) -> None:
        self.opt = opt
        self.device = device
        self.dist = dist
        self.network_config = NetworkConfig.from_options(opt)
        self.config = self.network_config.describe()
        self.net: InvMIHNet = self.network_config.build().to(device)
        self.load_pretrained()
        self.is_train = opt['is_train']
        self.chunk: int | None = None
        if not self.is_train:
            self.net.eval()
            test_opt = opt['test']
            self.set_inference(test_opt['precision'], test_opt['chunk'], test_opt['compile'], key='test')
            return
        train_opt = opt['train']
        self.train_opt = train_opt
        self.net.train()
        self.set_inference(train_opt['precision'], None, train_opt['compile'], key='train')
        self.scaler = grad_scaler(train_opt['precision'], device)
        mode = train_opt['memory_saving']
        if mode not in MEMORY_SAVING_MODES:
            raise ValueError(f'{opt.get("source", "options")}: train.memory_saving must be one of '
                             f'{list(MEMORY_SAVING_MODES)}, got {mode!r}')
        self.net.iir.memory_saving = self.net.iih.memory_saving = mode
        self.net_train: nn.Module = self.net
        if dist:
            ids = [device.index] if device.type == 'cuda' else None
            self.net_train = DistributedDataParallel(self.net, device_ids=ids)
        self.loss = InvMIHNetLoss.from_options(train_opt, rescaling=self.network_config.rescales)
        self.distortions = TrainingDistortions(parse_training_distortions(train_opt['distortions']))
        logger.info('Training reveals from the %s stego; distortions: %s', train_opt['reveal_from'],
                    self.distortions.describe())
        params_g = [p for p in self.net.iir.parameters() if p.requires_grad]
        params_h = [p for p in self.net.iih.parameters() if p.requires_grad]
        # A 1 x 1 grid (HiNet) has no IIR, hence no IIR optimizer.
        self.optimizer_G = None if not params_g else torch.optim.Adam(
            params_g, lr=train_opt['lr_G'], weight_decay=train_opt['weight_decay_G'],
            betas=(train_opt['beta1'], train_opt['beta2']))
        self.optimizer_H = torch.optim.Adam(params_h, lr=train_opt['lr_H'], weight_decay=train_opt['weight_decay_H'],
                                            betas=(train_opt['beta1_H'], train_opt['beta2_H']),
                                            eps=train_opt['eps_H'])
        self.optimizers = [o for o in (self.optimizer_G, self.optimizer_H) if o is not None]
        self.schedulers = [build_scheduler(opt_, train_opt) for opt_ in self.optimizers]

    def set_inference(self, precision: str = 'fp32', chunk: int | None = None, compile: bool = False,
                      key: str = 'test') -> None:
        """Precision of the subnets ('fp32', 'bf16', 'fp16' on CUDA), the chunk size of :meth:`hide` and
        :meth:`reveal` (secrets / tiles per network call; None: all at once) and torch.compile of the subnets.

        Errors name ``<option file>: <key>.precision`` / ``<key>.chunk``.
        """
        source = self.opt.get('source', 'options')
        set_subnet_precision(self.net, subnet_dtype(precision, self.device, key=f'{source}: {key}.precision'))
        if chunk is not None and chunk < 1:
            raise ValueError(f'{source}: {key}.chunk must be a positive number of images or null, got {chunk}')
        self.chunk = chunk
        if compile:
            compile_subnets(self.net, self.device, key=f'{key}.compile')

    # ---------------------------------------------------------------- loading and saving
    def load_pretrained(self) -> None:
        """Load ``path.pretrain_model_G`` (IIR) and ``path.pretrain_model_H`` (IIH) when set."""
        paths = self.opt['path']
        strict = paths['strict_load']
        if paths['pretrain_model_G']:
            logger.info('Loading IIR from %s', paths['pretrain_model_G'])
            load_state(self.net.iir, read_iir_state(paths['pretrain_model_G']), paths['pretrain_model_G'],
                       self.config + ' (IIR)', strict)
        if paths['pretrain_model_H']:
            logger.info('Loading IIH from %s', paths['pretrain_model_H'])
            load_state(self.net.iih, read_iih_state(paths['pretrain_model_H']), paths['pretrain_model_H'],
                       self.config + ' (IIH)', strict)

    def save(self, iter_label: int | str) -> tuple[Path, Path]:
        """Write ``IIR_<iter>.pth`` and ``IIH_<iter>.pth`` (released formats) into ``path.models``."""
        models = Path(self.opt['path']['models'])
        iir_path, iih_path = models / f'IIR_{iter_label}.pth', models / f'IIH_{iter_label}.pth'
        save_iir(self.net.iir, iir_path)
        save_iih(self.net.iih, iih_path)
        return iir_path, iih_path

    def save_training_state(self, epoch: int, current_step: int,
                            rng_ranks: list[dict[str, Any]] | None = None,
                            divergence: dict[str, Any] | None = None) -> Path:
        """Write ``training_state/<iter>.state``: optimizers, schedulers, the fp16 gradient scaler, iteration,
        epoch and this process's RNG states (``rng``); under distributed training also every rank's, in rank order
        (``rng_ranks``); ``divergence``: the trainer's divergence bookkeeping (see ``models.divergence``)."""
        state = {'epoch': epoch, 'iter': current_step, 'config': self.config,
                 'optimizers': [o.state_dict() for o in self.optimizers],
                 'schedulers': [s.state_dict() for s in self.schedulers],
                 'rng': rng_states(self.device)}
        if self.scaler is not None:
            state['scaler'] = self.scaler.state_dict()
        if rng_ranks is not None:
            state['rng_ranks'] = rng_ranks
        if divergence is not None:
            state['divergence'] = divergence
        path = Path(self.opt['path']['training_state']) / f'{current_step}.state'
        atomic_save(state, path)
        return path

    def resume_training(self, state: dict[str, Any]) -> None:
        """Restore optimizers, schedulers and the fp16 gradient scaler from a training state (RNG states are
        restored by the caller)."""
        if state.get('config') not in (None, self.config):
            raise CheckpointError(f'training state was written by {state["config"]}, not {self.config}')
        if len(state['optimizers']) != len(self.optimizers):
            raise CheckpointError(f'training state holds {len(state["optimizers"])} optimizers, expected '
                                  f'{len(self.optimizers)} (one per network)')
        for optimizer, saved in zip(self.optimizers, state['optimizers']):
            optimizer.load_state_dict(saved)
        for scheduler, saved in zip(self.schedulers, state['schedulers']):
            scheduler.load_state_dict(saved)
        if self.scaler is not None and 'scaler' in state:
            self.scaler.load_state_dict(state['scaler'])

    # ---------------------------------------------------------------- training
    def update_learning_rate(self, current_step: int, warmup_iter: int = -1) -> None:
        """Step the schedulers; during warm-up the rate rises linearly to its initial value."""
        for scheduler in self.schedulers:
            scheduler.step()
        if current_step < warmup_iter:
            for optimizer in self.optimizers:
                for group in optimizer.param_groups:
                    group['lr'] = group['initial_lr'] / warmup_iter * current_step

    def learning_rates(self) -> dict[str, float]:
        """Current learning rate of each network (``lr_G`` only where there is an IIR)."""
        rates = {'lr_H': self.optimizer_H.param_groups[0]['lr']}
        if self.optimizer_G is not None:
            rates = {'lr_G': self.optimizer_G.param_groups[0]['lr'], **rates}
        return rates

    def compute_losses(self, gt: torch.Tensor, lq: torch.Tensor) -> dict[str, torch.Tensor]:
        """The training forward and losses on S image sets of N + 1 images each (image 0 of a set its cover),
        batch S * (N + 1); the losses are means over the sets."""
        out = self.net_train(gt.to(self.device), gaussian_scale=self.train_opt['gaussian_scale'],
                             reveal_from=self.train_opt['reveal_from'],
                             distort=self.distortions if self.distortions.entries else None)
        sets = gt.shape[0] // (self.network_config.num_images + 1)
        lr_ref = lq.reshape(sets, -1, *lq.shape[1:])[:, 1:].flatten(0, 1)
        return self.loss(out, lr_ref.to(self.device), sets=sets)

    def backward(self, losses: dict[str, torch.Tensor]) -> None:
        """One backward pass of the summed loss, or the published two (hiding, then rescaling); fp16 losses are
        scaled by the gradient scaler."""
        scale = self.scaler.scale if self.scaler is not None else (lambda loss: loss)
        if self.train_opt['two_pass_backward']:
            rescaling_total = sum(losses[k] for k in RESCALING_TERMS)
            scale(losses['hiding_total']).backward(retain_graph=rescaling_total.requires_grad)
            if rescaling_total.requires_grad:
                scale(rescaling_total).backward()
        else:
            scale(losses['total']).backward()

    def check_finite(self, values: dict[str, float]) -> None:
        """Raise :class:`NonFiniteLossError` naming the NaN or infinite loss terms.

        Under distributed training the ranks first agree, with one all-reduce of a (rank x term) flag table,
        so that a non-finite loss on any rank stops every rank (none is left waiting in the gradient
        all-reduce) with the same message.
        """
        names = list(values)
        flags = torch.tensor([[not math.isfinite(values[k]) for k in names]], dtype=torch.float32)
        if self.dist:
            table = torch.zeros(torch_dist.get_world_size(), len(names), device=self.device)
            table[torch_dist.get_rank()] = flags[0].to(self.device)
            torch_dist.all_reduce(table)
            flags = table.cpu()
        if not flags.any():
            return
        bad = [k for j, k in enumerate(names) if flags[:, j].any() and k != 'total'] or ['total']
        if not self.dist:
            raise NonFiniteLossError(f'non-finite loss term(s) {bad}: ' + ', '.join(f'{k}={values[k]}' for k in bad))
        ranks = [r for r in range(flags.shape[0]) if flags[r].any()]
        raise NonFiniteLossError(f'non-finite loss term(s) {bad} on rank(s) {ranks}')

    def optimize_parameters(self, gt: torch.Tensor, lq: torch.Tensor) -> dict[str, float]:
        """One training step: losses, backward, per-network gradient clipping, both optimizers step.

        Raises :class:`NonFiniteLossError` (before any weight changes) when a loss is NaN or infinite.
        """
        for optimizer in self.optimizers:
            optimizer.zero_grad(set_to_none=True)
        losses = self.compute_losses(gt, lq)
        values = {k: v.item() for k, v in losses.items()}
        self.check_finite(values)
        self.backward(losses)
        del losses
        if self.scaler is not None:
            for optimizer in self.optimizers:
                self.scaler.unscale_(optimizer)
        clip = self.train_opt['gradient_clipping']
        if clip:
            for optimizer in self.optimizers:
                nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g['params']], clip)
        for optimizer in self.optimizers:
            if self.scaler is not None:
                self.scaler.step(optimizer)
            else:
                optimizer.step()
        if self.scaler is not None:
            self.scaler.update()
        return values

    # ---------------------------------------------------------------- inference
    @torch.no_grad()
    def hide(self, cover: torch.Tensor, secrets: torch.Tensor, chunk: int | None = None) -> HideOutput:
        """Hide N secrets (N, 3, H, W) in a cover (1, 3, H, W); see :meth:`InvMIHNet.hide`. ``chunk`` defaults
        to the one of :meth:`set_inference`."""
        was_training = self.net.training
        self.net.eval()
        try:
            return self.net.hide(cover.to(self.device), secrets.to(self.device),
                                 self.chunk if chunk is None else chunk)
        finally:
            self.net.train(was_training)

    @torch.no_grad()
    def reveal(self, stego: torch.Tensor, z_hiding: torch.Tensor | None = None,
               z_rescaling: torch.Tensor | None = None, from_float: bool = False,
               gaussian_scale: float = 1.0, generator: torch.Generator | None = None,
               chunk: int | None = None) -> RevealOutput:
        """Recover the secrets from a stego image; see :meth:`InvMIHNet.reveal`. ``chunk`` defaults to the one
        of :meth:`set_inference`."""
        was_training = self.net.training
        self.net.eval()
        to = (lambda t: None if t is None else t.to(self.device))
        try:
            return self.net.reveal(stego.to(self.device), to(z_hiding), to(z_rescaling), from_float,
                                   gaussian_scale, generator, self.chunk if chunk is None else chunk)
        finally:
            self.net.train(was_training)
