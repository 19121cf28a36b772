"""How detectable are a model's stego images? ``python steganalysis.py -opt options/test/<file>.yml``.

Makes cover/stego pairs from an image folder (default: the option file's first test set), trains rich-model
(SPAM, CRM, optionally SRM) FLD ensembles, the chi-square and WS attacks and a XuNet CNN on the training pairs of
each fold, and reports accuracy, P_E and ROC AUC on the test pairs for cover vs stego, cover vs re-saved cover
(a sanity check: must be chance) and cover vs LSB matching (scale). Writes steganalysis.json, steganalysis.csv,
pairs.csv, run.json and roc.png to ``--out`` (default ``results/<name>/steganalysis/``).
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from models.checkpoint import CheckpointError
from options import OptionError, parse
from security.evaluation import Settings, run_steganalysis
from security.report import results_rows
from utils.logger import setup_logger
from utils.results import write_results

DEFAULTS = Settings(covers='', out='', cache='')
RESULTS_COLUMNS = ('row', 'accuracy', 'P_E', 'AUC')


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Steganalysis of the stego images of an InvMIHNet model.')
    parser.add_argument('-opt', '--opt', required=True, help='path to a test option YAML file (model, weights)')
    parser.add_argument('--covers', help='image folder (default: dataroot_GT of the first test dataset)')
    parser.add_argument('--pairs', type=int, default=DEFAULTS.pairs, help='number of cover/stego pairs (%(default)s)')
    parser.add_argument('--size', type=int, default=DEFAULTS.size, help='centre-crop size S (%(default)s)')
    parser.add_argument('--folds', type=int, default=DEFAULTS.folds, help='k of the k-fold split (%(default)s)')
    parser.add_argument('--features', default=','.join(DEFAULTS.features),
                        help='rich models for the FLD ensemble: spam, crm, srm (default %(default)s)')
    parser.add_argument('--epochs', type=int, default=DEFAULTS.epochs,
                        help='XuNet training epochs per fold, 0 = no CNN (%(default)s)')
    parser.add_argument('--cnn-crop', type=int, default=DEFAULTS.cnn_crop,
                        help='XuNet trains on random crops of this size (%(default)s)')
    parser.add_argument('--seed', type=int, default=DEFAULTS.seed, help='seed of pairs, folds and training')
    parser.add_argument('--workers', type=int, default=min(DEFAULTS.workers, os.cpu_count() or 1),
                        help='processes for feature extraction (%(default)s)')
    parser.add_argument('--lsbm-rate', type=float, default=DEFAULTS.lsbm_rate,
                        help='LSB matching payload of the context row, bits per colour value (%(default)s)')
    parser.add_argument('--out', help='output folder (default results/<name>/steganalysis/)')
    parser.add_argument('--cache', help='feature cache folder (default <out>/feature_cache)')
    parser.add_argument('--results', help='also write the table as a benchmarks results file (JSON) here')
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, dict]:
    args = parse_args(argv)
    try:
        opt = parse(args.opt, is_train=False)
        tests = [ds for ds in opt['datasets'].values() if ds['phase'] == 'test']
        covers = args.covers or tests[0]['dataroot_GT']
        out = Path(args.out) if args.out else Path(opt['path']['results_root']) / 'steganalysis'
        settings = Settings(covers=str(covers), out=str(out), cache=args.cache or str(out / 'feature_cache'),
                            pairs=args.pairs, size=args.size, folds=args.folds,
                            features=tuple(f.strip() for f in args.features.split(',') if f.strip()),
                            epochs=args.epochs, cnn_crop=args.cnn_crop, seed=args.seed, workers=args.workers,
                            lsbm_rate=args.lsbm_rate)
        if not Path(settings.covers).is_dir():
            raise ValueError(f'--covers {settings.covers} is not a folder')
        out.mkdir(parents=True, exist_ok=True)
        setup_logger('invmihnet', out / f'steganalysis_{opt["name"]}.log')
        rows = run_steganalysis(opt, settings)
    except (OptionError, CheckpointError, ValueError) as err:
        raise SystemExit(f'error: {err}') from None
    if args.results:
        run = json.loads((out / 'run.json').read_text(encoding='utf-8'))
        write_results(args.results, results_rows(rows), RESULTS_COLUMNS,
                      notes=f'{opt["name"]}: {run["pairs"]} pairs of {settings.size} x {settings.size} centre crops '
                            f'from {Path(settings.covers).name}, {settings.folds} folds split by cover, XuNet '
                            f'epochs {settings.epochs}; mean ± standard deviation over the folds; chance is '
                            f'P_E = 0.5. Stego PSNR {run["stego_psnr"]:.2f} dB, recovered secrets '
                            f'{run["secret_psnr_from_png"]:.2f} dB (revealed from the PNG).')
    return rows


if __name__ == '__main__':
    main()
