"""Benchmark results files and the Markdown tables rendered from them.

A benchmark writes its measurements with :func:`write_results` as one JSON file under ``benchmarks/results/``:
``{"machine": {...}, "command": "...", "columns": [...], "rows": [{...}, ...], "notes": "..."}``. A document shows
them through a block that names the file::

    <!-- table: benchmarks/results/train_step.json -->
    (rendered table, replaced by scripts/render_docs.py)
    <!-- end table -->

so a new measurement is a new results file and a re-render, never a hand edit of a table.
"""
from __future__ import annotations

import json
import os
import platform
import re
import sys
from pathlib import Path
from typing import Any, Iterable, Sequence

from utils.atomic_io import atomic_write_text

BLOCK = re.compile(r'(<!-- table: (?P<path>[^ ]+?) -->\n)(?P<body>.*?)(<!-- end table -->)', re.S)
CPU_FLAGS = ('avx2', 'avx512f', 'avx512_bf16', 'amx_bf16', 'amx_tile')


def cpu_description() -> dict[str, Any]:
    """The machine a figure comes from: CPU model, core count, the vector / bf16 flags it has, torch version."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open('/proc/cpuinfo', encoding='utf-8', errors='replace') as handle:
            for line in handle.read(1 << 20).splitlines():
                key, _, value = line.partition(':')
                if key.strip() == 'model name' and model in ('', platform.machine(), platform.processor()):
                    model = value.strip()
                elif key.strip() == 'flags' and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    info: dict[str, Any] = {'cpu': model, 'cores': os.cpu_count(), 'flags': [f for f in CPU_FLAGS if f in flags],
                            'python': platform.python_version()}
    try:
        import torch
        info['torch'] = torch.__version__
        if torch.cuda.is_available():
            info['gpu'] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return info


def command_line() -> str:
    """This process's command line as a user types it from the repository root: ``python -m benchmarks.x ...`` for
    a module run with ``-m``, ``python path/x.py ...`` otherwise."""
    script = Path(sys.argv[0])
    try:
        script = script.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        pass
    main = sys.modules.get('__main__')
    spec = getattr(main, '__spec__', None)
    program = f'-m {spec.name}' if spec is not None and spec.name else script.as_posix()
    return ' '.join(['python', program] + sys.argv[1:])


def write_results(path: str | os.PathLike, rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None,
                  notes: str = '', machine: dict[str, Any] | None = None) -> Path:
    """Write ``rows`` (one dict per table row) with the machine and the command line to the JSON file ``path``."""
    columns = list(columns) if columns is not None else list(dict.fromkeys(k for row in rows for k in row))
    payload = {'machine': machine or cpu_description(),
               'command': command_line(),
               'columns': columns, 'rows': [dict(row) for row in rows], 'notes': notes}
    return atomic_write_text(path, json.dumps(payload, indent=1) + '\n')


def _cell(value: Any) -> str:
    if value is None:
        return ''
    if isinstance(value, float):
        return f'{value:.3g}' if abs(value) < 0.01 and value != 0 else f'{value:.2f}'
    return str(value).replace('|', '\\|')


def markdown_table(payload: dict[str, Any]) -> str:
    """The Markdown table of a results payload, followed by the machine and the command that measured it."""
    columns: list[str] = payload['columns']
    lines = ['| ' + ' | '.join(columns) + ' |', '|' + '---|' * len(columns)]
    lines += ['| ' + ' | '.join(_cell(row.get(c)) for c in columns) + ' |' for row in payload['rows']]
    machine = payload.get('machine', {})
    flags = ', '.join(machine.get('flags', [])) or 'none of ' + ', '.join(CPU_FLAGS)
    where = machine.get('gpu') or f"{machine.get('cpu', '?')} ({machine.get('cores', '?')} cores; {flags})"
    lines += ['', f"Measured on {where}, torch {machine.get('torch', '?')}: `{payload.get('command', '')}`"]
    if payload.get('notes'):
        lines += ['', payload['notes']]
    return '\n'.join(lines) + '\n'


def load_results(path: str | os.PathLike, max_bytes: int = 4 << 20) -> dict[str, Any]:
    """Read a results file written by :func:`write_results` (bounded in size)."""
    with open(path, 'rb') as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValueError(f'{path}: results file larger than {max_bytes} bytes')
    payload = json.loads(data)
    if not isinstance(payload, dict) or not isinstance(payload.get('rows'), list) or 'columns' not in payload:
        raise ValueError(f'{path}: not a results file (needs "columns" and "rows")')
    return payload


def render(text: str, root: str | os.PathLike) -> str:
    """``text`` with every table block re-rendered from the results file it names (paths relative to ``root``)."""
    def replace(match: re.Match) -> str:
        payload = load_results(Path(root) / match.group('path'))
        return match.group(1) + markdown_table(payload) + match.group(4)
    return BLOCK.sub(replace, text)


def stale_documents(paths: Iterable[str | os.PathLike], root: str | os.PathLike) -> list[str]:
    """The documents among ``paths`` whose tables no longer match their results files."""
    stale = []
    for path in paths:
        text = Path(path).read_text(encoding='utf-8')
        if render(text, root) != text:
            stale.append(str(path))
    return stale
