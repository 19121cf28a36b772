"""Hostile and unlucky inputs (issue 20's table, one test or more per row): nothing is unpickled, every declared
size is checked before allocation, reads are bounded, inputs are never replaced, signals leave no stray file,
nesting and names are bounded, values range-checked, and every error is one line naming the file."""
from __future__ import annotations

import html
import json
import os
import re
import pickle
import signal
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from PIL import Image

import hide
import reveal
import stego.outputs
import test as test_script
from data.steg_dataset import StegDataset
from options import OptionError, parse
from scripts.create_lmdb import create_lmdb
from options.options import REPO_ROOT
from stego import ImageTooLargeError, StegoKey, load_model, reveal_image
from tests.conftest import photo, write_rgb
from tests.hostile_kit import Kit, is_one_line_error, make_kit, run_tool, time_limit
from utils.signals import held_signals

TRAIN_DEMO = REPO_ROOT / 'options' / 'train' / 'train_InvMIHNet_4images_demo.yml'


pytestmark = pytest.mark.usefixtures('one_thread')


@pytest.fixture(autouse=True)
def python_sigint_handler():
    """Ctrl-C raising KeyboardInterrupt, as in a terminal: a suite started in the background inherits SIGINT
    ignored, which utils.signals rightly keeps ignored."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture(scope='module')
def kit(tmp_path_factory) -> Kit:
    return make_kit(tmp_path_factory.mktemp('kit'))


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones too) with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob('*')) if p.is_file()}


def reveal_argv(kit: Kit, out_dir: Path, *extra: str, key: Path | None = None) -> list[str]:
    return ['--opt', str(kit.opt), '--stego', str(kit.stego), '--key', str(key or kit.key), '--out-dir',
            str(out_dir), *extra]


def hide_argv(kit: Kit, out: Path, *extra: str, cover: Path | None = None,
              secrets: list[Path] | None = None) -> list[str]:
    return ['--opt', str(kit.opt), '--cover', str(cover or kit.cover), '--secrets',
            *map(str, secrets or kit.secrets), '--out', str(out), *extra]


def edited_key(kit: Kit, folder: Path, edit) -> Path:
    doc = json.loads(kit.key.read_text())
    edit(doc)
    path = folder / 'edited.key.json'
    path.write_text(json.dumps(doc))
    return path


def option_file(kit: Kit, folder: Path, edit=None, text: str | None = None, train: bool = False) -> Path:
    raw = yaml.safe_load(kit.opt.read_text())
    if edit is not None:
        edit(raw)
    path = folder / 'edited.yml'
    path.write_text(text if text is not None else yaml.safe_dump(raw))
    return path


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack('>I', len(payload)) + kind + payload + struct.pack('>I', zlib.crc32(kind + payload))


# ------------------------------------------------------------------ 1: no pickle from a dataset folder
class _Payload:
    """Unpickling this creates the folder ``marker``: the code execution a pickle allows."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (str(self.marker),)


def test_lmdb_metadata_pickle_is_never_unpickled(kit, tmp_path):
    lmdb_dir = tmp_path / 'evil.lmdb'
    create_lmdb(kit.photos, lmdb_dir)
    (lmdb_dir / 'meta_info.json').unlink()
    marker = tmp_path / 'payload_ran'
    (lmdb_dir / 'meta_info.pkl').write_bytes(pickle.dumps({'keys': ['p0'], 'resolution': ['3_32_32'],
                                                          'x': _Payload(marker)}))
    opt = option_file(kit, tmp_path, lambda raw: raw['datasets']['test_1'].update(dataroot_GT=str(lmdb_dir)))
    outcome = run_tool(test_script.main, ['-opt', str(opt)])
    assert is_one_line_error(outcome)
    assert 'never unpickles' in outcome.message and f'create_lmdb.py --convert-meta {lmdb_dir}' in outcome.message
    assert not marker.exists()
    from scripts.create_lmdb import convert_meta
    with pytest.raises(ValueError, match='unpickler|is not the published'):
        convert_meta(lmdb_dir)                       # the explicit conversion refuses the payload too
    assert not marker.exists() and not (lmdb_dir / 'meta_info.json').exists()


def test_published_pickle_converts_to_json_on_request(kit, tmp_path, capsys):
    lmdb_dir = tmp_path / 'published.lmdb'
    create_lmdb(kit.photos, lmdb_dir)
    meta = json.loads((lmdb_dir / 'meta_info.json').read_text())
    (lmdb_dir / 'meta_info.json').unlink()
    (lmdb_dir / 'meta_info.pkl').write_bytes(pickle.dumps({**meta, 'keys': [k.encode() for k in meta['keys']]}))
    from scripts.create_lmdb import convert_meta, main as create_lmdb_main
    assert create_lmdb_main(['--convert-meta', str(lmdb_dir)]) == 0
    assert json.loads((lmdb_dir / 'meta_info.json').read_text()) == meta
    dataset = StegDataset({'name': 't', 'phase': 'test', 'opt_key': 'datasets.test_1', 'dataroot_GT': str(lmdb_dir),
                           'scale_H': 2, 'scale_W': 2})
    assert len(dataset) == 5
    (lmdb_dir / 'meta_info.pkl').write_bytes(pickle.dumps({**meta, 'keys': ['p0', 'not_stored']}))
    with pytest.raises(ValueError, match="1 keys the LMDB does not hold, e.g. 'not_stored'"):
        convert_meta(lmdb_dir)


# ------------------------------------------------------------------ 2: secret sizes in a key
@pytest.mark.parametrize('size, message', [
    (30000, r'30000 x 30000 \(H x W\) = 900,000,000 pixels .* --max-pixels limit of 50,000,000 pixels'),
    (10 ** 9, r'secrets\[0\].height must be an integer in 1 .. 1048576'),
    (10 ** 30, r'secrets\[0\].height must be an integer in 1 .. 1048576')])
def test_secret_sizes_in_a_key_are_bounded_before_any_allocation(kit, tmp_path, size, message):
    key = edited_key(kit, tmp_path, lambda doc: doc['secrets'][0].update(height=size, width=size))
    out_dir = tmp_path / 'out'
    with time_limit(20):
        outcome = run_tool(reveal.main, reveal_argv(kit, out_dir, key=key))
    assert is_one_line_error(outcome) and re.search(message, outcome.message), outcome
    assert not out_dir.exists()


def test_secret_sizes_obey_max_pixels_in_the_library_and_the_web_app(kit, tmp_path):
    from webapp import actions
    key = edited_key(kit, tmp_path, lambda doc: doc['secrets'][0].update(height=6000, width=6000))
    outcome = run_tool(reveal.main, reveal_argv(kit, tmp_path / 'out', '--max-pixels', '10000', key=key))
    assert is_one_line_error(outcome) and "secret 01 ('secret0.png') is 6000 x 6000" in outcome.message
    model = load_model(kit.opt)
    with pytest.raises(ImageTooLargeError, match='6000 x 6000'):
        reveal_image(model, kit.stego, key, max_pixels=10000)
    with pytest.raises(ImageTooLargeError, match='6000 x 6000'):
        actions.reveal(model, kit.stego, key, tmp_path, 10000)
    assert not (tmp_path / 'out').exists()


# ------------------------------------------------------------------ 3: the web app's messages
@pytest.fixture(scope='module')
def page(kit, tmp_path_factory):
    """The app's Hide and Reveal handlers (the functions the buttons call) and its work folder."""
    from webapp.ui import build_app
    work = tmp_path_factory.mktemp('work')
    app = build_app(load_model(kit.opt), str(kit.opt), work, 50_000_000)
    handlers = {fn.name: fn.fn for fn in app.fns.values()}
    uploads = {block.elem_id: block for block in app.blocks.values() if getattr(block, 'elem_id', None)}
    return handlers, uploads, work


def page_message(call) -> str:
    import gradio as gr
    with pytest.raises(gr.Error) as caught:
        call()
    return html.unescape(caught.value.message)          # the page shows the message as HTML


def cli_message(outcome, *uploads: Path) -> str:
    """The CLI's message without ``error: ``, each upload named by its file name as the page does."""
    message = outcome.message.removeprefix('error: ')
    for upload in uploads:
        message = message.replace(str(upload), upload.name)
    return message


@pytest.mark.parametrize('damage', ['text', 'empty', 'huge_header'])
def test_bad_uploads_show_the_cli_message_on_the_page(kit, tmp_path, page, damage):
    handlers, uploads, work = page
    bad = tmp_path / 'upload' / 'photo.png'
    bad.parent.mkdir()
    if damage == 'text':
        bad.write_text('not an image at all')
    elif damage == 'empty':
        bad.write_bytes(b'')
    else:
        bad.write_bytes(b'\x89PNG\r\n\x1a\n' + png_chunk(b'IHDR', struct.pack('>IIBBBBB', 14000, 14000, 8, 2, 0, 0, 0))
                        + png_chunk(b'IEND', b''))
    from gradio.data_classes import ImageData
    for elem_id in ('hide-cover', 'reveal-stego'):        # handed over undecoded: no Pillow error first
        assert uploads[elem_id].preprocess(ImageData(path=str(bad), orig_name=bad.name)) == str(bad)
    before = tree(work)
    hide_cli = run_tool(hide.main, hide_argv(kit, tmp_path / 's.png', cover=bad))
    assert is_one_line_error(hide_cli)
    assert page_message(lambda: handlers['on_hide'](str(bad), [(str(p), None) for p in kit.secrets], 'crop')) == \
        cli_message(hide_cli, bad)
    reveal_cli = run_tool(reveal.main, ['--opt', str(kit.opt), '--stego', str(bad), '--out-dir', str(tmp_path / 'o')])
    assert is_one_line_error(reveal_cli)
    assert page_message(lambda: handlers['on_reveal'](str(bad), None)) == cli_message(reveal_cli, bad)
    assert 'Cannot use this cover' in handlers['on_cover'](str(bad), 'crop')
    assert tree(work) == before


def test_a_hostile_key_upload_shows_the_cli_message_and_the_app_keeps_serving(kit, tmp_path, page):
    handlers, _, _ = page
    nested = tmp_path / 'nested.key.json'
    nested.write_text('[' * 100_000 + ']' * 100_000)
    huge = edited_key(kit, tmp_path, lambda doc: doc['secrets'][0].update(height=30000, width=30000))
    for key in (nested, huge):
        cli = run_tool(reveal.main, reveal_argv(kit, tmp_path / 'out', key=key))
        assert is_one_line_error(cli)
        assert page_message(lambda: handlers['on_reveal'](str(kit.stego), str(key))) == cli_message(cli, key)
    gallery, files, report = handlers['on_reveal'](str(kit.stego), str(kit.key))
    assert len(gallery) == 4 and '**4 secrets revealed**' in report


# ------------------------------------------------------------------ 4: no output replaces an input
def test_the_option_files_checkpoints_are_inputs_no_output_may_replace(kit, tmp_path):
    before = kit.iih.read_bytes(), kit.iir.read_bytes()
    for checkpoint in (kit.iih, kit.iir):
        outcome = run_tool(hide.main, hide_argv(kit, tmp_path / 'ck.png', '--key', str(checkpoint), '--overwrite'))
        assert is_one_line_error(outcome) and f'output {checkpoint} is also an input' in outcome.message
    assert (kit.iih.read_bytes(), kit.iir.read_bytes()) == before and not (tmp_path / 'ck.png').exists()
    link = tmp_path / 'link.pth'
    link.symlink_to(kit.iih)
    outcome = run_tool(hide.main, hide_argv(kit, tmp_path / 'ck.png', '--key', str(link), '--overwrite'))
    assert is_one_line_error(outcome) and 'is also an input' in outcome.message
    assert (kit.iih.read_bytes(), kit.iir.read_bytes()) == before
    outcome = run_tool(hide.main, hide_argv(kit, tmp_path / 'ck.png', '--key', '/dev/null', '--overwrite'))
    assert is_one_line_error(outcome) and 'output /dev/null exists and is not a regular file' in outcome.message


def test_test_py_refuses_a_results_folder_holding_its_inputs(kit, tmp_path):
    photos = tmp_path / 'results' / 'hostile' / 'photos' / 'cover'
    for i in range(5):
        write_rgb(photos / f'p{i}.png', photo(i, 32, 32))
    opt = option_file(kit, tmp_path, lambda raw: (raw['datasets']['test_1'].update(dataroot_GT=str(photos)),
                                                  raw['path'].update(root=str(tmp_path))))
    before = tree(photos)
    outcome = run_tool(test_script.main, ['-opt', str(opt)])
    assert is_one_line_error(outcome) and 'lies in the results folder' in outcome.message
    assert tree(photos) == before


# ------------------------------------------------------------------ 5: memory follows pixels, not bytes
def test_a_huge_file_tail_is_refused_from_the_file_size(kit, tmp_path):
    cover = tmp_path / 'cover.png'
    cover.write_bytes(kit.cover.read_bytes())
    with cover.open('r+b') as handle:
        handle.truncate(12 * 2 ** 30)             # a sparse 12 GB tail after IEND
    outcome = run_tool(hide.main, hide_argv(kit, tmp_path / 's.png', cover=cover), seconds=10)
    assert is_one_line_error(outcome)
    assert '12,884,901,888 bytes' in outcome.message and 'far more than a 32 x 28 image needs' in outcome.message


def test_a_dataset_image_file_is_read_only_up_to_its_limit(kit, tmp_path):
    from utils.image_io import IMAGE_FILE_LIMIT, ImageReadError, read_image
    image = tmp_path / 'p.png'
    image.write_bytes((kit.photos / 'p0.png').read_bytes())
    with image.open('r+b') as handle:
        handle.truncate(IMAGE_FILE_LIMIT + 1)
    with pytest.raises(ImageReadError, match=f'image file {image} is 2,147,483,649 bytes, more than the limit'):
        read_image(image)


def test_devices_fifos_and_oversized_keys_are_refused_unread(kit, tmp_path):
    zero = tmp_path / 'zero.key.json'
    zero.symlink_to('/dev/zero')
    fifo = tmp_path / 'fifo.key.json'
    os.mkfifo(fifo)
    big = tmp_path / 'big.key.json'
    big.write_text(' ' * (1 << 20) + kit.key.read_text())
    expected = {zero: 'is a character device, not a regular file', fifo: 'is a FIFO (named pipe)',
                big: 'more than the limit of 1,048,576 bytes'}
    for key, message in expected.items():
        outcome = run_tool(reveal.main, reveal_argv(kit, tmp_path / 'out', key=key), seconds=10)
        assert is_one_line_error(outcome) and message in outcome.message, outcome
    outcome = run_tool(hide.main, hide_argv(kit, tmp_path / 's.png', cover=fifo), seconds=10)
    assert is_one_line_error(outcome) and 'FIFO' in outcome.message
    outcome = run_tool(reveal.main, ['--opt', str(fifo), '--stego', str(kit.stego), '--out-dir', str(tmp_path / 'o')],
                       seconds=10)
    assert is_one_line_error(outcome) and 'FIFO' in outcome.message


# ------------------------------------------------------------------ 6: signals
def _signal_during(monkeypatch, owner, name: str, signum: int, calls: int = 1) -> None:
    """Make the ``calls``-th call of ``owner.name`` send ``signum`` to this process after it ran."""
    real = getattr(owner, name)
    count = [0]

    def wrapped(*args, **kwargs):
        result = real(*args, **kwargs)
        count[0] += 1
        if count[0] == calls:
            os.kill(os.getpid(), signum)
        return result
    monkeypatch.setattr(owner, name, wrapped)


def test_sigterm_during_the_writes_leaves_nothing_and_exits_143(kit, tmp_path, monkeypatch):
    _signal_during(monkeypatch, stego.outputs, 'write_beside', signal.SIGTERM)
    out = tmp_path / 'new' / 'stego.png'
    outcome = run_tool(hide.main, hide_argv(kit, out))
    assert outcome.status == 143 and outcome.message is None
    assert outcome.stderr.strip().splitlines()[-1] == 'hide.py: terminated (SIGTERM); no half-written file was left'
    assert 'Traceback' not in outcome.stderr
    assert list(tmp_path.iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_ctrl_c_while_an_output_is_moved_aside_restores_it_and_exits_130(kit, tmp_path, monkeypatch):
    out_dir = tmp_path / 'out'
    assert run_tool(reveal.main, reveal_argv(kit, out_dir)).status == 0
    before = tree(tmp_path)
    _signal_during(monkeypatch, stego.outputs.tempfile, 'mkstemp', signal.SIGINT, calls=6)   # the 2nd backup
    outcome = run_tool(reveal.main, reveal_argv(kit, out_dir, '--overwrite', '--seed', '5'))
    assert outcome.status == 130 and 'Traceback' not in outcome.stderr
    assert outcome.stderr.strip().splitlines()[-1] == \
        'reveal.py: interrupted (Ctrl-C); no half-written file was left'
    assert tree(tmp_path) == before


def test_ctrl_c_in_test_py_is_one_line_and_130(kit, tmp_path, monkeypatch):
    opt = option_file(kit, tmp_path, lambda raw: raw['path'].update(root=str(tmp_path)))

    def interrupted(opt):
        raise KeyboardInterrupt
    monkeypatch.setattr(test_script, 'run', interrupted)
    outcome = run_tool(test_script.main, ['-opt', str(opt)])
    assert outcome.status == 130 and outcome.stderr.strip().splitlines()[-1].startswith('test.py: interrupted (Ctrl-C)')


def test_a_held_signal_unwinds_the_block_and_is_delivered_after_it():
    cleaned = []
    with pytest.raises(KeyboardInterrupt):
        with held_signals() as check:
            try:
                os.kill(os.getpid(), signal.SIGINT)
                cleaned.append('still running')          # held: the block goes on until it checks
                check()
                cleaned.append('never')
            except BaseException:
                cleaned.append('cleanup')
                raise
    assert cleaned == ['still running', 'cleanup']
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# ------------------------------------------------------------------ 7: nesting
def test_deeply_nested_key_and_yaml_are_one_line_errors(kit, tmp_path):
    key = tmp_path / 'nested.key.json'
    key.write_text('{"a": ' * 100_000 + '1' + '}' * 100_000)
    outcome = run_tool(reveal.main, reveal_argv(kit, tmp_path / 'out', key=key))
    assert is_one_line_error(outcome) and 'nested too deeply' in outcome.message
    moderately = edited_key(kit, tmp_path, lambda doc: doc.update(stego=json.loads('[' * 500 + ']' * 500)))
    outcome = run_tool(reveal.main, reveal_argv(kit, tmp_path / 'out', key=moderately))
    assert is_one_line_error(outcome) and 'nested 501 deep; a key is 8 deep at most' in outcome.message
    deep_yaml = option_file(kit, tmp_path, text=kit.opt.read_text() + 'suffix: ' + '[' * 100_000 + ']' * 100_000)
    for tool, argv in ((hide.main, ['--opt', str(deep_yaml)] + hide_argv(kit, tmp_path / 's.png')[2:]),
                       (test_script.main, ['-opt', str(deep_yaml)])):
        outcome = run_tool(tool, argv)
        assert is_one_line_error(outcome) and 'nested too deeply' in outcome.message, outcome
    with pytest.raises(OptionError, match='values nested 21 deep, more than the limit of 16'):
        parse(option_file(kit, tmp_path, text=kit.opt.read_text() + 'suffix: ' + '[' * 20 + ']' * 20), False)
    laughs = 'a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n' + ''.join(
        f'{chr(98 + i)}: &{chr(98 + i)} [{", ".join([f"*{chr(97 + i)}"] * 10)}]\n' for i in range(8))
    with pytest.raises(OptionError, match='values once YAML aliases are expanded'):
        parse(option_file(kit, tmp_path, text=laughs), False)


# ------------------------------------------------------------------ 8: names are single path components
@pytest.mark.parametrize('name', ['/tmp/x', '../..', '..', 'a/b', '', ' x'])
def test_names_from_option_files_are_single_path_components(kit, tmp_path, name):
    opt = option_file(kit, tmp_path, lambda raw: raw.update(name=name))
    outcome = run_tool(test_script.main, ['-opt', str(opt)])
    assert is_one_line_error(outcome) and 'name must be a plain folder name' in outcome.message
    dataset = option_file(kit, tmp_path, lambda raw: raw['datasets']['test_1'].update(name=name))
    with pytest.raises(OptionError, match='datasets.test_1.name must be a plain folder name'):
        parse(dataset, is_train=False)
    train = yaml.safe_load(TRAIN_DEMO.read_text())
    train['name'] = name
    path = tmp_path / 'train.yml'
    path.write_text(yaml.safe_dump(train))
    with pytest.raises(OptionError, match='name must be a plain folder name'):
        parse(path, is_train=True)


# ------------------------------------------------------------------ 9: ranges
@pytest.mark.parametrize('edit, message', [
    (lambda raw: raw['test'].update(gaussian_scale=float('nan')), 'test.gaussian_scale must be a finite number'),
    (lambda raw: raw['test'].update(gaussian_scale=float('inf')), 'test.gaussian_scale must be a finite number'),
    (lambda raw: raw['test'].update(gaussian_scale=-1e9), r'test.gaussian_scale must be >= 0'),
    (lambda raw: raw['test'].update(seed=2 ** 70), r'test.seed must be null or in 0 .. 4294967295'),
    (lambda raw: raw['test'].update(chunk=0), r'test.chunk must be a positive number of images or null')])
def test_test_option_values_are_range_checked(kit, tmp_path, edit, message):
    with pytest.raises(OptionError, match=message):
        parse(option_file(kit, tmp_path, edit), is_train=False)


@pytest.mark.parametrize('key, value, message', [
    ('niter', -5, 'train.niter must be a positive number of iterations'),
    ('gaussian_scale', float('nan'), 'train.gaussian_scale must be a finite number'),
    ('lr_G', float('-inf'), 'train.lr_G must be a finite number'),
    ('manual_seed', -1, r'train.manual_seed must be null or in 0 ..')])
def test_train_option_values_are_range_checked(tmp_path, key, value, message):
    raw = yaml.safe_load(TRAIN_DEMO.read_text())
    raw['train'][key] = value
    path = tmp_path / 'train.yml'
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(OptionError, match=message):
        parse(path, is_train=True)


def test_duplicate_yaml_keys_are_an_error(kit, tmp_path):
    opt = option_file(kit, tmp_path, text=kit.opt.read_text() + 'name: other\n')
    outcome = run_tool(test_script.main, ['-opt', str(opt)])
    assert is_one_line_error(outcome) and "key 'name' is given twice" in outcome.message
    nested = option_file(kit, tmp_path, text=kit.opt.read_text().replace('  seed: 0\n', '  seed: 0\n  seed: 1\n'))
    with pytest.raises(OptionError, match="key 'seed' is given twice"):
        parse(nested, is_train=False)


@pytest.mark.parametrize('argv, message', [(['--max-pixels', '0'], 'must be a positive integer, got 0'),
                                           (['--max-pixels', '-5'], 'must be a positive integer, got -5'),
                                           (['--seed', str(10 ** 30)], 'must be in 0 .. 4294967295'),
                                           (['--chunk', '0'], 'must be a positive integer')])
def test_command_line_values_are_range_checked(kit, tmp_path, capsys, argv, message):
    for tool, base in ((hide.main, hide_argv(kit, tmp_path / 's.png')), (reveal.main, reveal_argv(kit, tmp_path))):
        outcome = run_tool(tool, base + argv)
        assert outcome.status == 2 and message in outcome.stderr
    assert not (tmp_path / 's.png').exists()


# ------------------------------------------------------------------ 10: silent conversions, unclear errors
def test_an_rgba_secret_is_hidden_with_a_warning(kit, tmp_path):
    rgba = np.dstack([photo(3, 16, 12), np.full((16, 12), 128, np.uint8)])
    path = tmp_path / 'alpha.png'
    Image.fromarray(rgba, 'RGBA').save(path)
    outcome = run_tool(hide.main, hide_argv(kit, tmp_path / 's.png', secrets=[path, *kit.secrets[1:]]))
    assert outcome.status == 0
    assert f'secret 1 {path} has an alpha channel (transparency): it is dropped' in outcome.stderr


@pytest.mark.parametrize('kind', ['gif', 'apng'])
def test_animated_images_are_refused(kit, tmp_path, kind):
    frames = [Image.fromarray(photo(i, 32, 28)) for i in range(2)]
    path = tmp_path / f'animated.{"gif" if kind == "gif" else "png"}'
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    outcome = run_tool(hide.main, hide_argv(kit, tmp_path / 's.png', cover=path))
    assert is_one_line_error(outcome) and 'animated' in outcome.message and str(path) in outcome.message


def test_errno_errors_name_the_output_not_a_temporary_file(kit, tmp_path, monkeypatch):
    def full(fd):
        raise OSError(28, 'No space left on device')
    monkeypatch.setattr('stego.outputs.os.fsync', full)
    out = tmp_path / 'stego.png'
    outcome = run_tool(hide.main, hide_argv(kit, out))
    assert is_one_line_error(outcome)
    assert outcome.message == f'error: {out}: cannot write it (No space left on device); nothing was written'
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr('utils.atomic_io.os.fsync', full)
    with pytest.raises(OSError) as caught:
        StegoKey.load(kit.key).save(tmp_path / 'k.json')
    assert caught.value.filename == str(tmp_path / 'k.json') and '.tmp' not in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_a_tiny_pixel_limit_gives_a_readable_message(kit, tmp_path):
    outcome = run_tool(hide.main, hide_argv(kit, tmp_path / 's.png', '--max-pixels', '100'))
    assert is_one_line_error(outcome)
    assert 'is 32 x 28 (H x W) = 896 pixels, more than the --max-pixels limit of 100 pixels' in outcome.message


def test_an_out_dir_that_is_a_file_is_reported_before_the_work(kit, tmp_path, monkeypatch):
    blocker = tmp_path / 'out'
    blocker.write_text('a file')

    def never(*args, **kwargs):
        raise AssertionError('revealed before checking the output folder')
    monkeypatch.setattr(reveal, 'reveal_image', never)
    outcome = run_tool(reveal.main, reveal_argv(kit, blocker))
    assert is_one_line_error(outcome) and f'output folder {blocker} is a file' in outcome.message
    assert blocker.read_text() == 'a file'


def test_a_damaged_stego_is_a_one_line_error_naming_it(kit, tmp_path):
    damaged = tmp_path / 'damaged.png'
    data = bytearray(kit.stego.read_bytes())
    data[60] ^= 0xFF
    damaged.write_bytes(bytes(data))
    outcome = run_tool(reveal.main, ['--opt', str(kit.opt), '--stego', str(damaged), '--key', str(kit.key),
                                     '--out-dir', str(tmp_path / 'out')])
    assert is_one_line_error(outcome) and str(damaged) in outcome.message
    assert cv2.imread(str(kit.stego)) is not None
