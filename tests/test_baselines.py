"""The full-size baselines (network_H.method concat, ISN-style, and sequential, DeepMIH-style): option files, exact
invertibility, training that learns, and the tools (hide.py / reveal.py through the 8-bit PNG, test.py's attacks)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import hide
import reveal
import test as test_script
from models.config import NetworkConfig
from models.networks import build_network
from models.modules.wavelet import dwt
from models.precision import set_subnet_precision
from options import OptionError, parse
from stego import KeyMismatchError, StegoKey, load_model, reveal_image
from inference.round_trip import restore_sizes
from stego.receiver import reveal_tensor
from tests.conftest import (PHOTOS, REPO, bf16_roundtrip_bounds, loss_before_and_after, photo, read_rgb,
                            trainer_and_batch, write_rgb)
from tests.conftest import make_tiny_train_options as tiny_train_options
from utils.image_io import hwc_to_chw

METHODS = ('concat', 'sequential')


pytestmark = pytest.mark.usefixtures('one_thread')




def baseline_train_options(tmp_path: Path, method: str, **train_overrides) -> Path:
    """:func:`tiny_train_options` (4 secrets, 32 x 32 crops) for a baseline with 2 hiding blocks (per stage)."""
    path = tiny_train_options(tmp_path, name=f'tiny_{method}', **train_overrides)
    opt = yaml.safe_load(path.read_text())
    opt['network_G']['block_num'] = []
    opt['network_G']['which_model_G']['use_ConvDownsampling'] = False
    opt['network_H'].update(method=method, block_num=2)
    path.write_text(yaml.safe_dump(opt))
    return path


def baseline_test_options(folder: Path, method: str, iih: Path | None) -> Path:
    """The shipped 4-image test option file of a baseline with 2 hiding blocks, the given checkpoint, the Kodak
    test photographs (one set, 32 x 32 centre crops)."""
    name = 'ConcatHiding' if method == 'concat' else 'SequentialHiding'
    raw = yaml.safe_load((REPO / 'options' / 'test' / f'test_{name}_4images.yml').read_text())
    raw['network_H']['block_num'] = 2
    raw['path'].update(pretrain_model_H=str(iih) if iih else None, root=str(folder))
    raw['gpu_ids'] = None
    raw['datasets']['test_1'].update(dataroot_GT=str(PHOTOS / 'test'), max_batches=1, center_crop=32)
    path = folder / f'test_{method}.yml'
    path.write_text(yaml.safe_dump(raw))
    return path


def perturbed(net: torch.nn.Module, seed: int = 0, scale: float = 0.01) -> torch.nn.Module:
    """``net`` with every parameter moved by ``scale`` * N(0, 1): an untrained coupling block is the identity."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in net.parameters():
            param.add_(scale * torch.randn(param.shape, generator=generator))
    return net


@pytest.mark.parametrize('method', METHODS)
@pytest.mark.parametrize('n', [4, 9])
def test_shipped_baseline_options_parse(method, n):
    name = 'ConcatHiding' if method == 'concat' else 'SequentialHiding'
    for phase, is_train in (('train', True), ('test', False)):
        opt = parse(REPO / 'options' / phase / f'{phase}_{name}_{n}images.yml', is_train=is_train)
        config = NetworkConfig.from_options(opt)
        assert (config.method, config.num_images, config.rescales) == (method, n, False)
        assert ('ISN-style' if method == 'concat' else 'DeepMIH-style') in config.describe()
        assert config.size_multiple == (2, 2)


def test_existing_option_files_keep_meaning_invmihnet():
    opt = parse(REPO / 'options' / 'test' / 'test_InvMIHNet_4images.yml', is_train=False)
    config = NetworkConfig.from_options(opt)
    assert opt['network_H']['method'] == config.method == 'mosaic' and 'method' not in config.fingerprint()


def test_bad_method_and_iir_blocks_are_option_errors(tmp_path):
    path = baseline_train_options(tmp_path, 'concat')
    path.write_text(path.read_text().replace('method: concat', 'method: stacked'))
    with pytest.raises(OptionError, match=r"network_H.method must be one of \['mosaic', 'concat', 'sequential'\]"):
        parse(path, is_train=True)
    path = baseline_train_options(tmp_path, 'sequential')
    path.write_text(path.read_text().replace('block_num: []', 'block_num: [2]'))
    with pytest.raises(OptionError, match=r'network_H.method sequential has no IIR: network_G.block_num must be'):
        parse(path, is_train=True)


@pytest.mark.parametrize('method', METHODS)
@pytest.mark.parametrize('n', [4, 9])
@pytest.mark.parametrize('precision', ['fp32', 'bf16'])
def test_baselines_are_exactly_invertible(method, n, precision):
    side = 2 if n == 4 else 3
    net = perturbed(build_network(NetworkConfig(side, side, (), iih_block_num=2, method=method))).eval()
    set_subnet_precision(net, torch.bfloat16 if precision == 'bf16' else None)
    generator = torch.Generator().manual_seed(1)
    cover, secrets = torch.rand(1, 3, 24, 20, generator=generator), torch.rand(n, 3, 24, 20, generator=generator)
    with torch.no_grad():
        hidden = net.hide(cover, secrets)
        assert hidden.stego.shape == cover.shape and hidden.latent.shape == (n, 12, 12, 10)
        assert 1e-3 < (hidden.stego_float - cover).abs().mean() < 0.5   # the weights do something
        revealed = net.reveal(hidden.stego_float, z_hiding=hidden.latent, from_float=True)
        drawn = net.reveal(hidden.stego, generator=torch.Generator().manual_seed(2))
    error = (revealed.secrets - secrets).abs()
    if precision == 'fp32':
        assert error.max() < 1e-5
    else:   # bf16 subnets: the bounds from bf16's arithmetic over the N stages or the 12N-channel branch
        worst, mean = bf16_roundtrip_bounds(net.iih)
        assert error.mean() < mean and error.max() < worst
    assert drawn.secrets.shape == secrets.shape and not torch.allclose(drawn.secrets, revealed.secrets)
    with pytest.raises(ValueError, match='z_hiding must have shape'):
        net.reveal(hidden.stego, z_hiding=hidden.latent[:1])


def test_sequential_stages_are_separate_networks_and_reveal_runs_them_backwards():
    net = perturbed(build_network(NetworkConfig(2, 2, (), iih_block_num=1, method='sequential')))
    assert len(net.iih.stages) == 4 and len(net.iih.state_dict()) == 4 * len(net.iih.stages[0].state_dict())
    cover, secrets = torch.rand(1, 3, 16, 16), torch.rand(4, 3, 16, 16)
    with torch.no_grad():
        hidden = net.hide(cover, secrets)
        stego = dwt(cover)
        for k in range(3):
            stego = net.iih.stages[k](torch.cat((stego, dwt(secrets[k:k + 1])), 1))[:, :12]
        back = net.iih.stages[3](torch.cat((hidden.steg_wavelet, hidden.latent[3:]), 1), rev=True)
    torch.testing.assert_close(back[:, :12], stego, atol=1e-5, rtol=0)
    torch.testing.assert_close(back[:, 12:], dwt(secrets[3:]), atol=1e-5, rtol=0)
    net.iih.memory_saving = 'invertible'
    assert [stage.memory_saving for stage in net.iih.stages] == ['invertible'] * 4


def _model_and_batch(tmp_path: Path, method: str, **train_overrides):
    return trainer_and_batch(baseline_train_options(tmp_path, method, **train_overrides))


@pytest.mark.parametrize('method, overrides', [
    ('concat', {'reveal_from': 'png', 'distortions': [{'name': 'jpeg90', 'p': 0.5}]}),
    ('sequential', {'memory_saving': 'invertible', 'precision': 'bf16'}),
])
def test_a_few_training_steps_lower_the_loss(tmp_path, method, overrides):
    opt, model, batch = _model_and_batch(tmp_path, method, lr_H=3e-4, **overrides)
    assert model.optimizers == [model.optimizer_H] and not list(model.net.iir.parameters())
    before, after = loss_before_and_after(model, batch)
    assert after < 0.5 * before, (before, after)


def test_memory_saving_modes_give_the_same_gradients(tmp_path):
    grads = {}
    for mode in ('none', 'invertible', 'checkpoint'):
        opt, model, batch = _model_and_batch(tmp_path, 'sequential', memory_saving=mode)
        perturbed(model.net)
        torch.manual_seed(5)
        model.backward(model.compute_losses(batch['GT'], batch['LQ']))
        grads[mode] = torch.cat([p.grad.flatten() for p in model.net.iih.parameters()])
    for mode in ('invertible', 'checkpoint'):
        torch.testing.assert_close(grads[mode], grads['none'], rtol=1e-4, atol=1e-4 * grads['none'].abs().max())


@pytest.fixture(scope='module')
def trained(tmp_path_factory) -> dict:
    """Each baseline trained by train.py for a few steps, its IIH checkpoint and a test option file for it."""
    import train
    root = tmp_path_factory.mktemp('baselines')
    out = {}
    for method in METHODS:
        folder = root / method
        opt = parse(baseline_train_options(folder, method, niter=3), is_train=True)
        model = train.train(opt)
        iih = Path(opt['path']['models']) / 'latest' / 'IIH.pth'
        assert iih.is_file() and not list(model.net.iir.parameters())
        out[method] = {'folder': folder, 'iih': iih, 'opt_file': baseline_test_options(folder, method, iih),
                       'weights': {k: v.clone() for k, v in model.net.state_dict().items()}}
    return out


@pytest.mark.parametrize('method', METHODS)
def test_hide_and_reveal_round_trip_through_the_png(trained, tmp_path, method):
    run = trained[method]
    model = load_model(run['opt_file'])
    for key, value in model.net.state_dict().items():
        torch.testing.assert_close(value, run['weights'][key])
    cover = write_rgb(tmp_path / 'cover.png', photo(0, 34, 30))
    secrets = [write_rgb(tmp_path / f's{i}.png', photo(i, 32, 30)) for i in range(1, 5)]
    stego = tmp_path / 'stego.png'
    assert hide.main(['--opt', str(run['opt_file']), '--cover', str(cover), '--secrets', *map(str, secrets),
                      '--out', str(stego), '--verify']) == 0
    key = StegoKey.load(tmp_path / 'stego.key.json')
    assert key.config.method == method and key.stego_size == (34, 30)   # no tiling: any even size
    out_dir = tmp_path / 'revealed'
    assert reveal.main(['--opt', str(run['opt_file']), '--stego', str(stego), '--key',
                        str(tmp_path / 'stego.key.json'), '--out-dir', str(out_dir)]) == 0
    files = sorted(out_dir.glob('*.png'))
    assert [f.name for f in files] == [f'{i:02d}_s{i}.png' for i in range(1, 5)]
    expected = restore_sizes(reveal_tensor(model, hwc_to_chw(read_rgb(stego))[None], seed=0),
                             key.secret_sizes)
    for path, secret in zip(files, expected):
        assert np.array_equal(read_rgb(path), secret)
    other = trained['concat' if method == 'sequential' else 'sequential']
    with pytest.raises(KeyMismatchError, match=f"method '{method}' vs"):
        reveal_image(load_model(other['opt_file']), stego, tmp_path / 'stego.key.json')


def test_test_script_evaluates_attacks_on_a_baseline(trained):
    run = trained['sequential']
    raw = yaml.safe_load(run['opt_file'].read_text())
    raw['test'].update(attacks=['none', 'jpeg90'], save_images=False)
    opt_file = run['folder'] / 'test_attacks.yml'
    opt_file.write_text(yaml.safe_dump(raw))
    results = test_script.run(parse(opt_file, is_train=False))
    means = results['DIV2K_valid_HR_1024']
    assert np.isfinite(means['secret_psnr']) and np.isfinite(means['stego_psnr'])
    robustness = Path(raw['path']['root']) / 'results' / raw['name'] / 'DIV2K_valid_HR_1024' / 'robustness.json'
    assert robustness.is_file() and 'jpeg90' in robustness.read_text()
