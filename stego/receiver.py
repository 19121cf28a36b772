"""The receiver's side: reveal the N secrets of a stego, with or without its key, and write them safely."""
from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from inference.round_trip import restore_sizes
from inference.stego_model import StegoModel
from utils.grid import SizeError
from stego.errors import CoverSizeError, KeyMismatchError
from stego.images import DEFAULT_MAX_PIXELS, ImageSource, load_rgb, too_large
from stego.key import StegoKey, pixels_sha256, weights_sha256
from stego.outputs import check_outputs, write_files
from stego.png import encode_png
from utils.image_io import hwc_to_chw, to_uint8


@dataclass
class RevealResult:
    """Revealed secrets (HxWx3 uint8 RGB, at their original sizes when a key was given, else at the stego size),
    their output file names, and warnings (for example: the pixels differ from what hide wrote)."""
    secrets: list[np.ndarray]
    names: list[str]
    warnings: list[str] = field(default_factory=list)
    key: StegoKey | None = None


def output_names(key: StegoKey | None, count: int) -> list[str]:
    """``01_<stem>.png`` ... from the key's secret names (made safe as file names), else ``secret_01.png`` ..."""
    if key is None:
        return [f'secret_{i:02d}.png' for i in range(1, count + 1)]
    names = []
    for i, name in enumerate(key.secret_names, 1):
        stem = re.sub(r'[^A-Za-z0-9._-]+', '_', Path(name.replace('\\', '/')).stem).strip('._')[:80]
        names.append(f'{i:02d}_{stem}.png' if stem else f'secret_{i:02d}.png')
    return names


def reveal_tensor(model: StegoModel, stego: torch.Tensor, seed: int, from_float: bool = False) -> torch.Tensor:
    """The N secrets (N, 3, H, W), at the stego size, revealed from a (1, 3, H, W) stego, the noise drawn from a
    CPU generator seeded with ``seed`` (the same on every device)."""
    return model.reveal(stego, from_float=from_float, generator=torch.Generator().manual_seed(seed)).secrets


def check_secret_sizes(key: StegoKey, max_pixels: int) -> None:
    """Refuse (:class:`ImageTooLargeError`) a key whose secret sizes are above ``max_pixels``: they are what
    revealing allocates, so they are checked before anything is decoded."""
    for i, ((height, width), name) in enumerate(zip(key.secret_sizes, key.secret_names), 1):
        if height * width > max_pixels:
            raise too_large(f'the key\'s secret {i:02d} ({name[:80]!r})', height, width, max_pixels,
                            'refused before revealing')


def check_key(model: StegoModel, key: StegoKey) -> None:
    """Raise :class:`KeyMismatchError` unless ``key`` was made with this model's configuration and weights."""
    config = model.network_config
    differences = key.config.differences(config)
    if differences:
        raise KeyMismatchError(f'the key was made with {key.config.describe()}, but the loaded model is '
                               f'{config.describe()} ({"; ".join(differences)}); reveal with the option file and '
                               f'checkpoints the stego was hidden with')
    wrong = [name for name, net, expected in (('IIR', model.net.iir, key.iir_sha256),
                                              ('IIH', model.net.iih, key.iih_sha256))
             if weights_sha256(net) != expected]
    if wrong:
        raise KeyMismatchError(f'the loaded {" and ".join(wrong)} weights are not the ones the stego was hidden with '
                               f'(sha256 differs from the key); reveal with the same checkpoints (--iir / --iih)')


def reveal_image(model: StegoModel, stego: ImageSource, key: StegoKey | str | os.PathLike | None = None, *,
                 max_pixels: int = DEFAULT_MAX_PIXELS, seed: int = 0) -> RevealResult:
    """Reveal the N secrets of a stego PNG file (or HxWx3 uint8 RGB array).

    With a key (a :class:`StegoKey` or its file), the configuration, weights and stego size are checked first
    (:class:`KeyMismatchError`), the secrets come back at their original sizes and names, and pixels that differ
    from the ones hide wrote give a warning. Without a key the model's configuration is used and the secrets
    come back at the stego size as ``secret_01.png`` ... ``seed`` seeds the reveal noise.
    """
    if key is not None and not isinstance(key, StegoKey):
        key = StegoKey.load(key)
    if key is not None:
        check_secret_sizes(key, max_pixels)
    name = 'the stego array' if isinstance(stego, np.ndarray) else str(stego)
    image, warnings = load_rgb(stego, 'stego', max_pixels, stego=True)
    height, width = image.shape[:2]
    if key is not None:
        check_key(model, key)
        if (height, width) != key.stego_size:
            raise KeyMismatchError(f'the key is for a {key.stego_size[0]} x {key.stego_size[1]} (H x W) stego, but '
                                   f'{name} is {height} x {width}: the key of another stego, or the stego was '
                                   f'resized or cropped after hiding')
    try:
        model.network_config.check_size(height, width, what=f'stego {name}')
    except SizeError as err:
        raise CoverSizeError(f'{err}; was it resized or cropped after hiding?') from err
    pixels = to_uint8(image)
    if key is not None and pixels_sha256(pixels) != key.stego_sha256:
        warnings.append(f'the pixels of {name} differ from the ones hide wrote (sha256 does not match the key): it '
                        f'was re-encoded (for example saved as JPEG and back) or edited after hiding, so the revealed '
                        f'secrets are probably noise')
    revealed = reveal_tensor(model, hwc_to_chw(image)[None], seed)
    sizes = key.secret_sizes if key is not None else [(height, width)] * model.network_config.num_images
    return RevealResult(secrets=restore_sizes(revealed, sizes), names=output_names(key, len(revealed)),
                        warnings=warnings, key=key)


def write_secrets(result: RevealResult, out_dir: str | os.PathLike, overwrite: bool = False,
                  inputs: Iterable[str | os.PathLike] = ()) -> list[Path]:
    """Write the revealed secrets as clean PNGs ``out_dir/<name>``, all or nothing.

    Refuses (:class:`stego.errors.OutputError`) a target that is one of ``inputs`` and, unless ``overwrite``,
    an existing file; on any error the folder is left as it was.
    """
    folder = Path(out_dir).expanduser()
    targets = {folder / name: encode_png(secret) for name, secret in zip(result.names, result.secrets)}
    check_outputs(targets, inputs, overwrite)
    return write_files(targets, overwrite, inputs)
