"""Seconds per training iteration and peak memory: our single backward pass against the published two passes.

    python benchmarks/bench_train.py --opt options/train/train_InvMIHNet_4images.yml --crop 144 --iters 5

Each variant runs in its own process (so peak memory is its own), on random images of the crop size, after one
warm-up iteration. The gradients of both variants are compared on one batch with the same noise.
"""
from __future__ import annotations

import argparse
import copy
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models import create_model  # noqa: E402
from options import parse  # noqa: E402
from utils.device import select_device  # noqa: E402

VARIANTS = {'published two-pass backward': True, 'single backward (ours)': False}


def build(opt_path: str, two_pass: bool, device_name: str | None):
    opt = parse(opt_path, is_train=True)
    opt = copy.deepcopy(opt)
    opt['path'].update(pretrain_model_G=None, pretrain_model_H=None)
    opt['train']['two_pass_backward'] = two_pass
    device = torch.device(device_name) if device_name else select_device(opt['gpu_ids'])
    return opt, create_model(opt, device)


def batch(opt: dict, crop: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    n = opt['num_images'] + 1
    gt = torch.rand(n, 3, crop, crop, generator=g)
    lq = torch.rand(n, 3, crop // opt['scale_H'], crop // opt['scale_W'], generator=g)
    return gt, lq


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def worker(args: argparse.Namespace) -> None:
    """Time one variant; prints a JSON line."""
    opt, model = build(args.opt, args.two_pass, args.device)
    gt, lq = batch(opt, args.crop)
    torch.manual_seed(0)
    model.optimize_parameters(gt, lq)
    _sync(model.device)
    if model.device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(model.device)
    times = []
    for _ in range(args.iters):
        start = time.perf_counter()
        model.optimize_parameters(gt, lq)
        _sync(model.device)
        times.append(time.perf_counter() - start)
    peak = (torch.cuda.max_memory_allocated(model.device) if model.device.type == 'cuda'
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    times.sort()
    print(json.dumps({'median_s': times[len(times) // 2], 'min_s': times[0], 'peak_bytes': peak,
                      'device': str(model.device)}))


def gradient_difference(opt_path: str, crop: int, device: str | None) -> float:
    """Max relative difference between the single-pass and two-pass gradients on one batch, same noise."""
    grads = []
    for two_pass in (True, False):
        torch.manual_seed(0)
        opt, model = build(opt_path, two_pass, device)
        gt, lq = batch(opt, crop)
        g = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for p in model.net.parameters():
                p.add_(torch.randn(p.shape, generator=g).to(p) * 1e-3)
        torch.manual_seed(2)
        losses = model.compute_losses(gt, lq)
        model.backward(losses)
        grads.append(torch.cat([p.grad.flatten() for p in model.net.parameters() if p.grad is not None]))
    return ((grads[0] - grads[1]).abs().max() / grads[0].abs().max()).item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--opt', default='options/train/train_InvMIHNet_4images.yml')
    parser.add_argument('--crop', type=int, default=144, help='GT crop size (batch = N + 1 crops)')
    parser.add_argument('--iters', type=int, default=5, help='timed iterations per variant (after 1 warm-up)')
    parser.add_argument('--device', default=None, help='cpu, cuda, cuda:1 ... (default: from gpu_ids)')
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    parser.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--two-pass', action='store_true', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.worker:
        worker(args)
        return
    rows = {}
    for name, two_pass in VARIANTS.items():
        cmd = [sys.executable, __file__, '--worker', '--opt', args.opt, '--crop', str(args.crop),
               '--iters', str(args.iters)]
        cmd += ['--two-pass'] if two_pass else []
        cmd += ['--device', args.device] if args.device else []
        cmd += ['--threads', str(args.threads)] if args.threads else []
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        rows[name] = json.loads(out.strip().splitlines()[-1])
    diff = gradient_difference(args.opt, args.crop, args.device)
    opt = parse(args.opt, is_train=True)
    base = rows['published two-pass backward']
    print(f'# {Path(args.opt).name}: N={opt["num_images"]}, batch {opt["num_images"] + 1} x {args.crop}x{args.crop}, '
          f'IIR {opt["network_G"]["block_num"]}, IIH {opt["network_H"]["block_num"]} blocks')
    print(f'# device {base["device"]}, {platform.processor() or platform.machine()}, '
          f'torch {torch.__version__}, {torch.get_num_threads()} threads, {args.iters} timed iterations')
    memory = 'peak GPU memory' if base['device'].startswith('cuda') else 'peak RSS'
    print(f'| variant | s / iteration (median) | {memory} (MiB) | speed-up |')
    print('|---|---|---|---|')
    for name, row in rows.items():
        print(f'| {name} | {row["median_s"]:.3f} | {row["peak_bytes"] / 2**20:.0f} | '
              f'{base["median_s"] / row["median_s"]:.2f}x |')
    print(f'max relative gradient difference, single vs two-pass: {diff:.2e}')


if __name__ == '__main__':
    main()
