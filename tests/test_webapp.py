"""webapp.actions without a browser: the stego-size note, the comparison view, messages, and hide / reveal requests
on a tiny untrained network (the browser test covers the page with the demo model)."""
from __future__ import annotations

import struct
import zipfile
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from options.options import REPO_ROOT
from stego import ImageTooLargeError, InputImageError, SecretCountError, StegoError, load_model
from webapp import actions

KODAK = REPO_ROOT / 'datasets' / 'kodak_demo' / 'test'
MAX_PIXELS = 50_000_000


@pytest.fixture(scope='module')
def tiny_model(tmp_path_factory: pytest.TempPathFactory):
    """The demo configuration with one-block networks and no checkpoints, on the CPU."""
    raw = yaml.safe_load((REPO_ROOT / 'options' / 'test' / 'test_InvMIHNet_4images_demo.yml').read_text())
    raw['path'].update(pretrain_model_G=None, pretrain_model_H=None)
    raw['network_G']['block_num'] = [1]
    raw['network_H']['block_num'] = 1
    path = tmp_path_factory.mktemp('opt') / 'tiny.yml'
    path.write_text(yaml.safe_dump(raw))
    with pytest.warns(UserWarning, match='untrained'):
        return load_model(path, device='cpu')


def write_photo(path: Path, index: int, height: int, width: int) -> Path:
    image = cv2.imread(str(sorted(KODAK.glob('*.png'))[index]))
    cv2.imwrite(str(path), cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA))
    return path


def png_header_only(path: Path, height: int, width: int) -> Path:
    """A PNG whose header declares height x width pixels and that holds no pixel data at all."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))
    path.write_bytes(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0))
                     + chunk(b'IEND', b''))
    return path


def test_stego_size_note_gives_the_size_for_each_mode(tiny_model, tmp_path: Path) -> None:
    config = tiny_model.network_config
    assert 'multiple of 4 x 4' in actions.stego_size_note(config, None, 'crop', MAX_PIXELS)
    cover = write_photo(tmp_path / 'cover.png', 0, 50, 70)
    assert '**Stego size: 48 x 68**' in actions.stego_size_note(config, cover, 'crop', MAX_PIXELS)
    assert '**Stego size: 52 x 72**' in actions.stego_size_note(config, cover, 'pad', MAX_PIXELS)


def test_an_image_above_the_pixel_limit_is_refused_from_its_header(tiny_model, tmp_path: Path) -> None:
    huge = png_header_only(tmp_path / 'huge.png', 8000, 8000)       # 64 MP declared, no pixels to decode
    with pytest.raises(ImageTooLargeError, match=r'64.0 megapixels\), more than the --max-pixels limit of 50,000,000'):
        actions.stego_size_note(tiny_model.network_config, huge, 'crop', MAX_PIXELS)
    secrets = [write_photo(tmp_path / f's{i}.png', i, 16, 16) for i in range(4)]
    with pytest.raises(ImageTooLargeError):
        actions.hide(tiny_model, huge, secrets, 'crop', tmp_path, MAX_PIXELS)


def test_comparison_strip_shows_cover_stego_and_ten_times_the_difference() -> None:
    cover = np.full((8, 6, 3), 100, np.uint8)
    stego = cover.copy()
    stego[2, 3] = (103, 90, 100)
    strip = actions.comparison_strip(cover, stego)
    assert strip.shape == (8, 3 * 6 + 2 * actions.SEPARATOR, 3)
    assert np.array_equal(strip[:, :6], cover) and np.array_equal(strip[:, 6 + actions.SEPARATOR:12 + 8], stego)
    difference = strip[:, -6:]
    assert difference[2, 3].tolist() == [30, 100, 0] and difference.sum() == 130
    assert (strip[:, 6:6 + actions.SEPARATOR] == 255).all()
    tall = actions.comparison_strip(np.zeros((1000, 500, 3), np.uint8), np.zeros((1000, 500, 3), np.uint8))
    assert tall.shape[0] == actions.PANEL_HEIGHT


def test_messages_name_uploads_by_file_name_only(tmp_path: Path) -> None:
    upload = tmp_path / 'uploads' / '3f9a' / 'holiday.jpg'
    err = InputImageError(f'{upload} is a JPEG, not the PNG hide wrote')
    assert actions.readable(err, [upload, None]) == 'holiday.jpg is a JPEG, not the PNG hide wrote'


def test_hide_then_reveal_requests_write_only_into_fresh_request_folders(tiny_model, tmp_path: Path) -> None:
    inputs, work = tmp_path / 'inputs', tmp_path / 'work'
    inputs.mkdir()
    work.mkdir()
    cover = write_photo(inputs / 'cover.png', 0, 34, 42)
    secrets = [write_photo(inputs / f'secret{i}.png', i + 1, 20 + 4 * i, 24) for i in range(4)]
    with pytest.raises(SecretCountError, match='exactly N=4 secrets, got 3'):
        actions.hide(tiny_model, cover, secrets[:3], 'crop', work, MAX_PIXELS)
    assert list(work.iterdir()) == []

    hidden = actions.hide(tiny_model, cover, secrets, 'crop', work, MAX_PIXELS)
    assert hidden.stego_png.parent.parent == work and hidden.key_file.parent == hidden.stego_png.parent
    assert cv2.imread(str(hidden.stego_png)).shape == (32, 40, 3)
    assert hidden.comparison.shape == (32, 3 * 40 + 2 * actions.SEPARATOR, 3)
    assert 'Stego vs cover PSNR' in hidden.report and 'Recovered secrets PSNR' in hidden.report
    assert all(f'secret{i}.png' in hidden.report for i in range(4))

    revealed = actions.reveal(tiny_model, hidden.stego_png, hidden.key_file, work, MAX_PIXELS)
    names = [f'{i + 1:02d}_secret{i}.png' for i in range(4)]
    assert [p.name for p in revealed.secret_pngs] == names
    assert [cv2.imread(str(p)).shape[:2] for p in revealed.secret_pngs] == [(20 + 4 * i, 24) for i in range(4)]
    with zipfile.ZipFile(revealed.zip_file) as archive:
        assert archive.namelist() == names
        assert all(archive.read(n) == p.read_bytes() for n, p in zip(names, revealed.secret_pngs))
    assert '**4 secrets revealed** at their original sizes' in revealed.report
    assert sorted(p.name for p in inputs.iterdir()) == ['cover.png'] + [f'secret{i}.png' for i in range(4)]

    jpeg = inputs / 'stego.jpg'
    cv2.imwrite(str(jpeg), cv2.imread(str(hidden.stego_png)))
    with pytest.raises(StegoError, match='is a JPEG'):
        actions.reveal(tiny_model, jpeg, None, work, MAX_PIXELS)
