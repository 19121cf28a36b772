"""A 1 x 1 grid is HiNet: no IIR (identity, no latent), the IIH hides the secret itself, HiNet's three losses."""
from __future__ import annotations


import pytest
import torch

from inference.stego_model import StegoModel
from models.losses import RESCALING_TERMS
from options import OptionError, parse
from inference.evaluation import evaluate_batch
from tests.conftest import loss_before_and_after, trainer_and_batch


def _model_and_batch(tiny_grid_options, tmp_path, **train_overrides):
    return trainer_and_batch(tiny_grid_options(tmp_path, 'HiNet_1image', **train_overrides))


def test_shipped_hinet_options_parse(repo):
    for phase, is_train in (('train', True), ('test', False)):
        opt = parse(repo / 'options' / phase / f'{phase}_HiNet_1image.yml', is_train=is_train)
        assert opt['num_images'] == 1 and opt['network_G']['block_num'] == [] and opt['network_H']['block_num'] == 16


def test_hinet_rejects_iir_blocks(tmp_path, tiny_grid_options):
    path = tiny_grid_options(tmp_path, 'HiNet_1image')
    path.write_text(path.read_text().replace('block_num: []', 'block_num: [2]'))
    with pytest.raises(OptionError, match=r'1 x 1 grid \(HiNet\) has no IIR: network_G.block_num must be \[\]'):
        parse(path, is_train=True)


def test_hinet_hides_the_secret_itself_and_reveals_it(tmp_path, tiny_grid_options):
    opt, model, batch = _model_and_batch(tiny_grid_options, tmp_path)
    assert 'HiNet' in model.config and not list(model.net.iir.parameters())
    assert model.optimizers == [model.optimizer_H]
    images = batch['GT']
    hidden = StegoModel(model.net).hide(images[:1], images[1:])
    assert hidden.latent.shape[1] == 0
    torch.testing.assert_close(hidden.secret_lr, images[1:])
    result = evaluate_batch(StegoModel(model.net), images, generator=torch.Generator().manual_seed(0))
    assert result.recovered[0].shape == result.secrets[0].shape == (32, 32, 3)
    losses = model.loss(model.net(images), batch['LQ'][1:])
    assert all(losses[k].item() == 0 for k in RESCALING_TERMS)
    assert losses['total'].item() == pytest.approx(losses['hiding_total'].item())


def test_a_few_hinet_steps_lower_the_loss(tmp_path, tiny_grid_options):
    opt, model, batch = _model_and_batch(tiny_grid_options, tmp_path, lr_H=3e-4)
    before, after = loss_before_and_after(model, batch)
    assert after < 0.5 * before, (before, after)
