"""hide.py / reveal.py and utils/stego_png.py on tiny networks: sizes, metadata, errors, atomic outputs."""
from __future__ import annotations

import math
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml
from PIL import Image, PngImagePlugin

import hide
import reveal
from data.image_io import ImageReadError, read_image
from models import create_model
from models.checkpoint import save_iih, save_iir
from models.invmihnet_model import InvMIHNetModel
from options.options import REPO_ROOT, parse
from utils.metrics import psnr
from utils.stego_png import (FORMAT_TAG, MissingMetadataWarning, StegoConfigError, StegoFormatError, StegoMetadata,
                             apply_cover_plan, metadata_chunks, parse_metadata, plan_cover, read_stego_png)

KODAK = REPO_ROOT / 'datasets' / 'kodak_demo' / 'test'
COVER_HW = (101, 77)
STEGO_CROP_HW = (100, 76)
STEGO_PAD_HW = (104, 80)
SECRET_HWS = [(53, 41), (90, 120), (100, 76), (33, 200)]   # the third has the stego size: compared unresized


def tiny_option_file(folder: Path, num_images: int) -> Path:
    """A test option file with no checkpoints and one-block networks."""
    raw = yaml.safe_load((REPO_ROOT / 'options' / 'test' / f'test_InvMIHNet_{num_images}images.yml').read_text())
    raw['path'].update(pretrain_model_G=None, pretrain_model_H=None)
    raw['network_G']['block_num'] = [1]
    raw['network_H']['block_num'] = 2
    raw['gpu_ids'] = None
    path = folder / f'tiny_{num_images}images.yml'
    path.write_text(yaml.safe_dump(raw))
    return path


def perturbed_model(opt: dict) -> InvMIHNetModel:
    """The tiny model with seeded non-trivial weights (untrained networks leave the cover unchanged)."""
    model = create_model(opt, torch.device('cpu'))
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for param in model.net.parameters():
            param.add_(0.01 * torch.randn(param.shape, generator=generator))
    return model


def photo(index: int, height: int, width: int) -> np.ndarray:
    """A Kodak photograph resized to height x width, as BGR uint8."""
    files = sorted(KODAK.glob('*.png'))
    image = cv2.imread(str(files[index % len(files)]))
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope='module')
def setup(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp('hide_reveal')
    opt_file = tiny_option_file(root, 4)
    opt = parse(opt_file, is_train=False)
    model = perturbed_model(opt)
    iir, iih = root / 'IIR.pth', root / 'IIH.pth'
    save_iir(model.net.iir, iir)
    save_iih(model.net.iih, iih)
    images = root / 'images'
    images.mkdir()
    cover = images / 'cover photo.jpg'
    cv2.imwrite(str(cover), photo(0, *COVER_HW))
    secrets = []
    for i, (h, w) in enumerate(SECRET_HWS):
        path = images / f'secret_{chr(97 + i)}.png'
        cv2.imwrite(str(path), photo(i + 1, h, w))
        secrets.append(path)
    return {'root': root, 'opt_file': opt_file, 'opt': opt, 'model': model, 'iir': iir, 'iih': iih,
            'cover': cover, 'secrets': secrets}


def leftovers(folder: Path) -> list[Path]:
    """Temporary files an atomic writer could have left behind."""
    return sorted(folder.glob('.*.tmp'))


# ------------------------------------------------------------------------------------------ geometry
def test_crop_and_pad_plans_give_the_documented_sizes():
    crop = plan_cover(*COVER_HW, 2, 2, 'crop')
    assert crop.stego_size == STEGO_CROP_HW and crop.original_size == COVER_HW
    assert (crop.box.top, crop.box.left, crop.box.height, crop.box.width) == (0, 0, 100, 76)
    pad = plan_cover(*COVER_HW, 2, 2, 'pad')
    assert pad.stego_size == STEGO_PAD_HW
    assert (pad.box.top, pad.box.left, pad.box.height, pad.box.width) == (1, 1, 101, 77)
    six = plan_cover(*COVER_HW, 3, 2, 'crop')
    assert six.stego_size == (96, 76) and six.box.top == 2
    assert plan_cover(*COVER_HW, 3, 2, 'pad').stego_size == (102, 80)
    assert not plan_cover(100, 76, 2, 2, 'crop').changed
    with pytest.raises(ValueError, match='--mode pad'):
        plan_cover(3, 50, 2, 2, 'crop')
    tiny = plan_cover(3, 5, 2, 2, 'pad')
    image = np.random.default_rng(0).random((3, 5, 3)).astype(np.float32)
    padded = apply_cover_plan(image, tiny)
    assert padded.shape == (4, 8, 3)
    np.testing.assert_array_equal(padded[tiny.box.top:tiny.box.top + 3, tiny.box.left:tiny.box.left + 5], image)


# ------------------------------------------------------------------------------------------ round trip
def test_hide_then_reveal_returns_secrets_at_their_original_sizes(setup, tmp_path):
    out = tmp_path / 'stego.png'
    result = hide.hide_files(setup['opt'], setup['cover'], setup['secrets'], out, model=setup['model'])
    assert result['stego_size'] == STEGO_CROP_HW and result['cover'].mode == 'crop'
    with Image.open(out) as img:
        assert img.format == 'PNG' and img.mode == 'RGB' and img.size == (STEGO_CROP_HW[1], STEGO_CROP_HW[0])
    assert math.isfinite(result['stego_psnr'])
    assert not leftovers(tmp_path)

    out_dir = tmp_path / 'revealed' / 'nested'
    paths = reveal.reveal_file(setup['opt'], out, out_dir, model=setup['model'])
    assert [p.name for p in paths] == ['01_secret_a.png', '02_secret_b.png', '03_secret_c.png', '04_secret_d.png']
    assert [read_image(p).shape[:2] for p in paths] == SECRET_HWS
    # The secret hidden at its own size is compared without resizing: revealing from the PNG file with the
    # option file's seed gives exactly what hide measured in memory.
    measured = psnr(cv2.imread(str(setup['secrets'][2])), cv2.imread(str(paths[2])))
    assert measured == pytest.approx(result['secret_psnr_png'][2], abs=1e-9)
    assert not leftovers(out_dir)


def test_metadata_round_trips(setup, tmp_path):
    out = tmp_path / 'stego.png'
    result = hide.hide_files(setup['opt'], setup['cover'], setup['secrets'], out, model=setup['model'])
    meta = read_stego_png(out).metadata
    assert meta is not None
    assert (meta.num_images, meta.scale_h, meta.scale_w, meta.stego_size) == (4, 2, 2, STEGO_CROP_HW)
    assert meta.secret_sizes == SECRET_HWS
    assert meta.secret_names == [p.name for p in setup['secrets']]
    assert meta.cover == {'mode': 'crop', 'original_size': {'height': 101, 'width': 77},
                          'box': {'top': 0, 'left': 0, 'height': 100, 'width': 76}}
    assert meta.fingerprint == {'scale_H': 2, 'scale_W': 2, 'iir_block_num': [1], 'iih_block_num': 2,
                                'use_ConvDownsampling': False, 'in_nc': 3, 'out_nc': 3}
    assert meta.hide_report['seed'] == result['seed'] == 0
    assert meta.hide_report['secret_psnr_png'] == [round(v, 4) for v in result['secret_psnr_png']]
    with Image.open(out) as img:
        assert img.text['InvMIHNet:format'] == f'"{FORMAT_TAG}"'
    again = parse_metadata(metadata_chunks(meta), 'x.png')
    assert again == meta


def test_pad_mode_keeps_the_whole_cover(setup, tmp_path):
    out = tmp_path / 'stego.png'
    result = hide.hide_files(setup['opt'], setup['cover'], setup['secrets'], out, mode='pad', model=setup['model'])
    assert result['stego_size'] == STEGO_PAD_HW
    meta = read_stego_png(out).metadata
    assert meta.stego_size == STEGO_PAD_HW
    assert meta.cover['mode'] == 'pad' and meta.cover['box'] == {'top': 1, 'left': 1, 'height': 101, 'width': 77}
    paths = reveal.reveal_file(setup['opt'], out, tmp_path / 'out', model=setup['model'])
    assert [read_image(p).shape[:2] for p in paths] == SECRET_HWS


def test_png_versus_float_difference_is_reported(setup, tmp_path):
    result = hide.hide_files(setup['opt'], setup['cover'], setup['secrets'], tmp_path / 's.png', model=setup['model'])
    for key in ('secret_psnr_png', 'secret_psnr_float'):
        assert len(result[key]) == 4 and all(math.isfinite(v) for v in result[key])
    assert result['mean_secret_psnr_png'] == pytest.approx(np.mean(result['secret_psnr_png']))
    summary = hide.format_summary(result)
    assert 'from the 8-bit PNG' in summary and 'from the float stego' in summary and 'PNG - float' in summary


# ------------------------------------------------------------------------------------------ command line
def test_cli_round_trip_with_checkpoint_overrides(setup, tmp_path, capsys):
    out = tmp_path / 'stego.png'
    argv = ['--opt', str(setup['opt_file']), '--cover', str(setup['cover']), '--secrets',
            *map(str, setup['secrets']), '--out', str(out), '--iir', str(setup['iir']), '--iih', str(setup['iih']),
            '--cpu']
    assert hide.main(argv) == 0
    printed = capsys.readouterr().out
    assert 'center-cropped to 100 x 76' in printed and 'cut 0 top, 1 bottom, 0 left, 1 right' in printed
    assert 'from the float stego' in printed
    out_dir = tmp_path / 'out'
    assert reveal.main(['--opt', str(setup['opt_file']), '--stego', str(out), '--out-dir', str(out_dir),
                        '--iir', str(setup['iir']), '--iih', str(setup['iih']), '--cpu',
                        '--from-float-compare']) == 0
    printed = capsys.readouterr().out
    assert 'from the 8-bit PNG' in printed and 'noise seed 0' in printed
    assert sorted(p.name for p in out_dir.iterdir()) == ['01_secret_a.png', '02_secret_b.png', '03_secret_c.png',
                                                         '04_secret_d.png']
    # The API with the same checkpoints gives the same files.
    api = tmp_path / 'api'
    reveal.reveal_file(setup['opt'], out, api, model=setup['model'])
    for name in ('01_secret_a.png', '04_secret_d.png'):
        np.testing.assert_array_equal(cv2.imread(str(out_dir / name)), cv2.imread(str(api / name)))


def test_cli_wrong_number_of_secrets(setup, tmp_path):
    out = tmp_path / 'stego.png'
    with pytest.raises(SystemExit) as exc:
        hide.main(['--opt', str(setup['opt_file']), '--cover', str(setup['cover']), '--secrets',
                   *map(str, setup['secrets'][:3]), '--out', str(out)])
    assert str(exc.value.code).startswith('error: ') and 'N=4' in str(exc.value.code) and 'got 3' in str(exc.value.code)
    assert not out.exists() and not leftovers(tmp_path)


def test_unreadable_secret_names_the_file_and_writes_nothing(setup, tmp_path):
    broken = tmp_path / 'broken.png'
    broken.write_bytes(b'\x89PNG\r\n\x1a\nnot really')
    out = tmp_path / 'stego.png'
    secrets = [*setup['secrets'][:3], broken]
    with pytest.raises(ImageReadError, match='broken.png'):
        hide.hide_files(setup['opt'], setup['cover'], secrets, out, model=setup['model'])
    with pytest.raises(SystemExit, match='error: .*broken.png'):
        hide.main(['--opt', str(setup['opt_file']), '--cover', str(setup['cover']), '--secrets',
                   *map(str, secrets), '--out', str(out)])
    assert not out.exists() and not leftovers(tmp_path)


def test_failed_write_leaves_no_output(setup, tmp_path, monkeypatch):
    out = tmp_path / 'stego.png'

    def fail(*args, **kwargs):
        raise OSError('disk full')

    monkeypatch.setattr('utils.stego_png.os.replace', fail)
    with pytest.raises(OSError, match='disk full'):
        hide.hide_files(setup['opt'], setup['cover'], setup['secrets'], out, model=setup['model'])
    assert list(tmp_path.iterdir()) == []


def test_jpeg_stego_is_refused(setup, tmp_path):
    stego = tmp_path / 'stego.png'
    hide.hide_files(setup['opt'], setup['cover'], setup['secrets'], stego, model=setup['model'])
    jpeg = tmp_path / 'stego.jpg'
    cv2.imwrite(str(jpeg), cv2.imread(str(stego)))
    out_dir = tmp_path / 'out'
    with pytest.raises(SystemExit, match='error: .*is a JPEG.*lossy'):
        reveal.main(['--opt', str(setup['opt_file']), '--stego', str(jpeg), '--out-dir', str(out_dir)])
    renamed = tmp_path / 'disguised.png'          # the content decides, not the name
    shutil.copy(jpeg, renamed)
    with pytest.raises(StegoFormatError, match='JPEG'):
        reveal.reveal_file(setup['opt'], renamed, out_dir, model=setup['model'])
    assert not out_dir.exists()


def test_stego_from_another_configuration_is_refused(setup, tmp_path):
    stego = tmp_path / 'stego.png'
    hide.hide_files(setup['opt'], setup['cover'], setup['secrets'], stego, model=setup['model'])
    six = tiny_option_file(tmp_path, 6)
    out_dir = tmp_path / 'out'
    with pytest.raises(SystemExit) as exc:
        reveal.main(['--opt', str(six), '--stego', str(stego), '--out-dir', str(out_dir)])
    message = str(exc.value.code)
    assert message.startswith('error: ') and 'N=4 (2 x 2 grid)' in message and 'N=6 (3 x 2 grid)' in message
    bigger = parse(tiny_option_file(tmp_path, 4), is_train=False)
    bigger['network_H']['block_num'] = 3
    with pytest.raises(StegoConfigError, match='iih_block_num 2 vs 3'):
        reveal.reveal_file(bigger, stego, out_dir)
    assert not out_dir.exists()


def test_png_without_metadata_warns_and_falls_back(setup, tmp_path):
    plain = tmp_path / 'plain.png'
    cv2.imwrite(str(plain), photo(5, 40, 36))
    with pytest.warns(MissingMetadataWarning, match='no InvMIHNet metadata'):
        paths = reveal.reveal_file(setup['opt'], plain, tmp_path / 'out', model=setup['model'])
    assert [p.name for p in paths] == [f'secret_{i:02d}.png' for i in range(1, 5)]
    assert all(read_image(p).shape[:2] == (40, 36) for p in paths)


def test_stego_of_invalid_size_is_refused(setup, tmp_path):
    plain = tmp_path / 'odd.png'
    cv2.imwrite(str(plain), photo(5, *COVER_HW))
    with pytest.warns(MissingMetadataWarning), pytest.raises(StegoFormatError, match='101 x 77.*not a valid'):
        reveal.reveal_file(setup['opt'], plain, tmp_path / 'out', model=setup['model'])
    stego = tmp_path / 'stego.png'
    hide.hide_files(setup['opt'], setup['cover'], setup['secrets'], stego, model=setup['model'])
    with Image.open(stego) as img:
        info = PngImagePlugin.PngInfo()
        for key, value in img.text.items():
            info.add_text(key, value)
        img.crop((0, 0, 72, 96)).save(tmp_path / 'cropped.png', pnginfo=info)
    with pytest.raises(StegoFormatError, match='resized or cropped after hiding'):
        reveal.reveal_file(setup['opt'], tmp_path / 'cropped.png', tmp_path / 'out', model=setup['model'])
    assert not (tmp_path / 'out').exists()


def test_damaged_metadata_is_an_error():
    meta = StegoMetadata(num_images=4, scale_h=2, scale_w=2, stego_size=(8, 8), secret_sizes=[(3, 3)] * 4,
                         secret_names=['a.png'] * 4, cover={'mode': 'crop', 'original_size': {'height': 9, 'width': 9},
                                                            'box': {'top': 0, 'left': 0, 'height': 8, 'width': 8}},
                         fingerprint={})
    chunks = metadata_chunks(meta)
    assert parse_metadata(chunks, 'x.png') == meta
    for key, value in (('InvMIHNet:secret_sizes', '[]'), ('InvMIHNet:version', '99'),
                       ('InvMIHNet:num_images', '{broken')):
        with pytest.raises(StegoFormatError, match='x.png'):
            parse_metadata({**chunks, key: value}, 'x.png')
    with pytest.raises(StegoFormatError, match='missing InvMIHNet:cover'):
        parse_metadata({k: v for k, v in chunks.items() if k != 'InvMIHNet:cover'}, 'x.png')
