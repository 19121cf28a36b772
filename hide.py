"""Hide N = scale_H * scale_W secret images in one cover image and write the stego as a PNG with metadata.

    python hide.py --opt options/test/test_InvMIHNet_4images.yml --cover cover.jpg \
        --secrets a.jpg b.png c.png d.png --out stego.png [--iir IIR.pth] [--iih IIH.pth] [--cpu] [--mode crop|pad]

The cover may have any size: ``--mode crop`` (default) center-crops it to the largest valid size (height a
multiple of 2*scale_H, width of 2*scale_W), ``--mode pad`` reflect-pads it to the next valid size. The secrets
may have any size: they are resized to the stego size and ``reveal.py`` returns them at their original sizes.
See ``utils/stego_png.py`` for the metadata written into the PNG.
"""
from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from data.image_io import read_image, to_uint8
from models import create_model
from models.invmihnet_model import InvMIHNetModel
from options.options import parse
from utils.device import select_device
from utils.metrics import psnr
from utils.stego_png import (COVER_MODES, StegoMetadata, apply_cover_plan, config_fingerprint, plan_cover,
                             resize_image, write_stego_png)


class HideError(ValueError):
    """A hiding request that cannot be carried out (wrong number of secrets, output not a PNG, ...)."""


def load_options(opt_path: str | os.PathLike, iir: str | os.PathLike | None = None,
                 iih: str | os.PathLike | None = None, cpu: bool = False) -> dict:
    """Parse a test option file; ``iir`` / ``iih`` replace its checkpoints, ``cpu`` forces the CPU."""
    opt = parse(opt_path, is_train=False)
    if iir is not None:
        opt['path']['pretrain_model_G'] = str(Path(iir).expanduser())
    if iih is not None:
        opt['path']['pretrain_model_H'] = str(Path(iih).expanduser())
    if cpu:
        opt['gpu_ids'] = None
    return opt


def load_model(opt: dict) -> InvMIHNetModel:
    """The model of ``opt`` with its checkpoints, on the device ``opt['gpu_ids']`` selects.

    Warns when a checkpoint is not configured: the network is then untrained and only good for testing.
    """
    missing = [name for name, key in (('IIR', 'pretrain_model_G'), ('IIH', 'pretrain_model_H'))
               if not opt['path'][key]]
    if missing:
        warnings.warn(f'no {" / ".join(missing)} checkpoint configured (path.pretrain_model_G / _H, --iir / --iih): '
                      f'the network is untrained and its results are meaningless', stacklevel=2)
    return create_model(opt, select_device(opt['gpu_ids']))


@contextlib.contextmanager
def cli_session() -> Iterator[None]:
    """For the command-line mains: warnings raised inside the block become one ``warning: ...`` line on stderr,
    and expected errors a ``SystemExit('error: ...')`` without a traceback."""
    def show(message, category, filename, lineno, file=None, line=None) -> None:
        print(f'warning: {message}', file=sys.stderr)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter('default')
            warnings.showwarning = show
            yield
    except (ValueError, OSError, torch.cuda.OutOfMemoryError) as err:
        raise SystemExit(f'error: {err}') from None


def image_to_tensor(image: np.ndarray) -> torch.Tensor:
    """HWC float array -> (1, 3, H, W) float32 tensor."""
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float().unsqueeze(0)


def tensor_to_image(tensor: torch.Tensor) -> np.ndarray:
    """(3, H, W) tensor -> HWC float32 array clamped to [0, 1]."""
    return tensor.detach().clamp(0, 1).permute(1, 2, 0).cpu().numpy().astype(np.float32)


def noise_generator(seed: int | None) -> torch.Generator | None:
    """A CPU generator seeded with ``seed`` (the same noise on every device), or None for fresh noise."""
    return None if seed is None else torch.Generator().manual_seed(seed)


def _rounded(value: float) -> float | str:
    return round(value, 4) if math.isfinite(value) else str(value)


def hide_files(opt: dict, cover_path: str | os.PathLike, secret_paths: Sequence[str | os.PathLike],
               out_path: str | os.PathLike, mode: str = 'crop', model: InvMIHNetModel | None = None) -> dict[str, Any]:
    """Hide the secrets in the cover and write the stego PNG (atomically) with its metadata.

    Also reveals in memory, with the noise of ``opt['test']['seed']``, from the 8-bit stego and from the float
    stego, and reports both secret PSNRs (0-255 scale, against the secrets as hidden, i.e. at stego size).
    Returns a summary: ``stego_path``, ``stego_size``, ``cover`` (the :class:`CoverPlan`), ``secret_sizes``,
    ``secret_names``, ``stego_psnr``, ``secret_psnr_png`` / ``secret_psnr_float`` (per secret) and their means
    ``mean_secret_psnr_png`` / ``mean_secret_psnr_float``, ``seed``. Nothing is written on error.
    """
    n = opt['num_images']
    scale_h, scale_w = opt['scale_H'], opt['scale_W']
    out_path = Path(out_path)
    if len(secret_paths) != n:
        raise HideError(f'a {scale_h} x {scale_w} InvMIHNet hides exactly N={n} secrets, got {len(secret_paths)}')
    if out_path.suffix.lower() != '.png':
        raise HideError(f'the stego must be written as a PNG (lossless); {out_path} does not end in .png')
    if mode not in COVER_MODES:
        raise HideError(f'mode must be one of {list(COVER_MODES)}, got {mode!r}')

    cover_raw = read_image(cover_path)
    secrets_raw = [read_image(p) for p in secret_paths]
    plan = plan_cover(cover_raw.shape[0], cover_raw.shape[1], scale_h, scale_w, mode)
    cover = apply_cover_plan(cover_raw, plan)
    height, width = plan.stego_size
    secrets = [resize_image(s, height, width) for s in secrets_raw]

    model = model if model is not None else load_model(opt)
    model.net.check_size(height, width)
    cover_t = image_to_tensor(cover)
    secrets_t = torch.cat([image_to_tensor(s) for s in secrets])
    hidden = model.hide(cover_t, secrets_t)

    seed = opt['test']['seed']
    if seed is None:
        seed = int(torch.randint(0, 2 ** 31 - 1, ()).item())
    gaussian_scale = opt['test']['gaussian_scale']
    from_png = model.reveal(hidden.stego, gaussian_scale=gaussian_scale, generator=noise_generator(seed)).secrets
    from_float = model.reveal(hidden.stego_float, from_float=True, gaussian_scale=gaussian_scale,
                              generator=noise_generator(seed)).secrets
    stego_psnr = psnr(to_uint8(cover), to_uint8(hidden.stego[0]))
    truth = [to_uint8(s) for s in secrets]
    psnr_png = [psnr(t, to_uint8(r.clamp(0, 1))) for t, r in zip(truth, from_png)]
    psnr_float = [psnr(t, to_uint8(r.clamp(0, 1))) for t, r in zip(truth, from_float)]

    meta = StegoMetadata(
        num_images=n, scale_h=scale_h, scale_w=scale_w, stego_size=(height, width),
        secret_sizes=[(s.shape[0], s.shape[1]) for s in secrets_raw],
        secret_names=[Path(p).name for p in secret_paths], cover=plan.to_json(), fingerprint=config_fingerprint(opt),
        hide_report={'seed': seed, 'gaussian_scale': gaussian_scale, 'stego_psnr': _rounded(stego_psnr),
                     'secret_psnr_png': [_rounded(v) for v in psnr_png],
                     'secret_psnr_float': [_rounded(v) for v in psnr_float]})
    write_stego_png(hidden.stego[0], out_path, meta)
    return {'stego_path': out_path, 'stego_size': (height, width), 'cover': plan,
            'secret_sizes': meta.secret_sizes, 'secret_names': meta.secret_names, 'stego_psnr': stego_psnr,
            'secret_psnr_png': psnr_png, 'secret_psnr_float': psnr_float,
            'mean_secret_psnr_png': float(np.mean(psnr_png)), 'mean_secret_psnr_float': float(np.mean(psnr_float)),
            'seed': seed}


def format_summary(result: dict[str, Any]) -> str:
    """The summary ``hide.py`` prints."""
    height, width = result['stego_size']
    lines = [result['cover'].describe(),
             f'stego {height} x {width} (H x W) written to {result["stego_path"]}; '
             f'stego PSNR vs the processed cover {result["stego_psnr"]:.2f} dB']
    for i, (name, (sh, sw)) in enumerate(zip(result['secret_names'], result['secret_sizes']), 1):
        fitted = 'hidden as it is' if (sh, sw) == (height, width) else f'resized to {height} x {width} for hiding'
        lines.append(f'  secret {i:02d} {name}: {sh} x {sw}, {fitted}; '
                     f'recovered PSNR {result["secret_psnr_png"][i - 1]:.2f} dB (PNG), '
                     f'{result["secret_psnr_float"][i - 1]:.2f} dB (float)')
    png, flt = result['mean_secret_psnr_png'], result['mean_secret_psnr_float']
    lines.append(f'mean recovered-secret PSNR (seed {result["seed"]}, at stego size): {png:.2f} dB revealing from '
                 f'the 8-bit PNG, {flt:.2f} dB from the float stego (PNG - float = {png - flt:+.2f} dB)')
    return '\n'.join(lines)


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The checkpoint and device options shared by hide.py and reveal.py."""
    parser.add_argument('--iir', help='IIR checkpoint (default: path.pretrain_model_G of the option file)')
    parser.add_argument('--iih', help='IIH checkpoint (default: path.pretrain_model_H of the option file)')
    parser.add_argument('--cpu', action='store_true', help='run on the CPU even when CUDA is available')


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface of hide.py."""
    parser = argparse.ArgumentParser(description='Hide N secret images in a cover image with InvMIHNet.')
    parser.add_argument('--opt', required=True, help='test option file, e.g. options/test/test_InvMIHNet_4images.yml')
    parser.add_argument('--cover', required=True, help='cover image (any size, any format OpenCV reads)')
    parser.add_argument('--secrets', required=True, nargs='+', help='exactly N secret images (any sizes)')
    parser.add_argument('--out', required=True, help='stego PNG to write')
    add_model_arguments(parser)
    parser.add_argument('--mode', choices=COVER_MODES, default='crop',
                        help='fit the cover to the grid by a centred crop (default) or by reflect padding')
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run hide.py; every error becomes ``SystemExit('error: ...')``."""
    args = build_parser().parse_args(argv)
    with cli_session():
        opt = load_options(args.opt, args.iir, args.iih, args.cpu)
        result = hide_files(opt, args.cover, args.secrets, args.out, mode=args.mode)
    print(format_summary(result))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
