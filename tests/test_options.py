"""Option files parse; malformed files, unknown keys, wrong types and missing keys give clear errors."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from options import OptionError, parse

REPO = Path(__file__).resolve().parents[1]
SHIPPED = sorted((REPO / 'options').glob('t*/*.yml'))    # train/ and test/ (sweep/ holds sweep files)


@pytest.mark.parametrize('path', SHIPPED, ids=lambda p: p.name)
def test_shipped_option_files_parse(path):
    opt = parse(path, is_train=path.parent.name == 'train')
    assert opt['num_images'] == opt['scale_H'] * opt['scale_W']
    for ds in opt['datasets'].values():
        assert ds['batch_size'] == opt['num_images'] + 1
        assert ds['scale_H'] == opt['scale_H']


def _write(tmp_path: Path, opt: dict | str) -> Path:
    path = tmp_path / 'opt.yml'
    path.write_text(opt if isinstance(opt, str) else yaml.safe_dump(opt))
    return path


def _train_opt() -> dict:
    return yaml.safe_load((REPO / 'options/train/train_InvMIHNet_4images.yml').read_text())


def test_unknown_key_is_named(tmp_path):
    opt = _train_opt()
    opt['train']['lr_g'] = 1e-4
    with pytest.raises(OptionError, match=r'unknown key train\.lr_g'):
        parse(_write(tmp_path, opt), is_train=True)


def test_missing_key_is_named(tmp_path):
    opt = _train_opt()
    del opt['network_G']['block_num']
    with pytest.raises(OptionError, match=r'missing required key network_G\.block_num'):
        parse(_write(tmp_path, opt), is_train=True)


def test_wrong_type_is_named(tmp_path):
    opt = _train_opt()
    opt['train']['niter'] = 'many'
    with pytest.raises(OptionError, match=r"train\.niter must be int, got 'many'"):
        parse(_write(tmp_path, opt), is_train=True)


def test_malformed_yaml(tmp_path):
    with pytest.raises(OptionError, match='not valid YAML'):
        parse(_write(tmp_path, 'name: [unclosed\n  scale_H: 2'), is_train=True)


def test_not_a_mapping(tmp_path):
    with pytest.raises(OptionError, match='must be a mapping'):
        parse(_write(tmp_path, '- a\n- b\n'), is_train=True)


def test_missing_file():
    with pytest.raises(OptionError, match='cannot read option file'):
        parse('does/not/exist.yml', is_train=True)


def test_float_strings_are_numbers_and_choices_checked(tmp_path):
    opt = _train_opt()
    opt['train']['lr_G'] = '1e-4'
    assert parse(_write(tmp_path, opt), is_train=True)['train']['lr_G'] == pytest.approx(1e-4)
    opt['train']['lr_scheme'] = 'StepLR'
    with pytest.raises(OptionError, match=r'train\.lr_scheme must be one of'):
        parse(_write(tmp_path, opt), is_train=True)


def test_batch_size_must_be_one_hiding_problem(tmp_path):
    opt = _train_opt()
    opt['datasets']['train']['batch_size'] = 16
    with pytest.raises(OptionError, match=r'datasets\.train\.batch_size must be num_images \+ 1 = 5'):
        parse(_write(tmp_path, opt), is_train=True)


def test_published_network_scale_must_agree(tmp_path):
    opt = _train_opt()
    opt['network_G']['scale_H'] = 2
    with pytest.warns(UserWarning, match='repeats the top-level grid'):
        parse(_write(tmp_path, opt), is_train=True)
    opt['network_G']['scale_H'] = 3
    with pytest.raises(OptionError, match='disagrees with the top-level scale_H'):
        parse(_write(tmp_path, opt), is_train=True)


def test_paths_resolve_against_repo_and_option_file(tmp_path):
    opt = _train_opt()
    (tmp_path / 'mine').mkdir()
    opt['datasets']['train']['dataroot_GT'] = 'mine'
    opt['path']['pretrain_model_G'] = '~/weights/IIR.pth'
    parsed = parse(_write(tmp_path, opt), is_train=True)
    assert parsed['datasets']['train']['dataroot_GT'] == str(tmp_path / 'mine')
    assert parsed['path']['pretrain_model_G'] == str(Path('~/weights/IIR.pth').expanduser())
    assert parsed['path']['models'] == str(REPO / 'experiments' / opt['name'] / 'models')


def test_test_file_needs_a_test_dataset(tmp_path):
    opt = yaml.safe_load((REPO / 'options/test/test_InvMIHNet_4images.yml').read_text())
    opt['datasets'] = {'val': opt['datasets']['test_1']}
    with pytest.raises(OptionError, match='datasets.test_<k>'):
        parse(_write(tmp_path, opt), is_train=False)


@pytest.mark.parametrize('key', ['in_nc', 'out_nc'])
def test_channels_other_than_rgb_are_refused(tmp_path, key):
    opt = _train_opt()
    opt['network_G'][key] = 1
    with pytest.raises(OptionError, match=rf'network_G\.{key}=1: only 3 \(RGB images\) is supported'):
        parse(_write(tmp_path, opt), is_train=True)


def test_crop_size_rule_comes_from_the_network_configuration(tmp_path):
    opt = _train_opt()
    opt['datasets']['train']['GT_size'] = 146
    with pytest.raises(OptionError, match=r'datasets\.train\.GT_size: crop size 146 x 146 \(H x W\) does not fit '
                                          r'a 2 x 2 grid.*for example 144 x 144 or 148 x 148'):
        parse(_write(tmp_path, opt), is_train=True)
