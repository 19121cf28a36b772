"""Learning-rate schedules with restarts (the published MultiStepLR_Restart and CosineAnnealingLR_Restart)."""
from __future__ import annotations

import math
from collections import Counter, defaultdict

import torch
from torch.optim.lr_scheduler import LRScheduler


class MultiStepLR_Restart(LRScheduler):
    """Multiply the learning rate by ``gamma`` at each milestone; at a restart, reset it to the initial rate
    times that restart's weight (and, with ``clear_state``, forget the optimizer's moments)."""

    def __init__(self, optimizer: torch.optim.Optimizer, milestones: list[int], restarts: list[int] | None = None,
                 weights: list[float] | None = None, gamma: float = 0.1, clear_state: bool = False,
                 last_epoch: int = -1) -> None:
        self.milestones = Counter(milestones)
        self.gamma = gamma
        self.clear_state = clear_state
        self.restarts = list(restarts or [])
        self.restart_weights = list(weights or [1.0] * len(self.restarts))
        if len(self.restarts) != len(self.restart_weights):
            raise ValueError(f'restarts {self.restarts} and restart_weights {self.restart_weights} must have '
                             f'the same length')
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch in self.restarts:
            if self.clear_state:
                self.optimizer.state = defaultdict(dict)
            weight = self.restart_weights[self.restarts.index(self.last_epoch)]
            return [group['initial_lr'] * weight for group in self.optimizer.param_groups]
        if self.last_epoch not in self.milestones:
            return [group['lr'] for group in self.optimizer.param_groups]
        return [group['lr'] * self.gamma ** self.milestones[self.last_epoch]
                for group in self.optimizer.param_groups]


class CosineAnnealingLR_Restart(LRScheduler):
    """Cosine annealing over periods ``T_period``, restarting at ``restarts`` with the given weights."""

    def __init__(self, optimizer: torch.optim.Optimizer, T_period: list[int], restarts: list[int] | None = None,
                 weights: list[float] | None = None, eta_min: float = 0.0, last_epoch: int = -1) -> None:
        self.T_period = list(T_period)
        self.T_max = self.T_period[0]
        self.eta_min = eta_min
        self.restarts = list(restarts or [])
        self.restart_weights = list(weights or [1.0] * len(self.restarts))
        self.last_restart = 0
        if len(self.restarts) != len(self.restart_weights):
            raise ValueError(f'restarts {self.restarts} and restart_weights {self.restart_weights} must have '
                             f'the same length')
        if len(self.T_period) < len(self.restarts) + 1:
            raise ValueError(f'T_period needs one period per restart plus one, got {self.T_period} for '
                             f'restarts {self.restarts}')
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        groups = self.optimizer.param_groups
        if self.last_epoch == 0:
            return list(self.base_lrs)
        if self.last_epoch in self.restarts:
            index = self.restarts.index(self.last_epoch)
            self.last_restart = self.last_epoch
            self.T_max = self.T_period[index + 1]
            return [group['initial_lr'] * self.restart_weights[index] for group in groups]
        t = self.last_epoch - self.last_restart
        if (t - 1 - self.T_max) % (2 * self.T_max) == 0:
            return [group['lr'] + (base - self.eta_min) * (1 - math.cos(math.pi / self.T_max)) / 2
                    for base, group in zip(self.base_lrs, groups)]
        factor = (1 + math.cos(math.pi * t / self.T_max)) / (1 + math.cos(math.pi * (t - 1) / self.T_max))
        return [factor * (group['lr'] - self.eta_min) + self.eta_min for group in groups]


LR_SCHEMES = ('MultiStepLR', 'CosineAnnealingLR_Restart')
"""The values of the option ``train.lr_scheme``, as :func:`build_scheduler` builds them."""


def build_scheduler(optimizer: torch.optim.Optimizer, train_opt: dict) -> LRScheduler:
    """The scheduler named by ``train.lr_scheme``."""
    scheme = train_opt['lr_scheme']
    if scheme == 'MultiStepLR':
        return MultiStepLR_Restart(optimizer, train_opt['lr_steps'], restarts=train_opt['restarts'],
                                   weights=train_opt['restart_weights'], gamma=train_opt['lr_gamma'],
                                   clear_state=train_opt['clear_state'])
    if scheme == 'CosineAnnealingLR_Restart':
        if not train_opt['T_period']:
            raise ValueError('train.T_period is required by lr_scheme CosineAnnealingLR_Restart')
        return CosineAnnealingLR_Restart(optimizer, train_opt['T_period'], restarts=train_opt['restarts'],
                                         weights=train_opt['restart_weights'], eta_min=train_opt['eta_min'])
    raise ValueError(f'unknown train.lr_scheme {scheme!r}; known: {list(LR_SCHEMES)}')
