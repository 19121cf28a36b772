"""Named distortions: parsing, each attack's forward on a known image, gradients, training with each, options."""
from __future__ import annotations

import io
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from data import create_dataloader, create_dataset
from utils.image_io import read_image
from models.trainer import InvMIHNetTrainer
from models.distortions import (VALID_FORMS, DistortionError, TrainingDistortions, attack, distort,
                                parse_distortion, parse_training_distortions)
from options.options import OptionError, parse


@pytest.fixture(scope='module')
def photo(photos) -> torch.Tensor:
    """A real 8-bit photograph (Kodak crop, 64 x 48) as (1, 3, H, W) in k / 255 levels."""
    pixels = read_image(photos / 'test' / 'kodim23.png')[:64, :48]
    return torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1)[None].float()


def _pillow_jpeg(image: torch.Tensor, quality: int, subsampling: int) -> torch.Tensor:
    pixels = torch.round(image[0] * 255).to(torch.uint8).permute(1, 2, 0).numpy()
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format='JPEG', quality=quality, subsampling=subsampling)
    decoded = np.asarray(Image.open(buffer).convert('RGB'))
    return torch.from_numpy(decoded.copy()).permute(2, 0, 1)[None].float() / 255


@pytest.mark.parametrize('name, kind, value, chroma_444', [
    ('none', 'none', 0.0, False), ('jpeg90', 'jpeg', 90.0, False), ('jpeg75_444', 'jpeg', 75.0, True),
    ('gaussian2', 'gaussian', 2.0, False), ('gaussian0.5', 'gaussian', 0.5, False),
    ('resize0.5', 'resize', 0.5, False), ('cropout50', 'cropout', 50.0, False),
    ('brightness-10', 'brightness', -10.0, False)])
def test_valid_names_parse(name, kind, value, chroma_444):
    d = parse_distortion(name)
    assert (d.name, d.kind, d.value, d.chroma_444) == (name, kind, value, chroma_444)


@pytest.mark.parametrize('name', ['jpeg0', 'jpeg101', 'jpeg', 'JPEG90', 'jpeg90_422', 'resize0', 'resize2',
                                  'cropout0', 'cropout150', 'gaussian-1', 'brightness300', 'blur3', '', 90])
def test_malformed_names_list_the_valid_forms(name):
    with pytest.raises(DistortionError, match='valid forms') as err:
        parse_distortion(name)
    assert all(form in str(err.value) for form in VALID_FORMS)


def test_jpeg_attacks_are_the_real_encoder_with_the_chroma_subsampling(photo):
    for name, quality, subsampling in (('jpeg90', 90, 2), ('jpeg50', 50, 2), ('jpeg90_444', 90, 0)):
        torch.testing.assert_close(attack(photo, parse_distortion(name)), _pillow_jpeg(photo, quality, subsampling),
                                   rtol=0, atol=0)
    assert not torch.equal(attack(photo, parse_distortion('jpeg90')), attack(photo, parse_distortion('jpeg90_444')))


def test_gaussian_attack_is_seeded_rounded_and_clipped(photo):
    gaussian = parse_distortion('gaussian4')
    first = attack(photo, gaussian, torch.Generator().manual_seed(3))
    again = attack(photo, gaussian, torch.Generator().manual_seed(3))
    other = attack(photo, gaussian, torch.Generator().manual_seed(4))
    torch.testing.assert_close(first, again, rtol=0, atol=0)
    assert not torch.equal(first, other)
    noise = torch.randn(photo.shape, generator=torch.Generator().manual_seed(3)) * 4 / 255
    torch.testing.assert_close(first, torch.round((photo + noise).clamp(0, 1) * 255) / 255, rtol=0, atol=0)
    assert 3.5 < (first - photo).std().item() * 255 < 4.5


def test_resize_attack_keeps_the_shape_and_loses_detail(photo):
    for factor in ('0.5', '0.75'):
        out = attack(photo, parse_distortion('resize' + factor))
        assert out.shape == photo.shape
        assert torch.equal(out, torch.round(out * 255) / 255)
        assert 0 < (out - photo).abs().mean() < 0.05
    half = F.interpolate(F.interpolate(photo, size=(32, 24), mode='bicubic', antialias=True), size=(64, 48),
                         mode='bicubic')
    torch.testing.assert_close(attack(photo, parse_distortion('resize0.5')),
                               torch.round(half.clamp(0, 1) * 255) / 255, rtol=0, atol=0)
    torch.testing.assert_close(attack(photo, parse_distortion('resize1')), photo, rtol=0, atol=0)


def test_cropout_keeps_the_central_area_and_blackens_the_border(photo):
    out = attack(photo, parse_distortion('cropout25'))
    assert out.shape == photo.shape
    torch.testing.assert_close(out[..., 16:48, 12:36], photo[..., 16:48, 12:36], rtol=0, atol=0)
    kept = torch.zeros(64, 48, dtype=torch.bool)
    kept[16:48, 12:36] = True
    assert out[..., ~kept].abs().sum() == 0


def test_brightness_adds_and_clips(photo):
    out = attack(photo, parse_distortion('brightness20'))
    torch.testing.assert_close(out, torch.clamp(photo + 20 / 255, 0, 1), rtol=0, atol=1e-6)
    assert out.max() == 1.0
    torch.testing.assert_close(attack(photo, parse_distortion('none')), photo, rtol=0, atol=0)


@pytest.mark.parametrize('name', ['gaussian2', 'resize0.5', 'cropout50', 'brightness10'])
def test_differentiable_distortions_pass_gradients(photo, name):
    x = (photo * 0.8 + 0.1).requires_grad_(True)
    distort(x, parse_distortion(name), torch.Generator().manual_seed(0)).square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_jpeg_is_straight_through(photo):
    x = photo.clone().requires_grad_(True)
    out = distort(x, parse_distortion('jpeg75'))
    torch.testing.assert_close(out.detach(), _pillow_jpeg(photo, 75, 2), rtol=0, atol=1e-6)
    (out * torch.arange(out.numel()).reshape(out.shape)).sum().backward()
    torch.testing.assert_close(x.grad, torch.arange(out.numel()).reshape(out.shape).float())


def test_training_distortions_follow_their_probability(photo):
    channel = TrainingDistortions(parse_training_distortions([{'name': 'brightness10', 'p': 0.25}]))
    torch.manual_seed(0)
    applied = sum(not torch.equal(channel(photo), photo) for _ in range(400))
    assert 70 < applied < 130
    always = TrainingDistortions(parse_training_distortions([{'name': 'cropout50', 'p': 1}]))
    assert always.describe() == 'cropout50 (p=1)'
    assert torch.equal(always(photo), attack(photo, parse_distortion('cropout50')))


@pytest.mark.parametrize('entries, match', [
    ([{'name': 'jpeg900', 'p': 0.5}], r'train\.distortions\[0\]\.name: malformed distortion name'),
    ([{'name': 'jpeg90', 'p': 1.5}], r'train\.distortions\[0\]\.p must be a probability'),
    ([{'name': 'jpeg90'}], r'train\.distortions\[0\] must be a mapping with exactly the keys name and p'),
    (['jpeg90'], r'train\.distortions\[0\] must be a mapping')])
def test_bad_training_distortions_are_option_errors(tmp_path, entries, match, tiny_train_options):
    path = tiny_train_options(tmp_path, distortions=entries)
    with pytest.raises(OptionError, match=match) as err:
        parse(path, is_train=True)
    assert str(path) in str(err.value)


def test_bad_attack_names_are_option_errors(tmp_path):
    path = tmp_path / 'test.yml'
    text = open('options/test/test_InvMIHNet_4images_demo.yml').read()
    listed = next(line for line in text.splitlines(keepends=True) if line.startswith('  attacks:'))
    path.write_text(text.replace(listed, '  attacks: [none, jpeg90, gausian2]\n'))
    with pytest.raises(OptionError, match=r'test\.attacks\[2\]: malformed distortion name .gausian2.; valid forms'):
        parse(path, is_train=False)
    path.write_text(text.replace(listed, '  attacks: [none, jpeg90, jpeg90]\n'))
    with pytest.raises(OptionError, match='twice'):
        parse(path, is_train=False)
    path.write_text(text.replace(listed, listed + '  trained_distortions: [jpeg9O]\n'))
    with pytest.raises(OptionError, match=r'test\.trained_distortions\[0\]: malformed distortion name'):
        parse(path, is_train=False)
    robust = parse('options/test/test_InvMIHNet_4images_demo_robust.yml', is_train=False)['test']
    assert robust['trained_distortions'] == ['jpeg90', 'gaussian2'] and 'jpeg90' in robust['attacks']


@pytest.mark.parametrize('name', ['jpeg90', 'gaussian2', 'resize0.5', 'cropout80', 'brightness10'])
def test_a_few_training_steps_with_each_distortion_lower_the_loss(tmp_path, name, tiny_train_options):
    opt = parse(tiny_train_options(tmp_path, distortions=[{'name': name, 'p': 1.0}]), is_train=True)
    opt['datasets']['train']['GT_size'] = 16
    random.seed(0)
    torch.manual_seed(0)
    model = InvMIHNetTrainer(opt, torch.device('cpu'))
    batch = next(iter(create_dataloader(create_dataset(opt['datasets']['train']), opt['datasets']['train'],
                                        opt['num_images'], seed=0)))
    losses = [model.optimize_parameters(batch['GT'], batch['LQ'])['total'] for _ in range(6)]
    assert losses[-1] < 0.7 * losses[0], losses
