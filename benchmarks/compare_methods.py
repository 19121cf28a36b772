"""Does the mosaic beat concatenation? InvMIHNet, the concat (ISN-style) and the sequential (DeepMIH-style) baselines
trained and evaluated under one protocol.

    python -m benchmarks.compare_methods                             # the comparison of docs/compare_methods.md
    python -m benchmarks.compare_methods --train DIR --test DIR      # on other photographs
    python -m benchmarks.compare_methods --quick --out /tmp/compare  # tiny networks, a few iterations

For N = 4 and 9, every method and every seed: train.py's trainer on the same training photographs (random crops
of ``--crop``, the same iterations, seed and learning rates; each method's own loss: InvMIHNet's six terms,
HiNet's three for the baselines), then, on centre crops of held-out photographs (``--test``), with the same code
for every method: stego and secret PSNR / SSIM (RGB and Y) revealed from the 8-bit stego, the secret PSNR after
JPEG 90, parameters, CPU seconds per training iteration, hide + reveal time and peak memory (one process per
model, ``benchmarks/bench_models.py``), and steganalysis P_E (steganalysis.py's evaluation: rich-model FLD
ensembles and XuNet) on the same image sets (each test photograph a cover once, its secrets drawn from the
others with one seed). Where a baseline's parameter count differs from InvMIHNet's by 1.5x or more, it is also
trained at InvMIHNet's CPU time (iterations scaled by the ratio of CPU seconds per iteration): the "equal CPU
time" rows. A run whose loss becomes NaN or infinite counts as diverged.

Writes ``compare_methods.json`` (one row per method, N and budget: means over the seeds, with the seeds' standard
deviation; :func:`utils.results.write_results`), ``compare_methods_runs.json`` (one row per run) and
``compare_methods.png`` (secret and stego PSNR against N, one line per method) into ``--out``; the training
runs, their checkpoints and the steganalysis files go under ``--work``. The runs file is rewritten after every run:
``--resume`` keeps its finished runs (under the same protocol and photographs) and runs only the others;
``--merge`` adds the runs of other runs files (seeds run side by side, each with its own ``--out``).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

if not __package__:      # run as a script (python benchmarks/compare_methods.py): the repository on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import train
from inference.evaluation import attack_metrics, evaluate_batch
from inference.stego_model import StegoModel
from models.distortions import parse_distortion
from models.divergence import DivergenceError
from models.model_folder import IIH_FILE, IIR_FILE
from models.trainer import NonFiniteLossError
from options import parse
from security.evaluation import Settings, run_steganalysis
from security.pairs import choose_pairs, load_crops
from utils.results import load_results, write_results

REPO = Path(__file__).resolve().parents[1]
PHOTOS = REPO / 'datasets' / 'kodak_demo'
METHODS = {'mosaic': ('InvMIHNet', 'InvMIHNet'), 'concat': ('concat (ISN-style)', 'ConcatHiding'),
           'sequential': ('sequential (DeepMIH-style)', 'SequentialHiding')}
"""network_H.method -> (the name in the table, the stem of its shipped option files)."""
GRIDS = {4: (2, 2), 9: (3, 3)}
EQUAL_TIME_RATIO = 1.5
EQUAL_ITERATIONS, EQUAL_TIME = 'equal iterations', 'equal CPU time'
COLUMNS = ['method', 'N', 'budget', 'seeds', 'diverged', 'iterations', 'parameters', 'CPU s / iteration',
           'stego PSNR', 'stego SSIM', 'stego PSNR Y', 'secret PSNR', 'secret PSNR sd', 'secret SSIM',
           'secret PSNR Y', 'secret PSNR IIR z=0', 'secret PSNR JPEG 90', 'hide + reveal s', 'peak MiB', 'P_E SPAM', 'P_E CRM',
           'P_E XuNet']
METRICS = {'stego PSNR': 'stego_psnr', 'stego SSIM': 'stego_ssim', 'stego PSNR Y': 'stego_psnr_y',
           'secret PSNR': 'secret_psnr', 'secret SSIM': 'secret_ssim', 'secret PSNR Y': 'secret_psnr_y',
           'secret PSNR IIR z=0': 'secret_psnr_z0', 'secret PSNR JPEG 90': 'secret_psnr_jpeg90'}
DETECTORS = {'P_E SPAM': 'cover_vs_stego/spam_fld', 'P_E CRM': 'cover_vs_stego/crm_fld',
             'P_E XuNet': 'cover_vs_stego/xunet'}


@dataclass(frozen=True)
class Protocol:
    """What every method gets: network sizes, training crops and iterations, seeds, and the evaluation."""
    iih_blocks: int          # hiding blocks (per stage for sequential)
    iir_blocks: int          # IIR blocks per downsampling level (InvMIHNet only)
    crop: int                # training crop (a multiple of 12: valid for the 2 x 2 and 3 x 3 grids)
    iters: int
    seeds: tuple[int, ...]
    size: int                # evaluation centre crop
    pairs: int               # image sets evaluated (at most one per test photograph)
    folds: int
    features: tuple[str, ...]
    xunet_epochs: int
    lr: float = 2e-4
    timing_process: bool = True   # hide + reveal timed in a process of its own (peak memory); else in-process


FULL = Protocol(iih_blocks=4, iir_blocks=2, crop=48, iters=500, seeds=(0, 1), size=192, pairs=20, folds=2,
                features=('spam', 'crm'), xunet_epochs=3, lr=5e-4)
QUICK = Protocol(iih_blocks=1, iir_blocks=1, crop=24, iters=3, seeds=(0,), size=24, pairs=4, folds=2,
                 features=('spam',), xunet_epochs=0, timing_process=False)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', default=str(REPO / 'benchmarks' / 'results'),
                        help='where compare_methods.json / _runs.json / .png go (default %(default)s)')
    parser.add_argument('--work', default=str(REPO / 'experiments' / 'compare_methods'),
                        help='training runs, checkpoints and steganalysis files (default %(default)s)')
    parser.add_argument('--train', default=str(PHOTOS / 'train'), help='training photographs (default %(default)s)')
    parser.add_argument('--test', default=str(PHOTOS / 'test'), help='held-out photographs (default %(default)s)')
    parser.add_argument('--quick', action='store_true', help='tiny networks, a few iterations, cheapest steganalysis')
    parser.add_argument('--iters', type=int, help='training iterations per run (default: the protocol\'s)')
    parser.add_argument('--seeds', type=int, nargs='+', help='training seeds (default: the protocol\'s)')
    parser.add_argument('--n', type=int, nargs='+', default=[4, 9], choices=sorted(GRIDS), help='numbers of secrets')
    parser.add_argument('--methods', nargs='+', default=list(METHODS), choices=list(METHODS))
    parser.add_argument('--pairs', type=int, help='image sets evaluated (default: the protocol\'s)')
    parser.add_argument('--folds', type=int, help='steganalysis folds (default: the protocol\'s)')
    parser.add_argument('--xunet-epochs', type=int, help='XuNet epochs per fold, 0: no CNN (default: the protocol\'s)')
    parser.add_argument('--threads', type=int, default=1, help='torch CPU threads (default %(default)s)')
    parser.add_argument('--resume', action='store_true',
                        help='keep the finished runs of --out\'s compare_methods_runs.json (same protocol and '
                             'photographs) and run only the others')
    parser.add_argument('--merge', nargs='+', default=[], metavar='RUNS_FILE',
                        help='also keep the finished runs of these runs files (other seeds of the same protocol, '
                             'e.g. run side by side with another --out)')
    return parser.parse_args(argv)


def protocol_of(args: argparse.Namespace) -> Protocol:
    """The preset (--quick or the full one) with the command line's overrides."""
    base = QUICK if args.quick else FULL
    overrides = {key: value for key, value in (('iters', args.iters), ('pairs', args.pairs), ('folds', args.folds),
                                               ('xunet_epochs', args.xunet_epochs)) if value is not None}
    if args.seeds:
        overrides['seeds'] = tuple(args.seeds)
    protocol = replace(base, **overrides)
    if protocol.iters < 1 or protocol.pairs < 2 * protocol.folds:
        raise SystemExit(f'error: --iters must be >= 1 and --pairs at least 2 x --folds, got {protocol.iters} '
                         f'and {protocol.pairs} pairs for {protocol.folds} folds')
    return protocol


def check_folders(args: argparse.Namespace) -> None:
    """The photographs exist, and nothing is written inside them (a later run would read it as photographs)."""
    for key in ('train', 'test'):
        folder = Path(getattr(args, key)).resolve()
        if not folder.is_dir():
            raise SystemExit(f'error: --{key} {folder} is not a folder')
        for written in ('out', 'work'):
            target = Path(getattr(args, written)).resolve()
            if target == folder or folder in target.parents:
                raise SystemExit(f'error: --{written} {target} lies inside the --{key} photographs {folder}')


def run_name(method: str, n: int, seed: int, iters: int) -> str:
    return f'{METHODS[method][1]}_{n}images_seed{seed}_{iters}iters'


def option_file(method: str, n: int, phase: str) -> dict[str, Any]:
    """The shipped option file of a method for N secrets (options/<phase>/<phase>_<stem>_<N>images.yml)."""
    path = REPO / 'options' / phase / f'{phase}_{METHODS[method][1]}_{n}images.yml'
    return yaml.safe_load(path.read_text(encoding='utf-8'))


def network(raw: dict, method: str, protocol: Protocol) -> None:
    """The protocol's network sizes in an option dict (the IIR keeps its shipped downsampling levels)."""
    if method == 'mosaic':
        raw['network_G']['block_num'] = [protocol.iir_blocks] * len(raw['network_G']['block_num'])
    raw['network_H']['block_num'] = protocol.iih_blocks


def write_train_options(method: str, n: int, seed: int, iters: int, protocol: Protocol, train_dir: str,
                        work: Path) -> Path:
    """A training option file: the shipped one for the method and N with the protocol's sizes, data and budget."""
    raw = option_file(method, n, 'train')
    name = run_name(method, n, seed, iters)
    raw.update(name=name, gpu_ids=None, use_tb_logger=False)
    raw['datasets'] = {'train': {'name': 'compare_train', 'mode': 'Steg', 'dataroot_GT': train_dir,
                                 'use_shuffle': True, 'n_workers': 0, 'GT_size': protocol.crop}}
    network(raw, method, protocol)
    raw['path'] = {'root': str(work), 'strict_load': True, 'resume_state': None}
    raw['train'].update(niter=iters, manual_seed=seed, warmup_iter=-1, lr_steps=[max(1, iters * 3 // 4)],
                        lr_H=protocol.lr, val_freq=iters + 1)
    if method == 'mosaic':
        raw['train']['lr_G'] = protocol.lr
    raw['logger'] = {'print_freq': max(1, iters // 10), 'save_checkpoint_freq': iters + 1}
    path = work / 'options' / f'{name}.yml'
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(raw), encoding='utf-8')
    return path


def write_test_options(method: str, n: int, protocol: Protocol, models: Path, test_dir: str, work: Path,
                       name: str) -> Path:
    """A test option file for the trained checkpoints of one run."""
    raw = option_file(method, n, 'test')
    raw.update(name=f'{name}_test', gpu_ids=None)
    raw['datasets'] = {'test_1': {'name': 'compare_test', 'mode': 'Steg', 'dataroot_GT': test_dir}}
    network(raw, method, protocol)
    raw['path'] = {'root': str(work), 'strict_load': True, 'pretrain_model_H': str(models / 'latest' / IIH_FILE),
                   'pretrain_model_G': str(models / 'latest' / IIR_FILE) if method == 'mosaic' else None}
    raw['test'] = {'reveal_from': 'png', 'seed': 0, 'gaussian_scale': 1}
    path = work / 'options' / f'{name}_test.yml'
    path.write_text(yaml.safe_dump(raw), encoding='utf-8')
    return path


def image_sets(test_dir: str, protocol: Protocol, n: int) -> list[torch.Tensor]:
    """(N + 1, 3, S, S) image sets in [0, 1]: each test photograph's centre crop a cover once, its secrets drawn
    from the others; the same draw as steganalysis.py's pairs with the same seed."""
    names, crops, _ = load_crops(test_dir, protocol.size)
    plan = choose_pairs(len(names), min(protocol.pairs, len(names)), n, seed=0)
    as_tensor = (lambda pixels: torch.from_numpy(pixels).permute(2, 0, 1).float().div(255.0))
    return [torch.stack([as_tensor(crops[cover])] + [as_tensor(crops[i]) for i in secrets])
            for cover, secrets in plan]


def evaluate_quality(model: StegoModel, sets: list[torch.Tensor], method: str) -> dict[str, float | None]:
    """Means over the image sets of test.py's metrics revealed from the 8-bit stego (the reveal noise drawn as
    published: z ~ N(0, 1)), the secret PSNR with InvMIHNet's IIR latent set to zero instead (``gaussian_scale``
    0; None for the baselines, which have no IIR), and the secret PSNR after JPEG 90 (libjpeg, 4:2:0)."""
    generator, attack_generator = torch.Generator().manual_seed(0), torch.Generator().manual_seed(1)
    jpeg = parse_distortion('jpeg90')
    rows = []
    for images in sets:
        result = evaluate_batch(model, images, 'png', 1.0, generator)
        attacked = attack_metrics(model, result, jpeg, 1.0, generator, attack_generator)
        row = {**result.metrics, 'secret_psnr_jpeg90': attacked['secret_psnr']}
        if method == 'mosaic':
            row['secret_psnr_z0'] = evaluate_batch(model, images, 'png', 0.0, generator).metrics['secret_psnr']
        rows.append(row)
    keys = dict.fromkeys([*rows[0], 'secret_psnr_z0'])      # the baselines' rows have no zero-latent score
    return {key: float(np.mean([row[key] for row in rows])) if key in rows[0] else None for key in keys}


def time_hide_reveal(test_options: Path, model: StegoModel, protocol: Protocol, threads: int,
                     n: int) -> tuple[float, float | None]:
    """(hide + reveal seconds, peak MiB) of one image set at the evaluation size: by benchmarks/bench_models.py
    in a process of its own (its peak RSS is this model's), or in this process without a peak (--quick)."""
    if protocol.timing_process:
        cmd = [sys.executable, '-m', 'benchmarks.bench_models', '--worker', '--opt', str(test_options),
               '--size', str(protocol.size), '--repeats', '3', '--warmup', '1', '--device', 'cpu',
               '--threads', str(threads), '--checkpoints']
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=REPO)
        if proc.returncode:
            raise RuntimeError(f'timing {test_options.name} failed: {proc.stderr.strip()[-500:]}')
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        return row['hide_s'] + row['reveal_s'], row['peak_bytes'] / 2 ** 20
    images = torch.rand(n + 1, 3, protocol.size, protocol.size, generator=torch.Generator().manual_seed(0))
    start = time.perf_counter()
    hidden = model.hide(images[:1], images[1:])
    model.reveal(hidden.stego, generator=torch.Generator().manual_seed(1))
    return time.perf_counter() - start, None


def detectability(test_options: Path, protocol: Protocol, test_dir: str, out: Path,
                  cache: Path) -> dict[str, float]:
    """P_E of each detector on the cover / stego pairs, by steganalysis.py's evaluation; ``cache`` holds the
    features of every run (the covers, re-saved covers and LSB-matching images are the same in every run)."""
    settings = Settings(covers=test_dir, out=str(out), cache=str(cache), pairs=protocol.pairs,
                        size=protocol.size, folds=protocol.folds, features=protocol.features,
                        epochs=protocol.xunet_epochs, cnn_crop=min(128, protocol.size), seed=0, workers=1)
    rows = run_steganalysis(parse(test_options, is_train=False), settings)
    return {column: rows[key]['pe'] for column, key in DETECTORS.items() if key in rows}


class Ledger:
    """The runs so far, written to ``compare_methods_runs.json`` after every run so that an interrupted comparison
    loses at most the run in progress; ``--resume`` starts from the finished ones."""

    def __init__(self, path: Path, notes: str) -> None:
        self.path, self.notes, self.runs = path, notes, []
        self.finished: dict[tuple, dict[str, Any]] = {}

    def take(self, path: Path, expected_notes: Callable[[tuple[int, ...]], str]) -> None:
        """Keep the finished runs of the runs file ``path``, whose notes must be ``expected_notes(its seeds)``: the
        same protocol and photographs, for the seeds it ran."""
        payload = load_results(path)
        seeds = tuple(sorted({row['seed'] for row in payload['rows']}))
        if payload['notes'] != expected_notes(seeds):
            raise SystemExit(f'error: {path} was written under another protocol or other photographs:\n  '
                             f'{payload["notes"]}\nnot\n  {expected_notes(seeds)}')
        self.finished.update({self.key(row): row for row in payload['rows']})

    @staticmethod
    def key(row: dict[str, Any]) -> tuple:
        return row['method'], row['N'], row['budget'], row['seed'], row['iterations']

    def reuse(self, method: str, n: int, seed: int, iters: int, budget: str) -> dict[str, Any] | None:
        """The finished row of this run, recorded again; None when it has to run."""
        row = self.finished.get((METHODS[method][0], n, budget, seed, iters))
        if row is not None:
            self.add(row)
        return row

    def add(self, row: dict[str, Any]) -> None:
        self.runs.append(row)
        write_results(self.path, self.runs, notes=self.notes)


def one_run(method: str, n: int, seed: int, iters: int, budget: str, protocol: Protocol,
            args: argparse.Namespace, sets: list[torch.Tensor], timed: dict, ledger: Ledger) -> dict[str, Any]:
    """Train one method for N secrets and evaluate it (or reuse its finished row from ``ledger``); ``timed`` caches
    the hide + reveal timing per (method, N)."""
    reused = ledger.reuse(method, n, seed, iters, budget)
    if reused is not None:
        print(f'reusing {run_name(method, n, seed, iters)} ({budget}) from {ledger.path}')
        if reused.get('hide + reveal s') is not None:
            timed.setdefault((method, n), (reused['hide + reveal s'], reused.get('peak MiB')))
        return reused
    row = evaluated_run(method, n, seed, iters, budget, protocol, args, sets, timed)
    ledger.add(row)
    return row


def evaluated_run(method: str, n: int, seed: int, iters: int, budget: str, protocol: Protocol,
                  args: argparse.Namespace, sets: list[torch.Tensor], timed: dict) -> dict[str, Any]:
    """Train one method for N secrets and evaluate it."""
    work = Path(args.work)
    opt = parse(write_train_options(method, n, seed, iters, protocol, args.train, work), is_train=True)
    row: dict[str, Any] = {'method': METHODS[method][0], 'N': n, 'budget': budget, 'seed': seed, 'iterations': iters}
    cpu_start = time.process_time()
    try:
        model = train.train(opt)
    except (NonFiniteLossError, DivergenceError) as err:
        return {**row, 'diverged': 1, 'error': str(err)}
    row.update({'diverged': 0, 'CPU s / iteration': (time.process_time() - cpu_start) / iters,
                'parameters': sum(p.numel() for p in model.net.parameters())})
    test_options = write_test_options(method, n, protocol, Path(opt['path']['models']), args.test, work, opt['name'])
    model = StegoModel.from_options(test_options, 'cpu')
    quality = evaluate_quality(model, sets, method)
    row.update({column: quality[key] for column, key in METRICS.items()})
    if (method, n) not in timed:
        timed[(method, n)] = time_hide_reveal(test_options, model, protocol, args.threads, n)
    row['hide + reveal s'], row['peak MiB'] = timed[(method, n)]
    row.update(detectability(test_options, protocol, args.test, work / 'steganalysis' / opt['name'],
                             work / 'steganalysis' / 'feature_cache'))
    return row


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (method, N, budget): means over the seeds that did not diverge, the seeds' sd of the secret
    PSNR, and the number of diverged runs."""
    groups: dict[tuple, list[dict]] = {}
    for run in runs:
        groups.setdefault((run['method'], run['N'], run['budget']), []).append(run)
    rows = []
    for (method, n, budget), group in groups.items():
        ok = [run for run in group if not run['diverged']]
        row: dict[str, Any] = {'method': method, 'N': n, 'budget': budget, 'seeds': len(group),
                               'diverged': len(group) - len(ok), 'iterations': group[0]['iterations']}
        for column in COLUMNS[6:]:
            values = [run[column] for run in ok if run.get(column) is not None]
            row[column] = float(np.mean(values)) if values else None
        secret = [run['secret PSNR'] for run in ok]
        row['secret PSNR sd'] = float(np.std(secret, ddof=1)) if len(secret) > 1 else None
        if row['parameters'] is not None:
            row['parameters'] = int(row['parameters'])
        rows.append(row)
    return rows


def plot(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    """Secret and stego PSNR against N, one line per method (equal iterations; error bars: the seeds' sd), and
    dashed, InvMIHNet's secrets revealed with its IIR latent at zero."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for method, _ in METHODS.values():
        mine = sorted((r for r in rows if r['method'] == method and r['budget'] == EQUAL_ITERATIONS
                       and r['secret PSNR'] is not None), key=lambda r: r['N'])
        if not mine:
            continue
        ns = [r['N'] for r in mine]
        line = axes[0].errorbar(ns, [r['secret PSNR'] for r in mine], yerr=[r['secret PSNR sd'] or 0 for r in mine],
                                marker='o', capsize=3, label=method)
        if all(r['secret PSNR IIR z=0'] is not None for r in mine):
            axes[0].plot(ns, [r['secret PSNR IIR z=0'] for r in mine], marker='o', linestyle='--',
                         color=line.lines[0].get_color(), label=f'{method}, IIR latent z = 0')
        axes[1].plot(ns, [r['stego PSNR'] for r in mine], marker='o', label=method)
    for ax, what in zip(axes, ('secret PSNR (dB, revealed from the 8-bit stego)', 'stego PSNR (dB)')):
        ax.set_xlabel('N (secrets per cover)')
        ax.set_ylabel(what)
        ax.set_xticks(sorted({r['N'] for r in rows}))
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def equal_time_runs(main_runs: list[dict[str, Any]], n: int, protocol: Protocol, args: argparse.Namespace,
                    sets: list[torch.Tensor], timed: dict, ledger: Ledger) -> list[dict[str, Any]]:
    """Each baseline whose parameter count differs from InvMIHNet's by :data:`EQUAL_TIME_RATIO` or more, trained
    again for InvMIHNet's CPU time: iterations x (InvMIHNet's CPU s / iteration) / (its own)."""
    def mean_of(method: str, key: str) -> float | None:
        values = [r[key] for r in main_runs if r['method'] == METHODS[method][0] and not r['diverged']]
        return float(np.mean(values)) if values else None

    reference = mean_of('mosaic', 'CPU s / iteration'), mean_of('mosaic', 'parameters')
    if None in reference:
        return []
    extra = []
    for method in (m for m in args.methods if m != 'mosaic'):
        seconds, params = mean_of(method, 'CPU s / iteration'), mean_of(method, 'parameters')
        if seconds is None or max(params / reference[1], reference[1] / params) < EQUAL_TIME_RATIO:
            continue
        iters = max(1, round(protocol.iters * reference[0] / seconds))
        if iters != protocol.iters:
            extra += [one_run(method, n, seed, iters, EQUAL_TIME, protocol, args, sets, timed, ledger)
                      for seed in protocol.seeds]
    return extra


def shown(folder: str) -> str:
    """A folder as the notes name it: relative to the repository when inside it."""
    path = Path(folder).resolve()
    return path.relative_to(REPO).as_posix() if REPO in path.parents else str(path)


def describe(protocol: Protocol, args: argparse.Namespace) -> str:
    """The notes of the results files: the protocol and the photographs."""
    return (f'{"--quick: tiny networks, a smoke test, not a result. " if args.quick else ""}Protocol: {protocol}; '
            f'training photographs {shown(args.train)}, test photographs {shown(args.test)}. Means over the seeds '
            f'that did not diverge; secret PSNR sd: the standard deviation over the seeds.')


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    args = parse_args(argv)
    protocol = protocol_of(args)
    check_folders(args)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    notes = describe(protocol, args)
    ledger = Ledger(out / 'compare_methods_runs.json', notes)
    for path in [Path(f) for f in args.merge] + [ledger.path] * (args.resume and ledger.path.is_file()):
        ledger.take(path, lambda seeds: describe(replace(protocol, seeds=seeds), args))
    runs: list[dict[str, Any]] = []
    timed: dict = {}
    for n in args.n:
        sets = image_sets(args.test, protocol, n)
        if len(sets) < 2 * protocol.folds:
            raise SystemExit(f'error: --test {args.test}: {len(sets)} image sets of {protocol.size} x {protocol.size}'
                             f' for N = {n}, fewer than 2 x {protocol.folds} folds')
        main_runs = [one_run(method, n, seed, protocol.iters, EQUAL_ITERATIONS, protocol, args, sets, timed, ledger)
                     for method in args.methods for seed in protocol.seeds]
        runs += main_runs
        runs += equal_time_runs(main_runs, n, protocol, args, sets, timed, ledger)
    rows = summarise(runs)
    write_results(out / 'compare_methods.json', rows, COLUMNS, notes=notes)
    plot(rows, out / 'compare_methods.png', f'{len(protocol.seeds)} seed(s), {protocol.iters} iterations of '
                                             f'{protocol.crop} x {protocol.crop} crops; test crops '
                                             f'{protocol.size} x {protocol.size}')
    print(f'wrote compare_methods.json, compare_methods_runs.json and compare_methods.png to {out}')
    return rows


if __name__ == '__main__':
    main()
