"""train.on_divergence: a NaN or a spiking loss rolls the run back to its last good state with lower learning rates
(logged to the console, the log file and TensorBoard), at most max_rollbacks times; ``stop`` ends the run."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

import train
from models.trainer import InvMIHNetTrainer
from models.divergence import SpikeDetector, TrainingSnapshot, scale_learning_rates
from models.losses import InvMIHNetLoss
from options import OptionError, parse
from tests.conftest import REPO, make_tiny_train_options as tiny_train_options


def _poison(monkeypatch, at: set[int] | None = None, after: int | None = None, kind: str = 'nan') -> list[int]:
    """Poison the loss of the training steps (counted from 1, replays included) in ``at`` or after ``after``:
    ``nan`` makes forw_ce NaN, ``spike`` multiplies the total by 1000. Returns the list of step counts."""
    real = InvMIHNetLoss.__call__
    calls: list[int] = []

    def poisoned(self, out, lr_ref, sets=1):
        losses = real(self, out, lr_ref, sets)
        calls.append(len(calls) + 1)
        if (at is not None and calls[-1] in at) or (after is not None and calls[-1] > after):
            if kind == 'nan':
                losses['forw_ce'] = losses['forw_ce'] * float('nan')
                losses['total'] = losses['total'] + losses['forw_ce']
            else:
                losses['total'] = losses['total'] * 1000
        return losses

    monkeypatch.setattr(InvMIHNetLoss, '__call__', poisoned)
    return calls


def _state(opt: dict, step: int) -> dict:
    return torch.load(Path(opt['path']['training_state']) / f'{step}.state', weights_only=True)


def _tensors(checkpoint: dict) -> list[torch.Tensor]:
    """Every tensor of a (nested) checkpoint dict, in key order."""
    return [t for key in sorted(checkpoint) for t in
            (_tensors(checkpoint[key]) if isinstance(checkpoint[key], dict) else [checkpoint[key]])]


def _rates(state: dict) -> list[float]:
    return [o['param_groups'][0]['lr'] for o in state['optimizers']]


class _Board:
    """Stands in for TensorBoard's SummaryWriter: records the scalars."""
    scalars: list[tuple[str, float, int]] = []

    def __init__(self, log_dir: str) -> None:
        _Board.scalars = []

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        _Board.scalars.append((tag, value, step))

    def close(self) -> None:
        pass


@pytest.mark.parametrize('kind', ['nan', 'spike'])
def test_poisoned_loss_rolls_back_and_the_run_finishes_with_lowered_rates(tmp_path, monkeypatch, kind):
    import torch.utils.tensorboard
    clean = parse(tiny_train_options(tmp_path / 'clean', niter=6, save_freq=2), is_train=True)
    train.train(clean)
    path = tiny_train_options(tmp_path / 'poisoned', niter=6, save_freq=2, divergence_window=2)
    path.write_text(path.read_text().replace('use_tb_logger: false', 'use_tb_logger: true'))
    opt = parse(path, is_train=True)
    assert opt['train']['on_divergence'] == 'rollback'
    monkeypatch.setattr(torch.utils.tensorboard, 'SummaryWriter', _Board)
    calls = _poison(monkeypatch, at={5}, kind=kind)
    train.train(opt)
    assert len(calls) == 7  # iteration 5 ran twice: poisoned, then replayed from iteration 4
    final, clean_state = _state(opt, 6), _state(clean, 6)
    assert final['divergence']['rollbacks'] == 1
    assert _rates(final) == pytest.approx([0.5 * r for r in _rates(clean_state)])
    assert _rates(_state(opt, 4)) == _rates(_state(clean, 4))
    clean_base = clean_state['schedulers'][0]['base_lrs']
    assert final['schedulers'][0]['base_lrs'] == pytest.approx([0.5 * r for r in clean_base])
    log = (Path(opt['path']['experiments_root']) / 'train_tiny.log').read_text()
    reason = "non-finite loss term(s) ['forw_ce']" if kind == 'nan' else 'loss spike: total'
    line = next(line for line in log.splitlines() if 'rolled back' in line)
    assert 'Iteration 5 diverged' in line and reason in line
    assert 'rolled back to iteration 4 (rollback 1 of 3), learning rates x 0.5: lr_G ' in line
    assert ('train/rollbacks', 1, 5) in _Board.scalars
    assert 'Training finished at iteration 6' in log


def test_a_batch_that_spikes_twice_is_skipped(tmp_path, monkeypatch):
    path = tiny_train_options(tmp_path, niter=6, save_freq=2, divergence_window=2)
    opt = parse(path, is_train=True)
    calls = _poison(monkeypatch, at={5, 6}, kind='spike')   # iteration 5 and its replay: the same outlier batch
    train.train(opt)
    assert len(calls) == 7  # iteration 5 twice, then skipped; iteration 6 once
    assert _state(opt, 6)['divergence']['rollbacks'] == 2
    log = (Path(opt['path']['experiments_root']) / 'train_tiny.log').read_text()
    assert log.count('Iteration 5 diverged') == 2 and 'rollback 2 of 3' in log
    assert 'Iteration 5 spiked again on the same batch' in log
    assert 'Iteration 5: skipped its batch, which spiked at every try' in log
    assert 'Training finished at iteration 6' in log


def test_exceeding_max_rollbacks_stops_with_one_line(tmp_path, monkeypatch):
    path = tiny_train_options(tmp_path, niter=6, save_freq=2, max_rollbacks=2)
    _poison(monkeypatch, after=2)
    with pytest.raises(SystemExit) as stopped:
        train.main(['-opt', str(path)])
    message = str(stopped.value)
    assert '\n' not in message
    assert message.startswith("error: training diverged at iteration 3 (non-finite loss term(s) ['forw_ce']")
    assert 'after 2 rollback(s), the most train.max_rollbacks allows; the last good state is iteration 2 (' in message
    assert message.endswith('2.state): resume from it with lower train.lr_G / lr_H, or allow more rollbacks')
    log = (tmp_path / 'experiments' / 'tiny' / 'train_tiny.log').read_text()
    assert log.count('rolled back to iteration 2') == 2
    assert 'rollback 2 of 2), learning rates x 0.5' in log


@pytest.mark.parametrize('kind', ['nan', 'spike'])
def test_skip_mode_passes_over_a_diverging_batch_before_its_step(tmp_path, monkeypatch, kind):
    clean = parse(tiny_train_options(tmp_path / 'clean', niter=6, save_freq=1), is_train=True)
    train.train(clean)
    path = tiny_train_options(tmp_path / 'skip', niter=6, save_freq=1, on_divergence='skip', divergence_window=2)
    opt = parse(path, is_train=True)
    calls = _poison(monkeypatch, at={5}, kind=kind)
    train.train(opt)
    assert len(calls) == 6  # no replay
    models = Path(opt['path']['models'])
    for name in ('IIR.pth', 'IIH.pth'):
        before, after, moved = (_tensors(torch.load(models / step / name, weights_only=True)) for step in '456')
        assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True)), name
        assert not all(torch.equal(a, b) for a, b in zip(after, moved, strict=True)), name
    assert _rates(_state(opt, 6)) == _rates(_state(clean, 6))
    log = (Path(opt['path']['experiments_root']) / 'train_tiny.log').read_text()
    reason = "non-finite loss term(s) ['forw_ce']" if kind == 'nan' else 'loss spike: total'
    line = next(line for line in log.splitlines() if 'skipped its batch' in line)
    assert 'Iteration 5: skipped its batch before the step, the weights untouched (' + reason in line
    assert 'rolled back' not in log and 'Training finished at iteration 6' in log


def test_skip_mode_stops_after_too_many_batches_in_a_row(tmp_path, monkeypatch):
    path = tiny_train_options(tmp_path, niter=8, save_freq=2, on_divergence='skip', max_consecutive_skips=2)
    _poison(monkeypatch, after=2)
    with pytest.raises(SystemExit) as stopped:
        train.main(['-opt', str(path)])
    message = str(stopped.value)
    assert '\n' not in message
    assert message.startswith("error: training diverged at iteration 5 (non-finite loss term(s) ['forw_ce']")
    assert 'on 3 batches in a row, more than train.max_consecutive_skips (2) allows: resume from the last ' in message
    log = (tmp_path / 'experiments' / 'tiny' / 'train_tiny.log').read_text()
    assert log.count('skipped its batch before the step') == 2


def test_stop_mode_ends_the_run_at_a_spike(tmp_path, monkeypatch):
    path = tiny_train_options(tmp_path, niter=6, save_freq=2, on_divergence='stop', divergence_window=2)
    _poison(monkeypatch, at={4}, kind='spike')
    with pytest.raises(SystemExit, match=r'^error: loss spike: total \S+ > 10 x \S+, the median of the last 2 '
                                         r'iterations$'):
        train.main(['-opt', str(path)])
    log = (tmp_path / 'experiments' / 'tiny' / 'train_tiny.log').read_text()
    assert 'Stopped at iteration 4: loss spike' in log and 'rolled back' not in log


def test_a_snapshot_rewinds_training_exactly(tmp_path):
    """Two steps after a restore are bit-identical to the two steps after taking it, though the snapshot was
    taken mid-run and both the weights and the optimizers' moments moved in between; the restore leaves the
    snapshot intact for a second rollback."""
    opt = parse(tiny_train_options(tmp_path), is_train=True)
    torch.manual_seed(0)
    model = InvMIHNetTrainer(opt, torch.device('cpu'))
    images = torch.rand(10, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    detector = SpikeDetector(10.0, 3)

    def steps() -> dict[str, torch.Tensor]:
        for k in range(2):
            losses = model.optimize_parameters(images[5 * k:5 * k + 5], images[5 * k:5 * k + 5, :, ::2, ::2])
            detector.check(losses['total'])
            model.update_learning_rate(k + 1)
        return {k: v.clone() for k, v in model.net.state_dict().items()}

    steps()
    snapshot = TrainingSnapshot.take(model, 2, 0, detector)
    first = steps()
    for _ in range(2):
        snapshot.restore(model, detector)
        assert list(detector.recent) == snapshot.detector['recent']
        again = steps()
        assert all(torch.equal(first[k], again[k]) for k in first)


def test_spike_detector_waits_for_a_full_window_and_keeps_spikes_out():
    detector = SpikeDetector(10.0, 3)
    for value in (1000.0, 3.0, 2.0):  # a falling loss never spikes; no judgement before 3 values
        detector.check(value)
    with pytest.raises(RuntimeError, match=r'loss spike: total 31 > 10 x 3, the median of the last 3'):
        detector.check(31.0)
    assert list(detector.recent) == [1000.0, 3.0, 2.0]
    detector.check(29.0)
    assert SpikeDetector(None, 3).check(math.inf) is None


@pytest.mark.filterwarnings('ignore:Detected call of `lr_scheduler.step\\(\\)` before `optimizer.step\\(\\)`')
def test_learning_rate_scaling_scales_the_whole_schedule(tmp_path):
    """Warm-up, milestones and restarts all return to scaled rates."""
    opt = parse(tiny_train_options(tmp_path), is_train=True)
    opt['train'].update(lr_steps=[6], restarts=[8], restart_weights=[1.0])
    rates = []
    for factor in (1.0, 0.25):
        model = InvMIHNetTrainer(opt, torch.device('cpu'))
        scale_learning_rates(model, factor)
        series = []
        for step in range(1, 11):
            model.update_learning_rate(step, 4)
            series.append(model.learning_rates()['lr_H'])
        rates.append(series)
    assert rates[1] == pytest.approx([0.25 * r for r in rates[0]])
    assert len(set(rates[0])) > 3


@pytest.mark.parametrize('key, value, match', [
    ('on_divergence', 'retry', r"train\.on_divergence must be one of \['stop', 'rollback', 'skip'\], got 'retry'"),
    ('divergence_factor', 1.0, r'train\.divergence_factor must be a number above 1 .* got 1\.0'),
    ('divergence_factor', float('nan'), r'train\.divergence_factor must be a finite number, got nan'),
    ('divergence_window', 0, r'train\.divergence_window must be a positive number of iterations, got 0'),
    ('rollback_lr_factor', 1.5, r'train\.rollback_lr_factor must lie in \(0, 1\]'),
    ('rollback_lr_factor', 0, r'train\.rollback_lr_factor must lie in \(0, 1\]'),
    ('max_rollbacks', -1, r'train\.max_rollbacks must be 0 or more, got -1'),
    ('max_consecutive_skips', -1, r'train\.max_consecutive_skips must be 0 or more, got -1'),
    ('max_rollbacks', 1.5, r'train\.max_rollbacks must be int'),
])
def test_divergence_options_are_validated(tmp_path, key, value, match):
    with pytest.raises(OptionError, match=match):
        parse(tiny_train_options(tmp_path, **{key: value}), is_train=True)


def test_divergence_factor_null_turns_spike_detection_off(tmp_path):
    opt = parse(tiny_train_options(tmp_path, divergence_factor=None), is_train=True)
    assert opt['train']['divergence_factor'] is None


@pytest.mark.cuda
def test_cuda_training_run_rolls_back(tmp_path, monkeypatch):
    """On a GPU: a NaN at iteration 3 rolls back to iteration 2 (networks, optimizers and the CUDA generator
    restored there) and the run finishes; its training states hold the GPU's random state."""
    path = tiny_train_options(tmp_path, niter=4, save_freq=2)
    path.write_text(path.read_text().replace('gpu_ids: null', 'gpu_ids: [0]'))
    calls = _poison(monkeypatch, at={3})
    opt = parse(path, is_train=True)
    model = train.train(opt)
    assert next(model.net.parameters()).device.type == 'cuda' and len(calls) == 5
    final = _state(opt, 4)
    assert final['divergence']['rollbacks'] == 1 and 'cuda' in final['rng']


SPIKE_FACTORS = {name: 30.0 for name in ('train_InvMIHNet_4images_cpu_robust.yml',
                                         'train_InvMIHNet_4images_cpu_robust_continue.yml',
                                         'train_InvMIHNet_16images_cpu.yml',
                                         'train_InvMIHNet_16images_cpu_continue.yml',
                                         'train_InvMIHNet_4images_cpu_outline_continue.yml',
                                         'train_InvMIHNet_4images_cpu_texture.yml',
                                         'train_InvMIHNet_4images_cpu_colour.yml',
                                         'train_InvMIHNet_4images_cpu_robust_more.yml')}
SPIKE_FACTORS['train_InvMIHNet_4images_cpu_robust_anneal.yml'] = 100.0   # a low-rate anneal: blow-ups only
SPIKE_FACTORS.update({name: 30.0 for name in ('train_InvMIHNet_4images_cpu_pattern.yml',
                                              'train_InvMIHNet_4images_cpu_robust_guide7.yml')})
"""The long CPU runs on varied photographs judge spikes at 30 x the median (10 stopped them on outlier batches)."""
KEEP_RATE = {'train_InvMIHNet_4images_cpu_pattern.yml', 'train_InvMIHNet_4images_cpu_robust_guide7.yml'}
"""Runs whose rollbacks keep the learning rate (factor 1): the replay meets the outlier batch again and skips it."""
SKIP_OUTLIERS = {'train_InvMIHNet_4images_cpu_stage6.yml', 'train_InvMIHNet_4images_cpu_wavelet.yml',
                 'train_InvMIHNet_4images_cpu_wavelet_continue.yml'}
"""Runs that skip an outlier batch before its step (on_divergence: skip) instead of rolling back."""
SPIKE_FACTORS.update({name: 30.0 for name in SKIP_OUTLIERS})


def test_bundled_training_options_roll_back_or_skip():
    paths = sorted((REPO / 'options' / 'train').glob('*.yml'))
    assert paths and set(SPIKE_FACTORS) | SKIP_OUTLIERS <= {p.name for p in paths}
    for path in paths:
        train_opt = parse(path, is_train=True)['train']
        if path.name in SKIP_OUTLIERS:
            assert (train_opt['on_divergence'], train_opt['divergence_factor']) == ('skip', 30.0), path.name
            continue
        assert train_opt['on_divergence'] == 'rollback', path.name
        expected = (SPIKE_FACTORS.get(path.name, 10.0), 1.0 if path.name in KEEP_RATE else 0.5)
        assert (train_opt['divergence_factor'], train_opt['rollback_lr_factor']) == expected, path.name
