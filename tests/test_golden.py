"""Golden equivalence with the published implementation, for all five configurations, through the option
files, the factory and the released checkpoint format."""
from __future__ import annotations

import pytest
import torch

from inference.stego_model import StegoModel
from models.losses import InvMIHNetLoss
from options import parse
from benchmarks.golden_cases import CASES


def _assert_quantized_close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    levels = torch.round(actual * 255) - torch.round(expected * 255)
    assert levels.abs().max() <= 1
    assert (levels != 0).float().mean() <= 0.001


def _assert_recovered_close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    diff = (actual - expected).abs()
    assert diff.mean() < 1e-4
    assert (diff > 1e-3).float().mean() <= 0.001


@pytest.fixture(scope='module', params=CASES, ids=lambda n: f'{n}images')
def golden(request, tmp_path_factory, golden_case, golden_option_file):
    n = request.param
    ref = golden_case(n)
    opt = parse(golden_option_file(n, tmp_path_factory.mktemp(f'golden{n}')), is_train=False)
    model = StegoModel.from_options(opt, torch.device('cpu'))
    return ref, model


def test_hide_matches_published(golden):
    ref, model = golden
    images = ref['images']
    hidden = model.hide(images[:1], images[1:])
    torch.testing.assert_close(hidden.secret_lr, ref['secret_lr'], atol=1e-4, rtol=0)
    torch.testing.assert_close(hidden.cover_tiles, ref['cover_tiles'], atol=1e-4, rtol=0)
    torch.testing.assert_close(hidden.steg_tiles, ref['steg_tiles'], atol=1e-4, rtol=0)
    _assert_quantized_close(hidden.stego[0], ref['steg'])


def test_reveal_from_float_matches_published(golden):
    ref, model = golden
    images = ref['images']
    hidden = model.hide(images[:1], images[1:])
    revealed = model.reveal(hidden.stego_float, ref['noise_iih'], ref['noise_iir'], from_float=True)
    torch.testing.assert_close(revealed.secret_lr, ref['secret_rev_lr'], atol=1e-4, rtol=0)
    _assert_recovered_close(revealed.secrets, ref['secret_recover'])


def test_reveal_from_png_is_close_to_float(golden):
    ref, model = golden
    images = ref['images']
    hidden = model.hide(images[:1], images[1:])
    from_png = model.reveal(hidden.stego, ref['noise_iih'], ref['noise_iir'])
    from_float = model.reveal(hidden.stego_float, ref['noise_iih'], ref['noise_iir'], from_float=True)
    # quantizing the stego is a small perturbation, not a different computation
    assert (from_png.secret_lr - from_float.secret_lr).abs().mean() < 0.05
    assert not torch.equal(from_png.secret_lr, from_float.secret_lr)


def test_training_losses_match_published(golden):
    ref, model = golden
    with torch.no_grad():
        out = model.net(ref['images'], ref['noise_iih'], ref['noise_iir'])
        losses = InvMIHNetLoss()(out, ref['lq'][1:])
    for key, expected in ref['losses'].items():
        assert losses[key].item() == pytest.approx(expected, rel=1e-4), key
    torch.testing.assert_close(out['secret_recover'], ref['secret_recover'], atol=0.05, rtol=0)
