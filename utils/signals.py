"""SIGINT (Ctrl-C) and SIGTERM: held while files are put in place, and turned into a clean exit by the tools.

:func:`held_signals` wraps a group of file operations: a signal that arrives inside it is held and delivered at
a point the block chooses (``check()``) or when it ends, after the block has cleaned up, so that an interrupted
write never leaves a temporary file, a half-made folder or a stray backup. :func:`exit_on_signals` wraps a
command-line tool: SIGTERM raises :class:`Terminated` like Ctrl-C raises ``KeyboardInterrupt``, and both end the
tool with one line on stderr and the shell's exit status (130 for SIGINT, 143 for SIGTERM), without a traceback.
Signals are handled in the main thread only; elsewhere (a web server's worker) both helpers do nothing.
"""
from __future__ import annotations

import contextlib
import errno
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM)
EXIT_STATUS = {signal.SIGINT: 128 + signal.SIGINT, signal.SIGTERM: 128 + signal.SIGTERM}     # 130, 143


class Terminated(BaseException):
    """Raised by the SIGTERM handler of :func:`exit_on_signals` (a ``BaseException``, like KeyboardInterrupt)."""


class _Held(BaseException):
    """Raised by ``check()`` of :func:`held_signals` to unwind the block; the signal is delivered after it."""


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


_held: list[int] | None = None       # the signals held by the outermost active held_signals block


@contextlib.contextmanager
def held_signals() -> Iterator[Callable[[], None]]:
    """Hold SIGINT and SIGTERM inside the block; yields ``check()``, which unwinds the block (as an exception
    its cleanup code sees) when a signal is held. The held signal is delivered to the previous handlers once the
    block has ended, normally or not. An inner block holds until the outermost one ends."""
    global _held
    if not _in_main_thread():
        yield lambda: None
        return
    if _held is not None:
        outer = _held

        def check_outer() -> None:
            if outer:
                raise _Held
        yield check_outer
        return

    held: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        if previous[signum] is not signal.SIG_IGN:
            held.append(signum)

    def check() -> None:
        if held:
            raise _Held

    previous = {signum: signal.getsignal(signum) or signal.SIG_DFL for signum in SIGNALS}
    for signum in SIGNALS:
        signal.signal(signum, hold)
    _held = held
    unwound = False
    try:
        yield check
    except _Held:
        unwound = True
    finally:
        _held = None
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if held:
            signal.raise_signal(held[0])
    if unwound:     # the handler returned: the block still did not finish
        raise InterruptedError(errno.EINTR, f'interrupted by signal {signal.Signals(held[0]).name}')


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated


@contextlib.contextmanager
def exit_on_signals(tool: str) -> Iterator[None]:
    """End ``tool`` on Ctrl-C / SIGTERM with ``<tool>: interrupted by ...`` on stderr and status 130 / 143."""
    if not _in_main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate) or signal.SIG_DFL
    try:
        yield
    except KeyboardInterrupt:
        print(f'{tool}: interrupted (Ctrl-C); no half-written file was left', file=sys.stderr)
        raise SystemExit(EXIT_STATUS[signal.SIGINT]) from None
    except Terminated:
        print(f'{tool}: terminated (SIGTERM); no half-written file was left', file=sys.stderr)
        raise SystemExit(EXIT_STATUS[signal.SIGTERM]) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
