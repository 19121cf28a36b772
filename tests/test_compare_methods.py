"""benchmarks/compare_methods.py --quick end to end: three methods trained and evaluated under one protocol."""
from __future__ import annotations

import math

import pytest
import torch

from benchmarks import compare_methods
from utils.results import load_results, markdown_table, write_results


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow
def test_quick_comparison_writes_results_and_plot(tmp_path):
    out, work = tmp_path / 'out', tmp_path / 'work'
    rows = compare_methods.main(['--quick', '--out', str(out), '--work', str(work), '--n', '4', '9'])
    main = {(r['method'], r['N']): r for r in rows if r['budget'] == compare_methods.EQUAL_ITERATIONS}
    names = [name for name, _ in compare_methods.METHODS.values()]
    assert sorted(main) == sorted((name, n) for name in names for n in (4, 9))
    for row in main.values():
        assert row['seeds'] == 1 and row['diverged'] == 0 and row['iterations'] == compare_methods.QUICK.iters
        assert row['parameters'] > 0 and row['CPU s / iteration'] > 0 and row['hide + reveal s'] > 0
        assert (row['secret PSNR IIR z=0'] is None) == (row['method'] != 'InvMIHNet')
        assert all(math.isfinite(row[k]) for k in ('stego PSNR', 'secret PSNR', 'secret PSNR Y',
                                                   'secret PSNR JPEG 90', 'stego SSIM'))
        assert 0 <= row['P_E SPAM'] <= 1 and row['P_E XuNet'] is None
    sequential = main[('sequential (DeepMIH-style)', 9)]['parameters']
    assert sequential > 2 * main[('InvMIHNet', 9)]['parameters']   # nine stages: an equal-time row follows
    assert any(r['budget'] == compare_methods.EQUAL_TIME and r['method'] == 'sequential (DeepMIH-style)'
               for r in rows)
    payload = load_results(out / 'compare_methods.json')
    assert payload['columns'] == compare_methods.COLUMNS and '--quick' in payload['notes']
    assert '| concat (ISN-style) | 4 | equal iterations |' in markdown_table(payload)
    runs = load_results(out / 'compare_methods_runs.json')['rows']
    assert {r['seed'] for r in runs} == {0} and len(runs) == len(rows)
    assert (out / 'compare_methods.png').stat().st_size > 10_000
    assert (work / 'steganalysis').is_dir() and not (out / 'steganalysis').exists()
    check_resume(out, work, runs, rows)


def check_resume(out, work, runs, rows):
    """An interrupted comparison (its runs file cut after two runs) resumes: the two are kept, only the others run;
    so do the runs of another runs file (--merge); a runs file of another protocol is refused."""
    args = ['--quick', '--work', str(work), '--n', '4', '9']
    path = out / 'compare_methods_runs.json'
    notes = load_results(path)['notes']
    write_results(path, runs[:2], notes=notes)
    write_results(out / 'other' / 'runs.json', runs[2:4], notes=notes)
    ran = []

    def evaluated_run(method, n, seed, iters, budget, *rest):
        ran.append((method, n, budget))
        return next(r for r in runs if (r['method'], r['N'], r['budget'], r['seed'], r['iterations']) ==
                    (compare_methods.METHODS[method][0], n, budget, seed, iters))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(compare_methods, 'evaluated_run', evaluated_run)
        assert compare_methods.main(args + ['--out', str(out), '--resume']) == rows
        assert len(ran) == len(runs) - 2 and load_results(path)['rows'] == runs
        ran.clear()
        fresh = out / 'fresh'
        assert compare_methods.main(args + ['--out', str(fresh), '--merge', str(out / 'other' / 'runs.json')]) == rows
        assert len(ran) == len(runs) - 2 and load_results(fresh / 'compare_methods_runs.json')['rows'] == runs
    with pytest.raises(SystemExit, match='another protocol'):
        compare_methods.main(args + ['--out', str(out), '--resume', '--iters', '4'])


def test_outputs_inside_the_photographs_are_refused(tmp_path):
    photos = tmp_path / 'photos'
    photos.mkdir()
    with pytest.raises(SystemExit, match='lies inside the --test photographs'):
        compare_methods.main(['--quick', '--test', str(photos), '--out', str(photos / 'out')])
