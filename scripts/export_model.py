"""Make a model folder (IIR.pth, IIH.pth, model.json; see models/model_folder.py) from a training run's checkpoints.

    python -m scripts.export_model --opt options/train/train_InvMIHNet_4images_demo.yml \\
        --iir run/IIR.pth --iih run/IIH.pth --out experiments/pretrained_models/my_model [--iterations 1500]

The option file is the one the checkpoints were trained with: it gives the network's configuration and how it was
trained. Checkpoints already at ``<out>/IIR.pth`` and ``<out>/IIH.pth`` are described where they are (not
rewritten); other ones are written there in the released formats. ``train.py`` writes such a folder itself at every
checkpoint (``experiments/<name>/models/<iter>/``).
"""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from models.checkpoint import CheckpointError, load_checkpoints
from models.config import NetworkConfig
from models.model_folder import (IIH_FILE, IIR_FILE, current_commit, load_model_folder, training_record,
                                 write_model_folder, write_model_json)
from models.networks import build_network
from options import OptionError, parse


def export_model(opt_path: str | Path, iir: str | Path, iih: str | Path, out: str | Path,
                 iterations: int | None = None, commit: str | None = None, name: str | None = None,
                 cpu_hours: float | None = None, data: str | None = None) -> Path:
    """Describe (or copy) the checkpoints ``iir`` / ``iih`` of a run of ``opt_path`` as the model folder ``out``;
    returns the folder, checked by loading it back. ``data`` replaces the recorded training data (the option
    file's ``dataroot_GT``) with a fuller description, such as the model the run started from."""
    opt = parse(opt_path, is_train=True)
    out = Path(out)
    net = build_network(NetworkConfig.from_options(opt))
    load_checkpoints(net, iir, iih, net.config.describe())
    iterations = opt['train']['niter'] if iterations is None else iterations
    record = training_record(opt, iterations, commit if commit is not None else current_commit(), cpu_hours)
    if data is not None:
        record = dataclasses.replace(record, data=data)
    in_place = all(Path(src).resolve() == (out / dst).resolve() for src, dst in ((iir, IIR_FILE), (iih, IIH_FILE)))
    if in_place:
        write_model_json(out, net, name or opt['name'], record)
    else:
        write_model_folder(out, net, name or opt['name'], record)
    load_model_folder(out)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--opt', required=True, help='the training option file of the checkpoints')
    parser.add_argument('--iir', required=True, help='IIR checkpoint (released format)')
    parser.add_argument('--iih', required=True, help='IIH checkpoint (released format)')
    parser.add_argument('--out', required=True, help='the model folder to write')
    parser.add_argument('--iterations', type=int, help='iterations trained (default: train.niter)')
    parser.add_argument('--commit', help='the git commit the run trained with (default: the checked-out one)')
    parser.add_argument('--name', help='the model\'s name (default: the option file\'s name)')
    parser.add_argument('--cpu-hours', type=float, help='CPU thread-hours the run took (recorded in model.json)')
    parser.add_argument('--data', help='what the run trained on and started from (default: its dataroot_GT)')
    args = parser.parse_args(argv)
    try:
        folder = export_model(args.opt, args.iir, args.iih, args.out, args.iterations, args.commit, args.name,
                              args.cpu_hours, args.data)
    except (OptionError, CheckpointError, ValueError, OSError) as err:
        raise SystemExit(f'error: {err}') from None
    print(f'wrote {folder}')


if __name__ == '__main__':
    main()
