"""The InvMIHNet trainer: both networks in training, their optimizers, schedulers, losses and checkpoints.

``train.py`` owns the loop and calls :meth:`InvMIHNetTrainer.optimize_parameters`; hiding and revealing, in
validation as everywhere else, go through :class:`inference.stego_model.StegoModel` over the trainer's network.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as torch_dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel

from models.checkpoint import load_checkpoints
from models.compile import compile_subnets
from models.config import NetworkConfig
from models.distortions import TrainingDistortions, parse_training_distortions
from models.losses import RESCALING_TERMS, InvMIHNetLoss
from models.lr_scheduler import build_scheduler
from models.model_folder import current_commit, training_record, write_model_folder
from models.precision import grad_scaler, set_subnet_precision, subnet_dtype
from models.training_state import restore_training_state, write_training_state
from models.networks import build_network

logger = logging.getLogger('invmihnet')


class NonFiniteLossError(RuntimeError):
    """A training loss became NaN or infinite."""


class InvMIHNetTrainer:
    """Both networks on ``device`` in training mode, with their optimizers, schedulers and losses."""

    def __init__(self, opt: dict, device: torch.device, dist: bool = False) -> None:
        self.opt = opt
        self.device = device
        self.dist = dist
        self.network_config = NetworkConfig.from_options(opt)
        self.config = self.network_config.describe()
        self.net = build_network(self.network_config).to(device)
        self.load_pretrained()
        train_opt = opt['train']
        self.train_opt = train_opt
        self.net.train()
        source = opt.get('source', 'options')
        set_subnet_precision(self.net, subnet_dtype(train_opt['precision'], device, key=f'{source}: train.precision'))
        if train_opt['compile']:
            compile_subnets(self.net, device, key='train.compile')
        self.scaler = grad_scaler(train_opt['precision'], device)
        self.net.iir.memory_saving = self.net.iih.memory_saving = train_opt['memory_saving']
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

    # ---------------------------------------------------------------- loading and saving
    def load_pretrained(self) -> None:
        """Load ``path.pretrain_model_G`` (IIR) and ``path.pretrain_model_H`` (IIH) when set."""
        paths = self.opt['path']
        load_checkpoints(self.net, paths['pretrain_model_G'], paths['pretrain_model_H'], self.config,
                         paths['strict_load'])

    def save(self, iter_label: int | str, iterations: int | None = None) -> Path:
        """Write the model folder ``path.models/<iter_label>/`` (IIR.pth, IIH.pth, model.json; see
        :mod:`models.model_folder`) after ``iterations`` steps (default: ``iter_label``, an iteration)."""
        folder = Path(self.opt['path']['models']) / str(iter_label)
        steps = iterations if iterations is not None else int(iter_label)
        return write_model_folder(folder, self.net, self.opt['name'],
                                  training_record(self.opt, steps, current_commit()))

    def save_training_state(self, epoch: int, current_step: int,
                            rng_ranks: list[dict[str, Any]] | None = None,
                            divergence: dict[str, Any] | None = None) -> Path:
        """Write ``training_state/<iter>.state`` (see :mod:`models.training_state`); under distributed training
        with every rank's RNG states, in rank order (``rng_ranks``); ``divergence``: the trainer's divergence
        bookkeeping (see ``models.divergence``)."""
        path = Path(self.opt['path']['training_state']) / f'{current_step}.state'
        return write_training_state(path, epoch, current_step, self.config, self.optimizers, self.schedulers,
                                    self.device, self.scaler, rng_ranks, divergence)

    def resume_training(self, state: dict[str, Any]) -> None:
        """Restore optimizers, schedulers and the fp16 gradient scaler from a training state (RNG states are
        restored by the caller)."""
        restore_training_state(state, self.config, self.optimizers, self.schedulers, self.scaler)

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

    def optimize_parameters(self, gt: torch.Tensor, lq: torch.Tensor,
                            guard: Callable[[float], None] | None = None) -> dict[str, float]:
        """One training step: losses, backward, per-network gradient clipping, both optimizers step.

        Raises :class:`NonFiniteLossError` (before any weight changes) when a loss is NaN or infinite; ``guard``,
        given the total loss before the backward pass, may raise too, and nothing changes either.
        """
        for optimizer in self.optimizers:
            optimizer.zero_grad(set_to_none=True)
        losses = self.compute_losses(gt, lq)
        values = {k: v.item() for k, v in losses.items()}
        self.check_finite(values)
        if guard is not None:
            guard(values['total'])
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
