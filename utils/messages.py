"""The one-line error message every tool and the web app show for an expected error."""
from __future__ import annotations

MAX_MESSAGE = 2000       # characters: a message quoting a huge value is cut here


def error_message(err: BaseException) -> str:
    """``err`` as one line: an ``OSError`` as ``<file>: <reason>`` (never a bare ``[Errno 28]``), any other
    error as its text with line breaks folded into spaces, at most :data:`MAX_MESSAGE` characters."""
    if isinstance(err, OSError) and err.strerror:
        files = [str(name) for name in (err.filename, err.filename2) if name is not None]
        text = f'{" -> ".join(files)}: {err.strerror}' if files else err.strerror
    elif isinstance(err, MemoryError):
        text = f'out of memory{f" ({err})" if str(err) else ""}'
    else:
        text = str(err) or type(err).__name__
    text = ' '.join(text.split())
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE - 3] + '...'
