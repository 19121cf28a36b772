"""Reading files that may be hostile: regular files only, at most a stated number of bytes.

A FIFO, a device (``/dev/zero``, ``/dev/stdin``) or a socket is refused before a byte is read (opening it does
not block), and a file larger than the limit is refused from its size, so that no read waits forever or grows
without bound. Errors are ``ValueError`` (not a regular file, too large) or ``OSError`` (cannot open or read).
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

_KINDS = ((stat.S_ISDIR, 'a folder'), (stat.S_ISFIFO, 'a FIFO (named pipe)'), (stat.S_ISCHR, 'a character device'),
          (stat.S_ISBLK, 'a block device'), (stat.S_ISSOCK, 'a socket'))


def _open_regular(path: Path, what: str) -> tuple[int, int]:
    """(descriptor, size) of ``path`` opened for reading without blocking; ValueError unless a regular file."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, 'O_CLOEXEC', 0))
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        kind = next((name for test, name in _KINDS if test(info.st_mode)), 'not a regular file')
        raise ValueError(f'{what} {path} is {kind}, not a regular file')
    return fd, info.st_size


def read_head(path: str | os.PathLike, size: int, what: str = 'file') -> bytes:
    """The first ``size`` bytes (fewer if the file is shorter) of the regular file ``path``; errors as
    :func:`read_limited`."""
    fd, _ = _open_regular(Path(path), what)
    try:
        return os.read(fd, size)
    finally:
        os.close(fd)


def read_limited(path: str | os.PathLike, limit: int, what: str = 'file') -> bytes:
    """The bytes of the regular file ``path`` (symlinks followed), which must hold at most ``limit`` bytes.

    ``what`` names the file in messages (``'key file'``). Raises ``ValueError`` for a file that is not a regular
    file or is larger than ``limit``, ``OSError`` when it cannot be opened or read.
    """
    target = Path(path)
    fd, size = _open_regular(target, what)
    try:
        if size > limit:
            raise ValueError(f'{what} {target} is {size:,} bytes, more than the limit of {limit:,} bytes')
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > limit:
        raise ValueError(f'{what} {target} grew past the limit of {limit:,} bytes while it was read')
    return b''.join(chunks)


def _children(item: object) -> list:
    return [*item.keys(), *item.values()] if isinstance(item, dict) else list(item)


def measure_nesting(value: object) -> tuple[int, int]:
    """(depth, size) of a parsed document, without recursion: how deeply dicts, lists and tuples nest (a scalar
    is 0, ``[1]`` is 1) and how many values it holds once every shared part (a YAML alias) is expanded, which
    is what printing or copying it costs. ``ValueError`` for a structure that contains itself."""
    containers = (dict, list, tuple)
    measured: dict[int, tuple[int, int]] = {}
    open_ids: set[int] = set()
    stack: list[tuple[object, bool]] = [(value, False)]
    while stack:
        item, finished = stack.pop()
        if not isinstance(item, containers):
            continue
        key = id(item)
        if finished:
            open_ids.discard(key)
            parts = [measured.get(id(child), (0, 1)) for child in _children(item)]
            measured[key] = (1 + max((d for d, _ in parts), default=0), 1 + sum(n for _, n in parts))
        elif key not in measured:
            if key in open_ids:
                raise ValueError('the document contains itself (a recursive alias)')
            open_ids.add(key)
            stack.append((item, True))
            stack.extend((child, False) for child in _children(item) if isinstance(child, containers))
    return measured.get(id(value), (0, 1))
