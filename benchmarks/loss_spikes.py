"""How far the total training loss rises above its running median when nothing diverges: what the default
``train.divergence_factor`` must stay clear of (docs/training_stability.md).

    python -m benchmarks.loss_spikes --scratch-iters 200 --trained-iters 400 --window 100

Two sequences of the demo configuration (options/train/train_InvMIHNet_4images_demo.yml, 64 x 64 crops), on the CPU:
``from scratch``, the total loss of training steps from the initialisation (warm-up included), and ``trained
demo``, the training forward of the bundled trained demo model on training batches (no step: the batch-to-batch
spread late in training, where a blow-up would be judged). For each, the ratio of every iteration's total loss to
the median of the ``--window`` before it: the largest, the 99th percentile and how many exceed 2 and 5. Written to
benchmarks/results/loss_spikes.json.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from statistics import median

import numpy as np
import torch

from data import create_dataloader, create_dataset
from models.model_folder import IIH_FILE, IIR_FILE
from models.trainer import InvMIHNetTrainer
from options import parse
from utils.results import write_results

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / 'options' / 'train' / 'train_InvMIHNet_4images_demo.yml'
DEMO_MODEL = ROOT / 'experiments' / 'pretrained_models' / 'InvMIHNet_4images_demo'


def totals(trained: bool, iters: int, seed: int = 10) -> list[float]:
    """The total loss of ``iters`` training iterations (steps from scratch, or forwards of the trained model)."""
    opt = parse(DEMO, is_train=True)
    opt['gpu_ids'] = None
    if trained:
        opt['path'].update(pretrain_model_G=str(DEMO_MODEL / IIR_FILE), pretrain_model_H=str(DEMO_MODEL / IIH_FILE))
    torch.manual_seed(seed)
    np.random.seed(seed)
    train_opt = opt['datasets']['train']
    loader = create_dataloader(create_dataset(train_opt), train_opt, opt['num_images'], seed=seed)
    model = InvMIHNetTrainer(opt, torch.device('cpu'))
    values: list[float] = []
    epoch = 0
    while len(values) < iters:
        loader.sampler.set_epoch(epoch)
        for batch in loader:
            if trained:
                with torch.no_grad():
                    values.append(model.compute_losses(batch['GT'], batch['LQ'])['total'].item())
            else:
                values.append(model.optimize_parameters(batch['GT'], batch['LQ'])['total'])
                model.update_learning_rate(len(values), opt['train']['warmup_iter'])
            if len(values) == iters:
                break
        epoch += 1
    return values


def ratio_row(name: str, values: list[float], window: int) -> dict[str, object]:
    """The statistics of each value over the median of the ``window`` values before it."""
    ratios = np.array([values[i] / median(values[i - window:i]) for i in range(window, len(values))])
    return {'sequence': name, 'iterations': len(values), 'window': window, 'judged': len(ratios),
            'largest ratio': float(ratios.max()), '99th percentile': float(np.percentile(ratios, 99)),
            'above 2': int((ratios > 2).sum()), 'above 5': int((ratios > 5).sum())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--scratch-iters', type=int, default=200)
    parser.add_argument('--trained-iters', type=int, default=400)
    parser.add_argument('--window', type=int, default=100)
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    parser.add_argument('--out', default=str(ROOT / 'benchmarks' / 'results' / 'loss_spikes.json'))
    args = parser.parse_args()
    if min(args.scratch_iters, args.trained_iters) <= args.window:
        parser.error('each sequence needs more iterations than --window')
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = [ratio_row('from scratch', totals(False, args.scratch_iters), args.window),
            ratio_row('trained demo', totals(True, args.trained_iters), args.window)]
    for row in rows:
        print(row, flush=True)
    write_results(args.out, rows, notes="ratio: an iteration's total loss / the median of the window before it")


if __name__ == '__main__':
    main()
