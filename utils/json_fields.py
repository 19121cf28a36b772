"""Checking the fields of a parsed JSON document (a key file, a model.json): exact keys, counts, sha256 digests.

Each check raises TypeError or ValueError naming the field; the caller turns it into its own error type."""
from __future__ import annotations

from typing import Any


def fields(value: Any, name: str, keys: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """``value`` as a JSON object with exactly ``keys``, and any of ``optional``."""
    if not isinstance(value, dict):
        raise TypeError(f'{name} must be a JSON object, got {type(value).__name__}')
    missing, unknown = [k for k in keys if k not in value], sorted(set(value) - set(keys) - set(optional))
    if missing or unknown:
        raise ValueError(f'{name}: missing fields {missing}, unknown fields {unknown}')
    return value


def count(value: Any, name: str, minimum: int = 1, maximum: int | None = None) -> int:
    """``value`` as an integer (not a bool) of at least ``minimum`` (and at most ``maximum``)."""
    if (not isinstance(value, int) or isinstance(value, bool) or value < minimum
            or (maximum is not None and value > maximum)):
        bounds = f'>= {minimum}' if maximum is None else f'in {minimum} .. {maximum}'
        raise ValueError(f'{name} must be an integer {bounds}, got {value!r:.40}')
    return value


def sha256_hex(value: Any, name: str) -> str:
    """``value`` as 64 lowercase hex digits (a sha256)."""
    if not isinstance(value, str) or len(value) != 64 or any(c not in '0123456789abcdef' for c in value):
        raise ValueError(f'{name} must be 64 lowercase hex digits (a sha256), got {value!r:.80}')
    return value


def format_version(data: dict[str, Any], expected: str, newest: int) -> int:
    """The ``version`` of a document whose ``format`` must be ``expected``, no newer than ``newest``."""
    if data['format'] != expected:
        raise ValueError(f'format is {data["format"]!r:.80}, expected {expected!r}')
    version = count(data['version'], 'version')
    if version > newest:
        raise ValueError(f'version {version} is newer than this code reads ({newest}); update InvMIHNet')
    return version
