"""Speed and memory features that must not change what is computed: memory-saving modes, mixed precision,
chunked hide / reveal, several image sets per step, the compile fallback, and their options."""
from __future__ import annotations

import copy
import logging

import pytest
import torch
import torch.nn.functional as F
import yaml

from inference.stego_model import StegoModel
from models.trainer import InvMIHNetTrainer
from models.compile import compile_subnets
from models.config import NetworkConfig
from models.invmihnet import InvMIHNet
from models.losses import InvMIHNetLoss
from models.modules.dense_subnet import set_memory_format
from models.precision import set_subnet_precision, subnet_dtype
from tests.conftest import bf16_roundtrip_bounds
from options import OptionError, parse

# 8-image grid: IIR runs [1, 1] around a learnable DownsampleH, so a memory mode meets two coupling runs.
CONFIG = NetworkConfig(scale_h=4, scale_w=2, iir_block_num=(1, 1), iih_block_num=2)


def _network(config: NetworkConfig = CONFIG, seed: int = 0):
    torch.manual_seed(seed)
    net = InvMIHNet(config)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if 'haar_weights' not in name and 'conv_weights' not in name:
                p.add_(torch.randn(p.shape, generator=g) * 0.05)
    return net


def _images(sets: int, config: NetworkConfig = CONFIG, size: int = 16, seed: int = 1) -> torch.Tensor:
    return torch.rand(sets * (config.num_images + 1), 3, size, size, generator=torch.Generator().manual_seed(seed))


def _gradients(net, images: torch.Tensor, noise_seed: int = 2, sets: int = 1) -> torch.Tensor:
    net.zero_grad(set_to_none=True)
    torch.manual_seed(noise_seed)
    images = images.to(next(net.parameters()).device)
    out = net(images)
    n = net.num_images
    lr_ref = images.reshape(sets, n + 1, *images.shape[1:])[:, 1:].flatten(0, 1)[:, :, ::CONFIG.scale_h,
                                                                               ::CONFIG.scale_w]
    InvMIHNetLoss()(out, lr_ref, sets=sets)['total'].backward()
    return torch.cat([p.grad.flatten() for p in net.parameters() if p.grad is not None])


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max()).item()


needs_cuda = pytest.mark.cuda


@pytest.mark.parametrize('device', ['cpu', pytest.param('cuda', marks=needs_cuda)])
def test_memory_saving_gradients_equal_none(device):
    net = _network().to(device)
    images = _images(1)
    reference = _gradients(net, images)
    assert reference.abs().max() > 0
    for mode in ('checkpoint', 'invertible'):
        net.iir.memory_saving = net.iih.memory_saving = mode
        grads = _gradients(net, images)
        assert grads.shape == reference.shape
        assert _relative(grads, reference) < 1e-4, mode


def test_invertible_mode_frees_block_activations():
    """Only the runs' outputs are saved: the autograd graph holds far fewer saved bytes than with ``none``."""
    def saved_bytes(mode: str) -> int:
        net = _network()
        net.iir.memory_saving = net.iih.memory_saving = mode
        total = 0

        def pack(t: torch.Tensor) -> torch.Tensor:
            nonlocal total
            total += t.numel() * t.element_size()
            return t
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            net(_images(1, size=32))
        return total
    assert saved_bytes('invertible') < saved_bytes('none') / 3


def test_bf16_subnets_keep_both_networks_invertible():
    """64 x 64 secrets (feature maps large enough for bf16 boundary crossings to occur), in both subnet layouts; the
    bounds come from bf16's unit roundoff and the blocks' clamps (``bf16_roundtrip_bounds``), not from one machine's
    run. A network run wholly in bf16 is the contrast: it rounds every value at every block where bf16 subnets round
    only where a crossing occurs (a chance of a few percent per value here), so its mean error is over ten times
    larger (the least measured: 64x, IIR with NCHW kernels on an AMX CPU)."""
    x = torch.rand(4, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    h = torch.rand(1, 24, 16, 32, generator=torch.Generator().manual_seed(4))
    whole_bf16 = _network().to(torch.bfloat16)
    for memory_format in ('contiguous', 'channels_last'):
        net = _network()
        set_memory_format(net, memory_format)
        with torch.no_grad():
            fp32_out = net.iir(x)
            set_subnet_precision(net, torch.bfloat16)
            for module, bf16_module, inp in ((net.iir, whole_bf16.iir, x), (net.iih, whole_bf16.iih, h)):
                worst, mean = bf16_roundtrip_bounds(module)
                out = module(inp)
                assert out.dtype == torch.float32
                error = (module(out, rev=True) - inp).abs()
                assert error.max().item() < worst, memory_format
                assert error.mean().item() < mean, memory_format
                whole = (bf16_module(bf16_module(inp.bfloat16()), rev=True).float() - inp).abs()
                assert whole.mean().item() > 10 * error.mean().item()
            assert (net.iir(x) - fp32_out).abs().max() > 1e-4, 'bf16 subnets computed in fp32: the test proves nothing'


def test_precision_choices_are_checked():
    assert subnet_dtype('bf16', torch.device('cpu')) is torch.bfloat16
    assert subnet_dtype('fp32', torch.device('cpu')) is None
    with pytest.raises(ValueError, match=r"train\.precision must be one of \['fp32', 'bf16', 'fp16'\], got 'fp8'"):
        subnet_dtype('fp8', torch.device('cpu'), key='train.precision')
    with pytest.raises(ValueError, match='fp16 runs only on CUDA'):
        subnet_dtype('fp16', torch.device('cpu'))


def test_chunked_hide_and_reveal_are_bit_identical():
    """At 256 x 256 (feature maps of 64 x 64 and more) oneDNN computes every image of a batch alike; on small maps
    it picks its kernels by batch size and results differ by ~1e-6 (see models.invmihnet.in_chunks)."""
    config = NetworkConfig(scale_h=2, scale_w=2, iir_block_num=(1,), iih_block_num=1)
    net = _network(config).eval()
    images = _images(1, config, size=256)
    with torch.no_grad():
        whole = net.hide(images[:1], images[1:])
        parts = net.hide(images[:1], images[1:], chunk=3)
        assert torch.equal(parts.stego, whole.stego)
        assert torch.equal(parts.stego_float, whole.stego_float)
        revealed = [net.reveal(whole.stego, generator=torch.Generator().manual_seed(5), chunk=c)
                    for c in (None, 3)]
    assert torch.equal(revealed[0].secrets, revealed[1].secrets)


def test_two_sets_per_step_give_the_mean_of_single_set_gradients():
    net = _network()
    images = _images(2)
    n1 = CONFIG.num_images + 1
    z_h = torch.randn(2 * CONFIG.num_images, 12, 2, 4, generator=torch.Generator().manual_seed(6))
    z_r = torch.randn(2 * CONFIG.num_images, 3 * CONFIG.num_images - 3, 4, 8,
                      generator=torch.Generator().manual_seed(7))

    def grads(batch: torch.Tensor, sets: int, zh: torch.Tensor, zr: torch.Tensor) -> torch.Tensor:
        net.zero_grad(set_to_none=True)
        out = net(batch, z_hiding=zh, z_rescaling=zr)
        lr_ref = batch.reshape(sets, n1, *batch.shape[1:])[:, 1:].flatten(0, 1)[:, :, ::4, ::2]
        InvMIHNetLoss()(out, lr_ref, sets=sets)['total'].backward()
        return torch.cat([p.grad.flatten() for p in net.parameters() if p.grad is not None])
    n = CONFIG.num_images
    singles = [grads(images[s * n1:(s + 1) * n1], 1, z_h[s * n:(s + 1) * n], z_r[s * n:(s + 1) * n])
               for s in range(2)]
    both = grads(images, 2, z_h, z_r)
    assert _relative(both, (singles[0] + singles[1]) / 2) < 1e-4
    assert _relative(singles[0], singles[1]) > 1e-2


def test_training_batch_must_hold_whole_sets():
    with pytest.raises(ValueError, match='whole sets of 9 images'):
        _network()(_images(1)[:7])


def test_compile_falls_back_with_a_message(monkeypatch, caplog):
    def unavailable(*args, **kwargs):
        raise RuntimeError('no C++ compiler found')
    monkeypatch.setattr(torch, 'compile', unavailable)
    net = _network()
    logger = logging.getLogger('invmihnet')  # its handler, not caplog: earlier tests may stop its propagation
    handler = caplog.handler
    logger.addHandler(handler)
    try:
        assert compile_subnets(net, torch.device('cpu'), key='train.compile') is False
    finally:
        logger.removeHandler(handler)
    assert 'train.compile: torch.compile is unavailable' in caplog.text and 'no C++ compiler' in caplog.text


def _train_file(tiny_train_options, tmp_path, **train):
    return tiny_train_options(tmp_path, **train)


@pytest.mark.parametrize('key, value, match', [
    ('precision', 'fp8', r"train\.precision must be one of \['fp32', 'bf16', 'fp16'\], got 'fp8'"),
    ('memory_saving', 'lots', r'train\.memory_saving must be one of'),
    ('compile', 'yes', r'train\.compile must be bool'),
])
def test_train_options_are_validated(tmp_path, key, value, match, tiny_train_options):
    with pytest.raises(OptionError, match=match):
        parse(_train_file(tiny_train_options, tmp_path, **{key: value}), is_train=True)


def test_fp16_on_the_cpu_is_an_option_error(tmp_path, tiny_train_options):
    path = _train_file(tiny_train_options, tmp_path, precision='fp16')
    with pytest.raises(ValueError, match=r'tiny\.yml: train\.precision: fp16 runs only on CUDA'):
        InvMIHNetTrainer(parse(path, is_train=True), torch.device('cpu'))


def test_sets_per_batch_is_validated_and_sizes_the_loader(tmp_path, tiny_train_options):
    path = _train_file(tiny_train_options, tmp_path)
    opt = yaml.safe_load(path.read_text())
    opt['datasets']['train']['sets_per_batch'] = 0
    path.write_text(yaml.safe_dump(opt))
    with pytest.raises(OptionError, match=r'datasets\.train\.sets_per_batch must be a positive'):
        parse(path, is_train=True)
    opt['datasets']['train']['sets_per_batch'] = 2
    path.write_text(yaml.safe_dump(opt))
    parsed = parse(path, is_train=True)
    from data import create_dataloader, create_dataset
    loader = create_dataloader(create_dataset(parsed['datasets']['train']), parsed['datasets']['train'], 4, seed=0)
    batch = next(iter(loader))
    assert batch['GT'].shape[0] == 10
    model = InvMIHNetTrainer(parsed, torch.device('cpu'))
    losses = model.optimize_parameters(batch['GT'], batch['LQ'])
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())


def test_precision_and_memory_options_reach_the_networks(tmp_path, tiny_train_options):
    parsed = parse(_train_file(tiny_train_options, tmp_path / 'a', precision='bf16'), is_train=True)
    model = InvMIHNetTrainer(parsed, torch.device('cpu'))
    assert {m.subnet_dtype for m in model.net.modules() if hasattr(m, 'subnet_dtype')} == {torch.bfloat16}
    parsed = parse(_train_file(tiny_train_options, tmp_path / 'b', memory_saving='invertible'), is_train=True)
    model = InvMIHNetTrainer(parsed, torch.device('cpu'))
    assert model.net.iir.memory_saving == model.net.iih.memory_saving == 'invertible'
    images = torch.rand(5, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    losses = model.optimize_parameters(images, images[:, :, ::2, ::2])
    assert torch.isfinite(torch.tensor(losses['total']))


@needs_cuda
@pytest.mark.parametrize('precision', ['fp32', 'bf16', 'fp16'])
def test_cuda_training_step_and_inference(tmp_path, precision, tiny_train_options):
    parsed = parse(_train_file(tiny_train_options, tmp_path, precision=precision, memory_saving='invertible'),
                   is_train=True)
    model = InvMIHNetTrainer(parsed, torch.device('cuda'))
    images = torch.rand(5, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    losses = model.optimize_parameters(images, images[:, :, ::2, ::2])
    assert torch.isfinite(torch.tensor(losses['total']))
    stego_model = StegoModel(model.net, model.device, precision=precision)
    hidden = stego_model.hide(images[:1], images[1:], chunk=3)
    revealed = stego_model.reveal(hidden.stego, generator=torch.Generator().manual_seed(1))
    assert hidden.stego.dtype == revealed.secrets.dtype == torch.float32
    assert torch.isfinite(revealed.secrets).all()


def test_test_chunk_is_validated(tmp_path):
    opt = yaml.safe_load(open('options/test/test_InvMIHNet_4images_demo.yml').read())
    opt['gpu_ids'] = None
    opt['path'].update(pretrain_model_G=None, pretrain_model_H=None, root=str(tmp_path))
    opt['test'] = {**(opt.get('test') or {}), 'chunk': 0}
    path = tmp_path / 'test.yml'
    path.write_text(yaml.safe_dump(opt))
    with pytest.raises(ValueError, match=r'test\.yml: test\.chunk must be a positive number'):
        StegoModel.from_options(parse(path, is_train=False), torch.device('cpu'))


def _trained_like_subnet_and_input() -> tuple[torch.nn.Module, torch.Tensor]:
    """A rescaling subnet with its weights moved off their initialisation (whose last layer is zero), and an input."""
    from models.modules.dense_subnet import IIR_SUBNET

    torch.manual_seed(0)
    subnet = IIR_SUBNET(9, 3)
    with torch.no_grad():
        for p in subnet.parameters():
            p.add_(torch.randn(p.shape) * 0.05)
    return subnet, torch.rand(2, 9, 24, 24, generator=torch.Generator().manual_seed(1))


def test_bf16_subnet_runs_its_output_layer_in_fp32():
    """Under bf16 autocast conv1-4 of a subnet compute in bf16, and conv5, which writes the coupling's s and t,
    computes in fp32 on the fp32 concatenation of the subnet's input and conv1-4's bf16 outputs."""
    subnet, x = _trained_like_subnet_and_input()
    seen = {}
    for name in ('conv4', 'conv5'):
        getattr(subnet, name).register_forward_hook(
            lambda module, inputs, output, name=name: seen.update({name: (inputs[0], output)}))
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        out = subnet(x)
    assert seen['conv4'][1].dtype == torch.bfloat16
    features, conv5_out = seen['conv5']
    assert features.dtype == conv5_out.dtype == out.dtype == torch.float32
    assert torch.equal(features[:, :x.shape[1]], x)
    low = features[:, x.shape[1]:]
    assert torch.equal(low, low.bfloat16().float())
    with torch.no_grad():
        assert torch.equal(out, subnet.conv5(features))
    assert not torch.equal(out, out.bfloat16().float())


def test_bf16_emulation_follows_real_bf16_subnets():
    """benchmarks/bf16_training.py --emulate trains with emulated bf16 subnets where the CPU lacks bf16; its figures
    mean something only if the emulation computes what autocast computes (to accumulation order)."""
    from benchmarks.bf16_training import emulate_bf16

    subnet, x = _trained_like_subnet_and_input()
    with torch.no_grad():
        fp32 = subnet(x)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            real = subnet(x)
        emulate_bf16(subnet)
        emulated = subnet(x)
    assert emulated.dtype == real.dtype == torch.float32
    assert (emulated - real).norm() < 0.1 * (fp32 - real).norm()  # measured: 20x closer than fp32


def test_bf16_emulation_keeps_the_output_layer_in_fp32_unless_asked():
    """The emulation, as autocast: conv1-4 and the activations round to bf16, conv5 takes their bf16 features with
    the unrounded input and computes in fp32. With bf16_output (bf16_training.py --bf16-output, the arithmetic
    before the output convolution moved to fp32) conv5 rounds too."""
    from benchmarks.bf16_training import emulate_bf16

    subnet, x = _trained_like_subnet_and_input()
    rounded = copy.deepcopy(subnet)
    emulate_bf16(subnet)
    emulate_bf16(rounded, bf16_output=True)
    seen = {}
    subnet.conv5.register_forward_hook(lambda module, inputs, output: seen.update(features=inputs[0]))
    with torch.no_grad():
        out = subnet(x)
        assert torch.equal(out, F.conv2d(seen['features'], subnet.conv5.weight, subnet.conv5.bias, padding=1))
        out_rounded = rounded(x)
    assert not torch.equal(out, out.bfloat16().float())
    assert torch.equal(seen['features'][:, :x.shape[1]], x)
    hidden = seen['features'][:, x.shape[1]:]
    assert torch.equal(hidden, hidden.bfloat16().float())
    assert torch.equal(out_rounded, out_rounded.bfloat16().float())


def test_bf16_emulation_backward_follows_real_bf16_subnets():
    """The emulated backward rounds gradients where autocast does: the gradients of conv1-4's parameters are bf16
    values, as the gradient of autocast's bf16 copy of a parameter is, and those of the fp32 output layer are not
    rounded; its gradients, from the same bf16 features, match the real ones far closer than fp32's do (measured
    180x and 230x). Rounding in the forward pass only (straight-through gradients) fails the first check."""
    from benchmarks.bf16_training import fp32_bf16_and_emulated

    runs = fp32_bf16_and_emulated(*_trained_like_subnet_and_input())
    grads = {name: param_grads for name, (_, param_grads) in runs.items()}
    for name in ('bf16', 'emulated'):
        for param, grad in grads[name].items():
            assert torch.equal(grad, grad.bfloat16().float()) == (not param.startswith('conv5.')), (name, param)
    for last in ('conv5.weight', 'conv5.bias'):
        off_emulated = (grads['emulated'][last] - grads['bf16'][last]).norm()
        off_fp32 = (grads['fp32'][last] - grads['bf16'][last]).norm()
        assert off_emulated < 0.05 * off_fp32


def test_jitter_is_tiny_and_leaves_the_training_random_stream_alone():
    """bf16_training.py --jitter, the chance baseline: parameters move by ~1e-6 relative, zeros stay zero, and the
    global generator (data order, noise) draws what it would have drawn."""
    from benchmarks.bf16_training import jitter_parameters
    from models.modules.dense_subnet import IIR_SUBNET

    torch.manual_seed(0)
    net = IIR_SUBNET(9, 3)
    before = [p.detach().clone() for p in net.parameters()]
    torch.manual_seed(5)
    jitter_parameters(net)
    after_jitter = torch.rand(3)
    torch.manual_seed(5)
    assert torch.equal(after_jitter, torch.rand(3))
    for old, new in zip(before, net.parameters()):
        new = new.detach()
        assert torch.equal(new[old == 0], old[old == 0])
        if old.any():
            assert not torch.equal(new, old)
            assert ((new - old).abs() / old.abs().clamp_min(1e-30)).max() < 1e-5
