"""The training state (``training_state/<iter>.state``): written and read here, nowhere else.

A state holds the iteration and epoch, the configuration it was written by, every optimizer's and scheduler's
state, the fp16 gradient scaler's (``scaler``), the divergence bookkeeping (``divergence``) and the random states
(this process's as ``rng``; under distributed training every rank's, in rank order, as ``rng_ranks``), as types that ``torch.load(weights_only=True)`` accepts.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.checkpoint import CheckpointError, atomic_save

STATE_KEYS = frozenset({'iter', 'epoch', 'optimizers', 'schedulers', 'rng'})


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


def write_training_state(path: str | Path, epoch: int, step: int, config: str, optimizers: list,
                         schedulers: list, device: torch.device | None = None,
                         scaler: torch.amp.GradScaler | None = None, rng_ranks: list[dict[str, Any]] | None = None,
                         divergence: dict[str, Any] | None = None) -> Path:
    """Write a training state to ``path`` atomically, with this process's RNG states (those of ``device``'s
    generator too), the fp16 gradient scaler when there is one, and ``divergence``, the trainer's divergence
    bookkeeping (see ``models.divergence``)."""
    state = {'epoch': epoch, 'iter': step, 'config': config,
             'optimizers': [o.state_dict() for o in optimizers],
             'schedulers': [s.state_dict() for s in schedulers],
             'rng': rng_states(device)}
    if scaler is not None:
        state['scaler'] = scaler.state_dict()
    if rng_ranks is not None:
        state['rng_ranks'] = rng_ranks
    if divergence is not None:
        state['divergence'] = divergence
    atomic_save(state, path)
    return Path(path)


def read_training_state(path: str | Path) -> dict[str, Any]:
    """A training state written by :func:`write_training_state`; CheckpointError otherwise."""
    try:
        state = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as err:  # a damaged or foreign file: torch raises many types
        raise CheckpointError(f'cannot read training state {path}: {err}') from err
    if not isinstance(state, dict) or not STATE_KEYS <= set(state):
        raise CheckpointError(f'{path} is not a training state written by this train.py')
    return state


def restore_training_state(state: dict[str, Any], config: str, optimizers: list, schedulers: list,
                           scaler: torch.amp.GradScaler | None = None) -> None:
    """Load a state's optimizers, schedulers and fp16 gradient scaler (RNG states are restored by the caller, per
    rank)."""
    if state.get('config') not in (None, config):
        raise CheckpointError(f'training state was written by {state["config"]}, not {config}')
    if len(state['optimizers']) != len(optimizers):
        raise CheckpointError(f'training state holds {len(state["optimizers"])} optimizers, expected '
                              f'{len(optimizers)} (one per network)')
    for optimizer, saved in zip(optimizers, state['optimizers']):
        optimizer.load_state_dict(saved)
    for scheduler, saved in zip(schedulers, state['schedulers']):
        scheduler.load_state_dict(saved)
    if scaler is not None and 'scaler' in state:
        scaler.load_state_dict(state['scaler'])
