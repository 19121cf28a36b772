"""Mixed precision against fp32 on the reference checkpoints: hide + reveal PSNR and invertibility round trips.

    python -m benchmarks.check_precision --precision bf16 --cases 4 6 8 9 16

For every reference case of ``tests/data`` (published architecture, non-trivial weights, 96 x 96 images): hide and
reveal from the 8-bit stego with the case's noise in fp32 and in the given precision, the stego vs cover and
recovered vs secret PSNR (RGB, 0-255) of both, and the round-trip error |f^-1(f(x)) - x| of IIR and IIH with
low-precision subnets, worst and mean over all values. The coupling arithmetic stays fp32, so most values come
back to fp32 rounding; the few whose subnet input lands on the other side of a bf16 rounding boundary in the
reverse pass (the reverse sees its input to fp32 rounding, not bit for bit) carry an error of bf16 size, which
sets the worst case. Then the same PSNRs for a trained model: the bundled demo model on its held-out Kodak crops,
as test.py evaluates it (``--no-demo`` skips it).

Each table is also written as a results file (utils/results.py) under ``--results``: ``<stem>_reference.json``
(``_reference_<cases>.json`` for a subset of the cases) and ``<stem>_demo.json`` (``_demo_emulated.json`` with
``--emulate-demo``); docs/performance.md shows them.
"""
from __future__ import annotations

import argparse
import platform
import tempfile
from pathlib import Path

import torch

from benchmarks.bf16_training import emulate_bf16_subnets
from benchmarks.golden_cases import CASES, load_case, option_file_for
from data import create_dataloader, create_dataset
from inference.evaluation import evaluate_dataset
from inference.round_trip import RoundTrip
from inference.stego_model import StegoModel
from models.modules.wavelet import dwt
from models.mosaic import to_tiles
from options import parse
from utils.results import write_results

DEMO = 'options/test/test_InvMIHNet_4images_demo.yml'
REFERENCE_NOTES = ('The weights of the reference cases (tests/data), published architectures, 96 x 96 images, hide + '
                   'reveal from the 8-bit stego with the same noise in fp32 and in low precision; round trip '
                   '|f^-1(f(x)) - x| of each network, worst and mean over all values.')


def measure(model, ref: dict) -> dict[str, float]:
    """Stego and mean secret PSNR of one hide + reveal (8-bit stego, the case's noise), and round-trip errors."""
    images = ref['images']
    hidden = model.hide(images[:1], images[1:])
    revealed = model.reveal(hidden.stego, ref['noise_iih'], ref['noise_iir'])
    net = model.net
    with torch.no_grad():
        iir_error = (net.iir(net.iir(images[1:]), rev=True) - images[1:]).abs()
        wavelets = torch.cat((dwt(to_tiles(images[:1], net.scale_h, net.scale_w)), dwt(hidden.secret_lr)), 1)
        iih_error = (net.iih(net.iih(wavelets), rev=True) - wavelets).abs()
    return {**RoundTrip.of(images[:1], images[1:], hidden, revealed.secrets).psnr_metrics(),
            'iir_roundtrip': iir_error.max().item(), 'iih_roundtrip': iih_error.max().item(),
            'iir_roundtrip_mean': iir_error.mean().item(), 'iih_roundtrip_mean': iih_error.mean().item()}


def _errors(result: dict[str, float], name: str) -> str:
    return f'{result[name]:.1e} / {result[name + "_mean"]:.1e}'


def _print_row(row: dict) -> None:
    print('| ' + ' | '.join(str(v) for v in row.values()) + ' |', flush=True)


def trained_model_psnrs(precision: str, device: torch.device, emulate: bool = False) -> tuple[dict, dict]:
    """Mean stego and secret PSNR of the bundled demo model (trained) on its held-out Kodak crops, as test.py
    computes them (8-bit stego), in fp32 and in ``precision`` (bf16 emulated at fp32 speed when ``emulate``; see
    benchmarks/bf16_training.py)."""
    opt = parse(DEMO, is_train=False)
    dataset_opt = opt['datasets']['test_1']
    loader = create_dataloader(create_dataset(dataset_opt), dataset_opt, opt['num_images'])
    model = StegoModel.from_options(opt, device)
    fp32 = evaluate_dataset(model, loader, opt['test']).means()
    if emulate:
        emulate_bf16_subnets(model.net)
    else:
        model.set_inference(precision=precision)
    return fp32, evaluate_dataset(model, loader, opt['test']).means()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--precision', default='bf16', choices=['bf16', 'fp16'])
    parser.add_argument('--cases', type=int, nargs='+', default=list(CASES), choices=CASES)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--no-demo', action='store_true', help='skip the bundled demo model on Kodak crops')
    parser.add_argument('--emulate-demo', action='store_true',
                        help='demo model only: bf16 emulated at fp32 speed, for CPUs without bf16 instructions')
    parser.add_argument('--results', default=None,
                        help='stem of the results files (default benchmarks/results/precision_<precision>)')
    args = parser.parse_args()
    if args.emulate_demo and args.precision != 'bf16':
        parser.error('--emulate-demo emulates bf16 only')
    stem = args.results or f'benchmarks/results/precision_{args.precision}'
    subset = '' if args.cases == list(CASES) else '_' + '-'.join(map(str, args.cases))
    device = torch.device(args.device)
    print(f'# reference checkpoints (tests/data), 96 x 96 images, revealing from the 8-bit stego; device {device} '
          f'({platform.processor() or platform.machine()}), torch {torch.__version__}, '
          f'{torch.get_num_threads()} threads')
    p = args.precision
    columns = ['N', 'stego PSNR fp32', f'stego PSNR {p}', 'secret PSNR fp32', f'secret PSNR {p}', 'secret diff (dB)',
               f'IIR round trip {p} (max / mean)', f'IIH round trip {p} (max / mean)', 'IIR round trip fp32',
               'IIH round trip fp32']
    print('| ' + ' | '.join(columns) + ' |')
    print('|' + '---|' * len(columns))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.cases:
            ref = load_case(n)
            model = StegoModel.from_options(option_file_for(n, Path(tmp) / str(n)), device)
            fp32 = measure(model, ref)
            model.set_inference(precision=p)
            low = measure(model, ref)
            rows.append(dict(zip(columns, (
                n, round(fp32['stego_psnr'], 2), round(low['stego_psnr'], 2), round(fp32['secret_psnr'], 2),
                round(low['secret_psnr'], 2), f'{low["secret_psnr"] - fp32["secret_psnr"]:+.3f}',
                _errors(low, 'iir_roundtrip'), _errors(low, 'iih_roundtrip'), _errors(fp32, 'iir_roundtrip'),
                _errors(fp32, 'iih_roundtrip')))))
            _print_row(rows[-1])
    print(f'wrote {write_results(f"{stem}_reference{subset}.json", rows, columns, REFERENCE_NOTES)}')
    if not args.no_demo:
        fp32, low = trained_model_psnrs(p, device, args.emulate_demo)
        notes = (f'The bundled demo model ({DEMO}) on its 2 held-out image sets of Kodak crops, 256 x 256, as '
                 f'test.py evaluates it' + (f'; {p} emulated at fp32 speed' * args.emulate_demo) + '.')
        print(f'\n# {notes}')
        columns = ['stego PSNR fp32', f'stego PSNR {p}', 'secret PSNR fp32', f'secret PSNR {p}', 'secret diff (dB)']
        print('| ' + ' | '.join(columns) + ' |')
        print('|' + '---|' * len(columns))
        row = dict(zip(columns, (round(fp32['stego_psnr'], 2), round(low['stego_psnr'], 2),
                                 round(fp32['secret_psnr'], 2), round(low['secret_psnr'], 2),
                                 f'{low["secret_psnr"] - fp32["secret_psnr"]:+.3f}')))
        _print_row(row)
        demo = f'{stem}_demo' + ('_emulated' * args.emulate_demo) + '.json'
        print(f'wrote {write_results(demo, [row], columns, notes)}')


if __name__ == '__main__':
    main()
