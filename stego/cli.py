"""What hide.py and reveal.py share: the model arguments (a model folder or a test option file), the common
arguments, and error reporting."""
from __future__ import annotations

import argparse
import contextlib
import sys
import warnings
from collections.abc import Iterator

import torch

from inference.stego_model import StegoModel
from models.precision import PRECISIONS
from options.options import SEED_LIMIT
from stego.images import DEFAULT_MAX_PIXELS
from stego.model import DEFAULT_MODEL, REPO_ROOT, bundled_model, load_model
from utils.messages import error_message
from utils.signals import exit_on_signals

EXPECTED_ERRORS = (ValueError, OSError, MemoryError, torch.cuda.OutOfMemoryError)
"""What bad input or a full machine raises: shown as one line (:func:`utils.messages.error_message`)."""


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f'must be a positive integer, got {value}')
    return value


def seed_int(text: str) -> int:
    """An argparse type: a noise seed, 0 <= seed < 2**32."""
    value = int(text)
    if not 0 <= value < SEED_LIMIT:
        raise argparse.ArgumentTypeError(f'must be in 0 .. {SEED_LIMIT - 1}, got {value}')
    return value


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """``--model FOLDER`` or ``--opt FILE`` (with ``--iir`` / ``--iih``), and ``--cpu``."""
    which = parser.add_mutually_exclusive_group()
    which.add_argument('--model', help=f'model folder: IIR.pth, IIH.pth and model.json (default: hide.py the '
                                       f'bundled model for that many secrets, 4 or 16; reveal.py the folder its '
                                       f'key names; else the 4-image CPU model, '
                                       f'{DEFAULT_MODEL.relative_to(REPO_ROOT)})')
    which.add_argument('--opt', help='test option file instead of a model folder (the released checkpoints)')
    parser.add_argument('--iir', help='with --opt: IIR checkpoint (default: path.pretrain_model_G of the file)')
    parser.add_argument('--iih', help='with --opt: IIH checkpoint (default: path.pretrain_model_H of the file)')
    parser.add_argument('--cpu', action='store_true', help='run on the CPU even when CUDA is available')


def model_source(args: argparse.Namespace, fallback: str | None = None, num_secrets: int | None = None) -> str:
    """The folder or option file the arguments name: ``--opt``, else ``--model``, else ``fallback`` (the model
    folder a key names), else the bundled model for ``num_secrets`` secrets (None: the 4-image CPU model)."""
    return args.opt or args.model or fallback or str(bundled_model(num_secrets))


def load_cli_model(args: argparse.Namespace, fallback: str | None = None,
                   num_secrets: int | None = None) -> StegoModel:
    """The model of :func:`model_source` on the device ``--cpu`` asks for, with ``--precision`` / ``--chunk``."""
    if (args.iir or args.iih) and not args.opt:
        raise ValueError('--iir / --iih replace the checkpoints of an option file: give --opt too (a model '
                         'folder holds its own IIR.pth and IIH.pth)')
    model = load_model(model_source(args, fallback, num_secrets), args.iir, args.iih, 'cpu' if args.cpu else None)
    if args.precision is not None or args.chunk is not None:
        model.set_inference(args.precision or model.precision, model.chunk if args.chunk is None else args.chunk,
                            key='command line')
    return model


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Model, device, noise seed, input size limit, overwriting, precision and chunking."""
    add_model_arguments(parser)
    parser.add_argument('--seed', type=seed_int,
                        help='seed of the reveal noise (default: the option file\'s test.seed, else 0)')
    parser.add_argument('--max-pixels', type=positive_int, default=DEFAULT_MAX_PIXELS,
                        help='refuse an input image whose header declares more pixels (default %(default)s)')
    parser.add_argument('--overwrite', action='store_true', help='replace existing output files')
    parser.add_argument('--precision', choices=list(PRECISIONS),
                        help="the subnets' precision (default: the option file's test.precision, else fp32; fp16 "
                             "needs CUDA)")
    parser.add_argument('--chunk', type=positive_int,
                        help='secrets / tiles per network call, to bound memory on big images (same output; '
                             'default: the option file\'s test.chunk, else all at once)')


def model_inputs(model: StegoModel) -> list[str]:
    """The files a loaded model was read from (model folder files, or option file and checkpoints): no output may
    replace them."""
    return list(model.input_files)


def reveal_seed(args: argparse.Namespace, model: StegoModel) -> int:
    """``--seed``, else the model's seed (an option file's ``test.seed``, else 0)."""
    return model.seed if args.seed is None else args.seed


@contextlib.contextmanager
def cli_session(tool: str) -> Iterator[None]:
    """Warnings raised inside the block become one ``warning: ...`` line on stderr, expected errors a
    ``SystemExit('error: ...')`` of one line without a traceback, and Ctrl-C / SIGTERM a one-line exit with
    status 130 / 143 (:func:`utils.signals.exit_on_signals`)."""
    def show(message, category, filename, lineno, file=None, line=None) -> None:
        print(f'warning: {" ".join(str(message).split())}', file=sys.stderr)

    with exit_on_signals(tool):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter('default')
                warnings.showwarning = show
                yield
        except EXPECTED_ERRORS as err:
            raise SystemExit(f'error: {error_message(err)}') from None


def channel_notice(model: StegoModel) -> str:
    """What the stego survives on its way to the receiver: the distortions the model was trained for (a model
    folder's ``training.distortions``, an option file's ``test.trained_distortions``)."""
    trained = model.trained_distortions
    if not trained:
        return ('this model was trained for no distortion: the receiver must get the stego PNG exactly as written '
                '(no JPEG re-encoding, resizing, filtering or editing), or the secrets are lost')
    return (f'this model was trained for {", ".join(trained)}; other changes to the stego (stronger compression, '
            f'resizing, editing) may still destroy the secrets')


def print_warnings(messages: list[str]) -> None:
    """Print warnings to stderr so that they cannot be missed."""
    if not messages:
        return
    bar = '!' * 78
    print(bar, file=sys.stderr)
    for message in messages:
        print(f'WARNING: {message}', file=sys.stderr)
    print(bar, file=sys.stderr)
