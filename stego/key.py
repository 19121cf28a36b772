"""The key file: what a receiver needs beyond the stego's pixels, shared by the sender over another channel.

A small JSON document (format ``InvMIHNet-key``, version 1)::

    {"format": "InvMIHNet-key", "version": 1,
     "num_images": 4, "grid": {"scale_h": 2, "scale_w": 2},
     "config": {...NetworkConfig.fingerprint()...},
     "stego": {"height": H, "width": W, "sha256": "<sha256 of the H x W x 3 uint8 RGB pixels>"},
     "secrets": [{"name": "a.png", "height": h, "width": w}, ...],        (N entries, in hiding order)
     "cover": {"mode": "crop" | "pad", "original_size": {"height", "width"},
               "box": {"top", "left", "height", "width"}},
     "weights": {"iir_sha256": "...", "iih_sha256": "..."},
     "model": "experiments/pretrained_models/InvMIHNet_4images_demo"}     (optional: the model folder used)

The weight hashes are taken over the loaded networks' tensors (name, dtype, shape and values, in state-dict
order), so the same weights hash alike whatever file or device they came from. The key is not encrypted: it
names the secrets, so it is shared only with the receiver.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from models.checkpoint import weights_sha256
from models.config import NetworkConfig
from stego.cover import COVER_MODES, Box, CoverPlan
from stego.errors import KeyFileError
from utils.atomic_io import atomic_write_text
from utils.json_fields import count
from utils.json_fields import fields as _mapping
from utils.json_fields import format_version
from utils.json_fields import sha256_hex as _sha256
from utils.limited_read import measure_nesting, read_limited

__all__ = ['KEY_FORMAT', 'KEY_VERSION', 'StegoKey', 'default_key_path', 'pixels_sha256', 'weights_sha256']

KEY_FORMAT = 'InvMIHNet-key'
KEY_VERSION = 1
KEY_FILE_LIMIT = 1 << 20        # bytes: a key is about 2 kB; a larger file is refused unread
MAX_KEY_DEPTH = 8               # JSON nesting: a key is 3 levels deep
MAX_SIDE = 1 << 20              # pixels: no height or width in a key may be larger (the pixel limit applies too)
_TOP_LEVEL = ('format', 'version', 'num_images', 'grid', 'config', 'stego', 'secrets', 'cover', 'weights')


def pixels_sha256(pixels: np.ndarray) -> str:
    """sha256 of an H x W x 3 uint8 RGB array's bytes (row-major)."""
    return hashlib.sha256(np.ascontiguousarray(pixels, dtype=np.uint8).tobytes()).hexdigest()


def default_key_path(stego_path: str | os.PathLike) -> Path:
    """``<folder>/<stem>.key.json`` for a stego ``<folder>/<stem>.png``."""
    path = Path(stego_path)
    return path.with_name(f'{path.stem}.key.json')


@dataclass(frozen=True)
class StegoKey:
    """Everything about one stego that reveal needs and the pixels do not carry (see the module docstring)."""
    config: NetworkConfig
    stego_size: tuple[int, int]
    stego_sha256: str
    secret_sizes: tuple[tuple[int, int], ...]
    secret_names: tuple[str, ...]
    cover: CoverPlan
    iir_sha256: str
    iih_sha256: str
    version: int = field(default=KEY_VERSION)
    model: str | None = None

    def __post_init__(self) -> None:
        n = self.config.num_images
        if len(self.secret_sizes) != n or len(self.secret_names) != n:
            raise KeyFileError(f'a key for {self.config.describe()} lists {n} secrets, got {len(self.secret_sizes)} '
                               f'sizes and {len(self.secret_names)} names')

    @property
    def num_images(self) -> int:
        """N, the number of hidden secrets."""
        return self.config.num_images

    @property
    def grid(self) -> tuple[int, int]:
        """(scale_h, scale_w)."""
        return self.config.scale_h, self.config.scale_w

    def to_json(self) -> dict[str, Any]:
        """The key as the JSON document described in the module docstring."""
        height, width = self.stego_size
        return {'format': KEY_FORMAT, 'version': self.version, 'num_images': self.num_images,
                'grid': {'scale_h': self.grid[0], 'scale_w': self.grid[1]},
                'config': self.config.fingerprint(),
                'stego': {'height': height, 'width': width, 'sha256': self.stego_sha256},
                'secrets': [{'name': name, 'height': h, 'width': w}
                            for name, (h, w) in zip(self.secret_names, self.secret_sizes)],
                'cover': self.cover.to_json(),
                'weights': {'iir_sha256': self.iir_sha256, 'iih_sha256': self.iih_sha256},
                **({'model': self.model} if self.model is not None else {})}

    def to_text(self) -> str:
        """The key file's text: indented JSON."""
        return json.dumps(self.to_json(), indent=2) + '\n'

    def save(self, path: str | os.PathLike) -> Path:
        """Write the key file, atomically (an existing file is replaced)."""
        return atomic_write_text(Path(path), self.to_text())

    @classmethod
    def from_json(cls, data: Any, source: str = 'key') -> 'StegoKey':
        """Parse a key document; :class:`KeyFileError` naming ``source`` and the field at fault."""
        try:
            depth, _ = measure_nesting(data)
            if depth > MAX_KEY_DEPTH:
                raise ValueError(f'it is nested {depth} deep; a key is {MAX_KEY_DEPTH} deep at most')
            return _parse(data)
        except (TypeError, ValueError) as err:
            raise KeyFileError(f'{source} is not a valid InvMIHNet key: {err}') from None

    @classmethod
    def load(cls, path: str | os.PathLike) -> 'StegoKey':
        """Read a key file; :class:`KeyFileError` for a missing, malformed, truncated or wrong-field file."""
        path = Path(path).expanduser()
        try:
            text = read_limited(path, KEY_FILE_LIMIT, 'key file').decode('utf-8')
        except (OSError, UnicodeDecodeError) as err:
            reason = err.strerror if isinstance(err, OSError) and err.strerror else err
            raise KeyFileError(f'key file {path}: cannot read it ({reason})') from None
        except ValueError as err:
            raise KeyFileError(f'{err}; a key file is about 2 kB of JSON') from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise KeyFileError(f'key file {path} is not valid JSON (truncated or damaged?): {err.msg} at line '
                               f'{err.lineno}, column {err.colno}') from None
        except ValueError as err:       # an integer of thousands of digits
            raise KeyFileError(f'key file {path} is not a valid InvMIHNet key: {err}') from None
        except RecursionError:
            raise KeyFileError(f'key file {path} is not a valid InvMIHNet key: its JSON is nested too deeply') \
                from None
        return cls.from_json(data, f'key file {path}')


# ------------------------------------------------------------------------------------------ parsing
def _count(value: Any, name: str, minimum: int = 1) -> int:
    return count(value, name, minimum, MAX_SIDE)


def _size(value: Any, name: str) -> tuple[int, int]:
    value = _mapping(value, name, ('height', 'width'))
    return _count(value['height'], f'{name}.height'), _count(value['width'], f'{name}.width')


def _parse(data: Any) -> StegoKey:
    model = data.get('model') if isinstance(data, dict) else None
    if model is not None and not isinstance(model, str):
        raise TypeError(f'model must be the path of a model folder (a string), got {model!r:.80}')
    data = _mapping({k: v for k, v in data.items() if k != 'model'} if isinstance(data, dict) else data,
                    'the document', _TOP_LEVEL)
    version = format_version(data, KEY_FORMAT, KEY_VERSION)
    config = NetworkConfig.from_fingerprint(data['config'], field='config')
    grid = _mapping(data['grid'], 'grid', ('scale_h', 'scale_w'))
    num_images = _count(data['num_images'], 'num_images')
    if (grid['scale_h'], grid['scale_w'], num_images) != (config.scale_h, config.scale_w, config.num_images):
        raise ValueError(f'num_images {num_images} and grid {grid} disagree with config '
                         f'({config.scale_h} x {config.scale_w}, N={config.num_images})')
    stego = _mapping(data['stego'], 'stego', ('height', 'width', 'sha256'))
    stego_size = _size({'height': stego['height'], 'width': stego['width']}, 'stego')
    if not config.valid_size(*stego_size):
        raise ValueError(f'stego size {stego_size[0]} x {stego_size[1]} is not valid for a '
                         f'{config.scale_h} x {config.scale_w} grid')
    secrets = data['secrets']
    if not isinstance(secrets, list) or len(secrets) != num_images:
        raise ValueError(f'secrets must list {num_images} entries, got {secrets!r:.80}')
    names, sizes = [], []
    for i, entry in enumerate(secrets):
        entry = _mapping(entry, f'secrets[{i}]', ('name', 'height', 'width'))
        if not isinstance(entry['name'], str):
            raise TypeError(f'secrets[{i}].name must be a string, got {entry["name"]!r:.80}')
        names.append(entry['name'])
        sizes.append(_size({'height': entry['height'], 'width': entry['width']}, f'secrets[{i}]'))
    cover = _mapping(data['cover'], 'cover', ('mode', 'original_size', 'box'))
    if cover['mode'] not in COVER_MODES:
        raise ValueError(f'cover.mode must be one of {list(COVER_MODES)}, got {cover["mode"]!r:.80}')
    box = _mapping(cover['box'], 'cover.box', ('top', 'left', 'height', 'width'))
    plan = CoverPlan(cover['mode'], _size(cover['original_size'], 'cover.original_size'), stego_size,
                     Box(*(_count(box[k], f'cover.box.{k}', 0) for k in ('top', 'left', 'height', 'width'))))
    weights = _mapping(data['weights'], 'weights', ('iir_sha256', 'iih_sha256'))
    return StegoKey(config=config, stego_size=stego_size, stego_sha256=_sha256(stego['sha256'], 'stego.sha256'),
                    secret_sizes=tuple(sizes), secret_names=tuple(names), cover=plan,
                    iir_sha256=_sha256(weights['iir_sha256'], 'weights.iir_sha256'),
                    iih_sha256=_sha256(weights['iih_sha256'], 'weights.iih_sha256'), version=version, model=model)
