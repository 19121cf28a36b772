"""Activation memory of one training step per memory-saving mode and precision: bytes the autograd graph keeps.

    python -m benchmarks.bench_memory --opt options/train/train_InvMIHNet_16images.yml --crop 144

Prints one row per precision and mode and writes them to ``--results`` (see utils/results.py; docs/performance.md
shows that file).

Runs the training forward and losses once per variant and adds up every tensor autograd saves for the backward
pass (``torch.autograd.graph.saved_tensors_hooks``; a tensor saved by several operations counts once), plus, in
the checkpoint mode, the block inputs that torch.utils.checkpoint keeps outside those hooks. That is
what a step holds at the start of its backward pass on top of weights and optimizer state; it does not depend on
timing, so it can be measured on a busy machine. Peak memory additionally holds one block's recomputation during
the backward pass in the checkpoint and invertible modes (bench_train.py measures the peak).
"""
from __future__ import annotations

import argparse
import copy
from pathlib import Path

import torch

from models.modules.coupling import AffineCouplingBlock
from models.trainer import InvMIHNetTrainer
from options import parse
from utils.results import write_results

COLUMNS = ('precision', 'memory_saving', 'saved for backward (MiB)', 'vs fp32 none')


def saved_bytes(opt: dict, precision: str, mode: str, crop: int, device: torch.device) -> int:
    """Bytes of the distinct tensors the graph of one training forward keeps for the backward pass."""
    opt = copy.deepcopy(opt)
    opt['path'].update(pretrain_model_G=None, pretrain_model_H=None)
    opt['train'].update(precision=precision, memory_saving=mode)
    model = InvMIHNetTrainer(opt, device)
    n = opt['num_images'] + 1
    g = torch.Generator().manual_seed(0)
    gt = torch.rand(n, 3, crop, crop, generator=g)
    lq = torch.rand(n, 3, crop // opt['scale_H'], crop // opt['scale_W'], generator=g)
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return t
    hooks = []
    if mode == 'checkpoint':
        hooks = [m.register_forward_pre_hook(lambda _, args: pack(args[0]))
                 for m in model.net.modules() if isinstance(m, AffineCouplingBlock)]
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model.compute_losses(gt, lq)
    for hook in hooks:
        hook.remove()
    return sum(storages.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--opt', default='options/train/train_InvMIHNet_16images.yml')
    parser.add_argument('--crop', type=int, default=144)
    parser.add_argument('--precision', nargs='+', default=['fp32', 'bf16'], choices=['fp32', 'bf16', 'fp16'])
    parser.add_argument('--modes', nargs='+', default=['none', 'checkpoint', 'invertible'],
                        choices=['none', 'checkpoint', 'invertible'])
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--results', default='benchmarks/results/activation_memory.json',
                        help='results file to write (default %(default)s)')
    args = parser.parse_args()
    opt = parse(args.opt, is_train=True)
    print(f'# {Path(args.opt).name}: N={opt["num_images"]}, batch {opt["num_images"] + 1} x {args.crop}x{args.crop}, '
          f'IIR {opt["network_G"]["block_num"]}, IIH {opt["network_H"]["block_num"]} blocks; torch {torch.__version__}')
    print('| ' + ' | '.join(COLUMNS) + ' |')
    print('|---|---|---|---|')
    base, rows = None, []
    for precision in args.precision:
        for mode in args.modes:
            size = saved_bytes(opt, precision, mode, args.crop, torch.device(args.device))
            base = base or size
            rows.append(dict(zip(COLUMNS, (precision, mode, round(size / 2**20), f'{size / base:.3f}'))))
            print('| ' + ' | '.join(str(v) for v in rows[-1].values()) + ' |', flush=True)
    notes = (f'Bytes the autograd graph of one training forward keeps for the backward pass, batch '
             f'{opt["num_images"] + 1} x {args.crop} x {args.crop} ({Path(args.opt).name}); byte counts, not timings.')
    print(f'wrote {write_results(args.results, rows, COLUMNS, notes)}')


if __name__ == '__main__':
    main()
