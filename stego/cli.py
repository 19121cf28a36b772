"""What hide.py and reveal.py share: the default option file, the common arguments, and error reporting."""
from __future__ import annotations

import argparse
import contextlib
import sys
import warnings
from collections.abc import Iterator

import torch

from models.invmihnet_model import InvMIHNetModel
from options.options import REPO_ROOT, SEED_LIMIT
from stego.images import DEFAULT_MAX_PIXELS
from utils.messages import error_message
from utils.signals import exit_on_signals

DEFAULT_OPT = REPO_ROOT / 'options' / 'test' / 'test_InvMIHNet_4images_demo.yml'
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


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Option file, checkpoints, device, noise seed, input size limit and overwriting."""
    parser.add_argument('--opt', default=str(DEFAULT_OPT),
                        help='test option file (default: the 4-image demo model, %(default)s)')
    parser.add_argument('--iir', help='IIR checkpoint (default: path.pretrain_model_G of the option file)')
    parser.add_argument('--iih', help='IIH checkpoint (default: path.pretrain_model_H of the option file)')
    parser.add_argument('--cpu', action='store_true', help='run on the CPU even when CUDA is available')
    parser.add_argument('--seed', type=seed_int,
                        help='seed of the reveal noise (default: test.seed of the option file, else 0)')
    parser.add_argument('--max-pixels', type=positive_int, default=DEFAULT_MAX_PIXELS,
                        help='refuse an input image whose header declares more pixels (default %(default)s)')
    parser.add_argument('--overwrite', action='store_true', help='replace existing output files')
    parser.add_argument('--precision', choices=['fp32', 'bf16', 'fp16'],
                        help="the subnets' precision (default: test.precision of the option file; fp16 needs CUDA)")
    parser.add_argument('--chunk', type=positive_int,
                        help='secrets / tiles per network call, to bound memory on big images (same output; '
                             'default: test.chunk of the option file, else all at once)')


def apply_inference_arguments(args: argparse.Namespace, model: InvMIHNetModel) -> None:
    """``--precision`` / ``--chunk`` override the option file's ``test.precision`` / ``test.chunk``."""
    test_opt = model.opt['test']
    if args.precision is not None or args.chunk is not None:
        model.set_inference(args.precision or test_opt['precision'],
                            test_opt['chunk'] if args.chunk is None else args.chunk, key='command line')


def model_inputs(model: InvMIHNetModel) -> list[str]:
    """The files a loaded model was read from (option file, checkpoints): no output may replace them."""
    paths = model.opt['path']
    return [p for p in (model.opt.get('source'), paths['pretrain_model_G'], paths['pretrain_model_H']) if p]


def reveal_seed(args: argparse.Namespace, model: InvMIHNetModel) -> int:
    """``--seed``, else the option file's ``test.seed``, else 0."""
    if args.seed is not None:
        return args.seed
    seed = model.opt['test']['seed']
    return 0 if seed is None else seed


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


def channel_notice(model: InvMIHNetModel) -> str:
    """What the stego survives on its way to the receiver, from the option file's ``test.trained_distortions``."""
    trained = model.opt['test']['trained_distortions']
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
