"""The leak terms (lamda_outline, lamda_texture, lamda_colour, lamda_tiles, lamda_pattern, lamda_wavelet): off by
default, they measure the residual's correlation with the secret's outlines, with its local variance and (per
channel) with its colour, how far the tiles of one image set differ in its strength, how well a linear filter of the
secret's fine detail draws the residual's, and how well a linear map of the secret's colour gives the residual's
Haar coefficients; a colour cast does not hide the correlations, and a step along each term's
gradient lowers it."""
import math

import pytest
import torch

from models.losses import (COLOUR_TERM, LUMA_WEIGHTS, OUTLINE_TERM, PATTERN_TERM, TEXTURE_TERM, TILES_TERM,
                           WAVELET_TERM, InvMIHNetLoss, canonical_energy, colour_correlation, outline_correlation,
                           pattern_correlation, texture_correlation, tile_spread, wavelet_correlation)
from models.modules.wavelet import dwt, iwt


def _out(residual_like_edges: bool) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    secret = torch.zeros(2, 3, 16, 16)
    secret[:, :, :, 8:] = 1.0
    cover = torch.rand(2, 3, 16, 16, generator=g)
    noise = 0.01 * torch.rand(2, 3, 16, 16, generator=g)
    edge = torch.zeros(2, 3, 16, 16)
    edge[:, :, :, 7:9] = 0.1
    stego = cover + noise + (edge if residual_like_edges else 0)
    return {'cover_tiles': cover, 'steg_tiles': stego.requires_grad_(), 'secret_lr': secret}


def _loss_inputs(out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    size = out['secret_lr'].shape[-1]
    return {**out, 'secret_rev_lr': out['secret_lr'], 'steg_wavelet': torch.zeros(2, 12, size // 2, size // 2),
            'secrets': out['secret_lr']}


def test_outline_correlation_sees_the_outline_in_the_residual() -> None:
    leaky, clean = _out(True), _out(False)
    assert outline_correlation(leaky['cover_tiles'], leaky['steg_tiles'], leaky['secret_lr']).min() > 0.9
    assert outline_correlation(clean['cover_tiles'], clean['steg_tiles'], clean['secret_lr']).abs().max() < 0.5


def test_outline_term_is_off_by_default_and_its_gradient_lowers_it() -> None:
    assert not InvMIHNetLoss(rescaling=False).leak_terms
    assert OUTLINE_TERM not in InvMIHNetLoss(rescaling=False)(_loss_inputs(_out(True)), _out(True)['secret_lr'])
    out = _out(True)
    loss = InvMIHNetLoss(lamda_outline=1.0, rescaling=False)
    parts = _loss_inputs(out)
    before = loss(parts, out['secret_lr'])[OUTLINE_TERM]
    before.backward()
    stepped = (out['steg_tiles'] - 0.05 * out['steg_tiles'].grad / out['steg_tiles'].grad.abs().max()).detach()
    after = loss({**parts, 'steg_tiles': stepped}, out['secret_lr'])[OUTLINE_TERM]
    assert after < before


def test_a_colour_cast_does_not_hide_the_outline() -> None:
    leaky = _out(True)
    cast = leaky['steg_tiles'].detach() + torch.tensor([0.3, 0.0, -0.3]).view(1, 3, 1, 1)
    plain = outline_correlation(leaky['cover_tiles'], leaky['steg_tiles'], leaky['secret_lr'])
    assert torch.allclose(outline_correlation(leaky['cover_tiles'], cast, leaky['secret_lr']), plain, atol=1e-5)


def _textured(residual_follows_texture: bool) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    secret = torch.full((2, 3, 32, 32), 0.5)
    busy = torch.rand(2, 1, 4, 4, generator=g) > 0.5
    mask = busy.float().repeat_interleave(8, 2).repeat_interleave(8, 3)
    secret = secret + mask * 0.3 * (torch.rand(2, 1, 32, 32, generator=g) - 0.5)
    cover = torch.rand(2, 3, 32, 32, generator=g)
    noise = 0.02 * (torch.rand(2, 3, 32, 32, generator=g) - 0.5)
    strength = 1 + 4 * mask if residual_follows_texture else 1
    stego = cover + noise * strength
    return {'cover_tiles': cover, 'steg_tiles': stego.requires_grad_(), 'secret_lr': secret}


def test_texture_correlation_sees_the_secret_texture_in_the_residual() -> None:
    leaky, clean = _textured(True), _textured(False)
    assert texture_correlation(leaky['cover_tiles'], leaky['steg_tiles'], leaky['secret_lr']).min() > 0.8
    assert texture_correlation(clean['cover_tiles'], clean['steg_tiles'], clean['secret_lr']).abs().max() < 0.5


def test_texture_term_is_logged_by_weight_and_its_gradient_lowers_it() -> None:
    out = _textured(True)
    parts = _loss_inputs(out)
    assert TEXTURE_TERM not in InvMIHNetLoss(lamda_outline=1.0, rescaling=False)(parts, out['secret_lr'])
    loss = InvMIHNetLoss(lamda_texture=1.0, rescaling=False)
    losses = loss(parts, out['secret_lr'])
    assert OUTLINE_TERM not in losses
    plain = InvMIHNetLoss(rescaling=False)(parts, out['secret_lr'])['hiding_total']
    assert torch.allclose(losses['hiding_total'], plain + losses[TEXTURE_TERM])
    losses[TEXTURE_TERM].backward()
    grad = out['steg_tiles'].grad
    stepped = (out['steg_tiles'] - 0.005 * grad / grad.abs().max()).detach()
    assert loss({**parts, 'steg_tiles': stepped}, out['secret_lr'])[TEXTURE_TERM] < losses[TEXTURE_TERM]


def _tinted(residual_follows_colour: bool) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(2)
    regions = (torch.rand(2, 1, 8, 8, generator=g) > 0.5).float().repeat_interleave(4, 2).repeat_interleave(4, 3)
    red, blue = torch.tensor([0.8, 0.2, 0.2]).view(1, 3, 1, 1), torch.tensor([0.2, 0.2, 0.8]).view(1, 3, 1, 1)
    secret = regions * red + (1 - regions) * blue + 0.05 * torch.rand(2, 3, 32, 32, generator=g)
    cover = torch.rand(2, 3, 32, 32, generator=g)
    strength = 0.02 * (0.5 + torch.rand(2, 3, 32, 32, generator=g))
    noise = strength * torch.sign(torch.rand(2, 3, 32, 32, generator=g) - 0.5)
    hue = (regions * red + (1 - regions) * blue) / 0.4 if residual_follows_colour else 1
    return {'cover_tiles': cover, 'steg_tiles': (cover + noise * hue).requires_grad_(), 'secret_lr': secret}


def test_canonical_energy_counts_what_a_linear_map_explains() -> None:
    g = torch.Generator().manual_seed(3)
    a = torch.randn(2, 500, 3, generator=g)
    mixed = a @ torch.tensor([[1.0, 0.5, 0.0], [0.0, 2.0, 0.0], [0.5, 0.0, 1.5]]) + 5
    assert canonical_energy(a, mixed).min() > 2.9
    assert canonical_energy(a, torch.randn(2, 500, 4, generator=g)).max() < 0.1
    assert torch.equal(canonical_energy(a, torch.ones(2, 500, 2)), torch.zeros(2))


def test_colour_correlation_sees_the_secret_colour_in_the_residual_hue() -> None:
    leaky, clean = _tinted(True), _tinted(False)
    assert colour_correlation(leaky['cover_tiles'], leaky['steg_tiles'], leaky['secret_lr']).min() > 0.9
    assert colour_correlation(clean['cover_tiles'], clean['steg_tiles'], clean['secret_lr']).max() < 0.3
    assert texture_correlation(leaky['cover_tiles'], leaky['steg_tiles'], leaky['secret_lr']).abs().max() < 0.5
    cast = leaky['steg_tiles'].detach() + torch.tensor([0.3, 0.0, -0.3]).view(1, 3, 1, 1)
    assert torch.allclose(colour_correlation(leaky['cover_tiles'], cast, leaky['secret_lr']),
                          colour_correlation(leaky['cover_tiles'], leaky['steg_tiles'], leaky['secret_lr']),
                          atol=1e-4)


@pytest.mark.parametrize('others', [{}, {'lamda_outline': 1.0, 'lamda_texture': 1.0}])
def test_colour_term_is_logged_by_weight_and_its_gradient_lowers_it(others: dict[str, float]) -> None:
    out = _tinted(True)
    parts = _loss_inputs(out)
    assert COLOUR_TERM not in InvMIHNetLoss(**others, rescaling=False)(parts, out['secret_lr'])
    loss = InvMIHNetLoss(lamda_colour=2.0, **others, rescaling=False)
    losses = loss(parts, out['secret_lr'])
    without = InvMIHNetLoss(**others, rescaling=False)(parts, out['secret_lr'])['hiding_total']
    assert torch.allclose(losses['hiding_total'], without + 2.0 * losses[COLOUR_TERM])
    losses[COLOUR_TERM].backward()
    grad = out['steg_tiles'].grad
    stepped = (out['steg_tiles'] - 1e-4 * grad / grad.abs().max()).detach()
    assert loss({**parts, 'steg_tiles': stepped}, out['secret_lr'])[COLOUR_TERM] < losses[COLOUR_TERM]


def test_tile_spread_is_how_far_one_sets_tiles_differ_in_residual_strength() -> None:
    g = torch.Generator().manual_seed(4)
    cover = torch.rand(8, 3, 16, 16, generator=g)
    noise = 0.01 * torch.sign(torch.rand(8, 3, 16, 16, generator=g) - 0.5)
    strength = torch.tensor([1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 1.0, 2.0]).view(8, 1, 1, 1)
    spread = tile_spread(cover, cover + noise * strength, 4)
    assert spread.shape == (2,) and spread[0] < 1e-10
    assert torch.allclose(spread[1], torch.tensor(3 * 0.25 * math.log(2.0) ** 2), rtol=1e-4)
    assert tile_spread(cover, cover + noise * strength, 1).abs().max() == 0


def test_tiles_term_is_logged_by_weight_and_its_gradient_lowers_it() -> None:
    g = torch.Generator().manual_seed(5)
    cover = torch.rand(8, 3, 16, 16, generator=g)
    strength = torch.linspace(1.0, 3.0, 8).view(8, 1, 1, 1)
    stego = (cover + 0.01 * strength * torch.sign(torch.rand(8, 3, 16, 16, generator=g) - 0.5)).requires_grad_()
    secret = torch.rand(8, 3, 16, 16, generator=g)
    parts = _loss_inputs({'cover_tiles': cover, 'steg_tiles': stego, 'secret_lr': secret})
    parts['steg_wavelet'] = torch.zeros(8, 12, 8, 8)
    assert TILES_TERM not in InvMIHNetLoss(rescaling=False)(parts, secret, sets=2)
    loss = InvMIHNetLoss(lamda_tiles=3.0, rescaling=False)
    losses = loss(parts, secret, sets=2)
    assert torch.allclose(losses[TILES_TERM], tile_spread(cover, stego, 4).sum() / 2)
    plain = InvMIHNetLoss(rescaling=False)(parts, secret, sets=2)['hiding_total']
    assert torch.allclose(losses['hiding_total'], plain + 3.0 * losses[TILES_TERM])
    losses[TILES_TERM].backward()
    stepped = (stego - 1e-3 * stego.grad / stego.grad.abs().max()).detach()
    assert loss({**parts, 'steg_tiles': stepped}, secret, sets=2)[TILES_TERM] < losses[TILES_TERM]


def _lined(residual_follows_detail: bool) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(6)
    secret = torch.rand(2, 3, 32, 32, generator=g)
    cover = torch.rand(2, 3, 32, 32, generator=g)
    noise = 0.003 * torch.randn(2, 3, 32, 32, generator=g)
    luma = (secret * torch.tensor(LUMA_WEIGHTS).view(1, 3, 1, 1)).sum(1, keepdim=True)
    lines = 0.05 * (luma.roll(1, 3) - luma) * torch.tensor([1.0, 0.5, -0.5]).view(1, 3, 1, 1)
    stego = cover + noise + (lines if residual_follows_detail else 0)
    return {'cover_tiles': cover, 'steg_tiles': stego.requires_grad_(), 'secret_lr': secret}


def test_pattern_correlation_sees_a_filter_of_the_secret_in_the_residual() -> None:
    leaky, clean = _lined(True), _lined(False)
    assert pattern_correlation(leaky['cover_tiles'], leaky['steg_tiles'], leaky['secret_lr']).min() > 0.8
    assert pattern_correlation(clean['cover_tiles'], clean['steg_tiles'], clean['secret_lr']).max() < 0.05
    assert outline_correlation(leaky['cover_tiles'], leaky['steg_tiles'], leaky['secret_lr']).abs().max() < 0.3
    cast = leaky['steg_tiles'].detach() + torch.tensor([0.3, 0.0, -0.3]).view(1, 3, 1, 1)
    assert torch.allclose(pattern_correlation(leaky['cover_tiles'], cast, leaky['secret_lr']),
                          pattern_correlation(leaky['cover_tiles'], leaky['steg_tiles'], leaky['secret_lr']),
                          atol=1e-4)


def test_pattern_term_is_logged_by_weight_and_its_gradient_lowers_it() -> None:
    out = _lined(True)
    parts = _loss_inputs(out)
    assert PATTERN_TERM not in InvMIHNetLoss(lamda_colour=1.0, rescaling=False)(parts, out['secret_lr'])
    loss = InvMIHNetLoss(lamda_pattern=3.0, rescaling=False)
    losses = loss(parts, out['secret_lr'])
    plain = InvMIHNetLoss(rescaling=False)(parts, out['secret_lr'])['hiding_total']
    assert torch.allclose(losses['hiding_total'], plain + 3.0 * losses[PATTERN_TERM])
    losses[PATTERN_TERM].backward()
    grad = out['steg_tiles'].grad
    stepped = (out['steg_tiles'] - 1e-3 * grad / grad.abs().max()).detach()
    assert loss({**parts, 'steg_tiles': stepped}, out['secret_lr'])[PATTERN_TERM] < losses[PATTERN_TERM]


def _striped(residual_follows_colour: bool) -> dict[str, torch.Tensor]:
    """Tiles whose residual's HL and HH coefficients are (or are not) a linear map of the secret's block colour:
    the fine stripes that draw the secret's shapes in a 10x difference view."""
    g = torch.Generator().manual_seed(3)
    secret = torch.rand(2, 3, 32, 32, generator=g)
    cover = torch.rand(2, 3, 32, 32, generator=g)
    noise = 0.003 * torch.randn(2, 3, 32, 32, generator=g)
    coefficients = torch.zeros(2, 12, 16, 16)
    colour = dwt(secret)[:, :3]
    coefficients[:, 3:6] = 0.02 * colour
    coefficients[:, 9:12] = -0.02 * colour.roll(1, 1)
    stego = cover + noise + (iwt(coefficients) if residual_follows_colour else 0)
    return {'cover_tiles': cover, 'steg_tiles': stego.requires_grad_(), 'secret_lr': secret}


def test_wavelet_correlation_sees_the_secrets_colour_in_the_residuals_coefficients() -> None:
    leaky, clean = _striped(True), _striped(False)
    assert wavelet_correlation(leaky['cover_tiles'], leaky['steg_tiles'], leaky['secret_lr']).min() > 2.5
    assert wavelet_correlation(clean['cover_tiles'], clean['steg_tiles'], clean['secret_lr']).max() < 0.3
    other = leaky['secret_lr'].flip(0)
    assert wavelet_correlation(leaky['cover_tiles'], leaky['steg_tiles'], other).max() < 0.3
    assert pattern_correlation(leaky['cover_tiles'], leaky['steg_tiles'], leaky['secret_lr']).max() < 0.5
    cast = leaky['steg_tiles'].detach() + torch.tensor([0.3, 0.0, -0.3]).view(1, 3, 1, 1)
    assert torch.allclose(wavelet_correlation(leaky['cover_tiles'], cast, leaky['secret_lr']),
                          wavelet_correlation(leaky['cover_tiles'], leaky['steg_tiles'], leaky['secret_lr']),
                          atol=1e-4)


def test_wavelet_term_is_logged_by_weight_and_its_gradient_lowers_it() -> None:
    out = _striped(True)
    parts = _loss_inputs(out)
    assert WAVELET_TERM not in InvMIHNetLoss(lamda_pattern=1.0, rescaling=False)(parts, out['secret_lr'])
    loss = InvMIHNetLoss(lamda_wavelet=2.0, rescaling=False)
    losses = loss(parts, out['secret_lr'])
    plain = InvMIHNetLoss(rescaling=False)(parts, out['secret_lr'])['hiding_total']
    assert torch.allclose(losses['hiding_total'], plain + 2.0 * losses[WAVELET_TERM])
    losses[WAVELET_TERM].backward()
    grad = out['steg_tiles'].grad
    stepped = (out['steg_tiles'] - 1e-3 * grad / grad.abs().max()).detach()
    assert loss({**parts, 'steg_tiles': stepped}, out['secret_lr'])[WAVELET_TERM] < losses[WAVELET_TERM]
