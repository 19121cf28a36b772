"""Hide + reveal time per image set, peak memory and PSNR for a configuration and image size, per variant.

    python -m benchmarks.bench_models --opt options/test/test_InvMIHNet_16images.yml --size 1024 --repeats 1 \\
        --warmup 0 --precision fp32 bf16 --chunk 0 1

Each variant (every --precision with every --chunk; chunk 0 = all secrets / tiles in one call) runs in its own
process, so its peak memory is its own. Untrained weights of the configured architecture unless --checkpoints
(timing does not depend on the weights); random images, the same in every variant, revealed from the 8-bit
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

from inference.round_trip import RoundTrip
from inference.stego_model import StegoModel
from options import parse
from utils.device import select_device


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
    model.set_inference(precision=args.precision, chunk=args.chunk or None, compile=args.compiled)
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
    parser.add_argument('--precision', nargs='+', default=['fp32'], choices=['fp32', 'bf16', 'fp16'])
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
        args.precision, args.chunk = args.precision[0], args.chunk[0]
        worker(args)
        return
    h, w = (args.size * 2)[:2]
    print(f'# {Path(args.opt).name}; {h} x {w} images; {platform.node()}: '
          f'{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, '
          f'{torch.get_num_threads()} threads; device {args.device or "from gpu_ids"}; median of {args.repeats} '
          f'after {args.warmup} warm-up', flush=True)
    base = None
    variants = [(precision, chunk, compiled) for precision in args.precision for chunk in args.chunk
                for compiled in ((False, True) if args.compile else (False,))]
    for precision, chunk, compiled in variants:
        name = f'{precision}, ' + (f'chunk {chunk}' if chunk else 'no chunking') + (', compiled' * compiled)
        cmd = [sys.executable, '-m', 'benchmarks.bench_models', '--worker', '--opt', args.opt,
               '--size', *map(str, args.size),
               '--repeats', str(args.repeats), '--warmup', str(args.warmup), '--precision', precision,
               '--chunk', str(chunk)]
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


if __name__ == '__main__':
    main()
