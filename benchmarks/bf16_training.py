"""Does a model trained with bf16 subnets end as good as one trained in fp32? Trains one option file once per
precision (same seed, data order and schedule) and evaluates each final model on the option file's validation set
as test.py does (revealing from the 8-bit stego).

    python -m benchmarks.bf16_training --opt options/train/train_InvMIHNet_4images_demo.yml
    python -m benchmarks.bf16_training --emulate --threads 1 --parallel    # CPUs without native bf16

``--emulate`` is for CPUs without bf16 instructions (AVX2 only), where oneDNN's emulated bf16 convolutions make a
step many times slower than fp32: instead of autocast, every subnet convolution but the output one (fp32 under autocast
too, see ``DenseSubnet``) rounds its input, weight and bias to bf16, convolves in fp32 and rounds its output to
bf16, every subnet activation rounds its output to bf16, and the casts round the gradients flowing back through them
to bf16 as well. That is the arithmetic of a bf16 convolution with fp32 accumulation (AVX512-BF16, AMX, tensor
cores), up to the order of the accumulation; the script first prints how closely the emulation follows the real bf16
subnet (oneDNN's, on this machine) on one input, next to how far fp32 is from it.

One pair of short trainings differs by chance as well as by precision: ``--seed`` repeats the comparison with
another seed, and ``--jitter`` adds an fp32 training whose initial weights are multiplied by ``1 + 1e-6 N(0, 1)``,
a perturbation far below bf16 rounding, to show how far chance alone moves the final PSNR. Each training runs in
its own process, under ``--out`` (a temporary folder by default, removed afterwards). ``--bf16-output`` emulates
the arithmetic bf16 subnets had before their output convolution moved to fp32, for comparison. The table is also
written as a results file (utils/results.py), ``--results``.
"""
from __future__ import annotations

import argparse
import copy
import functools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

import train
from inference.evaluation import evaluate_dataset
from inference.stego_model import StegoModel
from models.config import NetworkConfig
from models.invmihnet import InvMIHNet
from models.modules.coupling import AffineCouplingBlock
from models.modules.dense_subnet import DenseSubnet
from options import experiment_paths, parse
from utils.results import write_results

EMULATED = 'bf16-emulated'
EMULATED_BF16_OUTPUT = 'bf16-emulated-bf16-output'
JITTER = 'fp32-jitter'
JITTER_SCALE = 1e-6


def jitter_parameters(net: nn.Module, scale: float = JITTER_SCALE, seed: int = 0) -> None:
    """Multiply every parameter of ``net`` by ``1 + scale * N(0, 1)``, drawn from a generator of its own so that
    the training's random stream (data order, noise) stays the same."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(1 + scale * torch.randn(p.shape, generator=g, dtype=p.dtype))


def _bf16(t: torch.Tensor) -> torch.Tensor:
    """``t`` rounded to bf16 and back to fp32 (the backward pass rounds the gradient the same way)."""
    return t.bfloat16().float()


def _emulated_conv(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    bias = None if conv.bias is None else _bf16(conv.bias)
    return _bf16(F.conv2d(_bf16(x), _bf16(conv.weight), bias, conv.stride, conv.padding, conv.dilation,
                          conv.groups))


def _emulated_leaky_relu(act: nn.LeakyReLU, x: torch.Tensor) -> torch.Tensor:
    return _bf16(F.leaky_relu(x, act.negative_slope))


def emulate_bf16(module: nn.Module, bf16_output: bool = False) -> None:
    """Give every convolution (bf16 arithmetic, fp32 accumulation) and LeakyReLU (bf16 result) in ``module`` the
    results they have under bf16 autocast, where the output convolution (conv5) of every subnet stays fp32; with
    ``bf16_output``, conv5 too computes in bf16 (the arithmetic before the output convolution moved to fp32)."""
    fp32_layers = set() if bf16_output else {m.conv5 for m in module.modules() if isinstance(m, DenseSubnet)}
    for m in module.modules():
        if m in fp32_layers:
            continue
        if isinstance(m, nn.Conv2d):
            if m.padding_mode != 'zeros':
                raise ValueError(f'cannot emulate a convolution with padding_mode {m.padding_mode!r}')
            m.forward = functools.partial(_emulated_conv, m)
        elif isinstance(m, nn.LeakyReLU):
            m.forward = functools.partial(_emulated_leaky_relu, m)


def emulate_bf16_subnets(net: nn.Module, bf16_output: bool = False) -> None:
    """:func:`emulate_bf16` on the subnets of every coupling block of ``net``."""
    for block in net.modules():
        if isinstance(block, AffineCouplingBlock):
            emulate_bf16(block, bf16_output)


def fp32_bf16_and_emulated(subnet: nn.Module, x: torch.Tensor
                           ) -> dict[str, tuple[torch.Tensor, dict[str, torch.Tensor]]]:
    """``subnet`` on ``x`` in fp32 ('fp32'), under bf16 autocast ('bf16') and as an emulated copy ('emulated'):
    for each, the output as fp32 and the gradient of ``mean(output ** 2)`` for every named parameter."""
    emulated = copy.deepcopy(subnet)
    emulate_bf16(emulated)
    runs = {}
    for name, net in (('fp32', subnet), ('bf16', subnet), ('emulated', emulated)):
        net.zero_grad(set_to_none=True)
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=name == 'bf16'):
            out = net(x).float()
        out.square().mean().backward()
        runs[name] = out.detach(), {n: p.grad.clone() for n, p in net.named_parameters()}
    return runs


def emulation_agreement(opt: dict, crop: int = 64) -> dict[str, float]:
    """One subnet of the rescaling network (weights perturbed from their initialisation, whose last layer is zero) on
    one random input: output and weight-gradient distance of emulated to real bf16, and of fp32 to real bf16.

    One subnet, not the whole network: once two bf16 computations differ anywhere, later subnet inputs round to
    different bf16 values and any two bf16 runs drift apart at bf16 rate, so whole-network outputs say nothing.
    """
    config = NetworkConfig.from_options(opt)
    torch.manual_seed(0)
    block = next(m for m in InvMIHNet(config).modules() if isinstance(m, AffineCouplingBlock))
    subnet = block._subnet('phi')
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in subnet.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.05)
    in_channels = subnet.conv1.in_channels
    x = torch.rand(config.num_images, in_channels, crop, crop, generator=torch.Generator().manual_seed(1))
    runs = fp32_bf16_and_emulated(subnet, x)
    outputs = {name: out for name, (out, _) in runs.items()}
    grads = {name: torch.cat([g.flatten() for g in param_grads.values()]) for name, (_, param_grads) in runs.items()}

    def relative(a: torch.Tensor, b: torch.Tensor) -> float:
        return ((a - b).norm() / b.norm()).item()
    return {'out_emulated': relative(outputs['emulated'], outputs['bf16']),
            'out_fp32': relative(outputs['fp32'], outputs['bf16']),
            'grad_emulated': relative(grads['emulated'], grads['bf16']),
            'grad_fp32': relative(grads['fp32'], grads['bf16'])}


def worker(args: argparse.Namespace) -> None:
    """Train and evaluate one precision; prints a JSON line."""
    opt = parse(args.opt, is_train=True)
    precision = args.precision
    opt['name'] = f'{opt["name"]}_{precision}' + ('' if args.seed is None else f'_seed{args.seed}')
    opt['path'].update(experiment_paths(args.out, opt['name']))
    opt['gpu_ids'] = None
    if args.niter:
        opt['train']['niter'] = args.niter
    if args.seed is not None:
        opt['train']['manual_seed'] = args.seed
    opt['train']['precision'] = 'bf16' if precision == 'bf16' else 'fp32'
    opt['train']['val_freq'] = opt['train']['niter'] + 1
    opt['logger']['save_checkpoint_freq'] = opt['train']['niter']
    start = time.perf_counter()
    run = train.setup_run(opt, 0, 1, None)
    if precision in (EMULATED, EMULATED_BF16_OUTPUT):
        emulate_bf16_subnets(run.model.net, bf16_output=precision == EMULATED_BF16_OUTPUT)
    elif precision == JITTER:
        jitter_parameters(run.model.net)
    train.training_loop(run)
    seconds = time.perf_counter() - start
    model = StegoModel(run.model.net, run.model.device, precision=opt['train']['precision'])
    means = evaluate_dataset(model, run.val_loader, opt['test'], opt['datasets']['val']['max_batches']).means()
    print(json.dumps({'precision': precision, 'seconds_per_iter': seconds / opt['train']['niter'],
                      'niter': opt['train']['niter'], 'stego_psnr': means['stego_psnr'],
                      'secret_psnr': means['secret_psnr']}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--opt', default='options/train/train_InvMIHNet_4images_demo.yml')
    parser.add_argument('--niter', type=int, default=None, help="iterations (default: the option file's)")
    parser.add_argument('--emulate', action='store_true', help='bf16 arithmetic emulated in fp32 (see above)')
    parser.add_argument('--bf16-output', action='store_true',
                        help='with --emulate: round every subnet\'s output convolution (which writes s and t) to bf16 '
                             'too, as bf16 subnets did before their output convolution moved to fp32')
    parser.add_argument('--seed', type=int, default=None, help="train.manual_seed (default: the option file's)")
    parser.add_argument('--jitter', action='store_true',
                        help=f'also train fp32 from initial weights jittered by {JITTER_SCALE:g} relative: how far '
                             'a perturbation far below bf16 rounding moves the final PSNR (the chance baseline)')
    parser.add_argument('--parallel', action='store_true', help='run both trainings at once')
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads per training')
    parser.add_argument('--out', default=None, help='folder for the experiments (default: temporary)')
    parser.add_argument('--results', default='benchmarks/results/bf16_training.json',
                        help='results file to write (default %(default)s)')
    parser.add_argument('--precision', default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.precision:
        worker(args)
        return
    opt = parse(args.opt, is_train=True)
    if args.bf16_output and not args.emulate:
        parser.error('--bf16-output is a variant of --emulate')
    low = (EMULATED_BF16_OUTPUT if args.bf16_output else EMULATED) if args.emulate else 'bf16'
    seed = opt['train']['manual_seed'] if args.seed is None else args.seed
    notes = [f'{Path(args.opt).name}: {args.niter or opt["train"]["niter"]} iterations per precision, seed {seed}, '
             f'{torch.get_num_threads()} threads per training.']
    print(f'# {notes[0]}', flush=True)
    if args.emulate:
        agreement = emulation_agreement(opt)
        notes.append(f'One rescaling subnet, one random input, relative L2 distance to the real bf16 subnet: emulated '
                     f'{agreement["out_emulated"]:.1e} (outputs) / {agreement["grad_emulated"]:.1e} (weight '
                     f'gradients); fp32 {agreement["out_fp32"]:.1e} / {agreement["grad_fp32"]:.1e}.')
        print(f'# {notes[-1]}', flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or tmp
        procs = []
        for precision in ('fp32', low) + ((JITTER,) if args.jitter else ()):
            cmd = [sys.executable, '-m', 'benchmarks.bf16_training', '--opt', args.opt, '--out', out,
                   '--precision', precision]
            cmd += ['--niter', str(args.niter)] if args.niter else []
            cmd += ['--seed', str(args.seed)] if args.seed is not None else []
            cmd += ['--threads', str(args.threads)] if args.threads else []
            procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True))
            if not args.parallel:
                procs[-1].wait()
        rows = []
        for proc in procs:
            stdout, _ = proc.communicate()
            if proc.returncode:
                raise SystemExit(f'a training failed (exit {proc.returncode}); run it alone to see why')
            rows.append(json.loads(stdout.strip().splitlines()[-1]))
    columns = ('precision', 's / iteration', 'stego PSNR (dB)', 'secret PSNR (dB)', 'secret vs fp32 (dB)')
    table = [dict(zip(columns, (row['precision'], round(row['seconds_per_iter'], 2), round(row['stego_psnr'], 2),
                                round(row['secret_psnr'], 2), f'{row["secret_psnr"] - rows[0]["secret_psnr"]:+.2f}')))
             for row in rows]
    print('| ' + ' | '.join(columns) + ' |')
    print('|' + '---|' * len(columns))
    for row in table:
        print('| ' + ' | '.join(str(v) for v in row.values()) + ' |')
    print(f'wrote {write_results(args.results, table, columns, " ".join(notes))}')


if __name__ == '__main__':
    main()
