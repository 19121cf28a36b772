"""A small, complete set of valid inputs to damage: tiny seeded checkpoints, test option files, a cover and four
secrets, a stego PNG with its key, and a five-image test set (used by the hardening and fuzz tests)."""
from __future__ import annotations

import contextlib
import io
import signal
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from options.options import REPO_ROOT
from stego import hide_images, load_model, save_stego
from tests.conftest import photo, save_perturbed_checkpoints, write_rgb

COVER_HW = (32, 28)
SECRET_HWS = [(16, 12), (24, 24), (32, 28), (9, 20)]


@dataclass
class Kit:
    """Paths of the valid inputs under ``root``."""
    root: Path
    opt: Path              # test option file naming the checkpoints and the test set
    iir: Path
    iih: Path
    cover: Path
    secrets: list[Path]
    stego: Path
    key: Path
    photos: Path           # five 32 x 32 photographs: one image set for test.py






def option_text(kit_root: Path, iir: Path | None, iih: Path | None, photos: Path) -> str:
    """A 4-image test option file with one-block networks, the given checkpoints, the test set ``photos`` and
    results under ``kit_root/results``."""
    raw = yaml.safe_load((REPO_ROOT / 'options' / 'test' / 'test_InvMIHNet_4images.yml').read_text())
    raw['name'] = 'hostile'
    raw['path'].update(pretrain_model_G=str(iir) if iir else None, pretrain_model_H=str(iih) if iih else None,
                       root=str(kit_root))
    raw['network_G']['block_num'] = [1]
    raw['network_H']['block_num'] = 1
    raw['gpu_ids'] = None
    raw['datasets'] = {'test_1': {'name': 'photos', 'mode': 'Steg', 'dataroot_GT': str(photos)}}
    raw['test'] = {'save_images': True, 'seed': 0}
    return yaml.safe_dump(raw, sort_keys=False)


def make_kit(root: Path) -> Kit:
    """Build every valid input under ``root`` (seeded: the same bytes on every run)."""
    root.mkdir(parents=True, exist_ok=True)
    photos = root / 'photos'
    for i in range(5):
        write_rgb(photos / f'p{i}.png', photo(i, 32, 32))
    untrained = root / 'untrained.yml'
    untrained.write_text(option_text(root, None, None, photos))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        model = load_model(untrained, device='cpu')
    iir, iih = save_perturbed_checkpoints(model.net, root)
    untrained.unlink()
    opt = root / 'tiny.yml'
    opt.write_text(option_text(root, iir, iih, photos))
    images = root / 'images'
    cover = write_rgb(images / 'cover.png', photo(0, *COVER_HW))
    secrets = [write_rgb(images / f'secret{i}.png', photo(i + 1, h, w)) for i, (h, w) in enumerate(SECRET_HWS)]
    model = load_model(opt, device='cpu')
    hidden = hide_images(model, cover, secrets)
    stego = save_stego(images / 'stego.png', hidden.stego)
    key = hidden.key.save(images / 'stego.key.json')
    return Kit(root, opt, iir, iih, cover, secrets, stego, key, photos)


@dataclass
class Outcome:
    """How a tool's ``main(argv)`` ended: its exit status, the ``SystemExit`` message (or None) and stderr."""
    status: int
    message: str | None
    stderr: str


class CaseTimeout(BaseException):
    """A case ran past its time bound."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`CaseTimeout` in the block after ``seconds`` (SIGALRM; the main thread only)."""
    def expire(signum, frame):
        raise CaseTimeout

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_tool(main: Callable[[Sequence[str]], object], argv: Sequence[str], seconds: float = 30.0) -> Outcome:
    """Call a tool's ``main(argv)`` in-process with stdout / stderr captured; any exception other than
    ``SystemExit`` propagates (a traceback the user would have seen), and so does :class:`CaseTimeout`."""
    out, err = io.StringIO(), io.StringIO()
    with time_limit(seconds), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
            warnings.catch_warnings():
        warnings.simplefilter('ignore')
        try:
            main(list(argv))
        except SystemExit as exc:
            if exc.code is None or isinstance(exc.code, int):
                return Outcome(exc.code or 0, None, err.getvalue())
            return Outcome(1, str(exc.code), err.getvalue())
    return Outcome(0, None, err.getvalue())


def is_one_line_error(outcome: Outcome) -> bool:
    """A tool's clean failure: status 1 and a single ``error: ...`` line."""
    return (outcome.status == 1 and outcome.message is not None and outcome.message.startswith('error: ')
            and '\n' not in outcome.message and 'Traceback' not in outcome.stderr)
