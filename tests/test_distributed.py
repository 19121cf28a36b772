"""Two gloo processes: each rank draws its own noise and ends with the same weights; a NaN loss on one rank stops
every rank with the same message instead of leaving the others waiting in the gradient all-reduce, or rolls every
rank back alike."""
from __future__ import annotations

import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp


pytestmark = pytest.mark.slow


def distributed_worker(rank: int, world_size: int, port: int, opt_path: str, out_dir: str,
                       poisoned_rank: int | None) -> None:
    """One rank of a gloo process group running ``train.train``; writes ``rank<k>.pt`` with the first noise it
    drew, its final weights, or the error that stopped it. ``poisoned_rank`` gets a NaN loss from its 2nd step on."""
    import torch
    import torch.distributed as dist

    import train
    from models.divergence import DivergenceError
    from models.invmihnet import InvMIHNet
    from models.trainer import NonFiniteLossError
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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def _run_two_ranks(tiny_train_options, tmp_path: Path, niter: int, poisoned_rank: int | None = None,
                   **train) -> list[dict]:
    path = tiny_train_options(tmp_path, niter=niter, save_freq=niter, **train)
    ctx = mp.get_context('spawn')
    port = _free_port()
    procs = [ctx.Process(target=distributed_worker, args=(rank, 2, port, str(path), str(tmp_path), poisoned_rank))
             for rank in range(2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=300)
    hung = [rank for rank, proc in enumerate(procs) if proc.is_alive()]
    for proc in procs:
        if proc.is_alive():
            proc.kill()
    assert not hung, f'rank(s) {hung} did not finish'
    return [torch.load(tmp_path / f'rank{rank}.pt', weights_only=True) for rank in range(2)]


def test_ranks_draw_their_own_noise_and_end_identical(tmp_path, tiny_train_options):
    results = _run_two_ranks(tiny_train_options, tmp_path, niter=2)
    assert not torch.equal(results[0]['noise'], results[1]['noise'])
    for key, value in results[0]['weights'].items():
        assert torch.equal(value, results[1]['weights'][key]), key
    state = torch.load(tmp_path / 'experiments' / 'tiny' / 'training_state' / '2.state', weights_only=True)
    rng = state['rng_ranks']
    assert len(rng) == 2 and not torch.equal(rng[0]['torch'], rng[1]['torch'])
    assert torch.equal(rng[0]['torch'], state['rng']['torch'])


def test_nan_on_one_rank_stops_every_rank_with_one_message(tmp_path, tiny_train_options):
    results = _run_two_ranks(tiny_train_options, tmp_path, niter=4, poisoned_rank=1, on_divergence='stop')
    messages = [r.get('error') for r in results]
    assert messages[0] == messages[1] == "non-finite loss term(s) ['back_rec'] on rank(s) [1]"
    log = (tmp_path / 'experiments' / 'tiny' / 'train_tiny.log').read_text()
    assert 'Stopped at iteration 2' in log


def test_nan_on_one_rank_rolls_every_rank_back_alike(tmp_path, tiny_train_options):
    """Rank 1's loss is NaN from its 2nd step on (replays included): both ranks roll back to the start together,
    once, and then stop with the same message."""
    results = _run_two_ranks(tiny_train_options, tmp_path, niter=4, poisoned_rank=1, on_divergence='rollback',
                             max_rollbacks=1)
    messages = [r.get('error') for r in results]
    assert messages[0] == messages[1]
    assert messages[0].startswith('training diverged at iteration 1 (non-finite loss term(s) [\'back_rec\'] on '
                                  'rank(s) [1]) after 1 rollback(s)')
    log = (tmp_path / 'experiments' / 'tiny' / 'train_tiny.log').read_text()
    assert log.count('rolled back to iteration 0 (rollback 1 of 1)') == 1
