"""The CUDA paths on fake cuda tensors (see tests/fake_cuda.py): hide, reveal, chunking, the training forward and
its losses, every distortion, quantization, the memory-saving modes and autocast never mix devices and never draw
from another device's generator. They run on any machine; the ``cuda``-marked tests run them for real on a GPU."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorDeviceMismatchError

from inference.stego_model import StegoModel
from models.trainer import InvMIHNetTrainer
from models.distortions import TrainingDistortions, attack, distort, parse_distortion, parse_training_distortions
from models.losses import HIDING_TERMS, RESCALING_TERMS
from models.modules.dense_subnet import DenseSubnet
from models.modules.quantization import quantize
from options import parse
from stego.model import load_model
from tests.fake_cuda import CUDA, GeneratorDeviceError, assert_on_cuda, fake_cuda
from tests.conftest import REPO, make_tiny_grid_options, make_tiny_train_options

DEMO_TEST = REPO / 'options' / 'test' / 'test_InvMIHNet_4images_demo.yml'
GRIDS = ['4images', '6images', '8images', 'HiNet_1image']
DISTORTIONS = ['none', 'jpeg75', 'jpeg90_444', 'gaussian2', 'resize0.5', 'cropout50', 'brightness-10']


def _train_opt(tmp_path, grid: str = '4images', **train) -> dict:
    """A tiny training configuration of ``grid``, its crops of :func:`_crop` pixels."""
    path = (make_tiny_train_options(tmp_path, **train) if grid == '4images'
            else make_tiny_grid_options(tmp_path, grid, **train))
    if grid == '6images':
        path.write_text(path.read_text().replace('GT_size: 32', 'GT_size: 48'))
    return parse(path, is_train=True)


def _crop(opt: dict) -> int:
    return opt['datasets']['train']['GT_size']


@pytest.fixture
def host_pixels(monkeypatch):
    """``Tensor.numpy`` of a fake tensor has no data to copy: zeros of its shape stand in (for the JPEG codec,
    which runs in Pillow on host pixels)."""
    monkeypatch.setattr(torch.Tensor, 'numpy', lambda self, *a, **k: np.zeros(tuple(self.shape), dtype=np.uint8))


def test_fake_cuda_catches_what_cuda_would(monkeypatch, tmp_path):
    """The harness is not vacuous: mixed devices and a CPU generator drawing on cuda raise; weights are on cuda."""
    with fake_cuda(monkeypatch):
        model = InvMIHNetTrainer(_train_opt(tmp_path), CUDA)
        assert_on_cuda(*model.net.parameters(), *model.net.buffers())
        x = torch.ones(2, 3, device=CUDA)
        with pytest.raises(FakeTensorDeviceMismatchError):
            x + torch.ones(2, 3)
        with pytest.raises(GeneratorDeviceError, match='a cpu generator draws on cuda'):
            torch.randn(2, 3, generator=torch.Generator().manual_seed(0), device=CUDA)
        with torch.autocast('cuda', dtype=torch.bfloat16):
            assert torch.is_autocast_enabled('cuda')


@pytest.mark.parametrize('chunk', [None, 3])
def test_hide_and_reveal_with_and_without_a_generator(monkeypatch, chunk):
    """The bundled demo model loaded onto cuda (its CPU checkpoints mapped there): hide and reveal, whole and in
    chunks, with the receiver's CPU generator and with the device's own random stream."""
    with fake_cuda(monkeypatch):
        model = load_model(DEMO_TEST, device='cuda')
        assert_on_cuda(*model.net.parameters())
        cover, secrets = torch.rand(1, 3, 64, 64), torch.rand(4, 3, 64, 64)
        hidden = model.hide(cover, secrets, chunk=chunk)
        assert_on_cuda(hidden.stego, hidden.stego_float, hidden.latent, hidden.secret_lr)
        for generator in (None, torch.Generator().manual_seed(1)):
            revealed = model.reveal(hidden.stego, generator=generator, chunk=chunk)
            assert_on_cuda(revealed.secrets, revealed.secret_lr)
            assert revealed.secrets.shape == (4, 3, 64, 64) and revealed.secrets.dtype == torch.float32
        revealed = model.reveal(hidden.stego_float.cpu(), z_hiding=torch.zeros(4, 12, 16, 16),
                                z_rescaling=torch.zeros(4, 9, 32, 32), from_float=True)
        assert_on_cuda(revealed.secrets)


@pytest.mark.parametrize('grid', GRIDS)
def test_every_grid_hides_and_reveals(monkeypatch, tmp_path, grid):
    """Haar, ConvDownsampling (with its matrix inverse), the 2 x 1 downsampleH and the 1 x 1 grid (no IIR)."""
    opt = _train_opt(tmp_path, grid)
    size = 2 * _crop(opt)
    with fake_cuda(monkeypatch):
        model = StegoModel(InvMIHNetTrainer(opt, torch.device('cpu')).net, CUDA)
        n = opt['num_images']
        hidden = model.hide(torch.rand(1, 3, size, size), torch.rand(n, 3, size, size), chunk=2)
        revealed = model.reveal(hidden.stego, generator=torch.Generator().manual_seed(0), chunk=2)
        assert_on_cuda(hidden.stego, revealed.secrets)


@pytest.mark.parametrize('grid', GRIDS)
@pytest.mark.parametrize('memory_saving', ['none', 'checkpoint', 'invertible'])
def test_training_forward_and_every_loss_term(monkeypatch, tmp_path, grid, memory_saving):
    opt = _train_opt(tmp_path, grid, memory_saving=memory_saving, reveal_from='png')
    crop = _crop(opt)
    with fake_cuda(monkeypatch):
        model = InvMIHNetTrainer(opt, CUDA)
        images = torch.rand(2 * (opt['num_images'] + 1), 3, crop, crop)
        with torch.enable_grad():
            losses = model.compute_losses(images, images[:, :, ::opt['scale_H'], ::opt['scale_W']])
        assert set(losses) == {*HIDING_TERMS, 'hiding_total', *RESCALING_TERMS, 'total'}
        assert_on_cuda(*losses.values())
        assert all(v.shape == () and v.dtype == torch.float32 for v in losses.values())
        assert losses['total'].requires_grad


@pytest.mark.parametrize('precision', ['bf16', 'fp16'])
def test_precision_autocast_on_cuda(monkeypatch, tmp_path, precision):
    """Under autocast for 'cuda' the subnets' hidden convolutions compute in the low precision, conv5 and the
    coupling arithmetic in fp32: the training forward and the losses come out in fp32 on cuda."""
    low = {'bf16': torch.bfloat16, 'fp16': torch.float16}[precision]
    opt = _train_opt(tmp_path, precision=precision, memory_saving='invertible')
    seen: dict[str, torch.dtype] = {}
    with fake_cuda(monkeypatch):
        model = InvMIHNetTrainer(opt, CUDA)
        subnet = next(m for m in model.net.modules() if isinstance(m, DenseSubnet))
        for name in ('conv4', 'conv5'):
            getattr(subnet, name).register_forward_hook(
                lambda module, inputs, output, name=name: seen.update({name: output.dtype}))
        images = torch.rand(5, 3, 32, 32)
        with torch.enable_grad():
            losses = model.compute_losses(images, images[:, :, ::2, ::2])
        assert_on_cuda(*losses.values())
        assert {v.dtype for v in losses.values()} == {torch.float32}
        with torch.no_grad():
            hidden = model.net.hide(images[:1].to(CUDA), images[1:].to(CUDA))
        assert_on_cuda(hidden.stego)
        assert hidden.stego.dtype == torch.float32
    assert seen == {'conv4': low, 'conv5': torch.float32}


@pytest.mark.parametrize('name', DISTORTIONS)
def test_each_distortion_and_attack_on_cuda(monkeypatch, host_pixels, name):
    distortion = parse_distortion(name)
    with fake_cuda(monkeypatch):
        images = torch.rand(2, 3, 32, 32, device=CUDA)
        for generator in (None, torch.Generator().manual_seed(0)):
            out = distort(images, distortion, generator)
            assert_on_cuda(out)
            assert out.shape == images.shape
            assert_on_cuda(attack(images[0], distortion, generator))


def test_training_distortions_in_the_training_forward(monkeypatch, host_pixels, tmp_path):
    """Every distortion applied in turn (the fake probability draw is 0, so each applies) between hiding and
    revealing from the PNG."""
    entries = [{'name': name, 'p': 0.5} for name in DISTORTIONS]
    opt = _train_opt(tmp_path, reveal_from='png', distortions=entries)
    with fake_cuda(monkeypatch):
        model = InvMIHNetTrainer(opt, CUDA)
        assert len(model.distortions.entries) == len(DISTORTIONS)
        images = torch.rand(5, 3, 32, 32)
        with torch.enable_grad():
            assert_on_cuda(*model.compute_losses(images, images[:, :, ::2, ::2]).values())
        channel = TrainingDistortions(parse_training_distortions(entries))
        assert_on_cuda(channel(torch.rand(1, 3, 32, 32, device=CUDA)))


def test_quantization_on_cuda(monkeypatch):
    with fake_cuda(monkeypatch):
        x = torch.rand(1, 3, 8, 8, device=CUDA, requires_grad=True)
        assert_on_cuda(quantize(x))


def test_nan_agreement_table_on_cuda(monkeypatch, tmp_path):
    """The ranks' all-reduced table of non-finite loss terms lives on the training device (NCCL reduces only
    cuda tensors)."""
    import models.trainer as trainer

    reduced = []
    monkeypatch.setattr(trainer.torch_dist, 'get_world_size', lambda: 2)
    monkeypatch.setattr(trainer.torch_dist, 'get_rank', lambda: 1)
    monkeypatch.setattr(trainer.torch_dist, 'all_reduce', lambda t, *a, **k: reduced.append(t))
    with fake_cuda(monkeypatch):
        model = InvMIHNetTrainer(_train_opt(tmp_path), CUDA)
        model.dist = True
        model.check_finite({'guide': 1.0, 'total': 2.0})
        assert_on_cuda(*reduced)


def test_spike_agreement_on_cuda(monkeypatch):
    """The ranks' mean total loss, which the spike detector judges, is all-reduced on the training device."""
    from types import SimpleNamespace

    import train
    from models.divergence import SpikeDetector

    reduced = []
    monkeypatch.setattr(train.dist, 'all_reduce', lambda t, *a, **k: reduced.append(t))
    run = SimpleNamespace(distributed=True, world_size=2, detector=SpikeDetector(10.0, 3),
                          model=SimpleNamespace(device=CUDA))
    with fake_cuda(monkeypatch):
        train.agreed_total(run, 3.0)
        assert_on_cuda(*reduced)
