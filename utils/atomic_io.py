"""Atomic file writes: a temporary file in the destination folder, flushed to disk, then renamed into place, so a
reader (or a crash) never sees a half-written file."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


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
    """Write ``data`` to ``path`` atomically (parent folders created); on error ``path`` is left as it was."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = write_beside(target, data)
    try:
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode('utf-8'))
