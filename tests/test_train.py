"""The trainer: optimizers own every parameter, one backward equals the published two, training learns,
stop-and-resume is bit-identical, non-finite losses stop cleanly, distributed ranks agree."""
from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import train
from data import create_dataloader, create_dataset
from inference.stego_model import StegoModel
from models.trainer import InvMIHNetTrainer
from models.trainer import NonFiniteLossError
from options import parse
from inference.evaluation import evaluate_batch


def _perturbed_model(opt: dict):
    """A model away from its identity initialisation, so that every parameter has a gradient."""
    torch.manual_seed(0)
    model = InvMIHNetTrainer(opt, torch.device('cpu'))
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.net.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.02)
    return model


def _batch(opt: dict):
    random.seed(0)
    torch.manual_seed(0)
    ds = create_dataset(opt['datasets']['train'])
    return next(iter(create_dataloader(ds, opt['datasets']['train'], opt['num_images'], seed=0)))


def test_every_trainable_parameter_has_exactly_one_optimizer(tmp_path, tiny_train_options):
    opt = parse(tiny_train_options(tmp_path), is_train=True)
    model = InvMIHNetTrainer(opt, torch.device('cpu'))
    owned = [id(p) for o in model.optimizers for group in o.param_groups for p in group['params']]
    trainable = [id(p) for p in model.net.parameters() if p.requires_grad]
    assert sorted(owned) == sorted(trainable) and len(set(owned)) == len(owned)
    assert {id(p) for p in model.net.iih.parameters()} <= {id(p) for g in model.optimizer_H.param_groups
                                                           for p in g['params']}


def test_one_step_changes_every_parameter_of_both_networks(tmp_path, tiny_train_options):
    opt = parse(tiny_train_options(tmp_path), is_train=True)
    model = _perturbed_model(opt)
    batch = _batch(opt)
    before = {k: v.clone() for k, v in model.net.named_parameters()}
    model.optimize_parameters(batch['GT'], batch['LQ'])
    unchanged = [k for k, v in model.net.named_parameters() if torch.equal(v, before[k])]
    assert not unchanged
    assert any(k.startswith('iih.') for k in before) and any(k.startswith('iir.') for k in before)


def test_trained_8image_model_stays_exactly_invertible(tmp_path, tiny_grid_options):
    """downsampleH's filters stay fixed (its published reverse is exact only there) while training at a high
    learning rate moves everything else: the IIR round trip is exact to float64 precision."""
    opt = parse(tiny_grid_options(tmp_path, '8images', lr_G=1e-2, lr_H=1e-2), is_train=True)
    model = _perturbed_model(opt)
    batch = _batch(opt)
    before = {k: v.clone() for k, v in model.net.iir.state_dict().items()}
    for _ in range(3):
        model.optimize_parameters(batch['GT'], batch['LQ'])
    moved = [k for k, v in model.net.iir.state_dict().items() if not torch.equal(v, before[k])]
    assert moved and all('haar_weights' not in k for k in moved)
    iir = model.net.iir.double()
    secrets = batch['GT'][1:].double()
    with torch.no_grad():
        encoded = iir(secrets)
        assert encoded[:, :3].abs().max() > 0
        assert (iir(encoded, rev=True) - secrets).abs().max().item() < 1e-10


@pytest.mark.parametrize('grid', ['4images', '8images', '6images'])
def test_single_pass_gradients_equal_two_pass(tmp_path, grid, repo, tiny_train_options):
    grads = []
    for two_pass in (True, False):
        path = tiny_train_options(tmp_path, name=f'g{two_pass}')
        text = path.read_text()
        if grid != '4images':
            import yaml
            opt = yaml.safe_load(text)
            src = yaml.safe_load((repo / f'options/train/train_InvMIHNet_{grid}.yml').read_text())
            opt.update(scale_H=src['scale_H'], scale_W=src['scale_W'])
            opt['network_G'] = src['network_G']
            opt['network_G']['block_num'] = [1] * len(src['network_G']['block_num'])
            opt['datasets']['train']['GT_size'] = 48 if grid == '6images' else 32
            text = yaml.safe_dump(opt)
        path.write_text(text)
        opt = parse(path, is_train=True)
        opt['train']['two_pass_backward'] = two_pass
        model = _perturbed_model(opt)
        batch = _batch(opt)
        torch.manual_seed(5)
        model.backward(model.compute_losses(batch['GT'], batch['LQ']))
        grads.append({k: p.grad.clone() for k, p in model.net.named_parameters()})
    for key in grads[0]:
        torch.testing.assert_close(grads[1][key], grads[0][key], rtol=1e-4, atol=1e-6 *
                                   grads[0][key].abs().max().item() + 1e-12)


def _weights(models_dir: Path, label) -> dict[str, torch.Tensor]:
    iir = torch.load(models_dir / str(label) / 'IIR.pth', weights_only=True)
    iih = torch.load(models_dir / str(label) / 'IIH.pth', weights_only=True)['net']
    return {**{f'iir.{k}': v for k, v in iir.items()}, **{f'iih.{k}': v for k, v in iih.items()}}


def test_stop_and_resume_is_bit_identical(tmp_path, tiny_train_options):
    full = parse(tiny_train_options(tmp_path / 'full', niter=8, save_freq=4), is_train=True)
    train.train(full)
    part = parse(tiny_train_options(tmp_path / 'part', niter=4, save_freq=4), is_train=True)
    train.train(part)
    resumed = tiny_train_options(tmp_path / 'part', niter=8, save_freq=4)
    resumed.write_text(resumed.read_text().replace('resume_state: null', 'resume_state: auto'))
    opt = parse(resumed, is_train=True)
    assert opt['path']['resume_state'] == 'auto'
    train.train(opt)
    expected = _weights(Path(full['path']['models']), 8)
    actual = _weights(Path(opt['path']['models']), 8)
    assert expected.keys() == actual.keys()
    for key in expected:
        assert torch.equal(expected[key], actual[key]), key
    state_full = torch.load(Path(full['path']['training_state']) / '8.state', weights_only=True)
    state_resumed = torch.load(Path(opt['path']['training_state']) / '8.state', weights_only=True)
    assert torch.equal(state_full['rng']['torch'], state_resumed['rng']['torch'])
    log = (Path(opt['path']['experiments_root']) / 'train_tiny.log').read_text()
    assert 'Resumed from' in log


def test_new_run_moves_old_experiment_aside(tmp_path, tiny_train_options):
    path = tiny_train_options(tmp_path, niter=1, save_freq=1)
    train.train(parse(path, is_train=True))
    train.train(parse(path, is_train=True))
    archived = list((tmp_path / 'experiments').glob('tiny_archived_*'))
    assert len(archived) == 1 and (archived[0] / 'models' / '1' / 'IIR.pth').is_file()


def test_checkpoints_are_in_released_format_and_load_in_test(tmp_path, tiny_train_options):
    path = tiny_train_options(tmp_path, niter=2, save_freq=2)
    opt = parse(path, is_train=True)
    train.train(opt)
    models = Path(opt['path']['models'])
    assert set(torch.load(models / '2' / 'IIH.pth', weights_only=True)) == {'net'}
    assert 'operations.1.F.conv1.weight' in torch.load(models / '2' / 'IIR.pth', weights_only=True)
    state = torch.load(Path(opt['path']['training_state']) / '2.state', weights_only=True)
    assert {'epoch', 'iter', 'optimizers', 'schedulers', 'rng'} <= set(state)
    assert len(state['optimizers']) == 2 and len(state['schedulers']) == 2


def test_non_finite_loss_stops_and_keeps_last_checkpoint(tmp_path, monkeypatch, tiny_train_options):
    path = tiny_train_options(tmp_path, niter=4, save_freq=2, on_divergence='stop')
    opt = parse(path, is_train=True)
    real = __import__('models.losses', fromlist=['InvMIHNetLoss']).InvMIHNetLoss.__call__
    calls = {'n': 0}

    def poisoned(self, out, lr_ref, sets=1):
        losses = real(self, out, lr_ref, sets)
        calls['n'] += 1
        if calls['n'] == 3:
            losses['forw_ce'] = losses['forw_ce'] * float('nan')
            losses['total'] = losses['total'] + losses['forw_ce']
        return losses

    monkeypatch.setattr('models.losses.InvMIHNetLoss.__call__', poisoned)
    with pytest.raises(NonFiniteLossError, match="forw_ce"):
        train.train(opt)
    log = (Path(opt['path']['experiments_root']) / 'train_tiny.log').read_text()
    assert 'Stopped at iteration 3:' in log
    models = Path(opt['path']['models'])
    assert (models / '2' / 'IIR.pth').is_file() and not (models / 'latest').exists()
    assert torch.load(models / '2' / 'IIH.pth', weights_only=True)['net']


@pytest.mark.slow
def test_short_run_learns_to_hide(tmp_path, tiny_train_options):
    """Tens of iterations on real photographs lower the loss and raise the recovered-secret PSNR."""
    path = tiny_train_options(tmp_path, niter=60, save_freq=1000, lr_G=1e-3, lr_H=1e-3)
    opt = parse(path, is_train=True)
    val_opt = opt['datasets']['val']
    val = create_dataloader(create_dataset(val_opt), val_opt, opt['num_images'])
    images = next(iter(val))['GT'][:, :, :64, :64]

    def secret_psnr(model) -> float:
        return evaluate_batch(StegoModel(model.net), images,
                              generator=torch.Generator().manual_seed(0)).metrics['secret_psnr']

    torch.manual_seed(10)
    before = secret_psnr(InvMIHNetTrainer(opt, torch.device('cpu')))
    model = train.train(opt)
    after = secret_psnr(model)
    log = (Path(opt['path']['experiments_root']) / 'train_tiny.log').read_text()
    totals = [float(line.rsplit(' total: ', 1)[1]) for line in log.splitlines() if 'total: ' in line]
    assert sum(totals[-10:]) / 10 < 0.5 * sum(totals[:10]) / 10
    assert after > before + 1, (before, after)


@pytest.mark.slow
def test_two_process_gloo_run_keeps_ranks_identical(tmp_path, repo, tiny_train_options):
    path = tiny_train_options(tmp_path, niter=3, save_freq=3)
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONPATH': str(repo), 'GLOO_SOCKET_IFNAME': 'lo'}
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        port = probe.getsockname()[1]
    result = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
                             '--master_addr=127.0.0.1', f'--master_port={port}', str(repo / 'train.py'),
                             '-opt', str(path),
                             '--launcher', 'pytorch'], cwd=repo, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'Weights identical on all 2 ranks' in result.stderr
    assert (tmp_path / 'experiments' / 'tiny' / 'models' / '3' / 'IIR.pth').is_file()


def test_validation_logging_and_tensorboard(tmp_path, tiny_train_options):
    path = tiny_train_options(tmp_path, niter=2, save_freq=2, val_freq=2)
    path.write_text(path.read_text().replace('use_tb_logger: false', 'use_tb_logger: true'))
    opt = parse(path, is_train=True)
    train.train(opt)
    exp = Path(opt['path']['experiments_root'])
    sample = exp / 'val_images' / '2'
    assert {'cover.png', 'stego.png', 'secret_01.png', 'secret_recover_04.png'} <= {p.name for p in sample.iterdir()}
    log = (exp / 'train_tiny.log').read_text()
    assert 'validation: stego PSNR' in log and 'secret PSNR' in log
    assert list((exp / 'tb_logger').glob('events.out.tfevents.*'))
    assert list(exp.glob('options_*.yml'))


def test_damaged_training_state_is_reported(tmp_path, tiny_train_options):
    path = tiny_train_options(tmp_path, niter=1, save_freq=1)
    bad = tmp_path / 'broken.state'
    bad.write_bytes(b'\x00garbage')
    path.write_text(path.read_text().replace('resume_state: null', f'resume_state: {bad}'))
    with pytest.raises(SystemExit, match=r'error: cannot read training state .*broken.state'):
        train.main(['-opt', str(path)])


def test_bad_dataroot_stops_before_touching_the_experiment(tmp_path, repo, tiny_train_options):
    path = tiny_train_options(tmp_path, niter=1, save_freq=1)
    train.train(parse(path, is_train=True))
    path.write_text(path.read_text().replace(str(repo / 'datasets' / 'kodak_demo' / 'train'),
                                             str(tmp_path / 'nowhere')))
    with pytest.raises(SystemExit, match=r'error: datasets\.train\.dataroot_GT: .*nowhere'):
        train.main(['-opt', str(path)])
    assert not list((tmp_path / 'experiments').glob('tiny_archived_*'))
    assert (tmp_path / 'experiments' / 'tiny' / 'models' / '1' / 'IIR.pth').is_file()
