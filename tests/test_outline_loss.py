"""The outline term (lamda_outline): off by default, and it measures the residual's correlation with the
secret's outlines."""
import torch

from models.losses import InvMIHNetLoss, OUTLINE_TERM, outline_correlation


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


def test_outline_correlation_sees_the_outline_in_the_residual() -> None:
    leaky, clean = _out(True), _out(False)
    assert outline_correlation(leaky['cover_tiles'], leaky['steg_tiles'], leaky['secret_lr']).min() > 0.9
    assert outline_correlation(clean['cover_tiles'], clean['steg_tiles'], clean['secret_lr']).abs().max() < 0.5


def test_outline_term_is_off_by_default_and_its_gradient_lowers_it() -> None:
    assert OUTLINE_TERM not in InvMIHNetLoss(rescaling=False).hiding_weights
    out = _out(True)
    loss = InvMIHNetLoss(lamda_outline=1.0, rescaling=False)
    parts = {'secret_rev_lr': out['secret_lr'], 'steg_wavelet': torch.zeros(2, 12, 8, 8), 'secrets': out['secret_lr']}
    before = loss({**out, **parts}, out['secret_lr'])[OUTLINE_TERM]
    before.backward()
    stepped = (out['steg_tiles'] - 0.05 * out['steg_tiles'].grad / out['steg_tiles'].grad.abs().max()).detach()
    after = loss({**out, **parts, 'steg_tiles': stepped}, out['secret_lr'])[OUTLINE_TERM]
    assert after < before


def test_a_colour_cast_does_not_hide_the_outline() -> None:
    leaky = _out(True)
    cast = leaky['steg_tiles'].detach() + torch.tensor([0.3, 0.0, -0.3]).view(1, 3, 1, 1)
    plain = outline_correlation(leaky['cover_tiles'], leaky['steg_tiles'], leaky['secret_lr'])
    assert torch.allclose(outline_correlation(leaky['cover_tiles'], cast, leaky['secret_lr']), plain, atol=1e-5)
