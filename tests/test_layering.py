"""The import structure: no cycle among our modules or packages, utils/ imports nothing of ours, data/ no models/,
benchmarks/ no tests/, no sys.path edits, and hiding a photo loads neither the trainer nor the data loaders."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ('benchmarks', 'data', 'figures', 'inference', 'models', 'options', 'scripts', 'security', 'stego',
            'utils', 'webapp')
SCRIPTS = ('app', 'hide', 'reveal', 'steganalysis', 'test', 'train')


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix('').parts)
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def _ours(name: str) -> bool:
    return name.split('.')[0] in PACKAGES + SCRIPTS


def _imports() -> dict[str, set[str]]:
    """Every module of ours -> the modules of ours it imports (anywhere in the file, functions included)."""
    files = [p for pkg in PACKAGES for p in (REPO / pkg).rglob('*.py')] + [REPO / f'{s}.py' for s in SCRIPTS]
    modules = {_module_name(p): p for p in files}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'))):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
                found.update(f'{node.module}.{a.name}' for a in node.names)
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def _package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    packages: dict[str, set[str]] = {}
    for module, targets in graph.items():
        packages.setdefault(module.split('.')[0], set()).update(
            t.split('.')[0] for t in targets if t.split('.')[0] != module.split('.')[0])
    return packages


def test_no_import_cycle_among_modules_or_packages():
    graph = _imports()
    assert _cycle(graph) is None, f'import cycle: {" -> ".join(_cycle(graph))}'
    packages = _package_graph(graph)
    assert _cycle(packages) is None, f'package import cycle: {" -> ".join(_cycle(packages))}'


def test_import_rules_between_packages():
    packages = _package_graph(_imports())
    assert packages['utils'] == set(), f'utils/ imports {packages["utils"]}'
    assert 'models' not in packages['data'] and 'inference' not in packages['data']
    assert 'tests' not in packages['benchmarks']
    assert not {'train', 'data', 'test'} & (packages['inference'] | packages['stego'] | packages['webapp'])
    graph = _imports()
    trainer_users = {m for m, targets in graph.items() if 'models.trainer' in targets}
    assert not {m for m in trainer_users if m.split('.')[0] in ('inference', 'stego', 'webapp', 'security')}


def test_no_sys_path_edits():
    """No module edits sys.path, except a benchmark run as a script (``python benchmarks/<name>.py``), which puts
    the repository on it only then, behind ``if not __package__:``."""
    def allowed(path, lines: list[str]) -> bool:
        return path.parent.name == 'benchmarks' and all(
            i > 0 and lines[i - 1].startswith('if not __package__:') for i, line in enumerate(lines) if 'sys.path' in line)

    files = [p for pkg in PACKAGES for p in (REPO / pkg).rglob('*.py')] + [REPO / f'{s}.py' for s in SCRIPTS]
    edits = [str(p.relative_to(REPO)) for p in files if 'sys.path' in (text := p.read_text(encoding='utf-8'))
             and not allowed(p, text.splitlines())]
    assert edits == []


def test_hiding_a_photo_imports_neither_trainer_nor_data(tmp_path):
    photos = REPO / 'datasets' / 'kodak_demo' / 'test'
    code = f'''
import json, sys
import hide
hide.main(['--cover', {str(photos / 'kodim15.png')!r}, '--secrets',
           *[{str(photos)!r} + f'/kodim{{i}}.png' for i in (16, 17, 18, 19)], '--out', {str(tmp_path / 's.png')!r},
           '--cpu'])
print(json.dumps(sorted(sys.modules)))
'''
    done = subprocess.run([sys.executable, '-c', code], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={'OMP_NUM_THREADS': '1', 'PATH': '/usr/bin:/bin'})
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert (tmp_path / 's.png').is_file() and (tmp_path / 's.key.json').is_file()
    ours = {m for m in loaded if _ours(m)}
    assert 'stego.sender' in ours and 'inference.stego_model' in ours
    forbidden = {m for m in ours if m.split('.')[0] in ('data', 'train', 'test') or m in
                 ('models.trainer', 'models.training_state', 'models.losses')}
    assert forbidden == set()
    assert 'lmdb' not in loaded
