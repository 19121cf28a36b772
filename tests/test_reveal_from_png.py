"""8-bit-aware training: the training forward with ``reveal_from: png`` reveals exactly as ``reveal()`` does."""
from __future__ import annotations

import pytest
import torch

from models.config import NetworkConfig
from models.invmihnet import InvMIHNet
from models.modules.quantization import quantize
from models.modules.wavelet import dwt
from models.mosaic import to_tiles
from options.options import OptionError, parse


def _net() -> torch.nn.Module:
    net = InvMIHNet(NetworkConfig(2, 2, (1,), iih_block_num=2)).double()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if 'haar_weights' not in name:
                p.add_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.05)
    return net


def _inputs(size: int = 16) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    images = torch.rand(5, 3, size, size, generator=g, dtype=torch.float64)
    z_hiding = torch.randn(4, 12, size // 4, size // 4, generator=g, dtype=torch.float64)
    z_rescaling = torch.randn(4, 9, size // 2, size // 2, generator=g, dtype=torch.float64)
    return images, z_hiding, z_rescaling


def test_png_training_forward_equals_reveal_of_the_quantized_stego():
    net = _net()
    images, z_hiding, z_rescaling = _inputs()
    with torch.no_grad():
        out = net(images, z_hiding, z_rescaling, reveal_from='png')
        hidden = net.hide(images[:1], images[1:])
        revealed = net.reveal(hidden.stego, z_hiding, z_rescaling)
    assert not torch.equal(hidden.stego, hidden.stego_float), 'quantization must change the stego here'
    torch.testing.assert_close(out['secret_recover'], revealed.secrets, rtol=0, atol=1e-12)
    torch.testing.assert_close(out['secret_rev_lr'], revealed.secret_lr, rtol=0, atol=1e-12)


def test_float_training_forward_is_the_published_path_and_differs_from_png():
    net = _net()
    images, z_hiding, z_rescaling = _inputs()
    with torch.no_grad():
        out_float = net(images, z_hiding, z_rescaling)
        out_png = net(images, z_hiding, z_rescaling, reveal_from='png')
        hidden = net.hide(images[:1], images[1:])
        published = net.reveal_wavelet(hidden.steg_wavelet, z_hiding, z_rescaling)
    torch.testing.assert_close(out_float['secret_recover'], published.secrets, rtol=0, atol=0)
    assert not torch.allclose(out_float['secret_recover'], out_png['secret_recover'], atol=1e-6)


def test_png_channel_passes_gradient_to_the_hiding_network():
    net = _net()
    images, z_hiding, z_rescaling = _inputs()
    out = net(images, z_hiding, z_rescaling, reveal_from='png')
    out['secret_rev_lr'].sum().backward()
    grads = [p.grad for p in net.iih.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)


def test_channel_reveals_from_the_dwt_of_the_quantized_image():
    net = _net()
    images, _, _ = _inputs()
    with torch.no_grad():
        hidden = net.hide(images[:1], images[1:])
        received = net.channel(hidden, 'png')
    torch.testing.assert_close(received, dwt(to_tiles(quantize(hidden.stego_float), 2, 2)), rtol=0, atol=0)
    with pytest.raises(ValueError, match='reveal_from'):
        net.channel(hidden, 'jpeg')


def test_train_reveal_from_option(tmp_path, tiny_train_options):
    opt = parse(tiny_train_options(tmp_path), is_train=True)
    assert opt['train']['reveal_from'] == 'png'
    bad = tiny_train_options(tmp_path / 'bad', reveal_from='jpg')
    with pytest.raises(OptionError, match=r'train\.reveal_from must be one of'):
        parse(bad, is_train=True)
    published = parse('options/train/train_InvMIHNet_4images.yml', is_train=True)
    assert published['train']['reveal_from'] == 'float'
