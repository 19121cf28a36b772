"""Training that survives a blow-up (option ``train.on_divergence``; docs/training_stability.md).

A step diverges when a loss is NaN or infinite (:class:`models.trainer.NonFiniteLossError`) or when the
total loss spikes: above ``train.divergence_factor`` times its running median over the last
``train.divergence_window`` iterations (:class:`SpikeDetector`). ``stop`` ends the run there; ``rollback`` goes
back to the last good checkpoint, an in-memory :class:`TrainingSnapshot` of everything a training state holds,
lowers the learning rates by ``train.rollback_lr_factor`` and goes on, at most ``train.max_rollbacks`` times;
``skip`` judges the loss before the step and leaves the weights untouched by a batch that diverges, at most
``train.max_consecutive_skips`` batches in a row.
"""
from __future__ import annotations

import copy
import math
from collections import deque
from dataclasses import dataclass
from statistics import median
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:  # the trainer imports the option parser, which reads DIVERGENCE_MODES from here
    from models.trainer import InvMIHNetTrainer

DIVERGENCE_MODES = ('stop', 'rollback', 'skip')


class LossSpikeError(RuntimeError):
    """The total loss rose above ``divergence_factor`` times its running median."""


class DivergenceError(RuntimeError):
    """Training diverged again after ``train.max_rollbacks`` rollbacks, or on more than
    ``train.max_consecutive_skips`` batches in a row."""


class SpikeDetector:
    """The running median of the total loss over the last ``window`` iterations; a loss above ``factor`` times
    it is a spike (``factor`` None: never). No iteration is judged before the window is full, and a spike does
    not enter the window."""

    def __init__(self, factor: float | None, window: int) -> None:
        self.factor = factor
        self.recent: deque[float] = deque(maxlen=window)

    def check(self, total: float) -> None:
        """Record ``total``, or raise :class:`LossSpikeError` saying by how much it exceeds the median."""
        if self.factor is None:
            return
        if len(self.recent) == self.recent.maxlen:
            reference = median(self.recent)
            if total > self.factor * reference:
                raise LossSpikeError(f'loss spike: total {total:.4g} > {self.factor:g} x {reference:.4g}, the '
                                     f'median of the last {len(self.recent)} iterations')
        self.recent.append(total)

    def state_dict(self) -> dict[str, Any]:
        return {'recent': list(self.recent)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.recent.clear()
        self.recent.extend(float(v) for v in state['recent'])


def _on_cpu(value: Any) -> Any:
    """A deep copy of ``value`` (nested dicts, lists, tuples of tensors and plain values) with tensors on the CPU."""
    if isinstance(value, torch.Tensor):
        return value.detach().to('cpu', copy=True)
    if isinstance(value, dict):
        out = copy.copy(value)  # keeps the mapping's type (a scheduler's milestones are a Counter)
        for key, item in value.items():
            out[key] = _on_cpu(item)
        return out
    if isinstance(value, list):
        return [_on_cpu(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_on_cpu(v) for v in value)
    return copy.deepcopy(value)


@dataclass
class TrainingSnapshot:
    """What a training state and the model checkpoints hold at iteration ``step``, kept in CPU memory: the
    networks' weights, the optimizers, the schedulers, the gradient scaler, this process's RNG states and the
    spike detector's window."""
    step: int
    epoch: int
    networks: dict[str, torch.Tensor]
    optimizers: list[dict[str, Any]]
    schedulers: list[dict[str, Any]]
    scaler: dict[str, Any] | None
    rng: dict[str, Any]
    detector: dict[str, Any]

    @classmethod
    def take(cls, model: InvMIHNetTrainer, step: int, epoch: int, detector: SpikeDetector) -> 'TrainingSnapshot':
        from models.training_state import rng_states  # not at import: the option parser imports this module
        return cls(step, epoch, _on_cpu(model.net.state_dict()), [_on_cpu(o.state_dict()) for o in model.optimizers],
                   [_on_cpu(s.state_dict()) for s in model.schedulers],
                   None if model.scaler is None else _on_cpu(model.scaler.state_dict()),
                   _on_cpu(rng_states(model.device)), detector.state_dict())

    def restore(self, model: InvMIHNetTrainer, detector: SpikeDetector) -> None:
        """Put ``model`` (in place: the optimizers keep their parameters) and ``detector`` back; the snapshot stays
        intact for a later rollback (everything is copied in)."""
        from models.training_state import set_rng_states
        model.net.load_state_dict(self.networks)
        for optimizer, state in zip(model.optimizers, self.optimizers):
            optimizer.zero_grad(set_to_none=True)
            optimizer.load_state_dict(copy.deepcopy(state))
        for scheduler, state in zip(model.schedulers, self.schedulers):
            scheduler.load_state_dict(copy.deepcopy(state))
        if model.scaler is not None and self.scaler is not None:
            model.scaler.load_state_dict(copy.deepcopy(self.scaler))
        set_rng_states(copy.deepcopy(self.rng), model.device)
        detector.load_state_dict(self.detector)


def scale_learning_rates(model: InvMIHNetTrainer, factor: float) -> None:
    """Multiply the whole learning-rate schedule by ``factor``: every group's current and initial rate (which
    warm-up and restarts return to) and every scheduler's base rates (which cosine annealing returns to)."""
    if not 0 < factor <= 1 or not math.isfinite(factor):
        raise ValueError(f'the learning-rate factor must lie in (0, 1], got {factor}')
    for optimizer in model.optimizers:
        for group in optimizer.param_groups:
            group['lr'] *= factor
            if 'initial_lr' in group:
                group['initial_lr'] *= factor
    for scheduler in model.schedulers:
        scheduler.base_lrs = [rate * factor for rate in scheduler.base_lrs]
        scheduler._last_lr = [group['lr'] for group in scheduler.optimizer.param_groups]
