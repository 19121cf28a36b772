"""Run the whole steganalysis evaluation of one model: pairs, features, detectors per fold, report."""
from __future__ import annotations

import logging
import resource
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from models import create_model
from models.config import NetworkConfig
from security.detectors import fld_ensemble, luminance, threshold_attack, xunet
from security.features import ATTACKS, RICH_MODELS, FeatureCache, extract_features, read_pixels
from security.pairs import KINDS, fold_assignment, make_pairs, paths_of
from security.report import (CHANCE_NOTE, RowResults, format_table, plot_roc, write_json, write_pairs_csv,
                             write_rows_csv)
from utils.device import select_device

LOG = 'invmihnet'


@dataclass(frozen=True)
class Settings:
    """What one evaluation does (the command line's arguments, resolved)."""
    covers: str
    out: str
    cache: str
    pairs: int = 200
    size: int = 256
    folds: int = 3
    features: tuple[str, ...] = ('spam', 'crm')
    epochs: int = 5
    cnn_crop: int = 128
    seed: int = 0
    workers: int = 2
    lsbm_rate: float = 0.4

    def __post_init__(self) -> None:
        unknown = [f for f in self.features if f not in RICH_MODELS]
        if unknown or not self.features:
            raise ValueError(f'--features: unknown {unknown or "(empty)"}; choose from {", ".join(RICH_MODELS)}')
        for name in ('pairs', 'size', 'workers'):
            if getattr(self, name) < 1:
                raise ValueError(f'--{name} must be at least 1, got {getattr(self, name)}')
        if self.epochs < 0 or self.cnn_crop < 8:
            raise ValueError(f'--epochs must be >= 0 and --cnn-crop >= 8, got {self.epochs} and {self.cnn_crop}')
        if not 0 < self.lsbm_rate <= 1:
            raise ValueError(f'--lsbm-rate must be in (0, 1], got {self.lsbm_rate}')

    def task_name(self, kind: str) -> str:
        """The row prefix of a kind: cover_vs_stego, cover_vs_resaved, cover_vs_lsbm0.4."""
        return f'cover_vs_lsbm{self.lsbm_rate:g}' if kind == 'lsbm' else f'cover_vs_{kind}'


def cpu_seconds() -> float:
    """User + system CPU time of this process and its finished child processes (the feature workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _split(matrix: np.ndarray, cover: np.ndarray, train: np.ndarray) -> tuple[np.ndarray, ...]:
    test = ~train
    return cover[train], matrix[train], np.concatenate([cover[test], matrix[test]])


def run_steganalysis(opt: dict, settings: Settings) -> dict[str, dict]:
    """Evaluate the model of a parsed test option dict; writes everything into ``settings.out`` and returns
    the rows of steganalysis.json."""
    log = logging.getLogger(LOG)
    start, cpu_start = time.perf_counter(), cpu_seconds()
    out = Path(settings.out)
    out.mkdir(parents=True, exist_ok=True)
    NetworkConfig.from_options(opt).check_size(settings.size, settings.size, what='the --size crop')
    device = select_device(opt['gpu_ids'])
    model = create_model(opt, device)
    log.info('%s on %s', model.config, device)
    needed = ['pretrain_model_G', 'pretrain_model_H'] if model.network_config.rescales else ['pretrain_model_H']
    unset = [f'path.{key}' for key in needed if not opt['path'][key]]
    if unset:
        log.warning('%s not set: analysing untrained networks', ' / '.join(unset))

    pairs, skipped = make_pairs(model, settings.covers, out / 'images', settings.pairs, settings.size,
                                settings.seed, settings.lsbm_rate, opt['test']['gaussian_scale'])
    if skipped:
        log.info('skipped %d image(s) smaller than %d x %d', len(skipped), settings.size, settings.size)
    if len(pairs) < settings.pairs:
        log.warning('%s: only %d usable image(s), so %d pairs instead of %d', settings.covers, len(pairs),
                    len(pairs), settings.pairs)
    folds = fold_assignment(len(pairs), settings.folds, settings.seed)
    stego_psnr = np.array([p.stego_psnr for p in pairs])
    secret_psnr = np.array([p.secret_psnr for p in pairs])
    log.info('%d pairs of %d x %d: stego PSNR %.2f dB (std %.2f), secrets revealed from the PNG %.2f dB',
             len(pairs), settings.size, settings.size, stego_psnr.mean(), stego_psnr.std(), secret_psnr.mean())
    pair_time = time.perf_counter() - start

    cache = FeatureCache(settings.cache)
    kinds = ('cover',) + KINDS
    all_paths = [path for kind in kinds for path in paths_of(pairs, kind)]
    stacked = extract_features(settings.features + ATTACKS, all_paths, cache, settings.workers)
    matrices = {feature: dict(zip(kinds, np.split(matrix, len(kinds)))) for feature, matrix in stacked.items()}
    feature_time = time.perf_counter() - start - pair_time
    luma = ({kind: np.stack([luminance(read_pixels(p)) for p in paths_of(pairs, kind)]) for kind in kinds}
            if settings.epochs else {})

    results: dict[str, RowResults] = {}
    jobs = [(kind, fold) for kind in KINDS for fold in range(settings.folds)]
    for kind, fold in tqdm(jobs, desc='detectors (task x fold)', unit='fold'):
        task = settings.task_name(kind)
        train = folds != fold
        n_test = int((~train).sum())
        labels = np.concatenate([np.zeros(n_test), np.ones(n_test)])
        seed = settings.seed + fold
        for feature in settings.features:
            cover, other = matrices[feature]['cover'], matrices[feature][kind]
            scores, decisions = fld_ensemble(*_split(other, cover, train), seed=seed)
            results.setdefault(f'{task}/{feature}_fld', RowResults()).add(labels, scores, decisions)
        for attack in ATTACKS:
            cover, other = matrices[attack]['cover'], matrices[attack][kind]
            scores, decisions = threshold_attack(*_split(other, cover, train))
            results.setdefault(f'{task}/{attack}', RowResults()).add(labels, scores, decisions)
        if settings.epochs:
            scores, decisions = xunet(*_split(luma[kind], luma['cover'], train), seed=seed, epochs=settings.epochs,
                                      device=device, crop=settings.cnn_crop, desc=f'xunet {task} fold {fold}')
            results.setdefault(f'{task}/xunet', RowResults()).add(labels, scores, decisions)

    rows = {name: row.summary(len(pairs)) for name, row in results.items()}
    elapsed = time.perf_counter() - start
    write_json(rows, out / 'steganalysis.json')
    write_rows_csv(rows, out / 'steganalysis.csv')
    write_pairs_csv([{'pair': p.index, 'cover': p.name, 'secrets': ';'.join(p.secrets), 'fold': int(f),
                      'stego_psnr': f'{p.stego_psnr:.4f}', 'secret_psnr': f'{p.secret_psnr:.4f}'}
                     for p, f in zip(pairs, folds)], out / 'pairs.csv')
    identical = sum(np.array_equal(read_pixels(p.cover), read_pixels(p.resaved)) for p in pairs)
    write_json({'name': opt['name'], 'config': model.config, 'iir': opt['path']['pretrain_model_G'],
                'iih': opt['path']['pretrain_model_H'], 'settings': asdict(settings), 'pairs': len(pairs),
                'skipped_small_images': skipped, 'stego_psnr': float(stego_psnr.mean()),
                'secret_psnr_from_png': float(secret_psnr.mean()), 'resaved_identical_to_cover': int(identical),
                'seconds': {'pairs': round(pair_time, 1), 'features': round(feature_time, 1),
                            'total': round(elapsed, 1), 'cpu_total': round(cpu_seconds() - cpu_start, 1)},
                'chance': CHANCE_NOTE},
               out / 'run.json')
    plot_roc(results, out / 'roc.png', f'{opt["name"]}: {len(pairs)} pairs of {settings.size} x {settings.size}, '
                                       f'{settings.folds} folds (pooled test scores)')
    log.info('Steganalysis of %s (%d pairs, %d folds; stego PSNR %.2f dB; re-saved covers identical to the cover '
             'in %d of %d):\n%s', opt['name'], len(pairs), settings.folds, stego_psnr.mean(), identical,
             len(pairs), format_table(rows))
    log.info('Wrote steganalysis.json, steganalysis.csv, pairs.csv, run.json and roc.png to %s in %.0f s '
             '(pairs %.0f s, features %.0f s; %.0f CPU seconds)', out, elapsed, pair_time, feature_time,
             cpu_seconds() - cpu_start)
    return rows
