"""The stego library and hide.py / reveal.py on tiny networks: clean PNG, key file, errors, safe outputs."""
from __future__ import annotations

import dataclasses
import json
import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

import hide
import reveal
from options.options import REPO_ROOT
from stego import (HideResult, StegoKey, hide_images, load_model, reveal_image, save_stego, write_secrets)
from stego.cover import plan_cover
from stego.errors import (CoverSizeError, ImageTooLargeError, InputImageError, KeyFileError, KeyMismatchError,
                          ModelLoadError, OutputError, SecretCountError)
from stego.png import png_chunks
from utils.metrics import psnr
from tests.conftest import photo, read_rgb, save_perturbed_checkpoints, write_rgb

COVER_HW = (33, 29)
STEGO_HW = (32, 28)
SECRET_HWS = [(16, 12), (40, 40), (32, 28), (9, 50)]   # the third has the stego size
SECRET_NAMES = ['holiday_alpha.png', 'holiday_bravo.jpg', 'holiday_charlie.png', 'holiday_delta.png']


def tiny_option_file(folder: Path, iir: Path | None = None, iih: Path | None = None, iih_blocks: int = 2) -> Path:
    """A 4-image test option file with one-block networks and the given checkpoints."""
    raw = yaml.safe_load((REPO_ROOT / 'options' / 'test' / 'test_InvMIHNet_4images.yml').read_text())
    raw['path'].update(pretrain_model_G=str(iir) if iir else None, pretrain_model_H=str(iih) if iih else None)
    raw['network_G']['block_num'] = [1]
    raw['network_H']['block_num'] = iih_blocks
    raw['gpu_ids'] = None
    path = folder / f'tiny_{iih_blocks}.yml'
    path.write_text(yaml.safe_dump(raw))
    return path








def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob('*')) if p.is_file()}


pytestmark = pytest.mark.usefixtures('one_thread')


@pytest.fixture(scope='module')
def setup(tmp_path_factory) -> dict:
    """Seeded non-trivial tiny weights saved as checkpoints, an option file pointing to them, and images."""
    root = tmp_path_factory.mktemp('hide_reveal')
    with pytest.warns(UserWarning, match='untrained'):
        model = load_model(tiny_option_file(root), device='cpu')
    iir, iih = save_perturbed_checkpoints(model.net, root)
    opt_file = tiny_option_file(root, iir, iih)
    images = root / 'images'
    images.mkdir()
    cover = write_rgb(images / 'cover.png', photo(0, *COVER_HW))
    secrets = [write_rgb(images / name.replace('.jpg', '.png'), photo(i + 1, h, w))
               for i, (name, (h, w)) in enumerate(zip(SECRET_NAMES, SECRET_HWS))]
    return {'root': root, 'opt_file': opt_file, 'model': load_model(opt_file), 'iir': iir, 'iih': iih,
            'cover': cover, 'secrets': secrets}


@pytest.fixture(scope='module')
def hidden(setup) -> HideResult:
    """The secrets hidden in the cover, with the recovered-PSNR check."""
    return hide_images(setup['model'], setup['cover'], setup['secrets'], secret_names=SECRET_NAMES, verify=True)


def hide_argv(setup: dict, out: Path, *extra: str) -> list[str]:
    return ['--opt', str(setup['opt_file']), '--cover', str(setup['cover']), '--secrets',
            *map(str, setup['secrets']), '--out', str(out), *extra]


def crafted_png(width: int, height: int) -> bytes:
    """A PNG whose IHDR declares width x height 8-bit RGB pixels (no pixel data is allocated)."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack('>I', len(payload)) + kind + payload + struct.pack('>I', zlib.crc32(kind + payload))
    ihdr = struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)
    return b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) + chunk(b'IDAT', zlib.compress(b'\x00' * 16)) + \
        chunk(b'IEND', b'')


# ------------------------------------------------------------------------------------------ the stego file
def test_cover_plans_use_the_configuration_size_rule(setup):
    config = setup['model'].network_config
    crop = plan_cover(config, *COVER_HW, 'crop')
    assert crop.stego_size == STEGO_HW and (crop.box.top, crop.box.left) == (0, 0)
    pad = plan_cover(config, *COVER_HW, 'pad')
    assert pad.stego_size == (36, 32) and (pad.box.top, pad.box.left, pad.box.height) == (1, 1, 33)
    with pytest.raises(CoverSizeError, match='mode pad'):
        plan_cover(config, 3, 50, 'crop')


def test_cli_writes_a_clean_png_and_a_key(setup, tmp_path, capsys):
    out = tmp_path / 'stego.png'
    assert hide.main(hide_argv(setup, out, '--verify')) == 0
    printed = capsys.readouterr().out
    data = out.read_bytes()
    chunks = [kind for kind, _ in png_chunks(data)]
    assert chunks[0] == 'IHDR' and chunks[-1] == 'IEND' and set(chunks) == {'IHDR', 'IDAT', 'IEND'}
    width, height, depth, colour = struct.unpack('>IIBB', png_chunks(data)[0][1][:10])
    assert (height, width, depth, colour) == (*STEGO_HW, 8, 2)
    for needle in (b'InvMIHNet', b'hide.py', b'holiday', b'Software', b'key.json', b'sha256'):
        assert needle.lower() not in data.lower()
    key_path = tmp_path / 'stego.key.json'
    key = StegoKey.load(key_path)
    assert list(key.secret_names) == [p.name for p in setup['secrets']]
    assert 'holiday_alpha' in key_path.read_text()
    # hide tells what it did to the secrets, and reports PSNR at their original sizes
    assert 'secret 02 holiday_bravo.png: 40 x 40 (H x W) shrunk to 32 x 28' in printed
    assert 'aspect ratio changed from 1.000 to 0.875' in printed
    assert 'secret 03 holiday_charlie.png: 32 x 28 (H x W), hidden at its own size' in printed
    assert 'center-cropped to 32 x 28' in printed and 'at their original sizes' in printed
    assert str(key_path) in printed


def test_save_stego_refuses_lossy_formats_and_writes_atomically(hidden, tmp_path):
    for name in ('stego.jpg', 'stego.JPEG', 'stego.webp'):
        with pytest.raises(OutputError, match='lossy'):
            save_stego(tmp_path / name, hidden.stego)
    with pytest.raises(OutputError, match='.png'):
        save_stego(tmp_path / 'stego.bmp', hidden.stego)
    path = save_stego(tmp_path / 'stego.png', hidden.stego)
    assert os.listdir(tmp_path) == ['stego.png']
    np.testing.assert_array_equal(read_rgb(path), hidden.stego)


# ------------------------------------------------------------------------------------------ the key
def test_key_round_trip_restores_sizes_and_names(setup, hidden, tmp_path):
    key_path = hidden.key.save(tmp_path / 'k.key.json')
    assert StegoKey.load(key_path) == hidden.key
    assert json.loads(key_path.read_text()) == hidden.key.to_json()
    stego_path = save_stego(tmp_path / 's.png', hidden.stego)
    result = reveal_image(setup['model'], stego_path, key_path)
    assert result.warnings == []
    assert result.names == ['01_holiday_alpha.png', '02_holiday_bravo.png', '03_holiday_charlie.png',
                            '04_holiday_delta.png']
    assert [s.shape[:2] for s in result.secrets] == SECRET_HWS
    # hide's verify reveal is the receiver's reveal: the same PSNR at the original sizes
    originals = [read_rgb(p) for p in setup['secrets']]
    for i, (original, revealed) in enumerate(zip(originals, result.secrets), 1):
        assert psnr(original, revealed) == pytest.approx(hidden.metrics[f'secret_psnr_{i:02d}'], abs=1e-9)
    assert hidden.metrics['secret_psnr'] == pytest.approx(np.mean([hidden.metrics[f'secret_psnr_{i:02d}']
                                                                    for i in range(1, 5)]))
    assert np.isfinite(hidden.metrics['secret_psnr_float']) and np.isfinite(hidden.metrics['stego_psnr'])
    written = write_secrets(result, tmp_path / 'out')
    assert [p.name for p in written] == result.names
    np.testing.assert_array_equal(read_rgb(written[3]), result.secrets[3])


def test_reveal_without_key_gives_n_secrets_at_the_stego_size(setup, hidden):
    result = reveal_image(setup['model'], hidden.stego)
    assert result.names == [f'secret_{i:02d}.png' for i in range(1, 5)]
    assert all(s.shape == (*STEGO_HW, 3) and s.dtype == np.uint8 for s in result.secrets)
    with_key = reveal_image(setup['model'], hidden.stego, hidden.key)
    np.testing.assert_array_equal(result.secrets[2], with_key.secrets[2])   # hidden at its own size


def test_key_of_another_configuration_or_weights_is_refused(setup, hidden):
    other = dataclasses.replace(hidden.key, config=dataclasses.replace(hidden.key.config, iih_block_num=3))
    with pytest.raises(KeyMismatchError, match='iih_block_num 3 vs 2'):
        reveal_image(setup['model'], hidden.stego, other)
    with pytest.raises(KeyMismatchError, match=r'loaded IIH weights are not'):
        reveal_image(setup['model'], hidden.stego, dataclasses.replace(hidden.key, iih_sha256='0' * 64))
    with pytest.raises(KeyMismatchError, match=r'IIR and IIH weights'):
        reveal_image(setup['model'], hidden.stego,
                     dataclasses.replace(hidden.key, iir_sha256='1' * 64, iih_sha256='0' * 64))


def test_key_of_another_stego_size_is_refused(setup, hidden):
    bigger = hide_images(setup['model'], photo(3, 36, 28), [photo(i, 36, 28) for i in range(4)])
    with pytest.raises(KeyMismatchError, match=r'key is for a 36 x 28 .*32 x 28'):
        reveal_image(setup['model'], hidden.stego, bigger.key)


def test_cli_reveal_with_untrained_weights_is_refused(setup, tmp_path):
    stego = tmp_path / 'stego.png'
    assert hide.main(hide_argv(setup, stego)) == 0
    out_dir = tmp_path / 'out'
    with pytest.raises(SystemExit, match='error: the loaded IIR and IIH weights are not'):
        reveal.main(['--opt', str(tiny_option_file(tmp_path)), '--stego', str(stego), '--key',
                     str(tmp_path / 'stego.key.json'), '--out-dir', str(out_dir)])
    assert not out_dir.exists()


@pytest.mark.parametrize('damage', ['truncated', 'not_json', 'missing_field', 'unknown_field', 'wrong_count',
                                    'bad_hash', 'bad_size', 'wrong_format'])
def test_malformed_key_is_a_clear_error(hidden, tmp_path, damage):
    text = hidden.key.to_text()
    doc = json.loads(text)
    if damage == 'truncated':
        text = text[:len(text) // 2]
    elif damage == 'not_json':
        text = 'hello'
    else:
        if damage == 'missing_field':
            del doc['weights']
        elif damage == 'unknown_field':
            doc['comment'] = 'x'
        elif damage == 'wrong_count':
            doc['secrets'] = doc['secrets'][:3]
        elif damage == 'bad_hash':
            doc['stego']['sha256'] = 'abc'
        elif damage == 'bad_size':
            doc['secrets'][1]['height'] = -4
        else:
            doc['format'] = 'something-else'
        text = json.dumps(doc)
    path = tmp_path / 'bad.key.json'
    path.write_text(text)
    expected = {'truncated': 'not valid JSON', 'not_json': 'not valid JSON', 'missing_field': r"missing fields \['weights'\]",
                'unknown_field': r"unknown fields \['comment'\]", 'wrong_count': 'secrets must list 4',
                'bad_hash': 'stego.sha256 must be 64',
                'bad_size': r'secrets\[1\].height must be an integer in 1 \.\. 1048576',
                'wrong_format': 'expected .InvMIHNet-key'}[damage]
    with pytest.raises(KeyFileError, match=expected) as err:
        StegoKey.load(path)
    assert str(path) in str(err.value)


def test_missing_key_file_is_a_clear_error(setup, hidden, tmp_path):
    with pytest.raises(KeyFileError, match='nowhere.key.json: cannot read'):
        reveal_image(setup['model'], hidden.stego, tmp_path / 'nowhere.key.json')


def test_reencoded_stego_reveals_with_a_plain_warning(setup, tmp_path, capsys):
    stego = tmp_path / 'stego.png'
    assert hide.main(hide_argv(setup, stego)) == 0
    decoded = cv2.imdecode(cv2.imencode('.jpg', cv2.imread(str(stego)), [cv2.IMWRITE_JPEG_QUALITY, 95])[1],
                           cv2.IMREAD_COLOR)
    resaved = tmp_path / 'resaved.png'
    cv2.imwrite(str(resaved), decoded)
    capsys.readouterr()
    assert reveal.main(['--opt', str(setup['opt_file']), '--stego', str(resaved), '--key',
                        str(tmp_path / 'stego.key.json'), '--out-dir', str(tmp_path / 'out')]) == 0
    printed = capsys.readouterr()
    assert 'WARNING: the pixels of' in printed.err and 'differ from the ones hide wrote' in printed.err
    assert len(list((tmp_path / 'out').iterdir())) == 4
    assert reveal.main(['--opt', str(setup['opt_file']), '--stego', str(stego), '--key',
                        str(tmp_path / 'stego.key.json'), '--out-dir', str(tmp_path / 'out2')]) == 0
    assert 'WARNING' not in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ inputs
def test_wrong_inputs_are_clear_errors(setup, tmp_path):
    model = setup['model']
    with pytest.raises(ModelLoadError, match='missing.pth does not exist'):
        load_model(setup['opt_file'], iih=tmp_path / 'missing.pth')
    with pytest.raises(SecretCountError, match='N=4 secrets, got 3'):
        hide_images(model, setup['cover'], setup['secrets'][:3])
    with pytest.raises(CoverSizeError, match='too small'):
        hide_images(model, photo(0, 3, 40), setup['secrets'])
    with pytest.raises(InputImageError, match='uint8 RGB array'):
        hide_images(model, photo(0, 40, 40).astype(np.float32), setup['secrets'])
    broken = tmp_path / 'broken.png'
    broken.write_bytes(b'\x89PNG\r\n\x1a\nnot really')
    with pytest.raises(InputImageError, match='broken.png'):
        hide_images(model, setup['cover'], [*setup['secrets'][:3], broken])
    jpeg = tmp_path / 'stego.png'          # the content decides, not the name
    cv2.imwrite(str(jpeg.with_suffix('.jpg')), photo(0, 40, 40))
    jpeg.write_bytes(jpeg.with_suffix('.jpg').read_bytes())
    with pytest.raises(InputImageError, match='is a JPEG.*lossy'):
        reveal_image(model, jpeg)
    odd = write_rgb(tmp_path / 'odd.png', photo(0, *COVER_HW))
    with pytest.raises(CoverSizeError, match='33 x 29'):
        reveal_image(model, odd)


def test_images_declaring_too_many_pixels_are_refused_before_decoding(setup, tmp_path):
    bomb = tmp_path / 'bomb.png'
    bomb.write_bytes(crafted_png(60000, 60000))
    with pytest.raises(ImageTooLargeError,
                       match=r'60000 x 60000 .*3600.0 megapixels.*limit of 50,000,000 pixels \(50.0 megapixels\)'):
        hide_images(setup['model'], bomb, setup['secrets'])
    with pytest.raises(ImageTooLargeError, match='bomb.png'):
        reveal_image(setup['model'], bomb)
    bmp = tmp_path / 'bomb.bmp'             # other formats: Pillow's header parse and its bomb guard
    bmp.write_bytes(b'BM' + struct.pack('<IHHI', 54, 0, 0, 54)
                    + struct.pack('<IiiHHIIiiII', 40, 60000, 60000, 1, 24, 0, 0, 2835, 2835, 0, 0))
    with pytest.raises(ImageTooLargeError, match='bomb.bmp: the header declares more than'):
        hide_images(setup['model'], setup['cover'], [*setup['secrets'][:3], bmp])
    with pytest.raises(ImageTooLargeError, match=r'--max-pixels limit of 900 pixels;'):
        hide_images(setup['model'], setup['cover'], setup['secrets'], max_pixels=900)
    with pytest.raises(SystemExit, match='error: .*cover.png is 33 x 29'):
        hide.main(hide_argv(setup, tmp_path / 'stego.png', '--max-pixels', '900'))
    assert sorted(os.listdir(tmp_path)) == ['bomb.bmp', 'bomb.png']


# ------------------------------------------------------------------------------------------ outputs
def test_output_that_is_an_input_is_refused(setup, tmp_path):
    before = snapshot(setup['root'] / 'images')
    with pytest.raises(SystemExit, match='error: output .*cover.png is also an input'):
        hide.main(hide_argv(setup, setup['cover']))
    with pytest.raises(SystemExit, match='is also an input'):
        hide.main(hide_argv(setup, tmp_path / 's.png', '--key', str(setup['secrets'][0]), '--overwrite'))
    with pytest.raises(SystemExit, match='lossy'):
        hide.main(hide_argv(setup, tmp_path / 's.jpg'))
    assert snapshot(setup['root'] / 'images') == before
    stego = tmp_path / 'stego.png'
    assert hide.main(hide_argv(setup, stego)) == 0
    (tmp_path / 'secret_01.png').write_bytes(stego.read_bytes())     # reveal into the stego's own folder
    with pytest.raises(SystemExit, match='is also an input'):
        reveal.main(['--opt', str(setup['opt_file']), '--stego', str(tmp_path / 'secret_01.png'), '--out-dir',
                     str(tmp_path), '--overwrite'])


def test_existing_outputs_are_refused_unless_overwrite(setup, tmp_path, capsys):
    stego, key = tmp_path / 'stego.png', tmp_path / 'stego.key.json'
    key.write_text('my notes')
    with pytest.raises(SystemExit, match=r'error: output .*stego.key.json already exists.*--overwrite'):
        hide.main(hide_argv(setup, stego))
    assert sorted(os.listdir(tmp_path)) == ['stego.key.json'] and key.read_text() == 'my notes'
    assert hide.main(hide_argv(setup, stego, '--overwrite')) == 0
    assert StegoKey.load(key).stego_size == STEGO_HW

    out_dir = tmp_path / 'out'
    out_dir.mkdir()
    (out_dir / '03_holiday_charlie.png').write_bytes(b'precious')
    argv = ['--opt', str(setup['opt_file']), '--stego', str(stego), '--key', str(key), '--out-dir', str(out_dir)]
    with pytest.raises(SystemExit, match='03_holiday_charlie.png already exists'):
        reveal.main(argv)
    assert snapshot(out_dir) == {'03_holiday_charlie.png': b'precious'}
    capsys.readouterr()
    assert reveal.main([*argv, '--overwrite']) == 0
    assert len(snapshot(out_dir)) == 4 and (out_dir / '03_holiday_charlie.png').read_bytes() != b'precious'
    assert 'holiday_delta.png  (9 x 50)' in capsys.readouterr().out


def test_failed_write_leaves_the_folder_as_it_was(setup, hidden, tmp_path, monkeypatch):
    out_dir = tmp_path / 'out'
    out_dir.mkdir()
    (out_dir / '02_holiday_bravo.png').write_bytes(b'old')
    (out_dir / 'unrelated.txt').write_text('keep')
    before = snapshot(out_dir)
    result = reveal_image(setup['model'], hidden.stego, hidden.key)
    real_replace = os.replace
    calls = []

    def fail_on_fourth(src, dst):
        calls.append(dst)
        if len(calls) == 4:
            raise OSError('disk full')
        real_replace(src, dst)

    monkeypatch.setattr('stego.outputs.os.replace', fail_on_fourth)
    with pytest.raises(OSError, match='disk full'):
        write_secrets(result, out_dir, overwrite=True)
    assert snapshot(out_dir) == before
    with pytest.raises(OSError, match='disk full'):
        calls.clear()
        write_secrets(result, tmp_path / 'new' / 'nested')
    assert not (tmp_path / 'new').exists()
