"""Warm-starting a 16-image model from a 4-image one (options/train/train_InvMIHNet_16images_cpu.yml): the IIH and
the first IIR level load, the second level starts as the identity, so the first downscaling is the 4-image
model's followed by a 2 x 2 mean; nothing else is loaded silently."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from models.checkpoint import CheckpointError, load_checkpoints, save_iih, save_iir
from models.config import NetworkConfig
from models.networks import build_network
from options import parse


def _trained_4image_net(seed: int = 0):
    torch.manual_seed(seed)
    net = build_network(NetworkConfig(scale_h=2, scale_w=2, iir_block_num=(2,), iih_block_num=1))
    with torch.no_grad():   # conv5 starts at zero (identity blocks): make every block do something
        for name, param in net.named_parameters():
            if 'conv5' in name:
                param.normal_(0.0, 0.05)
    return net


def test_a_16image_model_starts_from_a_4image_one(tmp_path):
    small = _trained_4image_net()
    save_iir(small.iir, tmp_path / 'IIR.pth')
    save_iih(small.iih, tmp_path / 'IIH.pth')
    big = build_network(NetworkConfig(scale_h=4, scale_w=4, iir_block_num=(2, 1), iih_block_num=1))
    with pytest.raises(CheckpointError, match=r'missing keys, first \[.operations\.3\.haar_weights'):
        load_checkpoints(big, tmp_path / 'IIR.pth', tmp_path / 'IIH.pth', big.config.describe(), strict=True)
    load_checkpoints(big, tmp_path / 'IIR.pth', tmp_path / 'IIH.pth', big.config.describe(), strict=False)
    for key, value in small.iih.state_dict().items():
        assert torch.equal(big.iih.state_dict()[key], value)
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = F.avg_pool2d(small.iir(x)[:, :3], 2)
        got = big.iir(x)[:, :3]
    assert got.shape == (3, 3, 8, 8)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_a_mis_shaped_key_is_refused_even_when_not_strict(tmp_path):
    small = _trained_4image_net()
    save_iir(small.iir, tmp_path / 'IIR.pth')
    other = build_network(NetworkConfig(scale_h=2, scale_w=4, iir_block_num=(2,), use_conv_downsampling=True,
                                        iih_block_num=1))
    with pytest.raises(CheckpointError, match='shape mismatch'):
        load_checkpoints(other, tmp_path / 'IIR.pth', None, other.config.describe(), strict=False)


def test_the_16image_cpu_recipe_starts_from_the_bundled_4image_model():
    opt = parse('options/train/train_InvMIHNet_16images_cpu.yml', is_train=True)
    assert opt['path']['strict_load'] is False
    assert 'InvMIHNet_4images_cpu/' in opt['path']['pretrain_model_G']
    net = build_network(NetworkConfig.from_options(opt))
    load_checkpoints(net, opt['path']['pretrain_model_G'], opt['path']['pretrain_model_H'], net.config.describe(),
                     strict=False)
    small = build_network(NetworkConfig(scale_h=2, scale_w=2, iir_block_num=(5,), iih_block_num=4))
    load_checkpoints(small, opt['path']['pretrain_model_G'], opt['path']['pretrain_model_H'], 'the 4-image model')
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(net.iir(x)[:, :3], F.avg_pool2d(small.iir(x)[:, :3], 2), atol=1e-5, rtol=1e-5)
