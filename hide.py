"""Hide N = scale_H * scale_W secret images in one cover image: a clean stego PNG plus a key file.

    python hide.py --cover cover.jpg --secrets a.jpg b.png c.png d.png --out stego.png \
        [--model experiments/pretrained_models/<folder> | --opt options/test/<file>.yml
         [--iir IIR.pth] [--iih IIH.pth]] [--key stego.key.json] [--mode crop|pad] [--verify]
        [--cpu] [--seed 0] [--max-pixels 50000000] [--overwrite]

Without ``--model`` / ``--opt`` the bundled model for that many secrets is used (4 or 16).

The stego PNG carries pixels only. The key file (default ``<out stem>.key.json`` beside it) holds what reveal.py
needs to restore the secrets' sizes and names and to check the configuration, weights and pixels; share it with
the receiver over another channel. The logic lives in the ``stego`` package; this script parses and prints.
"""
from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path

from stego import HideResult, default_key_path, hide_images
from stego.cli import (add_common_arguments, channel_notice, cli_session, load_cli_model, model_inputs, model_source,
                       print_warnings, reveal_seed)
from stego.cover import COVER_MODES
from stego.outputs import check_outputs, write_files
from stego.png import check_png_path, encode_png


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface of hide.py."""
    parser = argparse.ArgumentParser(description='Hide N secret images in a cover image with InvMIHNet.')
    parser.add_argument('--cover', required=True, help='cover image (any size, any common format)')
    parser.add_argument('--secrets', required=True, nargs='+', help='exactly N secret images (any sizes)')
    parser.add_argument('--out', required=True, help='stego PNG to write')
    parser.add_argument('--key', help='key file to write (default: <out stem>.key.json beside the stego)')
    parser.add_argument('--mode', choices=COVER_MODES, default='crop',
                        help='fit the cover to the grid by a centred crop (default) or by reflect padding')
    parser.add_argument('--verify', action='store_true',
                        help='also reveal in memory and report the secrets\' PSNR at their original sizes')
    add_common_arguments(parser)
    return parser


def _db(value: float) -> str:
    return f'{value:.2f} dB' if math.isfinite(value) else 'inf (identical)'


def format_report(result: HideResult, stego_path: Path, key_path: Path, seed: int) -> str:
    """What hide.py prints: what was done to the cover and secrets, the PSNRs, the files written."""
    height, width = result.key.stego_size
    metrics = result.metrics
    lines = list(result.messages)
    lines.append(f'stego {height} x {width} (H x W): PSNR {_db(metrics["stego_psnr"])} against the fitted cover')
    if 'secret_psnr' in metrics:
        n = result.key.num_images
        lines.append(f'recovered secrets (noise seed {seed}, at their original sizes): mean PSNR '
                     f'{_db(metrics["secret_psnr"])} revealing from the 8-bit PNG, '
                     f'{_db(metrics["secret_psnr_float"])} from the float stego')
        lines += [f'  secret {i:02d}: {_db(metrics[f"secret_psnr_{i:02d}"])} (PNG), '
                  f'{_db(metrics[f"secret_psnr_float_{i:02d}"])} (float)' for i in range(1, n + 1)]
    else:
        lines.append('(--verify also reveals the secrets and reports their PSNR)')
    lines.append(f'wrote {stego_path} (a plain PNG: pixels only) and {key_path}')
    lines.append(f'share {key_path.name} with the receiver over another channel: reveal.py --key restores the '
                 f'secrets\' sizes and names from it')
    return '\n'.join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run hide.py; every error becomes ``SystemExit('error: ...')`` and nothing is written."""
    args = build_parser().parse_args(argv)
    with cli_session('hide.py'):
        stego_path = check_png_path(args.out)
        key_path = Path(args.key) if args.key else default_key_path(stego_path)
        inputs = [args.cover, *args.secrets, model_source(args, num_secrets=len(args.secrets)), args.iir, args.iih]
        check_outputs([stego_path, key_path], inputs, args.overwrite)
        model = load_cli_model(args, num_secrets=len(args.secrets))
        inputs += model_inputs(model)                  # the files the model was read from are inputs too
        check_outputs([stego_path, key_path], inputs, args.overwrite)
        seed = reveal_seed(args, model)
        result = hide_images(model, args.cover, args.secrets, mode=args.mode, verify=args.verify,
                             max_pixels=args.max_pixels, seed=seed)
        write_files({stego_path: encode_png(result.stego), key_path: result.key.to_text().encode('utf-8')},
                    args.overwrite, inputs=inputs)
    print(format_report(result, stego_path, key_path, seed))
    print_warnings(result.warnings)
    print(f'warning: {channel_notice(model)}', file=sys.stderr)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
