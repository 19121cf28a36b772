"""Model folders: the bundled ones load, train.py's writer round-trips, and a folder that disagrees with its
model.json is one clear error."""
from __future__ import annotations

import json
import shutil

import pytest
import torch
from PIL import Image

import train
from inference.stego_model import StegoModel
from models.checkpoint import read_iih_state, read_iir_state
from models.model_folder import MAX_JSON_BYTES, ModelFolderError, load_model_folder, read_model_info
from options import parse
from stego import ModelLoadError, load_model
from stego.model import DEFAULT_MODEL

BUNDLED = DEFAULT_MODEL.parent


@pytest.mark.parametrize('name', ['InvMIHNet_4images_demo', 'InvMIHNet_4images_demo_robust'])
def test_bundled_folders_match_their_option_files(name):
    folder = StegoModel.from_pretrained(BUNDLED / name, 'cpu')
    options = StegoModel.from_options(f'options/test/test_{name}.yml', 'cpu')
    assert folder.network_config == options.network_config
    for a, b in zip(folder.net.state_dict().values(), options.net.state_dict().values()):
        assert torch.equal(a, b)
    assert folder.trained_distortions == options.trained_distortions
    assert folder.info.training.reveal_from == 'png' and folder.info.training.iterations == 1500


def test_the_bundled_cpu_model_is_the_default_and_says_how_it_was_trained():
    assert DEFAULT_MODEL == BUNDLED / 'InvMIHNet_4images_cpu'
    model = StegoModel.from_pretrained(DEFAULT_MODEL, 'cpu')
    demo = StegoModel.from_pretrained(BUNDLED / 'InvMIHNet_4images_demo', 'cpu')
    assert model.network_config == demo.network_config
    assert model.info.training.reveal_from == 'png' and model.info.training.iterations == 700
    assert 'photos_train' in model.info.training.data
    assert model.info.training.options == 'train_InvMIHNet_4images_cpu_wavelet.yml'
    options = StegoModel.from_options('options/test/test_InvMIHNet_4images_cpu.yml', 'cpu')
    for a, b in zip(model.net.state_dict().values(), options.net.state_dict().values()):
        assert torch.equal(a, b)


def test_bundled_weights_keep_the_released_formats():
    assert read_iir_state(DEFAULT_MODEL / 'IIR.pth') and read_iih_state(DEFAULT_MODEL / 'IIH.pth')
    assert set(torch.load(DEFAULT_MODEL / 'IIH.pth', weights_only=True)) == {'net'}


def test_train_writes_a_model_folder_per_checkpoint(tmp_path, tiny_train_options):
    opt = parse(tiny_train_options(tmp_path, niter=2, save_freq=1), is_train=True)
    trainer = train.train(opt)
    models = tmp_path / 'experiments' / 'tiny' / 'models'
    assert sorted(p.name for p in models.iterdir()) == ['1', '2', 'latest']
    info = read_model_info(models / 'latest')
    assert info.name == 'tiny' and info.config == trainer.network_config
    assert info.training.iterations == 2 and info.training.reveal_from == opt['train']['reveal_from']
    assert info.training.options == 'tiny.yml'
    net, _ = load_model_folder(models / '2')
    for key, value in trainer.net.state_dict().items():
        assert torch.equal(net.state_dict()[key], value.cpu()), key


def _copy(tmp_path):
    folder = tmp_path / 'model'
    shutil.copytree(DEFAULT_MODEL, folder)
    return folder


def test_missing_file_or_bad_json_is_one_clear_error(tmp_path):
    folder = _copy(tmp_path)
    (folder / 'IIH.pth').unlink()
    with pytest.raises(ModelFolderError, match=r'IIH checkpoint .*IIH.pth does not exist'):
        load_model_folder(folder)
    (folder / 'model.json').write_text('{"format": "InvMIHNet-model", ')
    with pytest.raises(ModelFolderError, match=r'model.json is not valid JSON'):
        load_model_folder(folder)
    (folder / 'model.json').write_bytes(b' ' * (MAX_JSON_BYTES + 1))
    with pytest.raises(ModelFolderError, match=r'larger than'):
        load_model_folder(folder)
    (folder / 'model.json').unlink()
    with pytest.raises(ModelLoadError, match=r'without model.json'):
        load_model(folder)


def test_config_or_weights_that_disagree_with_model_json_are_refused(tmp_path):
    folder = _copy(tmp_path)
    doc = json.loads((folder / 'model.json').read_text())
    doc['config']['iih_block_num'] = 3
    (folder / 'model.json').write_text(json.dumps(doc))
    with pytest.raises(ModelFolderError, match=r'IIH block_num=3 of its model.json \(IIH\): 30 unexpected keys'):
        load_model_folder(folder)
    doc['config']['iih_block_num'] = 4
    doc['weights']['iir_sha256'] = '0' * 64
    (folder / 'model.json').write_text(json.dumps(doc))
    with pytest.raises(ModelFolderError, match=r'IIR weights .* are not the ones model.json describes'):
        load_model_folder(folder)
    doc['format'] = 'something else'
    (folder / 'model.json').write_text(json.dumps(doc))
    with pytest.raises(ModelFolderError, match=r"format is 'something else'"):
        load_model_folder(folder)


def test_export_model_describes_checkpoints_in_place(tmp_path):
    from scripts.export_model import export_model
    folder = _copy(tmp_path)
    (folder / 'model.json').unlink()
    export_model('options/train/train_InvMIHNet_4images_demo.yml', folder / 'IIR.pth', folder / 'IIH.pth', folder,
                 commit='0' * 40)
    assert read_model_info(folder).training.commit == '0' * 40
    assert read_model_info(folder).iir_sha256 == read_model_info(DEFAULT_MODEL).iir_sha256


def test_cpu_hours_are_recorded_and_checked(tmp_path):
    from scripts.export_model import export_model
    folder = _copy(tmp_path)
    export_model('options/train/train_InvMIHNet_4images_demo.yml', folder / 'IIR.pth', folder / 'IIH.pth', folder,
                 commit='0' * 40, cpu_hours=1.25, data='kodak crops, from the demo')
    training = read_model_info(folder).training
    assert training.cpu_hours == 1.25 and training.data == 'kodak crops, from the demo'
    doc = json.loads((folder / 'model.json').read_text())
    del doc['training']['cpu_hours']           # model.json files written before the field existed
    (folder / 'model.json').write_text(json.dumps(doc))
    assert read_model_info(folder).training.cpu_hours is None
    for bad in ('2 hours', -1, True):
        doc['training']['cpu_hours'] = bad
        (folder / 'model.json').write_text(json.dumps(doc))
        with pytest.raises(ModelFolderError, match=r'training.cpu_hours must be a number of hours'):
            read_model_info(folder)
    doc['training']['cpu_hours'] = 1.0
    doc['training']['gpu_hours'] = 1.0
    (folder / 'model.json').write_text(json.dumps(doc))
    with pytest.raises(ModelFolderError, match=r"unknown fields \['gpu_hours'\]"):
        read_model_info(folder)


def _hide_args(photos, out, *extra):
    test = photos / 'test'
    return ['--cover', str(test / 'kodim15.png'), '--secrets', *(str(test / f'kodim{i}.png') for i in (16, 17, 18, 19)),
            '--out', str(out), '--cpu', *extra]


def test_the_key_names_the_model_folder_and_reveal_uses_it(tmp_path, photos):
    import hide
    import reveal
    folder = tmp_path / 'robust'
    shutil.copytree(BUNDLED / 'InvMIHNet_4images_demo_robust', folder)
    hide.main(_hide_args(photos, tmp_path / 'stego.png', '--model', str(folder)))
    key = json.loads((tmp_path / 'stego.key.json').read_text())
    assert key['model'] == str(folder.resolve())
    reveal.main(['--stego', str(tmp_path / 'stego.png'), '--key', str(tmp_path / 'stego.key.json'), '--out-dir',
                 str(tmp_path / 'out'), '--cpu'])
    assert len(list((tmp_path / 'out').glob('*.png'))) == 4
    with pytest.raises(SystemExit, match='the loaded IIR and IIH weights are not the ones'):
        reveal.main(['--stego', str(tmp_path / 'stego.png'), '--key', str(tmp_path / 'stego.key.json'),
                     '--out-dir', str(tmp_path / 'out2'), '--cpu', '--model', str(DEFAULT_MODEL)])


def test_an_option_file_key_has_no_model_field_and_checkpoints_need_opt(tmp_path, photos):
    import hide
    hide.main(_hide_args(photos, tmp_path / 'stego.png', '--opt', 'options/test/test_InvMIHNet_4images_demo.yml'))
    assert 'model' not in json.loads((tmp_path / 'stego.key.json').read_text())
    with pytest.raises(SystemExit, match=r'--iir / --iih replace the checkpoints of an option file'):
        hide.main(_hide_args(photos, tmp_path / 'other.png', '--iir', str(DEFAULT_MODEL / 'IIR.pth')))


def test_hide_picks_the_bundled_model_for_the_number_of_secrets(tmp_path, photos):
    import hide
    import reveal
    files = sorted((photos / 'train').glob('*.png')) + sorted((photos / 'test').glob('*.png'))
    small = []
    for path in files[:17]:
        small.append(tmp_path / path.name)
        Image.open(path).convert('RGB').resize((64, 64), Image.BICUBIC).save(small[-1])
    with pytest.raises(SystemExit, match=r'no bundled model hides 6 secrets \(the bundled ones hide 4, 16\)'):
        hide.main(['--cover', str(small[0]), '--secrets', *map(str, small[1:7]), '--out', str(tmp_path / 'six.png'),
                   '--cpu'])
    assert not (tmp_path / 'six.png').exists()
    hide.main(['--cover', str(small[0]), '--secrets', *map(str, small[1:17]), '--out', str(tmp_path / 'stego.png'),
               '--cpu'])
    key = json.loads((tmp_path / 'stego.key.json').read_text())
    assert key['num_images'] == 16 and key['model'] == 'experiments/pretrained_models/InvMIHNet_16images_cpu'
    reveal.main(['--stego', str(tmp_path / 'stego.png'), '--key', str(tmp_path / 'stego.key.json'), '--out-dir',
                 str(tmp_path / 'out'), '--cpu'])
    assert len(list((tmp_path / 'out').glob('*.png'))) == 16
