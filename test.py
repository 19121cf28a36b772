"""Evaluate InvMIHNet: ``python test.py -opt options/test/test_InvMIHNet_<N>images.yml``.

For every test dataset: batches of N + 1 images in sorted order (image 0 the cover), hide, save the 8-bit stego,
reveal, save ``cover/ steg/ secret/ secret_recover/`` under ``results/<name>/<dataset>/`` with the metrics
(printed table, ``metrics.csv`` per batch, ``metrics.json`` means). ``test.attacks`` evaluates the saved stego
again after each named distortion (JPEG, noise, resizing, ...; see ``models.distortions``): ``robustness.json``,
``robustness.png`` and one ``metrics.csv`` row per image set and attack.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from data import create_dataloader, create_dataset
from inference.evaluation import BatchEvaluation, OnImageSet, attack_metrics, evaluate_dataset
from inference.robustness import RobustnessTable
from inference.stego_model import StegoModel
from models.checkpoint import CheckpointError
from models.distortions import parse_distortion
from options import OptionError, dict_to_yaml, parse
from utils.image_io import save_image
from utils.logger import setup_logger
from utils.messages import error_message
from utils.signals import exit_on_signals

LOG = 'invmihnet'
TABLE_KEYS = ('stego_psnr', 'stego_ssim', 'stego_psnr_y', 'secret_psnr', 'secret_ssim', 'secret_psnr_y',
              'stego_mae', 'stego_rmse', 'secret_mae', 'secret_rmse')


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Evaluate InvMIHNet on the test datasets of an option file.')
    parser.add_argument('-opt', '--opt', required=True, help='path to a test option YAML file')
    return parser.parse_args(argv)


def _stem(path: str) -> str:
    return Path(path).stem


def _image_saver(out_dir: Path) -> OnImageSet:
    """Save every image set under ``out_dir/{cover,steg,secret,secret_recover}/b<index>_...png``."""
    def save(index: int, batch: dict, result: BatchEvaluation) -> None:
        names = [_stem(p) for p in batch['GT_path']]
        prefix = f'b{index:04d}_'
        save_image(result.cover, out_dir / 'cover' / f'{prefix}{names[0]}.png')
        save_image(result.stego, out_dir / 'steg' / f'{prefix}{names[0]}.png')
        for i, (name, secret, recovered) in enumerate(zip(names[1:], result.secrets, result.recovered), 1):
            save_image(secret, out_dir / 'secret' / f'{prefix}{i:02d}_{name}.png')
            save_image(recovered, out_dir / 'secret_recover' / f'{prefix}{i:02d}_{name}.png')
    return save


def _attack_evaluator(model: StegoModel, test_opt: dict, robustness: RobustnessTable) -> OnImageSet:
    """Evaluate every attack of ``test.attacks`` on each image set's saved 8-bit stego into ``robustness``.

    Each attack has its own reveal-noise and attack-noise generators, seeded from ``test.seed``, so its numbers
    do not depend on the other attacks listed; ``none`` reproduces the clean path revealing from the PNG.
    """
    seed = test_opt['seed'] if test_opt['seed'] is not None else 0
    distortions = [parse_distortion(name) for name in robustness.attacks]
    reveal_generators = [torch.Generator().manual_seed(seed) for _ in distortions]
    attack_generators = [torch.Generator().manual_seed(seed + 1) for _ in distortions]

    def evaluate(index: int, batch: dict, result: BatchEvaluation) -> None:
        for distortion, reveal_gen, attack_gen in zip(distortions, reveal_generators, attack_generators):
            robustness.add(distortion.name, attack_metrics(model, result, distortion, test_opt['gaussian_scale'],
                                                           reveal_gen, attack_gen), index)
    return evaluate


def _both(first: OnImageSet | None, second: OnImageSet | None) -> OnImageSet | None:
    """One callback calling ``first`` then ``second`` (either may be None)."""
    if first is None or second is None:
        return first or second

    def call(index: int, batch: dict, result: BatchEvaluation) -> None:
        first(index, batch, result)
        second(index, batch, result)
    return call


def create_test_loaders(opt: dict) -> dict[str, tuple[dict, DataLoader]]:
    """(dataset options, loader) of every ``datasets.test_*`` entry, by dataset name; ``test.center_crop``
    applies where the dataset sets none."""
    loaders = {}
    for ds_opt in opt['datasets'].values():
        if ds_opt['phase'] != 'test':
            continue
        if ds_opt['center_crop'] is None:
            ds_opt = {**ds_opt, 'center_crop': opt['test']['center_crop']}
        loaders[ds_opt['name']] = (ds_opt, create_dataloader(create_dataset(ds_opt), ds_opt, opt['num_images']))
    return loaders


def test_dataset(model: StegoModel, opt: dict, ds_opt: dict, loader: DataLoader,
                 log: logging.Logger) -> dict[str, float]:
    """Evaluate one dataset; returns the mean metrics (also written to metrics.json).

    With ``test.attacks`` other than ``[none]``, every attack is also evaluated on each saved 8-bit stego:
    ``metrics.csv`` then holds one row per image set and attack, ``robustness.json`` the means per attack, and
    ``robustness.png`` the secret PSNR against JPEG quality and noise sigma.
    """
    test_opt = opt['test']
    out_dir = Path(opt['path']['results_root']) / ds_opt['name']
    log.info('Testing %s: %d images, %d image sets of %d, revealing from the %s stego', ds_opt['name'],
             len(loader.dataset), len(loader), opt['num_images'] + 1, test_opt['reveal_from'])
    robustness = None if test_opt['attacks'] == ['none'] else RobustnessTable(test_opt['attacks'], TABLE_KEYS)
    on_image_set = _both(_image_saver(out_dir) if test_opt['save_images'] else None,
                         _attack_evaluator(model, test_opt, robustness) if robustness else None)
    table = evaluate_dataset(model, loader, test_opt, ds_opt['max_batches'], on_image_set, desc=ds_opt['name'])
    log.info('%s (%d image sets):\n%s', ds_opt['name'], len(table), table.format_table(TABLE_KEYS))
    if robustness is None:
        table.save(out_dir)
        log.info('Results and metrics.csv / metrics.json in %s', out_dir)
        return table.means()
    table.write_json(out_dir / 'metrics.json')
    written = robustness.save(out_dir)
    log.info('%s under attack (means over %d image sets, the attacked 8-bit stego revealed):\n%s',
             ds_opt['name'], len(table), robustness.format_table())
    log.info('Results, metrics.json and %s in %s', ', '.join(p.name for p in written), out_dir)
    return table.means()


def check_inputs_outside(opt: dict, results_root: Path) -> None:
    """Refuse (ValueError) a run whose results folder holds one of its inputs (the option file, a checkpoint, a
    dataset folder): writing the results could replace it."""
    paths = opt['path']
    inputs = [('the option file', opt.get('source')), ('path.pretrain_model_G', paths['pretrain_model_G']),
              ('path.pretrain_model_H', paths['pretrain_model_H'])]
    inputs += [(f'{ds["opt_key"]}.{key}', ds[key]) for ds in opt['datasets'].values()
               for key in ('dataroot_GT', 'dataroot_LQ')]
    root = results_root.resolve()
    for what, value in inputs:
        if value and (root == Path(value).resolve() or root in Path(value).resolve().parents):
            raise ValueError(f'{what} {value} lies in the results folder {results_root}, which this run writes: '
                             f'move it, or change name / path.root')


def run(opt: dict) -> dict[str, dict[str, float]]:
    """Evaluate every ``datasets.test_*`` entry; returns the mean metrics per dataset name.

    The model and every test set are built first: a missing checkpoint or dataset stops the run before
    ``results/<name>/`` is created.
    """
    log = setup_logger(LOG)
    model = StegoModel.from_options(opt)
    loaders = create_test_loaders(opt)
    results_root = Path(opt['path']['results_root'])
    check_inputs_outside(opt, results_root)
    results_root.mkdir(parents=True, exist_ok=True)
    log = setup_logger(LOG, results_root / f'test_{opt["name"]}.log')
    (results_root / 'options.yml').write_text(dict_to_yaml(opt), encoding='utf-8')
    log.info('%s on %s; trained for distortions: %s', model.config, model.device,
             ', '.join(opt['test']['trained_distortions']) or 'none (test.trained_distortions)')
    if model.untrained:
        log.warning('no checkpoint for %s: testing untrained networks', ' / '.join(model.untrained))
    return {name: test_dataset(model, opt, ds_opt, loader, log) for name, (ds_opt, loader) in loaders.items()}


def main(argv: list[str] | None = None) -> None:
    """Run test.py; an expected error ends it with one ``error: ...`` line, Ctrl-C / SIGTERM with status 130 /
    143 (:func:`utils.signals.exit_on_signals`)."""
    args = parse_args(argv)
    with exit_on_signals('test.py'):
        try:
            run(parse(args.opt, is_train=False))
        except (OptionError, CheckpointError, ValueError, OSError, MemoryError) as err:
            raise SystemExit(f'error: {error_message(err)}') from None


if __name__ == '__main__':
    main()
