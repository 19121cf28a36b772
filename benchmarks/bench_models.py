"""Hide + reveal time per image set and peak memory for a configuration and image size.

    python benchmarks/bench_models.py --opt options/test/test_InvMIHNet_16images.yml --size 1024 --repeats 3

Untrained weights of the configured architecture (timing does not depend on the weights); the checkpoint paths
of the option file are ignored.
"""
from __future__ import annotations

import argparse
import copy
import platform
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models import create_model  # noqa: E402
from models.config import NetworkConfig  # noqa: E402
from options import parse  # noqa: E402
from utils.device import select_device  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--opt', default='options/test/test_InvMIHNet_4images.yml')
    parser.add_argument('--size', type=int, nargs='+', default=[512], help='H [W] of the cover and secrets')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--warmup', type=int, default=1, help='untimed runs first (0 for very large sets)')
    parser.add_argument('--device', default=None, help='cpu, cuda, ... (default: from gpu_ids)')
    args = parser.parse_args()
    opt = copy.deepcopy(parse(args.opt, is_train=False))
    opt['path'].update(pretrain_model_G=None, pretrain_model_H=None)
    h, w = (args.size * 2)[:2]
    try:
        NetworkConfig.from_options(opt).check_size(h, w, what='--size: image')
    except ValueError as err:
        parser.error(str(err))
    device = torch.device(args.device) if args.device else select_device(opt['gpu_ids'])
    model = create_model(opt, device)
    images = torch.rand(opt['num_images'] + 1, 3, h, w, generator=torch.Generator().manual_seed(0)).to(device)
    gen = torch.Generator().manual_seed(0)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
    rows = {'hide': [], 'reveal (8-bit stego)': []}
    for _ in range(args.warmup + args.repeats):
        _sync(device)
        start = time.perf_counter()
        hidden = model.hide(images[:1], images[1:])
        _sync(device)
        mid = time.perf_counter()
        model.reveal(hidden.stego, generator=gen)
        _sync(device)
        rows['hide'].append(mid - start)
        rows['reveal (8-bit stego)'].append(time.perf_counter() - mid)
    peak = (f'{torch.cuda.max_memory_allocated(device) / 2**20:.0f} MiB peak GPU memory' if device.type == 'cuda'
            else f'{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB peak RSS '
                 f'(+{(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024:.0f} MiB while running)')
    print(f'# {model.config}; {h} x {w} images; device {device} '
          f'({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads); '
          f'median of {args.repeats} after {args.warmup} warm-up')
    print('| step | seconds per image set |')
    print('|---|---|')
    total = 0.0
    for name, times in rows.items():
        timed = sorted(times[args.warmup:])
        med = timed[len(timed) // 2]
        total += med
        print(f'| {name} | {med:.3f} |')
    print(f'| hide + reveal | {total:.3f} |')
    print(peak)


if __name__ == '__main__':
    main()
