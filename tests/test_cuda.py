"""CUDA set-up checked with the CUDA and process-group functions patched (any machine): under torchrun each rank
selects its GPU before joining NCCL, and a training state holds the training device's CUDA generator only. Then,
marked ``cuda`` (skipped without a GPU; benchmarks/gpu_check.sh runs them), the same paths on a real GPU."""
from __future__ import annotations

import math

import pytest
import torch

import train
from models.trainer import InvMIHNetTrainer
from models.training_state import rng_states, set_rng_states
from options import parse
from stego.model import load_model
from tests.conftest import REPO, make_tiny_train_options as tiny_train_options
from utils.metrics import psnr

DEMO_TEST = REPO / 'options' / 'test' / 'test_InvMIHNet_4images_demo.yml'


def _torchrun(monkeypatch, local_rank: int, cuda: bool) -> list[tuple]:
    """torchrun's environment for rank ``local_rank`` of 2 on a node with 2 GPUs (or none), every process-group and
    device call recorded, in order, and train.train replaced by a recorder."""
    for key, value in {'RANK': local_rank, 'WORLD_SIZE': 2, 'LOCAL_RANK': local_rank, 'MASTER_ADDR': '127.0.0.1',
                       'MASTER_PORT': 29500}.items():
        monkeypatch.setenv(key, str(value))
    calls: list[tuple] = []
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: cuda)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 2 if cuda else 0)
    monkeypatch.setattr(torch.cuda, 'set_device', lambda device: calls.append(('set_device', torch.device(device))))
    monkeypatch.setattr(train.dist, 'init_process_group',
                        lambda backend=None, **kwargs: calls.append(('init_process_group', backend, kwargs)))
    monkeypatch.setattr(train.dist, 'get_rank', lambda: local_rank)
    monkeypatch.setattr(train.dist, 'get_world_size', lambda: 2)
    monkeypatch.setattr(train.dist, 'is_initialized', lambda: False)
    monkeypatch.setattr(train, 'train', lambda opt, rank, world_size, local_rank: calls.append(
        ('train', rank, world_size, local_rank)))
    return calls


def test_torchrun_on_cuda_selects_the_rank_gpu_before_joining_nccl(monkeypatch, tmp_path):
    path = tiny_train_options(tmp_path)
    path.write_text(path.read_text().replace('gpu_ids: null', 'gpu_ids: [0, 1]'))
    calls = _torchrun(monkeypatch, local_rank=1, cuda=True)
    train.main(['-opt', str(path), '--launcher', 'pytorch'])
    assert calls == [('set_device', torch.device('cuda', 1)),
                     ('init_process_group', 'nccl', {'device_id': torch.device('cuda', 1)}), ('train', 1, 2, 1)]


@pytest.mark.parametrize('gpu_ids, cuda', [('null', True), ('[0, 1]', False)])
def test_torchrun_on_the_cpu_joins_gloo_without_touching_cuda(monkeypatch, tmp_path, gpu_ids, cuda):
    """gpu_ids null trains on the CPU even where CUDA is present; gpu_ids without CUDA too."""
    path = tiny_train_options(tmp_path)
    path.write_text(path.read_text().replace('gpu_ids: null', f'gpu_ids: {gpu_ids}'))
    calls = _torchrun(monkeypatch, local_rank=0, cuda=cuda)
    train.main(['-opt', str(path), '--launcher', 'pytorch'])
    assert calls == [('init_process_group', 'gloo', {}), ('train', 0, 2, 0)]


def test_torchrun_rank_beyond_the_visible_gpus_is_a_clear_error(monkeypatch, tmp_path):
    path = tiny_train_options(tmp_path)
    path.write_text(path.read_text().replace('gpu_ids: null', 'gpu_ids: [0]'))
    calls = _torchrun(monkeypatch, local_rank=3, cuda=True)
    with pytest.raises(SystemExit, match=r'^error: LOCAL_RANK 3: gpu_ids asks for cuda:3 but only 2 CUDA device'):
        train.main(['-opt', str(path), '--launcher', 'pytorch'])
    assert calls == []


def test_rng_states_hold_the_training_devices_cuda_generator_only(monkeypatch):
    """Saved from cuda:1 (rank 1), restored into whatever device the resuming rank trains on; the other GPUs are
    never touched, and a CPU run holds no CUDA state."""
    calls: list[tuple] = []
    state = torch.arange(16, dtype=torch.uint8)
    monkeypatch.setattr(torch.cuda, 'get_rng_state',
                        lambda device='cuda': calls.append(('get', torch.device(device))) or state)
    monkeypatch.setattr(torch.cuda, 'set_rng_state',
                        lambda new_state, device='cuda': calls.append(('set', torch.device(device), new_state)))
    monkeypatch.setattr(torch.cuda, 'get_rng_state_all', lambda: pytest.fail('every GPU touched'))
    monkeypatch.setattr(torch.cuda, 'set_rng_state_all', lambda states: pytest.fail('every GPU touched'))
    saved = rng_states(torch.device('cuda', 1))
    assert calls == [('get', torch.device('cuda', 1))] and saved['cuda'] is state
    set_rng_states(saved, torch.device('cuda', 0))
    assert calls[-1] == ('set', torch.device('cuda', 0), state)
    assert 'cuda' not in rng_states(torch.device('cpu'))
    set_rng_states(saved, torch.device('cpu'))
    assert len(calls) == 2


# ------------------------------------------------------------------ on a real GPU
@pytest.mark.cuda
def test_cuda_hide_and_reveal_agree_with_the_cpu(monkeypatch):
    """The demo model on cuda (TF32 off) hides and reveals as on the CPU: the receiver's CPU generator gives the
    same noise on both."""
    monkeypatch.setattr(torch.backends.cudnn, 'allow_tf32', False)
    monkeypatch.setattr(torch.backends.cuda.matmul, 'allow_tf32', False)
    images = torch.rand(5, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    results = []
    for device in ('cpu', 'cuda'):
        model = load_model(DEMO_TEST, device=device)
        hidden = model.hide(images[:1], images[1:], chunk=3)
        stego = results[0][0] if results else hidden.stego.cpu()
        revealed = model.reveal(stego, generator=torch.Generator().manual_seed(1), chunk=3)
        assert revealed.secrets.device.type == device
        results.append((hidden.stego.cpu(), revealed.secrets.cpu()))
    (stego_cpu, secrets_cpu), (stego_cuda, secrets_cuda) = results
    assert (stego_cpu - stego_cuda).abs().max() <= 1 / 255 + 1e-6
    for a, b in zip(secrets_cpu, secrets_cuda):
        assert psnr((a.permute(1, 2, 0).numpy() * 255).round(), (b.permute(1, 2, 0).numpy() * 255).round()) > 45


@pytest.mark.cuda
@pytest.mark.parametrize('memory_saving', ['none', 'checkpoint', 'invertible'])
def test_cuda_training_steps_with_every_distortion(tmp_path, memory_saving):
    entries = [{'name': name, 'p': 1.0} for name in ('jpeg75', 'gaussian2', 'resize0.5', 'cropout90',
                                                     'brightness5')]
    opt = parse(tiny_train_options(tmp_path, memory_saving=memory_saving, reveal_from='png', distortions=entries),
                is_train=True)
    model = InvMIHNetTrainer(opt, torch.device('cuda'))
    images = torch.rand(5, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    before = [p.detach().clone() for p in model.net.parameters()]
    for _ in range(2):
        losses = model.optimize_parameters(images, images[:, :, ::2, ::2])
        assert all(math.isfinite(v) for v in losses.values())
    assert any(not torch.equal(a, b) for a, b in zip(before, model.net.parameters()))


@pytest.mark.cuda
def test_cuda_rng_state_round_trip():
    device = torch.device('cuda', torch.cuda.current_device())
    saved = rng_states(device)
    first = torch.randn(8, device=device)
    set_rng_states(saved, device)
    assert torch.equal(first, torch.randn(8, device=device))


def test_training_state_keeps_the_fp16_gradient_scaler(tmp_path):
    """fp16 training (CUDA only) resumes with its gradient scaler's scale, not a fresh one (a CPU scaler stands in)."""
    opt = parse(tiny_train_options(tmp_path), is_train=True)
    (tmp_path / 'experiments' / 'tiny' / 'training_state').mkdir(parents=True)
    model = InvMIHNetTrainer(opt, torch.device('cpu'))
    model.scaler = torch.amp.GradScaler('cpu', init_scale=1024.0, growth_interval=7)
    state = torch.load(model.save_training_state(0, 3), weights_only=True)
    resumed = InvMIHNetTrainer(opt, torch.device('cpu'))
    resumed.scaler = torch.amp.GradScaler('cpu')
    resumed.resume_training(state)
    assert resumed.scaler.get_scale() == 1024.0 and resumed.scaler.get_growth_interval() == 7
