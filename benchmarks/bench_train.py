"""Seconds per training iteration, image sets per second and peak memory of training variants, side by side.

    python -m benchmarks.bench_train --opt options/train/train_InvMIHNet_4images.yml --crop 144 --iters 5
    python -m benchmarks.bench_train --opt options/train/train_InvMIHNet_16images.yml --variants two-pass none \
        checkpoint invertible

Variants (``--variants``, default all): the published two backward passes in fp32 (the 1.00x baseline), our
single backward pass with the subnets in the layout ``'auto'`` picks for this machine and in each layout (NCHW,
channels_last), bf16 subnets (the path before features were kept in bf16: autocast re-casting the fp32
concatenation at every convolution, NCHW; and today's, in each layout), torch.compile, the memory-saving modes, and
2 or 4 image sets per step. Each runs in its own process (so peak memory is its own), on random images of the crop
size, after one warm-up iteration (which also compiles). The gradients of the two fp32 backward variants are
compared on one batch with the same noise when both run. ``--results FILE`` writes the rows as a results file
(``utils.results``) with the CPU's bf16 instructions.
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

from models.modules.dense_subnet import DenseSubnet, set_memory_format
from models.trainer import InvMIHNetTrainer
from options import parse
from utils.device import select_device
from utils.results import cpu_description, write_results

BF16 = {'precision': 'bf16'}
# name: (description, train option overrides, image sets per step, subnet memory format)
VARIANTS: dict[str, tuple[str, dict, int, str]] = {
    'two-pass': ('published two-pass backward, fp32', {'two_pass_backward': True}, 1, 'contiguous'),
    'single': ('single backward (ours), fp32, layout auto', {}, 1, 'auto'),
    'fp32-nchw': ('single backward, fp32, NCHW', {}, 1, 'contiguous'),
    'fp32-cl': ('single backward, fp32, channels_last', {}, 1, 'channels_last'),
    'bf16-recast': ('bf16 subnets, re-cast at every conv (before), NCHW', BF16, 1, 'contiguous'),
    'bf16-nchw': ('bf16 subnets, bf16 features, NCHW', BF16, 1, 'contiguous'),
    'bf16': ('bf16 subnets, bf16 features, channels_last', BF16, 1, 'channels_last'),
    'fp16': ('fp16 subnets + grad scaler (CUDA), layout auto', {'precision': 'fp16'}, 1, 'auto'),
    'compile': ('single backward, torch.compile, layout auto', {'compile': True}, 1, 'auto'),
    'bf16-compile': ('bf16 + torch.compile, layout auto', {'precision': 'bf16', 'compile': True}, 1, 'auto'),
    'checkpoint': ('memory_saving: checkpoint, layout auto', {'memory_saving': 'checkpoint'}, 1, 'auto'),
    'invertible': ('memory_saving: invertible, layout auto', {'memory_saving': 'invertible'}, 1, 'auto'),
    'bf16-invertible': ('bf16 + memory_saving: invertible, layout auto',
                        {'precision': 'bf16', 'memory_saving': 'invertible'}, 1, 'auto'),
    'sets2': ('sets_per_batch: 2, layout auto', {}, 2, 'auto'),
    'sets4': ('sets_per_batch: 4, layout auto', {}, 4, 'auto'),
}
DEFAULT_VARIANTS = [v for v in VARIANTS if v != 'fp16']


def recasting_forward(self: DenseSubnet, x: torch.Tensor) -> torch.Tensor:
    """The bf16 subnet before its features were kept in bf16 (the ``bf16-recast`` baseline, same values): the fp32
    input joins every concatenation, so autocast promotes it to fp32 and casts it back at every convolution."""
    x1 = self.act(self.conv1(x))
    x2 = self.act(self.conv2(torch.cat((x, x1), 1)))
    x3 = self.act(self.conv3(torch.cat((x, x1, x2), 1)))
    x4 = self.act(self.conv4(torch.cat((x, x1, x2, x3), 1)))
    with torch.autocast(x.device.type, enabled=False):
        return self.conv5(torch.cat((x, x1, x2, x3, x4), 1).float())


def build(opt_path: str, overrides: dict, device_name: str | None):
    opt = parse(opt_path, is_train=True)
    opt = copy.deepcopy(opt)
    opt['path'].update(pretrain_model_G=None, pretrain_model_H=None)
    opt['train'].update(overrides)
    device = torch.device(device_name) if device_name else select_device(opt['gpu_ids'])
    return opt, InvMIHNetTrainer(opt, device)


def batch(opt: dict, crop: int, seed: int = 0, sets: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    n = (opt['num_images'] + 1) * sets
    gt = torch.rand(n, 3, crop, crop, generator=g)
    lq = torch.rand(n, 3, crop // opt['scale_H'], crop // opt['scale_W'], generator=g)
    return gt, lq


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def worker(args: argparse.Namespace) -> None:
    """Time one variant; prints a JSON line."""
    _, overrides, sets, memory_format = VARIANTS[args.variant]
    if args.variant == 'bf16-recast':
        DenseSubnet.forward = recasting_forward
    opt, model = build(args.opt, overrides, args.device)
    set_memory_format(model.net, memory_format)
    gt, lq = batch(opt, args.crop, sets=sets)
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
    print(json.dumps({'median_s': times[len(times) // 2], 'min_s': times[0], 'peak_bytes': peak, 'sets': sets,
                      'device': str(model.device)}))


def gradient_difference(opt_path: str, crop: int, device: str | None) -> float:
    """Max relative difference between the single-pass and two-pass gradients on one batch, same noise."""
    grads = []
    for two_pass in (True, False):
        torch.manual_seed(0)
        opt, model = build(opt_path, {'two_pass_backward': two_pass}, device)
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
    parser.add_argument('--variants', nargs='+', default=DEFAULT_VARIANTS, choices=list(VARIANTS),
                        help='variants to run, in this order (two-pass, the baseline, always runs first)')
    parser.add_argument('--results', default=None, help='also write the rows to this results file (JSON)')
    parser.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--variant', default='single', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.worker:
        worker(args)
        return
    names = ['two-pass'] + [v for v in args.variants if v != 'two-pass']
    opt = parse(args.opt, is_train=True)
    print(f'# {Path(args.opt).name}: N={opt["num_images"]}, batch S x {opt["num_images"] + 1} x {args.crop}x'
          f'{args.crop}, IIR {opt["network_G"]["block_num"]}, IIH {opt["network_H"]["block_num"]} blocks')
    machine = cpu_description()
    print(f'# {platform.node()}: {machine["cpu"]}, {os.cpu_count()} CPUs (flags: {", ".join(machine["flags"])}; '
          f'torch CPU capability {torch.backends.cpu.get_cpu_capability()}), torch {torch.__version__}, '
          f'{torch.get_num_threads()} threads, {args.iters} timed iterations, device {args.device or "from gpu_ids"}',
          flush=True)
    rows = {}
    for name in names:
        cmd = [sys.executable, '-m', 'benchmarks.bench_train', '--worker', '--variant', name, '--opt', args.opt,
               '--crop', str(args.crop),
               '--iters', str(args.iters)]
        cmd += ['--device', args.device] if args.device else []
        cmd += ['--threads', str(args.threads)] if args.threads else []
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            print(f'# {name}: failed: {(proc.stderr.strip().splitlines() or ["?"])[-1]}', flush=True)
            continue
        rows[name] = json.loads(proc.stdout.strip().splitlines()[-1])
        if name == 'two-pass':
            memory = 'peak GPU memory' if rows[name]['device'].startswith('cuda') else 'peak RSS'
            print(f'| variant | sets / step | s / iteration (median) | image sets / s | {memory} (MiB) | speed-up |')
            print('|---|---|---|---|---|---|')
        row, base = rows[name], rows.get('two-pass', rows[name])
        print(f'| {VARIANTS[name][0]} | {row["sets"]} | {row["median_s"]:.3f} | {row["sets"] / row["median_s"]:.3f} | '
              f'{row["peak_bytes"] / 2**20:.0f} | '
              f'{(row["sets"] / row["median_s"]) / (base["sets"] / base["median_s"]):.2f}x |', flush=True)
    notes = ''
    if {'two-pass', 'single'} <= set(rows):
        diff = gradient_difference(args.opt, args.crop, args.device)
        notes = f'max relative gradient difference, single vs two-pass: {diff:.2e}'
        print(notes)
    if args.results:
        base = rows.get('two-pass')
        table = [{'variant': VARIANTS[name][0], 'sets / step': row['sets'], 's / iteration': row['median_s'],
                  'peak MiB': round(row['peak_bytes'] / 2**20),
                  'vs two-pass': (row['sets'] / row['median_s']) / (base['sets'] / base['median_s']) if base else None,
                  'vs fp32 NCHW': (row['sets'] / row['median_s']) / (rows['fp32-nchw']['sets'] /
                                                                    rows['fp32-nchw']['median_s'])
                  if 'fp32-nchw' in rows else None}
                 for name, row in rows.items()]
        header = (f'{Path(args.opt).name}: N={opt["num_images"]}, batch {opt["num_images"] + 1} x {args.crop}x'
                  f'{args.crop}, {args.iters} timed iterations, {torch.get_num_threads()} threads')
        write_results(args.results, table, notes=header + ('; ' + notes if notes else ''), machine=machine)


if __name__ == '__main__':
    main()
