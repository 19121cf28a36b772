"""benchmarks/sweep_recipes.py end to end on tiny networks: budget fitting, the schedule scaled with it, one row per
evaluated checkpoint, the plot, resuming and the errors of a bad sweep file."""
from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from benchmarks import sweep_recipes
from tests.conftest import make_tiny_train_options, photo, write_rgb
from utils.results import load_results

pytestmark = pytest.mark.usefixtures('one_thread')


def write_sweep(tmp_path, minutes=0.05, **extra):
    base = make_tiny_train_options(tmp_path / 'base', niter=100, warmup_iter=10,
                                   lr_scheme='CosineAnnealingLR_Restart', T_period=[100], eta_min=1e-7)
    sweep = {'base': str(base), 'minutes': minutes,
             'variants': {'plain': {'note': 'as it is'},
                          'slow': {'note': 'a lower rate', 'set': {'train.lr_H': 1e-5, 'train.lr_G': 1e-5}},
                          'wild': {'note': 'diverges', 'set': {'train.lr_H': 1e6, 'train.lr_G': 1e6,
                                                               'train.on_divergence': 'stop'}}},
             **extra}
    path = tmp_path / 'sweep.yml'
    path.write_text(yaml.safe_dump(sweep))
    return path


def held_out(tmp_path, count=10):
    folder = tmp_path / 'heldout'
    for i in range(count):
        write_rgb(folder / f'{i:02d}.png', photo(i, 32, 32))
    return folder


def test_sweep_fits_the_budget_and_writes_curves(tmp_path):
    sweep, photos, out, work = write_sweep(tmp_path), held_out(tmp_path, 12), tmp_path / 'out', tmp_path / 'work'
    args = ['--sweep', str(sweep), '--photos', str(photos), '--out', str(out), '--work', str(work), '--points', '2',
            '--sets', '2']
    finals = sweep_recipes.main(args)
    assert [r['variant'] for r in finals] == ['plain', 'slow', 'wild']
    curves = load_results(out / 'sweep_recipes_curves.json')['rows']
    wild = [r for r in curves if r['variant'] == 'wild']
    assert len(wild) == 1 and 'non-finite loss' in wild[0]['stopped'] and wild[0]['CPU min'] > 0
    for final in finals[:2]:
        assert final['stopped'] is None
        options = yaml.safe_load((work / 'options' / f'sweep_{final["variant"]}.yml').read_text())
        niter = options['train']['niter']
        assert final['iterations'] == niter >= 2 and sum(options['train']['T_period']) == niter
        assert options['train']['warmup_iter'] == max(1, round(10 * niter / 100))
        assert 'val' not in options['datasets'] and options['gpu_ids'] is None
        mine = [r for r in curves if r['variant'] == final['variant']]
        assert [r['iterations'] for r in mine] == [-(-niter // 2), niter]
        assert 0 < mine[0]['CPU min'] < mine[1]['CPU min'] == final['CPU min']
        assert 5 < final['stego PSNR'] < 80 and 5 < final['secret PSNR'] < 80 and final['secret PSNR JPEG 90'] > 0
    assert (out / 'sweep_recipes.png').stat().st_size > 10_000
    assert 'sweep.yml' in load_results(out / 'sweep_recipes.json')['notes']
    assert sorted(p.name for p in (work / 'photos_2sets').iterdir()) == [f'{i:02d}.png' for i in range(10)]

    def must_not_run(*_):
        raise AssertionError('a finished variant ran again')

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sweep_recipes, 'sweep_variant', must_not_run)
        assert sweep_recipes.main(args + ['--resume']) == finals
    with pytest.raises(SystemExit, match='another sweep or budget'):
        sweep_recipes.main(args + ['--resume', '--minutes', '1'])


@pytest.mark.parametrize('extra, message', [
    ({'variants': {}}, 'non-empty "variants"'),
    ({'minutes': -1}, '"minutes" must be a positive'),
    ({'budget': 3}, r"unknown keys \['budget'\]"),
    ({'variants': {'x': {'set': {}}}}, r'variants.x needs a "note"'),
])
def test_bad_sweep_files_are_named(tmp_path, extra, message):
    sweep = write_sweep(tmp_path, **extra)
    with pytest.raises(SystemExit, match=message):
        sweep_recipes.main(['--sweep', str(sweep), '--photos', str(tmp_path), '--work', str(tmp_path / 'w')])


def test_unknown_variant_and_override_are_named(tmp_path):
    sweep = write_sweep(tmp_path)
    common = ['--sweep', str(sweep), '--photos', str(held_out(tmp_path)), '--work', str(tmp_path / 'w'),
              '--out', str(tmp_path / 'out')]
    with pytest.raises(SystemExit, match='holds 10 photographs, fewer than 3 sets of 5'):
        sweep_recipes.main(common + ['--sets', '3'])
    with pytest.raises(SystemExit, match=r"no variants \['nope'\]"):
        sweep_recipes.main(common + ['--variants', 'nope'])
    raw = yaml.safe_load(sweep.read_text())
    raw['variants']['plain']['set'] = {'nowhere.lr': 1}
    sweep.write_text(yaml.safe_dump(raw))
    with pytest.raises(SystemExit, match="variants.plain: nowhere.lr: no section 'nowhere'"):
        sweep_recipes.main(common + ['--variants', 'plain'])


@pytest.mark.parametrize('script', ['sweep_recipes', 'compare_methods'])
def test_runs_as_a_script(script, repo):
    done = subprocess.run([sys.executable, f'benchmarks/{script}.py', '--help'], cwd=repo, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0 and '--out' in done.stdout, done.stderr


def test_a_divergence_is_told_briefly():
    reason = ('error: training diverged at iteration 170 (loss spike: total 2.4e+04 > 10 x 2249, the median of the '
              'last 100 iterations) after 3 rollback(s), the most train.max_rollbacks allows; the last good ...')
    assert sweep_recipes.brief(reason) == 'diverged at iteration 170 after 3 rollback(s)'
    assert sweep_recipes.brief(None) is None and sweep_recipes.brief('error: x' * 100).startswith('x')
