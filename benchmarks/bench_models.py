"""Hide + reveal time per image set, peak memory and PSNR for a configuration and image size, per variant.

    python -m benchmarks.bench_models --opt options/test/test_InvMIHNet_16images.yml --size 1024 --repeats 1 \\
        --warmup 0 --precision fp32 bf16 --chunk 0 1

Each variant (every --precision with every --chunk and every subnet --layout; chunk 0 = all secrets / tiles in
one call; ``--precision bf16-recast`` is the bf16 path before features were kept in bf16) runs in its own process,
so its peak memory is its own; ``--results FILE`` writes the rows as a results file (``utils.results``). Untrained weights of
the configured architecture unless --checkpoints (timing does not depend on the weights); random images, the same in every variant, revealed from the 8-bit
stego with the same noise, so the PSNR columns compare the variants' arithmetic.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

from benchmarks.bench_train import recasting_forward
from inference.round_trip import RoundTrip
from inference.stego_model import StegoModel
from models.modules.dense_subnet import MEMORY_FORMATS, DenseSubnet, set_memory_format
from options import parse
from utils.device import select_device
from utils.results import cpu_description, write_results


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def worker(args: argparse.Namespace) -> None:
    """Time one variant; prints a JSON line."""
    opt = copy.deepcopy(parse(args.opt, is_train=False))
    if not args.checkpoints:
        opt['path'].update(pretrain_model_G=None, pretrain_model_H=None)
    device = torch.device(args.device) if args.device else select_device(opt['gpu_ids'])
    model = StegoModel.from_options(opt, device)
    if args.precision == 'bf16-recast':
        DenseSubnet.forward = recasting_forward
    model.set_inference(precision=args.precision.split('-')[0], chunk=args.chunk or None, compile=args.compiled)
    set_memory_format(model.net, args.layout)
    h, w = (args.size * 2)[:2]
    model.net.check_size(h, w)
    images = torch.rand(opt['num_images'] + 1, 3, h, w, generator=torch.Generator().manual_seed(0)).to(device)
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
    hide_s, reveal_s = [], []
    for _ in range(args.warmup + args.repeats):
        _sync(device)
        start = time.perf_counter()
        hidden = model.hide(images[:1], images[1:])
        _sync(device)
        mid = time.perf_counter()
        revealed = model.reveal(hidden.stego, generator=torch.Generator().manual_seed(1))
        _sync(device)
        hide_s.append(mid - start)
        reveal_s.append(time.perf_counter() - mid)
    peak = (torch.cuda.max_memory_allocated(device) if device.type == 'cuda'
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    med = (lambda t: sorted(t[args.warmup:])[len(t[args.warmup:]) // 2])
    psnrs = RoundTrip.of(images[:1], images[1:], hidden, revealed.secrets).psnr_metrics()
    print(json.dumps({'hide_s': med(hide_s), 'reveal_s': med(reveal_s), 'peak_bytes': peak, 'device': str(device),
                      'config': model.config, **psnrs}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--opt', default='options/test/test_InvMIHNet_4images.yml')
    parser.add_argument('--size', type=int, nargs='+', default=[512], help='H [W] of the cover and secrets')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--warmup', type=int, default=1, help='untimed runs first (0 for very large sets)')
    parser.add_argument('--device', default=None, help='cpu, cuda, ... (default: from gpu_ids)')
    parser.add_argument('--precision', nargs='+', default=['fp32'], choices=['fp32', 'bf16', 'fp16', 'bf16-recast'],
                        help='bf16-recast: the bf16 path before features were kept in bf16 (NCHW baseline)')
    parser.add_argument('--layout', nargs='+', default=['auto'], choices=list(MEMORY_FORMATS),
                        help='memory format of the subnets')
    parser.add_argument('--results', default=None, help='also write the rows to this results file (JSON)')
    parser.add_argument('--chunk', type=int, nargs='+', default=[0], help='images per network call (0: all)')
    parser.add_argument('--checkpoints', action='store_true', help="use the option file's checkpoints")
    parser.add_argument('--compile', action='store_true',
                        help='also time every variant with torch.compile (test.compile: true)')
    parser.add_argument('--compiled', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    parser.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.worker:
        args.precision, args.chunk, args.layout = args.precision[0], args.chunk[0], args.layout[0]
        worker(args)
        return
    h, w = (args.size * 2)[:2]
    machine = cpu_description()
    header = (f'{Path(args.opt).name}; {h} x {w} images; {torch.get_num_threads()} threads; median of '
              f'{args.repeats} after {args.warmup} warm-up')
    print(f'# {header}; {platform.node()}: {machine["cpu"]}, {os.cpu_count()} CPUs (flags: '
          f'{", ".join(machine["flags"])}), torch {torch.__version__}; device {args.device or "from gpu_ids"}',
          flush=True)
    base, table = None, []
    variants = [(precision, chunk, layout, compiled) for precision in args.precision for chunk in args.chunk
                for layout in (['contiguous'] if precision == 'bf16-recast' else args.layout)
                for compiled in ((False, True) if args.compile else (False,))]
    for precision, chunk, layout, compiled in variants:
        name = (f'{precision}, {layout}, ' + (f'chunk {chunk}' if chunk else 'no chunking') +
                (', compiled' * compiled))
        cmd = [sys.executable, '-m', 'benchmarks.bench_models', '--worker', '--opt', args.opt,
               '--size', *map(str, args.size),
               '--repeats', str(args.repeats), '--warmup', str(args.warmup), '--precision', precision,
               '--chunk', str(chunk), '--layout', layout]
        cmd += ['--device', args.device] if args.device else []
        cmd += ['--threads', str(args.threads)] if args.threads else []
        cmd += ['--checkpoints'] if args.checkpoints else []
        cmd += ['--compiled'] if compiled else []
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            print(f'# {name}: failed: {(proc.stderr.strip().splitlines() or ["?"])[-1]}', flush=True)
            continue
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        if base is None:
            base = row
            memory = 'peak GPU memory' if row['device'].startswith('cuda') else 'peak RSS'
            print(f'# {row["config"]}')
            print(f'| variant | hide (s) | reveal (s) | hide + reveal (s) | speed-up | {memory} (MiB) | '
                  f'stego PSNR | secret PSNR |')
            print('|---|---|---|---|---|---|---|---|')
        total = row['hide_s'] + row['reveal_s']
        print(f'| {name} | {row["hide_s"]:.2f} | {row["reveal_s"]:.2f} | {total:.2f} | '
              f'{(base["hide_s"] + base["reveal_s"]) / total:.2f}x | {row["peak_bytes"] / 2**20:.0f} | '
              f'{row["stego_psnr"]:.2f} | {row["secret_psnr"]:.2f} |', flush=True)
        table.append({'variant': name, 'hide s': row['hide_s'], 'reveal s': row['reveal_s'], 'hide + reveal s': total,
                      'speed-up': (base['hide_s'] + base['reveal_s']) / total,
                      'peak MiB': round(row['peak_bytes'] / 2**20), 'stego PSNR': row['stego_psnr'],
                      'secret PSNR': row['secret_psnr']})
    if args.results:
        write_results(args.results, table, notes=header, machine=machine)


if __name__ == '__main__':
    main()
