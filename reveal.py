"""Reveal the N secret images hidden in a stego PNG, with its key file or from the model alone.

    python reveal.py --stego stego.png --key stego.key.json --out-dir revealed/ \
        [--model FOLDER | --opt options/test/<file>.yml [--iir IIR.pth] [--iih IIH.pth]] [--cpu] [--seed 0]
        [--max-pixels 50000000] [--overwrite]

Without ``--model`` / ``--opt`` the model folder the key names is used (else the bundled CPU model folder).

With ``--key`` the secrets are written as ``01_<name>.png`` ... at the sizes they had before hiding; a key made
with another configuration or other weights, or for another stego size, is an error, and pixels that differ from
the ones hide.py wrote (a re-encoded or edited stego) give a warning. Without a key the model
reveals N secrets at the stego size as ``secret_01.png`` ... The logic lives in the ``stego`` package.
"""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from stego import StegoKey, default_key_path, reveal_image, write_secrets
from stego.cli import (add_common_arguments, cli_session, load_cli_model, model_inputs, model_source, print_warnings,
                       reveal_seed)
from stego.model import resolve_reference
from stego.outputs import check_outputs
from stego.receiver import check_secret_sizes, output_names


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface of reveal.py."""
    parser = argparse.ArgumentParser(description='Reveal the secret images hidden in an InvMIHNet stego PNG.')
    parser.add_argument('--stego', required=True, help='stego PNG written by hide.py')
    parser.add_argument('--key', help='key file written by hide.py (restores sizes and names, checks the model)')
    parser.add_argument('--out-dir', required=True, help='folder for the revealed secrets (created)')
    add_common_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run reveal.py; every error becomes ``SystemExit('error: ...')`` and the output folder is left as it was."""
    args = build_parser().parse_args(argv)
    out_dir = Path(args.out_dir)
    with cli_session('reveal.py'):
        key = StegoKey.load(args.key) if args.key else None
        if key is not None:
            check_secret_sizes(key, args.max_pixels)
        named = str(resolve_reference(key.model)) if key is not None and key.model else None
        model = load_cli_model(args, named)
        inputs = [args.stego, args.key, model_source(args, named), args.iir, args.iih, *model_inputs(model)]
        names = output_names(key, model.network_config.num_images)
        check_outputs([out_dir / name for name in names], inputs, args.overwrite)
        seed = reveal_seed(args, model)
        result = reveal_image(model, args.stego, key, max_pixels=args.max_pixels, seed=seed)
        written = write_secrets(result, out_dir, args.overwrite, inputs=inputs)
    lines = [f'revealed {len(written)} secrets from {args.stego} (noise seed {seed}):']
    lines += [f'  {path}  ({image.shape[0]} x {image.shape[1]})' for path, image in zip(written, result.secrets)]
    if key is None:
        lines.append('no --key: the secrets are at the stego size, named secret_01.png ...')
        beside = default_key_path(args.stego)
        if beside.is_file():
            lines.append(f'(found {beside}: pass --key {beside} to restore their sizes and names)')
    print('\n'.join(lines))
    print_warnings(result.warnings)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
