"""Released-format loading with and without 'module.', mismatch messages, atomic writes."""
from __future__ import annotations

import os

import pytest
import torch
import yaml

from inference.stego_model import StegoModel
from models.checkpoint import CheckpointError, atomic_save, read_iih_state
from options import parse


def _model(path):
    return StegoModel.from_options(parse(path, is_train=False), torch.device('cpu'))


def test_iih_loads_with_and_without_module_prefix(tmp_path, golden_option_file):
    with_prefix = _model(golden_option_file(4, tmp_path / 'a', module_prefix=True))
    without = _model(golden_option_file(4, tmp_path / 'b', module_prefix=False))
    for (ka, va), (kb, vb) in zip(with_prefix.net.state_dict().items(), without.net.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)
    assert with_prefix.net.iih.model.inv1.r.conv1.weight.abs().sum() > 0


def test_published_loader_drops_tmp_var_and_rect_keys(tmp_path):
    state = {'module.model.inv1.r.conv1.weight': torch.zeros(1), 'tmp_var': torch.zeros(1),
             'model.rect.x': torch.zeros(1)}
    torch.save({'net': state}, tmp_path / 'iih.pth')
    assert list(read_iih_state(tmp_path / 'iih.pth')) == ['model.inv1.r.conv1.weight']


def test_wrong_checkpoint_names_file_config_and_keys(tmp_path, golden_option_file):
    path = golden_option_file(4, tmp_path)
    opt = yaml.safe_load(path.read_text())
    six = yaml.safe_load(open('options/test/test_InvMIHNet_6images.yml'))
    six['gpu_ids'] = None
    six['path'] = opt['path']
    path.write_text(yaml.safe_dump(six))
    with pytest.raises(CheckpointError) as info:
        _model(path)
    message = str(info.value)
    assert 'IIR_4images_golden.pth' in message
    assert 'N=6 (3 x 2)' in message and 'block_num=[12]' in message
    assert 'operations.0.conv_weights' in message


def test_wrong_iih_block_count_is_reported(tmp_path, golden_option_file):
    path = golden_option_file(4, tmp_path)
    path.write_text(path.read_text().replace('block_num: 16', 'block_num: 8'))
    with pytest.raises(CheckpointError, match=r'IIH_4images_golden.pth does not fit .*IIH block_num=8.*'
                                              r'unexpected keys'):
        _model(path)


def test_not_a_checkpoint(tmp_path, golden_option_file):
    path = golden_option_file(4, tmp_path)
    opt = yaml.safe_load(path.read_text())
    bad = tmp_path / 'garbage.pth'
    bad.write_bytes(b'not a torch file')
    opt['path']['pretrain_model_H'] = str(bad)
    path.write_text(yaml.safe_dump(opt))
    with pytest.raises(CheckpointError, match='cannot read IIH checkpoint .*garbage.pth'):
        _model(path)
    torch.save({'weights': {}}, bad)
    with pytest.raises(CheckpointError, match="must be a dict with a 'net' state_dict"):
        _model(path)


def _crash_during_write(monkeypatch):
    """The temporary file's write fails half-way (a full disk, a kill)."""
    real_fdopen = os.fdopen

    class HalfWriter:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, data):
            self.handle.write(data[:len(data) // 2])
            self.handle.flush()
            raise OSError(28, 'No space left on device')

    monkeypatch.setattr(os, 'fdopen', lambda fd, mode: HalfWriter(real_fdopen(fd, mode)))


def _crash_before_rename(monkeypatch):
    """The temporary file is complete but the rename into place never happens."""
    def no_replace(src, dst):
        raise KeyboardInterrupt
    monkeypatch.setattr(os, 'replace', no_replace)


@pytest.mark.parametrize('crash', [_crash_during_write, _crash_before_rename], ids=['during_write', 'before_rename'])
def test_atomic_save_keeps_previous_file_when_interrupted(tmp_path, monkeypatch, crash):
    path = tmp_path / 'IIR_10.pth'
    atomic_save({'a': torch.ones(2)}, path)
    crash(monkeypatch)
    with pytest.raises((OSError, KeyboardInterrupt)):
        atomic_save({'a': torch.zeros(2)}, path)
    monkeypatch.undo()
    assert torch.equal(torch.load(path, weights_only=True)['a'], torch.ones(2))
    assert os.listdir(tmp_path) == ['IIR_10.pth']
    atomic_save({'a': torch.zeros(2)}, path)
    assert torch.equal(torch.load(path, weights_only=True)['a'], torch.zeros(2))
