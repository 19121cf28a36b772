"""The tests' shared fixtures: the golden reference cases, the bundled photographs, small training option files
(tiny networks, small crops) and the metric names the evaluation writes; the ``cuda`` marker (a test that needs a
real CUDA GPU is skipped where there is none)."""
from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml

from benchmarks import golden_cases

REPO = Path(__file__).resolve().parents[1]
PHOTOS = REPO / 'datasets' / 'kodak_demo'


def make_tiny_train_options(tmp_path: Path, name: str = 'tiny', niter: int = 6, save_freq: int = 3,
                       val_freq: int = 1000, **train_overrides) -> Path:
    """A 4-image training option file (IIR [1], IIH 2 blocks, 32 x 32 crops) writing under ``tmp_path``."""
    opt = yaml.safe_load((REPO / 'options/train/train_InvMIHNet_4images_demo.yml').read_text())
    opt['name'] = name
    opt['gpu_ids'] = None
    opt['datasets']['train'].update(dataroot_GT=str(PHOTOS / 'train'), GT_size=32)
    opt['datasets']['val'].update(dataroot_GT=str(PHOTOS / 'test'), max_batches=1)
    opt['network_G']['block_num'] = [1]
    opt['network_H']['block_num'] = 2
    opt['path']['root'] = str(tmp_path)
    opt['train'].update({'niter': niter, 'val_freq': val_freq, 'warmup_iter': -1, 'lr_steps': [4], **train_overrides})
    opt['logger'].update(print_freq=1, save_checkpoint_freq=save_freq)
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / f'{name}.yml'
    path.write_text(yaml.safe_dump(opt))
    return path


def make_tiny_grid_options(tmp_path: Path, grid: str, name: str = 'tiny', **train_overrides) -> Path:
    """:func:`make_tiny_train_options` for another shipped grid ('8images', 'HiNet_1image', ...): its scale and IIR
    levels (one block each), crops of 32 x 32."""
    path = make_tiny_train_options(tmp_path, name=name, **train_overrides)
    opt = yaml.safe_load(path.read_text())
    prefix = 'train_HiNet' if grid.startswith('HiNet') else 'train_InvMIHNet'
    src = yaml.safe_load((REPO / 'options' / 'train' / f'{prefix}_{grid.split("_")[-1]}.yml').read_text())
    opt.update(scale_H=src['scale_H'], scale_W=src['scale_W'])
    opt['network_G'] = src['network_G']
    opt['network_G']['block_num'] = [1] * len(src['network_G']['block_num'])
    path.write_text(yaml.safe_dump(opt))
    return path


@pytest.fixture(scope='session')
def repo() -> Path:
    """The repository's root folder."""
    return REPO


@pytest.fixture(scope='session')
def photos() -> Path:
    """The bundled Kodak crops: ``train/`` (14) and ``test/`` (10), 256 x 256."""
    return PHOTOS


@pytest.fixture(scope='session')
def tiny_train_options() -> Callable[..., Path]:
    """:func:`make_tiny_train_options`: ``tiny_train_options(tmp_path, name=..., niter=..., **train)``."""
    return make_tiny_train_options


@pytest.fixture(scope='session')
def tiny_grid_options() -> Callable[..., Path]:
    """:func:`make_tiny_grid_options`: ``tiny_grid_options(tmp_path, '8images', **train)``."""
    return make_tiny_grid_options


@pytest.fixture(scope='session')
def golden_option_file() -> Callable[..., Path]:
    """``golden_option_file(N, folder, dataroot=None, module_prefix=True, extra='')``: a test option file of the
    golden case N naming its checkpoints, written under ``folder`` (see ``benchmarks.golden_cases``)."""
    return golden_cases.option_file_for


@pytest.fixture(scope='session')
def golden_case() -> Callable[[int], dict]:
    """``golden_case(N)``: the golden reference case N with its images and noise drawn."""
    return golden_cases.load_case


@pytest.fixture(scope='session')
def metric_keys() -> set[str]:
    """The mean metrics that test.py writes for every dataset (stego vs cover, recovered vs secret)."""
    return {'stego_psnr', 'stego_ssim', 'secret_psnr', 'secret_ssim', 'stego_psnr_y', 'secret_psnr_y',
            'stego_mae', 'stego_rmse', 'secret_mae', 'secret_rmse'}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason='needs a CUDA GPU (benchmarks/gpu_check.sh runs these on one)')
    for item in items:
        if item.get_closest_marker('cuda') is not None:
            item.add_marker(skip)


def bf16_roundtrip_bounds(module: torch.nn.Module) -> tuple[float, float]:
    """Bounds on the worst and the mean |f^-1(f(x)) - x| of a network whose subnets run in bf16, from the arithmetic.

    The coupling arithmetic is fp32, so a block's reverse differs from the identity only where a subnet's input in
    the reverse pass (rebuilt to fp32 rounding, not bit for bit) rounds to another bf16 value than in the forward
    pass. Its inputs then differ by one bf16 step, which moves the subnet's outputs by at most about the unit
    roundoff u of bf16 (on values of order one), and the reverse division by exp(s) amplifies that by at most
    exp(clamp): the worst value stays below sum over blocks of exp(clamp) * u. A crossing needs an input within
    fp32 rounding (2^-24 relative, times exp(clamp) for the division) of a bf16 rounding boundary (2^-8 apart): a
    chance of at most exp(clamp) * 2^-16 per value, for each of the values in a subnet's receptive field (five 3 x 3
    convolutions: 11 x 11 positions times its input channels); the mean is at most that chance times the worst.
    These hold whatever order a machine's kernels accumulate in (AVX2, AVX-512, AMX alike)."""
    from models.modules.coupling import AffineCouplingBlock

    u = torch.finfo(torch.bfloat16).eps / 2
    worst = mean = 0.0
    for block in module.modules():
        if isinstance(block, AffineCouplingBlock):
            growth = math.exp(block.clamp)
            channels = max(block._subnet(role).conv1.in_channels for role in ('phi', 'rho', 'eta'))
            crossing = min(1.0, growth * 2.0 ** -16 * 11 * 11 * channels)
            worst += growth * u
            mean += growth * u * crossing
    return worst, mean


@pytest.fixture(scope='module')
def one_thread():
    """One intra-op thread for a module of tiny networks: on a busy machine, more threads cost far more than they
    give (``pytestmark = pytest.mark.usefixtures('one_thread')``)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def photo(index: int, height: int, width: int) -> np.ndarray:
    """A bundled Kodak test crop resized to height x width, as RGB uint8."""
    files = sorted((PHOTOS / 'test').glob('*.png'))
    image = cv2.cvtColor(cv2.imread(str(files[index % len(files)])), cv2.COLOR_BGR2RGB)
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def write_rgb(path: Path, image: np.ndarray) -> Path:
    """Write an RGB uint8 array as an image file (format from the suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return path


def read_rgb(path: Path) -> np.ndarray:
    """An image file as an RGB uint8 array."""
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def save_perturbed_checkpoints(net: torch.nn.Module, folder: Path, scale: float = 0.01) -> tuple[Path, Path]:
    """Move ``net``'s weights off their initialisation (seeded; an untrained coupling block is the identity) and
    save them as ``folder/IIR.pth`` and ``folder/IIH.pth`` in the released formats."""
    from models.checkpoint import save_iih, save_iir

    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for param in net.parameters():
            param.add_(scale * torch.randn(param.shape, generator=generator))
    iir, iih = folder / 'IIR.pth', folder / 'IIH.pth'
    save_iir(net.iir, iir)
    save_iih(net.iih, iih)
    return iir, iih


def loss_before_and_after(model, batch: dict, steps: int = 10) -> tuple[float, float]:
    """The total loss on ``batch`` with fixed noise before and after ``steps`` training steps on it."""
    def loss_with_fixed_noise() -> float:
        torch.manual_seed(123)
        with torch.no_grad():
            return model.compute_losses(batch['GT'], batch['LQ'])['total'].item()

    before = loss_with_fixed_noise()
    for _ in range(steps):
        model.optimize_parameters(batch['GT'], batch['LQ'])
    return before, loss_with_fixed_noise()


def trainer_and_batch(option_file: Path) -> tuple[dict, object, dict]:
    """The parsed training options of ``option_file``, its trainer on the CPU (seeded) and its first batch."""
    import random

    from data import create_dataloader, create_dataset
    from models.trainer import InvMIHNetTrainer
    from options import parse

    opt = parse(option_file, is_train=True)
    torch.manual_seed(0)
    random.seed(0)
    model = InvMIHNetTrainer(opt, torch.device('cpu'))
    train_opt = opt['datasets']['train']
    batch = next(iter(create_dataloader(create_dataset(train_opt), train_opt, opt['num_images'], seed=0)))
    return opt, model, batch
