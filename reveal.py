"""Reveal the N secret images hidden in a stego PNG written by ``hide.py``.

    python reveal.py --opt options/test/test_InvMIHNet_4images.yml --stego stego.png --out-dir revealed/ \
        [--iir IIR.pth] [--iih IIH.pth] [--seed 0] [--cpu] [--from-float-compare]

The secrets are saved as ``01_<name>.png``, ``02_<name>.png`` ... (``secret_01.png`` ... when the PNG carries
no InvMIHNet metadata) at the sizes they had before hiding. The noise drawn for the reveal is seeded by
``--seed`` (default ``test.seed`` of the option file).
"""
from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path


from data.image_io import save_image
from hide import add_model_arguments, cli_session, image_to_tensor, load_model, load_options, noise_generator, tensor_to_image
from models.invmihnet_model import InvMIHNetModel
from utils.stego_png import (StegoFile, check_compatible, check_stego_size, config_fingerprint, output_names,
                             read_stego_png, resize_image)


def reveal_stego(opt: dict, stego_path: str | os.PathLike, out_dir: str | os.PathLike, seed: int | None = None,
                 model: InvMIHNetModel | None = None) -> tuple[list[Path], StegoFile]:
    """:func:`reveal_file`, also returning the stego as read (pixels and metadata)."""
    stego = read_stego_png(stego_path)
    meta = stego.metadata
    height, width = stego.image.shape[:2]
    if meta is not None:
        check_compatible(meta, opt, stego.path)
    check_stego_size(height, width, opt['scale_H'], opt['scale_W'], stego.path)
    if model is not None and config_fingerprint(model.opt) != config_fingerprint(opt):
        raise ValueError('the model passed to reveal_file was built from another configuration than opt')
    sizes = meta.secret_sizes if meta is not None else [(height, width)] * opt['num_images']
    names = output_names(meta, opt['num_images'])

    model = model if model is not None else load_model(opt)
    seed = opt['test']['seed'] if seed is None else seed
    revealed = model.reveal(image_to_tensor(stego.image), gaussian_scale=opt['test']['gaussian_scale'],
                            generator=noise_generator(seed)).secrets
    images = [resize_image(tensor_to_image(r), h, w) for r, (h, w) in zip(revealed, sizes)]

    out_dir = Path(out_dir)
    written: list[Path] = []
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for image, name in zip(images, names):
            save_image(image, out_dir / name)
            written.append(out_dir / name)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return written, stego


def reveal_file(opt: dict, stego_path: str | os.PathLike, out_dir: str | os.PathLike, seed: int | None = None,
                model: InvMIHNetModel | None = None) -> list[Path]:
    """Reveal the secrets of a stego PNG into ``out_dir`` (created) at their original sizes; returns the files.

    The stego's metadata is checked against ``opt`` before any network is built; a PNG without metadata is
    revealed with ``opt``'s N, the secrets at stego size (with a warning). ``seed`` (default
    ``opt['test']['seed']``) seeds the reveal noise. No file is left behind on error.
    """
    return reveal_stego(opt, stego_path, out_dir, seed, model)[0]


def format_float_comparison(stego: StegoFile, seed: int | None) -> str:
    """What hide.py measured about revealing from the 8-bit PNG versus from the float stego."""
    report = stego.metadata.hide_report if stego.metadata is not None else {}
    if not report.get('secret_psnr_png') or not report.get('secret_psnr_float'):
        return 'no PNG-vs-float comparison is recorded in this stego (it was not written by hide.py)'
    png = [float(v) for v in report['secret_psnr_png']]
    flt = [float(v) for v in report['secret_psnr_float']]
    mean_png, mean_flt = sum(png) / len(png), sum(flt) / len(flt)
    lines = [f'hide.py measured (seed {report.get("seed")}, gaussian_scale {report.get("gaussian_scale")}, '
             f'secrets at stego size): mean recovered PSNR {mean_png:.2f} dB from the 8-bit PNG, {mean_flt:.2f} dB '
             f'from the float stego (PNG - float = {mean_png - mean_flt:+.2f} dB)']
    lines += [f'  secret {i:02d}: {p:.2f} dB (PNG), {f:.2f} dB (float)' for i, (p, f) in enumerate(zip(png, flt), 1)]
    if report.get('seed') != seed:
        lines.append(f'  (this reveal used seed {seed}, so its noise differs from the measured reveal)')
    return '\n'.join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface of reveal.py."""
    parser = argparse.ArgumentParser(description='Reveal the secret images hidden in an InvMIHNet stego PNG.')
    parser.add_argument('--opt', required=True, help='the test option file the stego was hidden with')
    parser.add_argument('--stego', required=True, help='stego PNG written by hide.py')
    parser.add_argument('--out-dir', required=True, help='folder for the revealed secrets (created)')
    add_model_arguments(parser)
    parser.add_argument('--seed', type=int, help='seed of the reveal noise (default: test.seed of the option file)')
    parser.add_argument('--from-float-compare', action='store_true',
                        help='also print the PSNR difference between revealing from the 8-bit PNG and from the '
                             'float stego, as hide.py measured and recorded it')
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run reveal.py; every error becomes ``SystemExit('error: ...')``."""
    args = build_parser().parse_args(argv)
    with cli_session():
        opt = load_options(args.opt, args.iir, args.iih, args.cpu)
        seed = opt['test']['seed'] if args.seed is None else args.seed
        written, stego = reveal_stego(opt, args.stego, args.out_dir, seed=seed)
    height, width = stego.image.shape[:2]
    cover = stego.metadata.cover if stego.metadata is not None else None
    lines = [f'stego {stego.path}: {height} x {width} (H x W), {opt["num_images"]} secrets, noise seed {seed}']
    if cover is not None:
        original = cover['original_size']
        lines.append(f'cover handling at hiding: {cover["mode"]} from {original["height"]} x {original["width"]}, '
                     f'box {cover["box"]}')
    lines += [f'  {path}' for path in written]
    if args.from_float_compare:
        lines.append(format_float_comparison(stego, seed))
    print('\n'.join(lines))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
