"""Quality per CPU-minute: training recipes compared at one CPU budget, on photographs never trained on.

    python -m benchmarks.sweep_recipes --sweep options/sweep/sweep_InvMIHNet_4images_cpu.yml \\
        --photos datasets/photos_heldout --out benchmarks/results --work experiments/sweep

A sweep file names a base training option file, the overrides every variant shares (``common``), the budget in CPU
minutes per variant and the variants, each a note and its own overrides (dotted keys, e.g. ``train.lr_H``). Each
variant is first timed for a few training steps in this process; its ``train.niter`` becomes the iterations that fit
the budget, and its schedule (``warmup_iter``, ``lr_steps``, ``restarts``, ``T_period``) is stretched or shrunk by
the same factor, so that a cosine schedule ends where the budget does. Then ``train.py`` trains it in a process of
its own (``--threads`` torch threads), saving a model folder at ``--points`` evenly spaced iterations; each is
evaluated as test.py does (hide, 8-bit PNG, reveal; RGB PSNR, and the secrets after JPEG 90) on ``--photos``.
The CPU minutes are the training process's own (user + system time), so a run beside other work is charged only
for what it used; a checkpoint's minutes are the run's minutes times its share of the iterations.

Writes ``sweep_recipes.json`` (one row per variant, at the end of its budget), ``sweep_recipes_curves.json`` (every
evaluated checkpoint, and the starting weights at 0 minutes) and ``sweep_recipes.png`` (stego and secret PSNR
against CPU minutes, one line per variant) into ``--out``; the runs go under ``--work``. The curves file is
rewritten after every variant: ``--resume`` keeps the finished variants of the same sweep file and budget.
"""
from __future__ import annotations

import argparse
import copy
import os
import re
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import torch
import yaml

if not __package__:      # run as a script (python benchmarks/sweep_recipes.py): the repository on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import train
from benchmarks.bundled_models import evaluate
from models.trainer import InvMIHNetTrainer, NonFiniteLossError
from options import OptionError, parse
from options.options import load_yaml
from utils.limited_read import read_limited
from utils.results import load_results, write_results

REPO = Path(__file__).resolve().parents[1]
SCHEDULE_KEYS = ('lr_steps', 'restarts', 'T_period')
COLUMNS = ['variant', 'change', 'iterations', 'CPU min', 'CPU s / iteration', 'stego PSNR', 'secret PSNR',
           'secret PSNR JPEG 90', 'stego SSIM', 'secret SSIM', 'stopped']
MAX_SWEEP_BYTES = 1 << 20


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--sweep', required=True, help='the sweep file (base option file, budget, variants)')
    parser.add_argument('--photos', required=True, help='held-out photographs of one size (evaluation)')
    parser.add_argument('--out', default=str(REPO / 'benchmarks' / 'results'), help='results (default %(default)s)')
    parser.add_argument('--work', default=str(REPO / 'experiments' / 'sweep'), help='runs (default %(default)s)')
    parser.add_argument('--minutes', type=float, help='CPU minutes per variant (default: the sweep file\'s)')
    parser.add_argument('--variants', nargs='+', help='run only these variants (default: all)')
    parser.add_argument('--points', type=int, default=3, help='checkpoints evaluated per variant (default 3)')
    parser.add_argument('--sets', type=int, help='evaluate on the first SETS image sets of --photos (default: all)')
    parser.add_argument('--threads', type=int, default=1, help='torch threads of each training (default 1)')
    parser.add_argument('--calibration-steps', type=int, default=4, help='timed steps per variant (default 4)')
    parser.add_argument('--resume', action='store_true', help='keep the finished variants of --out\'s curves file')
    return parser.parse_args(argv)


def read_sweep(path: str | Path) -> dict[str, Any]:
    """The sweep file, checked: ``base`` (an option file, relative to the repository or absolute), ``minutes``,
    ``common`` and ``variants`` (name -> {note, set})."""
    text = read_limited(path, MAX_SWEEP_BYTES).decode('utf-8')
    sweep = load_yaml(text, str(path))
    if not isinstance(sweep, dict) or not isinstance(sweep.get('variants'), dict) or not sweep['variants']:
        raise OptionError(f'{path}: a sweep file needs "base", "minutes" and a non-empty "variants" mapping')
    unknown = set(sweep) - {'base', 'minutes', 'common', 'variants'}
    if unknown:
        raise OptionError(f'{path}: unknown keys {sorted(unknown)}')
    for name, variant in sweep['variants'].items():
        if not isinstance(variant, dict) or not isinstance(variant.get('note'), str) \
                or not isinstance(variant.get('set', {}), dict):
            raise OptionError(f'{path}: variants.{name} needs a "note" (text) and an optional "set" mapping')
    if not isinstance(sweep.get('minutes'), (int, float)) or sweep['minutes'] <= 0:
        raise OptionError(f'{path}: "minutes" must be a positive number of CPU minutes per variant')
    return sweep


def apply(raw: dict[str, Any], overrides: dict[str, Any], source: str) -> None:
    """Set dotted keys (``train.lr_H``) of an option dict in place; the parents must exist."""
    for dotted, value in overrides.items():
        *parents, leaf = dotted.split('.')
        node = raw
        for key in parents:
            if not isinstance(node.get(key), dict):
                raise OptionError(f'{source}: {dotted}: no section {key!r} in the base option file')
            node = node[key]
        node[leaf] = copy.deepcopy(value)


def variant_options(sweep: dict[str, Any], name: str, source: str) -> dict[str, Any]:
    """The raw option dict of one variant: the base file with the common and the variant's overrides, made
    CPU-only, without validation (its CPU goes to training), with paths relative to the repository resolved."""
    base = REPO / sweep['base'] if not Path(sweep['base']).is_absolute() else Path(sweep['base'])
    raw = load_yaml(read_limited(base, MAX_SWEEP_BYTES).decode('utf-8'), str(base))
    apply(raw, sweep.get('common') or {}, source)
    apply(raw, sweep['variants'][name].get('set') or {}, f'{source}: variants.{name}')
    raw.update(name=f'sweep_{name}', gpu_ids=None, use_tb_logger=False)
    raw['datasets'].pop('val', None)
    for key in ('pretrain_model_G', 'pretrain_model_H'):
        if raw['path'].get(key):
            raw['path'][key] = str((REPO / raw['path'][key]).resolve())
    data = Path(raw['datasets']['train']['dataroot_GT'])
    raw['datasets']['train']['dataroot_GT'] = str(data if data.is_absolute() else (REPO / data).resolve())
    return raw


def seconds_per_iteration(raw: dict[str, Any], steps: int, work: Path) -> float:
    """CPU seconds of one training step of ``raw`` in this process (after one untimed step); ``steps`` steps are
    timed."""
    with tempfile.TemporaryDirectory(dir=work) as scratch:
        probe = copy.deepcopy(raw)
        probe['path'] = {**probe['path'], 'root': scratch}
        opt = parse(write_yaml(probe, Path(scratch) / 'probe.yml'), is_train=True)
        loader, _ = train.create_loaders(opt, opt['train']['manual_seed'] or 0, 0, 1)
        model = InvMIHNetTrainer(opt, torch.device('cpu'))
        batches = iter(loader)
        batch = next(batches)
        step(model, batch)
        start = time.process_time()
        for _ in range(steps):
            batch = next(batches, batch)
            step(model, batch)
        return (time.process_time() - start) / steps


def step(model: InvMIHNetTrainer, batch: dict[str, torch.Tensor]) -> None:
    """One training step of the timing probe; a non-finite loss is left to the real run to handle."""
    try:
        model.optimize_parameters(batch['GT'], batch['LQ'])
    except NonFiniteLossError:
        pass


def fit_budget(raw: dict[str, Any], minutes: float, per_iteration: float, points: int) -> int:
    """Set ``train.niter`` to the iterations of ``minutes`` and scale the schedule with it; returns niter."""
    train_opt = raw['train']
    niter = max(points, int(minutes * 60 / per_iteration))
    factor = niter / train_opt['niter']
    if train_opt.get('warmup_iter', -1) > 0:
        train_opt['warmup_iter'] = max(1, round(train_opt['warmup_iter'] * factor))
    for key in SCHEDULE_KEYS:
        if train_opt.get(key):
            train_opt[key] = [max(1, round(v * factor)) for v in train_opt[key]]
    if train_opt.get('T_period') and train_opt.get('lr_scheme') == 'CosineAnnealingLR_Restart':
        train_opt['T_period'][-1] += niter - sum(train_opt['T_period'])   # the last period ends at niter
    train_opt['niter'] = niter
    train_opt['val_freq'] = niter + 1
    every = -(-niter // points)          # ceil: the last of ``points`` checkpoints is the final one
    raw['logger'] = {'print_freq': max(1, niter // 10), 'save_checkpoint_freq': every}
    return niter


def write_yaml(raw: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding='utf-8')
    return path


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def train_variant(options: Path, threads: int, log: Path) -> tuple[float, str | None]:
    """Run train.py on ``options`` in a process of its own; returns its CPU seconds and, when it failed (a
    divergence that rolling back did not cure, say), its last line of error."""
    env = {**os.environ, 'OMP_NUM_THREADS': str(threads), 'MKL_NUM_THREADS': str(threads)}
    log.parent.mkdir(parents=True, exist_ok=True)
    before = children_cpu_seconds()
    with open(log, 'w', encoding='utf-8') as handle:
        done = subprocess.run([sys.executable, 'train.py', '-opt', str(options)], cwd=REPO, env=env,
                              stdout=handle, stderr=subprocess.STDOUT, check=False)
    seconds = children_cpu_seconds() - before
    if not done.returncode:
        return seconds, None
    errors = [line for line in read_limited(log, 64 << 20).decode('utf-8', 'replace').splitlines()
              if line.startswith('error:')]
    return seconds, (errors[-1] if errors else f'exit status {done.returncode}; see {log}')


def brief(reason: str | None) -> str | None:
    """A failed run's error line, shortened for the table (what happened and where, without the advice)."""
    if reason is None:
        return None
    found = re.search(r'diverged at iteration (\d+).*?after (\d+) rollback', reason)
    if found:
        return f'diverged at iteration {found[1]} after {found[2]} rollback(s)'
    return reason.removeprefix('error: ')[:120]


def row_of(variant: str, note: str, iterations: int, minutes: float, per_iteration: float | None,
           scores: dict[str, Any], stopped: str | None = None) -> dict[str, Any]:
    return {'variant': variant, 'change': note, 'iterations': iterations, 'CPU min': minutes,
            'CPU s / iteration': per_iteration, **{key: scores.get(key) for key in COLUMNS[5:-1]},
            'stopped': brief(stopped)}


def sweep_variant(name: str, sweep: dict[str, Any], args: argparse.Namespace, minutes: float,
                  work: Path, photos: Path) -> list[dict[str, Any]]:
    """Time, train and evaluate one variant; one row per evaluated checkpoint (a run that failed, e.g. diverged past
    its rollbacks: one row, its last good checkpoint, if any, charged with all its CPU minutes, ``stopped`` saying
    why)."""
    note = sweep['variants'][name]['note']
    raw = variant_options(sweep, name, args.sweep)
    raw['path'] = {**raw['path'], 'root': str(work), 'resume_state': None}
    per_iteration = seconds_per_iteration(raw, args.calibration_steps, work)
    niter = fit_budget(raw, minutes, per_iteration, args.points)
    options = write_yaml(raw, work / 'options' / f'sweep_{name}.yml')
    print(f'{name}: {per_iteration:.2f} CPU s / iteration in the probe -> {niter} iterations', flush=True)
    seconds, stopped = train_variant(options, args.threads, work / 'logs' / f'sweep_{name}.log')
    models = work / 'experiments' / raw['name'] / 'models'
    saved = sorted(int(p.name) for p in models.iterdir() if p.name.isdigit()) if models.is_dir() else []
    if stopped:
        print(f'{name}: {stopped}', flush=True)
        if not saved:
            return [row_of(name, note, 0, seconds / 60, None, {}, stopped)]
    rows, scratch = [], work / 'eval' / name
    scratch.mkdir(parents=True, exist_ok=True)
    for step in saved if stopped is None else saved[-1:]:
        scores = evaluate(models / str(step), photos, scratch)
        if stopped is None:
            rows.append(row_of(name, note, step, seconds / 60 * step / niter, seconds / niter, scores))
        else:       # a run that stopped: all its minutes bought its last good checkpoint
            rows.append(row_of(name, note, step, seconds / 60, None, scores, stopped))
    return rows


def start_row(sweep: dict[str, Any], photos: Path, work: Path) -> dict[str, Any] | None:
    """The starting weights' scores (0 CPU minutes), when the variants start from a model folder."""
    path = (sweep.get('common') or {}).get('path.pretrain_model_H')
    if not path:
        return None
    folder = (REPO / path).resolve().parent
    (work / 'eval' / 'start').mkdir(parents=True, exist_ok=True)
    scores = evaluate(folder, photos, work / 'eval' / 'start')
    return row_of('start', f'the starting weights ({folder.name})', 0, 0.0, None, scores)


def evaluation_photos(photos: Path, sets: int | None, sweep: dict[str, Any], work: Path) -> Path:
    """``photos``, or a folder of links to its first ``sets`` image sets (N + 1 photographs each, in name order)."""
    if sets is None:
        return photos
    raw = variant_options(sweep, next(iter(sweep['variants'])), 'sweep')
    per_set = raw['scale_H'] * raw['scale_W'] + 1
    files = sorted(p for p in photos.iterdir() if p.is_file())[:sets * per_set]
    if len(files) < sets * per_set:
        raise SystemExit(f'error: --photos {photos} holds {len(files)} photographs, fewer than {sets} sets of {per_set}')
    subset = work / f'photos_{sets}sets'
    subset.mkdir(parents=True, exist_ok=True)
    for file in files:
        link = subset / file.name
        if not link.is_symlink():
            link.symlink_to(file)
    return subset


def plot(curves: list[dict[str, Any]], path: Path, title: str) -> None:
    """Stego and secret PSNR against CPU minutes, one line per variant (each from the starting weights; dotted: a
    run that stopped early, at its last good checkpoint)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    start = [r for r in curves if r['variant'] == 'start']
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for variant in dict.fromkeys(r['variant'] for r in curves if r['variant'] != 'start'):
        mine = [r for r in curves if r['variant'] == variant]
        rows = start + [r for r in mine if r['stego PSNR'] is not None]
        stopped = mine[-1].get('stopped') is not None
        for ax, key in zip(axes, ('stego PSNR', 'secret PSNR')):
            ax.plot([r['CPU min'] for r in rows], [r[key] for r in rows], marker='o', linestyle=':' if stopped else '-',
                    label=f'{variant} (stopped early)' if stopped else variant)
    for ax, key in zip(axes, ('stego PSNR', 'secret PSNR')):
        ax.set_xlabel('CPU minutes of training')
        ax.set_ylabel(f'{key} (dB, held-out, from the 8-bit PNG)')
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    fig.suptitle(textwrap.fill(title, 140), fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    args = parse_args(argv)
    try:
        sweep = read_sweep(args.sweep)
        names = args.variants or list(sweep['variants'])
        missing = [n for n in names if n not in sweep['variants']]
        if missing:
            raise OptionError(f'{args.sweep}: no variants {missing}')
    except (OptionError, OSError, ValueError) as err:
        raise SystemExit(f'error: {err}') from None
    minutes = args.minutes or float(sweep['minutes'])
    photos, work, out = Path(args.photos).resolve(), Path(args.work).resolve(), Path(args.out)
    if not photos.is_dir():
        raise SystemExit(f'error: --photos {photos} is not a folder')
    if photos == work or photos in work.parents:
        raise SystemExit(f'error: --work {work} lies inside the --photos {photos}')
    work.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    sets = 'all image sets' if args.sets is None else f'the first {args.sets} image sets'
    notes = (f'Sweep {Path(args.sweep).name}: {minutes:g} CPU minutes per variant ({args.threads} thread(s) each), '
             f'held-out photographs {photos.name} ({sets}); RGB PSNR (dB) revealed from the 8-bit PNG stego, '
             f'test seed 0.')
    photos = evaluation_photos(photos, args.sets, sweep, work)
    curves_path = out / 'sweep_recipes_curves.json'
    curves: list[dict[str, Any]] = []
    if args.resume and curves_path.is_file():
        payload = load_results(curves_path)
        if payload['notes'] != notes:
            raise SystemExit(f'error: --resume: {curves_path} is of another sweep or budget: {payload["notes"]}')
        curves = [{**r, 'stopped': brief(r.get('stopped'))} for r in payload['rows']
                  if r['variant'] == 'start' or r['variant'] in names]
    done = {r['variant'] for r in curves}
    if 'start' not in done:
        first = start_row(sweep, photos, work)
        curves += [first] if first else []
    for name in (n for n in names if n not in done):
        try:
            curves += sweep_variant(name, sweep, args, minutes, work, photos)
        except (OptionError, RuntimeError) as err:
            raise SystemExit(f'error: {err}') from None
        write_results(curves_path, curves, COLUMNS, notes=notes)
    write_results(curves_path, curves, COLUMNS, notes=notes)
    finals = [max((r for r in curves if r['variant'] == name), key=lambda r: r['iterations']) for name in names]
    write_results(out / 'sweep_recipes.json', finals, COLUMNS, notes=notes)
    plot(curves, out / 'sweep_recipes.png', notes)
    print(f'wrote sweep_recipes.json, sweep_recipes_curves.json and sweep_recipes.png to {out}')
    return finals


if __name__ == '__main__':
    main()
