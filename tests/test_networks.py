"""Exact invertibility of every block and both networks (float64), mosaic tiling, quantization."""
from __future__ import annotations

import pytest
import torch

from models.config import NetworkConfig
from models.invmihnet import InvMIHNet
from models.modules.coupling import IIHCouplingBlock, IIRCouplingBlock
from models.modules.downsampling import ConvDownsampling, DownsampleH, HaarDownsampling
from models.modules.hiding_net import HidingNet
from models.modules.quantization import quantize
from models.modules.rescaling_net import InvRescaleNet
from models.modules.wavelet import dwt, iwt
from models.mosaic import from_tiles, to_tiles

TOL = 1e-10


def _randomise(module: torch.nn.Module, seed: int = 0, scale: float = 0.05) -> torch.nn.Module:
    """Non-trivial weights (the initial conv5 weights are zero, which would make every block the identity)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if 'conv_weights' in name:
                continue
            p.add_(torch.randn(p.shape, generator=g, dtype=p.dtype) * scale)
    return module


def _roundtrip_error(module: torch.nn.Module, x: torch.Tensor) -> float:
    with torch.no_grad():
        y = module(x)
        if y.shape == x.shape:
            assert not torch.allclose(y, x), 'the module is the identity: the round trip proves nothing'
        return (module(y, rev=True) - x).abs().max().item()


def _x(*shape: int, seed: int = 1) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize('block, channels', [(IIRCouplingBlock(12), 12), (IIRCouplingBlock(48), 48),
                                             (IIHCouplingBlock(), 24)], ids=['iir12', 'iir48', 'iih'])
def test_coupling_blocks_invert_exactly(block, channels):
    block = _randomise(block.double())
    assert _roundtrip_error(block, _x(2, channels, 8, 8)) < TOL


def test_untrained_coupling_block_is_identity():
    x = _x(1, 12, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(IIRCouplingBlock(12).double()(x), x)
        torch.testing.assert_close(IIHCouplingBlock().double()(_x(1, 24, 8, 8)), _x(1, 24, 8, 8))


@pytest.mark.parametrize('op, shape', [(HaarDownsampling(3), (2, 3, 8, 8)),
                                       (DownsampleH(12), (2, 12, 8, 6)),
                                       (ConvDownsampling(3, 2), (2, 3, 12, 8)),
                                       (ConvDownsampling(3, 3), (2, 3, 12, 12)),
                                       (ConvDownsampling(2, 2), (2, 3, 8, 8))],
                         ids=['haar', 'downsampleH', 'conv3x2', 'conv3x3', 'conv2x2'])
def test_downsampling_inverts_exactly(op, shape):
    op = op.double()
    x = _x(*shape)
    if isinstance(op, ConvDownsampling):
        with torch.no_grad():
            op.conv_weights.add_(torch.randn(op.conv_weights.shape, generator=torch.Generator().manual_seed(3),
                                             dtype=torch.float64) * 0.05)
    assert _roundtrip_error(op, x) < TOL


def test_haar_is_the_published_filter_bank():
    x = _x(1, 1, 2, 2)
    a, b, c, d = x[0, 0, 0, 0], x[0, 0, 0, 1], x[0, 0, 1, 0], x[0, 0, 1, 1]
    out = HaarDownsampling(1).double()(x).flatten()
    expected = torch.stack([a + b + c + d, a - b + c - d, a + b - c - d, a - b - c + d]) / 4
    torch.testing.assert_close(out, expected)


def test_dwt_iwt_exact_and_orthonormal():
    x = _x(2, 3, 8, 6)
    y = dwt(x)
    assert y.shape == (2, 12, 4, 3)
    assert (iwt(y) - x).abs().max() < TOL
    torch.testing.assert_close(y.pow(2).sum(), x.pow(2).sum())


@pytest.mark.parametrize('grid, blocks, conv', [((2, 2), [2], False), ((3, 2), [2], True), ((4, 2), [1, 1], False),
                                                ((3, 3), [2], True), ((4, 4), [1, 1], False)])
def test_rescaling_net_inverts_exactly(grid, blocks, conv):
    net = _randomise(InvRescaleNet(*grid, blocks, use_conv_downsampling=conv).double())
    x = _x(2, 3, 8 * grid[0], 8 * grid[1])
    with torch.no_grad():
        y = net(x)
    assert y.shape == (2, 3 * grid[0] * grid[1], 8, 8)
    assert _roundtrip_error(net, x) < TOL


def test_hiding_net_inverts_exactly():
    net = _randomise(HidingNet(block_num=4).double())
    assert list(net.state_dict())[0] == 'model.inv1.r.conv1.weight'
    assert _roundtrip_error(net, _x(2, 24, 6, 6)) < TOL


@pytest.mark.parametrize('grid', [(2, 2), (3, 2), (4, 2), (3, 3), (4, 4), (2, 1), (5, 5), (1, 3)])
def test_tiling_is_row_major_and_invertible(grid):
    sh, sw = grid
    image = _x(1, 3, 4 * sh, 6 * sw)
    tiles = to_tiles(image, sh, sw)
    assert tiles.shape == (sh * sw, 3, 4, 6)
    for i in range(sh * sw):
        r, c = divmod(i, sw)
        torch.testing.assert_close(tiles[i], image[0, :, 4 * r:4 * r + 4, 6 * c:6 * c + 6])
    torch.testing.assert_close(from_tiles(tiles, sh, sw), image)


def test_tiling_error_names_valid_sizes():
    with pytest.raises(ValueError, match=r'height must be a multiple of 6 and width a multiple of 4.*for example '
                                         r'96 x 64 or 102 x 68'):
        to_tiles(torch.zeros(1, 3, 100, 64), 3, 2)


def test_quantization_rounds_and_passes_gradient():
    x = torch.tensor([-0.5, 0.0, 0.5 / 255, 0.3, 1.2], requires_grad=True)
    y = quantize(x)
    torch.testing.assert_close(y, torch.round(torch.clamp(x, 0, 1) * 255).detach() / 255)
    y.sum().backward()
    torch.testing.assert_close(x.grad, torch.ones(5))


def test_full_model_hides_and_reveals_with_shapes():
    net = _randomise(InvMIHNet(NetworkConfig(3, 2, (1,), use_conv_downsampling=True, iih_block_num=2)))
    images = torch.rand(7, 3, 24, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        hidden = net.hide(images[:1], images[1:])
        revealed = net.reveal(hidden.stego, generator=torch.Generator().manual_seed(1))
    assert hidden.stego.shape == (1, 3, 24, 16)
    assert revealed.secrets.shape == (6, 3, 24, 16)
    assert torch.equal(hidden.stego, torch.round(hidden.stego * 255) / 255)
    with pytest.raises(ValueError, match='hides 6 secrets'):
        net.hide(images[:1], images[1:4])
