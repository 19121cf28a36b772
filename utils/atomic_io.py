"""Atomic file writes: a temporary file in the destination folder, flushed to disk, then renamed into place, so a
reader (or a crash) never sees a half-written file. SIGINT / SIGTERM are held until the temporary file is gone
again (see :mod:`utils.signals`), and an error names the destination, never the temporary file."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from utils.signals import held_signals


def write_beside(target: Path, data: bytes) -> Path:
    """Write ``data`` to a new temporary file in ``target``'s (existing) folder, flushed to disk, mode 0644;
    returns its path (``.<name>.<random>.tmp``), which the caller renames into place or removes."""
    fd, tmp_name = tempfile.mkstemp(prefix=f'.{target.name}.', suffix='.tmp', dir=target.parent)
    try:
        with os.fdopen(fd, 'wb') as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o644)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return Path(tmp_name)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (parent folders created); on error ``path`` is left as it was and an
    ``OSError`` names ``path``."""
    target = Path(path)
    with held_signals():
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = write_beside(target, data)
        except OSError as err:
            raise OSError(err.errno, f'cannot write it ({err.strerror})', str(target)) from None
        try:
            os.replace(tmp, target)
        except BaseException as err:
            tmp.unlink(missing_ok=True)
            if isinstance(err, OSError) and err.strerror:
                raise OSError(err.errno, f'cannot write it ({err.strerror})', str(target)) from None
            raise
    return target


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode('utf-8'))
