"""Logging set-up and experiment-folder helpers."""
from __future__ import annotations

import logging
import sys
import time
from pathlib import Path


def setup_logger(name: str, log_file: str | Path | None = None, rank: int = 0,
                 level: int = logging.INFO) -> logging.Logger:
    """Console (and file, on rank 0) logging; other ranks only report warnings."""
    log = logging.getLogger(name)
    log.handlers.clear()
    log.propagate = False
    log.setLevel(level if rank == 0 else logging.WARNING)
    fmt = logging.Formatter('%(asctime)s %(levelname)s: %(message)s', datefmt='%y-%m-%d %H:%M:%S')
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(fmt)
    log.addHandler(console)
    if log_file is not None and rank == 0:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_file, mode='a', encoding='utf-8')
        handler.setFormatter(fmt)
        log.addHandler(handler)
    return log


def timestamp() -> str:
    """Current time as yymmdd-HHMMSS."""
    return time.strftime('%y%m%d-%H%M%S')


def archive_existing(path: str | Path) -> Path | None:
    """Move an existing folder aside as ``<path>_archived_<timestamp>`` (as published); returns the new name."""
    path = Path(path)
    if not path.exists():
        return None
    target = path.with_name(f'{path.name}_archived_{timestamp()}')
    suffix = 1
    while target.exists():
        target = path.with_name(f'{path.name}_archived_{timestamp()}_{suffix}')
        suffix += 1
    path.rename(target)
    return target
