"""Writing outputs without losing anything: inputs are never outputs, existing files are kept unless the caller
says ``overwrite``, and a group of files is written all or nothing.

:func:`write_files` first writes every file to a temporary file beside its target
(:func:`utils.atomic_io.write_beside`); only when all are on disk are
they renamed into place (an overwritten file is moved aside first and put back if a later rename fails). A failed
run therefore leaves the output folders as they were, including folders it had to create.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from stego.errors import OutputError
from utils.atomic_io import write_beside
from utils.signals import held_signals


def _same_file(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def check_outputs(outputs: Iterable[str | os.PathLike], inputs: Iterable[str | os.PathLike | None] = (),
                  overwrite: bool = False) -> list[Path]:
    """Refuse (:class:`OutputError`) an output that is also an input or another output, an output that is a
    folder, a device or another special file, an output whose folder is a file, and an existing output unless
    ``overwrite``. Returns the outputs as Paths."""
    targets = [Path(p).expanduser() for p in outputs]
    sources = [Path(p).expanduser() for p in inputs if p is not None and not isinstance(p, (bytes, bytearray))]
    for i, target in enumerate(targets):
        clash = next((src for src in sources if _same_file(target, src)), None)
        if clash is not None:
            raise OutputError(f'output {target} is also an input ({clash}); choose another output name')
        if any(_same_file(target, other) for other in targets[:i]):
            raise OutputError(f'output {target} is given twice; choose distinct output names')
        if target.is_dir():
            raise OutputError(f'output {target} is a folder; give a file name')
        blocking = next((p for p in target.parents if p.exists() and not p.is_dir()), None)
        if blocking is not None:
            raise OutputError(f'output folder {blocking} is a file, not a folder; choose another output folder')
        if target.exists() and not target.is_file():
            raise OutputError(f'output {target} exists and is not a regular file (a device, FIFO or socket); '
                              f'refusing to replace it')
        if target.exists() and not overwrite:
            raise OutputError(f'output {target} already exists; choose another name or pass --overwrite '
                              f'(overwrite=True)')
    return targets


def write_files(contents: Mapping[Path, bytes], overwrite: bool = False,
                inputs: Iterable[str | os.PathLike | None] = ()) -> list[Path]:
    """Write every ``path -> bytes`` item, all or nothing (see the module docstring); returns the paths.

    SIGINT / SIGTERM are held meanwhile and take effect between steps, after the folders are put back as they
    were (see :mod:`utils.signals`). An OSError is re-raised naming the output it concerns. ``inputs`` are
    checked again as in :func:`check_outputs`.
    """
    items = {Path(path).expanduser(): data for path, data in contents.items()}
    targets = check_outputs(items, inputs, overwrite=overwrite)
    created_dirs: list[Path] = []
    temps: dict[Path, Path] = {}
    backups: dict[Path, Path] = {}
    placed: list[Path] = []
    current = targets[0] if targets else None
    with held_signals() as check:
        try:
            for current in targets:
                check()
                missing = [p for p in (current.parent, *current.parent.parents) if not p.exists()]
                for folder in reversed(missing):
                    folder.mkdir()
                    created_dirs.append(folder)
                temps[current] = write_beside(current, items[current])
            for current in targets:
                check()
                if current.exists():
                    fd, name = tempfile.mkstemp(prefix=f'.{current.name}.', suffix='.old', dir=current.parent)
                    os.close(fd)
                    try:
                        os.replace(current, name)
                    except BaseException:
                        Path(name).unlink(missing_ok=True)
                        raise
                    backups[current] = Path(name)
                os.replace(temps[current], current)
                del temps[current]
                placed.append(current)
        except BaseException as err:
            for target in reversed(placed):
                target.unlink(missing_ok=True)
            for target, backup in backups.items():
                os.replace(backup, target)
            for temp in temps.values():
                temp.unlink(missing_ok=True)
            for folder in reversed(created_dirs):
                with contextlib.suppress(OSError):      # not empty: something else wrote there meanwhile
                    folder.rmdir()
            if isinstance(err, OSError) and err.strerror:
                raise OSError(err.errno, f'cannot write it ({err.strerror}); nothing was written',
                              str(current)) from None
            raise
        for backup in backups.values():
            backup.unlink(missing_ok=True)
    return targets
