"""Seeded mutations of a valid key file, stego PNG and option file, fed to reveal.py, hide.py and test.py in-process:
every case must end in success or the tool's one-line ``error: ...``, never a traceback, a hang (each case is
time-bounded) or a write outside the case's output folder."""
from __future__ import annotations

import copy
import io
import json
import random
import shutil
import struct
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

import hide
import reveal
import test as test_script
from options.options import REPO_ROOT
from stego.png import PNG_SIGNATURE, png_chunks
from tests.hostile_kit import CaseTimeout, Kit, is_one_line_error, make_kit, run_tool

SEED = 20
CASE_SECONDS = 20            # a bound for a hang, far above a case's time (well under a second)
HOSTILE_VALUES = [0, -1, 1, 7, 2 ** 31, 2 ** 64, 10 ** 30, -10 ** 30, 1e308, -0.0, float('nan'), float('inf'), True,
                  None, '', 'x', '../..', '/tmp/x', 'a/../../b', '\x00', 'é' * 50, 'A' * 5000, [], [1, 2], {},
                  {'a': 1}, [[[[[[]]]]]], '64', '2e-4']


def _paths(doc, prefix=()) -> list[tuple]:
    """Every (path to a value) in a JSON / YAML document, dict keys and list indices."""
    found = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += _paths(value, prefix + (key,))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            found += _paths(value, prefix + (index,))
    return found


def _nested(depth: int):
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


def edit_document(doc, rng: random.Random, protected: Callable[[tuple], bool] = lambda path: False):
    """A copy of ``doc`` with one or two random structural edits: a value replaced (hostile values, type swaps,
    nesting), a field deleted, an unknown field added, a list emptied or repeated."""
    doc = copy.deepcopy(doc)
    for _ in range(rng.choice((1, 1, 2))):
        paths = [p for p in _paths(doc) if p and not protected(p)]
        if not paths:
            break
        path = rng.choice(paths)
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        last, action = path[-1], rng.random()
        if action < 0.55:
            parent[last] = copy.deepcopy(rng.choice(HOSTILE_VALUES))
        elif action < 0.65:
            parent[last] = _nested(rng.choice((20, 60, 150)))
        elif action < 0.75:
            value = parent[last]
            parent[last] = (str(value) if not isinstance(value, str) else [value]) if rng.random() < 0.5 else \
                {'value': value}
        elif action < 0.85:
            del parent[last]
        elif action < 0.93 and isinstance(parent, dict):
            parent[f'unknown_{rng.randrange(100)}'] = rng.choice(HOSTILE_VALUES)
        elif isinstance(parent[last], list):
            parent[last] = parent[last] * rng.choice((0, 2, 50))
        else:
            parent[last] = copy.deepcopy(rng.choice(HOSTILE_VALUES))
    return doc


def mutate_bytes(data: bytes, rng: random.Random, start: int = 0) -> bytes:
    """Bit flips, a truncation, inserted / deleted / repeated bytes, at or after byte ``start``."""
    data = bytearray(data)
    action = rng.random()
    if action < 0.4:
        for _ in range(rng.randint(1, 8)):
            position = rng.randrange(start, len(data))
            data[position] ^= 1 << rng.randrange(8)
    elif action < 0.6:
        del data[rng.randrange(start, len(data)):]
    elif action < 0.75:
        position = rng.randrange(start, len(data))
        data[position:position] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    elif action < 0.9:
        position = rng.randrange(start, len(data))
        del data[position:position + rng.randint(1, 64)]
    else:
        position = rng.randrange(start, len(data))
        data[position:position] = data[position:position + rng.randint(1, 32)] * rng.randint(2, 200)
    return bytes(data)


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack('>I', len(payload)) + kind + payload + struct.pack('>I', zlib.crc32(kind + payload))


def mutate_png(data: bytes, rng: random.Random) -> bytes:
    """A structurally valid but hostile variant of a PNG: IHDR fields edited (CRC fixed), chunks inserted,
    repeated or dropped, trailing bytes, or the pixels edited, cropped or saved in another PNG mode."""
    chunks = [(kind.encode('latin-1'), payload) for kind, payload in png_chunks(data)]
    action = rng.random()
    if action < 0.3:
        width, height, depth, colour, *rest = struct.unpack('>IIBBBBB', chunks[0][1])
        field = rng.randrange(4)
        value = rng.choice(([0, 1, width + 4, 2 ** 31 - 1, 2 ** 32 - 1], [0, 1, height - 4, 2 ** 31 - 1],
                            [1, 2, 4, 16, 7], [0, 3, 4, 6, 5])[field])
        fields = [width, height, depth, colour]
        fields[field] = value
        chunks[0] = (b'IHDR', struct.pack('>IIBBBBB', *fields, *rest))
    elif action < 0.5:
        extra = rng.choice([(b'tEXt', b'Comment\x00' + b'x' * rng.randrange(1000)),
                            (b'acTL', struct.pack('>II', 2, 0)), (b'IDAT', zlib.compress(b'\x00' * 100)),
                            (b'zzzz', b'unknown chunk'), (b'iCCP', b'profile\x00\x00' + zlib.compress(b'x' * 50))])
        chunks.insert(rng.randrange(1, len(chunks)), extra)
    elif action < 0.6:
        del chunks[rng.randrange(1, len(chunks))]
    elif action < 0.7:
        return b''.join([PNG_SIGNATURE, *(_chunk(k, p) for k, p in chunks)]) + bytes(rng.randrange(256)
                                                                                     for _ in range(500))
    else:
        pixels = np.array(Image.open(io.BytesIO(data)).convert('RGB'))
        choice = rng.randrange(4)
        if choice == 0:
            pixels[rng.randrange(pixels.shape[0]), rng.randrange(pixels.shape[1])] ^= 1
            image = Image.fromarray(pixels)
        elif choice == 1:
            image = Image.fromarray(pixels[:rng.randrange(1, pixels.shape[0] + 1), :rng.randrange(1, 40)])
        else:
            image = Image.fromarray(pixels).convert(rng.choice(['RGBA', 'L', 'P', 'LA', 'I;16']))
        buffer = io.BytesIO()
        image.save(buffer, format='PNG')
        return buffer.getvalue()
    return PNG_SIGNATURE + b''.join(_chunk(kind, payload) for kind, payload in chunks)


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob('*')) if p.is_file()}


@pytest.fixture(scope='module')
def kit(tmp_path_factory) -> Kit:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield make_kit(tmp_path_factory.mktemp('fuzz_kit'))
    torch.set_num_threads(threads)


def option_document(kit: Kit, case: Path) -> dict:
    """The kit's option file with its results under ``case/out`` and ``path`` first (protected from edits)."""
    raw = yaml.safe_load(kit.opt.read_text())
    raw['path']['root'] = str(case / 'out')
    return {'path': raw.pop('path'), **raw}


def cases(kit: Kit, root: Path, rng: random.Random) -> list[tuple[str, Callable, Callable[[Path], list[str]]]]:
    """(label, tool main, argv for a case folder) for every mutation; the argv function writes the mutated file."""
    key_doc = json.loads(kit.key.read_text())
    key_text = kit.key.read_bytes()
    stego_bytes = kit.stego.read_bytes()
    found = []

    def reveal_case(label: str, key: bytes | None, stego: bytes | None, with_key: bool = True):
        def argv(case: Path) -> list[str]:
            key_path, stego_path = kit.key, kit.stego
            if key is not None:
                key_path = case / 'in.key.json'
                key_path.write_bytes(key)
            if stego is not None:
                stego_path = case / 'in.png'
                stego_path.write_bytes(stego)
            return ['--opt', str(kit.opt), '--stego', str(stego_path), *(['--key', str(key_path)] if with_key else []),
                    '--out-dir', str(case / 'out')]
        found.append((label, reveal.main, argv))

    for i in range(70):
        reveal_case(f'key edit {i}', json.dumps(edit_document(key_doc, rng)).encode(), None)
    for i in range(40):
        reveal_case(f'key bytes {i}', mutate_bytes(key_text, rng), None)
    reveal_case('key nested 100k', b'[' * 100_000 + b']' * 100_000, None)
    for i in range(30):
        reveal_case(f'stego bytes {i}', None, mutate_bytes(stego_bytes, rng, start=8), with_key=rng.random() < 0.8)
    for i in range(50):
        reveal_case(f'stego png {i}', None, mutate_png(stego_bytes, rng), with_key=rng.random() < 0.8)

    for i in range(90):
        tool = (hide.main, reveal.main, test_script.main)[i % 3]
        by_bytes = i % 5 == 4
        seed = rng.randrange(2 ** 32)

        def argv(case: Path, tool=tool, by_bytes=by_bytes, seed=seed) -> list[str]:
            case_rng = random.Random(seed)
            document = option_document(kit, case)
            if by_bytes:
                text = yaml.safe_dump(document, sort_keys=False).encode()
                protected = text.index(b'\n', text.index(b'root:')) + 1       # the path section's first lines
                text = mutate_bytes(text, case_rng, start=protected)
            else:
                text = yaml.safe_dump(edit_document(document, case_rng, lambda p: p[:2] == ('path', 'root')),
                                      sort_keys=False).encode()
            opt = case / 'in.yml'
            opt.write_bytes(text)
            if tool is test_script.main:
                return ['-opt', str(opt)]
            if tool is hide.main:
                return ['--opt', str(opt), '--cover', str(kit.cover), '--secrets', *map(str, kit.secrets), '--out',
                        str(case / 'out' / 'stego.png')]
            return ['--opt', str(opt), '--stego', str(kit.stego), '--key', str(kit.key), '--out-dir',
                    str(case / 'out')]
        found.append((f'option {"bytes" if by_bytes else "edit"} {i} ({tool.__module__})', tool, argv))
    return found


def test_mutated_inputs_end_in_success_or_one_line_errors(kit, tmp_path):
    rng = random.Random(SEED)
    kit_before = tree(kit.root)
    failures, outcomes = [], {'ok': 0, 'error': 0}
    started = time.monotonic()
    all_cases = cases(kit, tmp_path, rng)
    for number, (label, tool, make_argv) in enumerate(all_cases):
        case = tmp_path / f'case{number:03d}'
        case.mkdir()
        argv = make_argv(case)
        inputs = tree(case)
        try:
            outcome = run_tool(tool, argv, seconds=CASE_SECONDS)
        except CaseTimeout:
            failures.append(f'{label}: still running after {CASE_SECONDS} s')
            continue
        except Exception as err:  # noqa: BLE001 - any exception here is a traceback the user would see
            failures.append(f'{label}: {type(err).__name__}: {err}'[:300])
            continue
        if outcome.status == 0:
            outcomes['ok'] += 1
        elif is_one_line_error(outcome):
            outcomes['error'] += 1
        else:
            failures.append(f'{label}: status {outcome.status}, message {outcome.message!r:.200}, '
                            f'stderr {outcome.stderr[-200:]!r}')
        if 'Traceback' in outcome.stderr:
            failures.append(f'{label}: a traceback on stderr')
        written = {name for name in tree(case) if not name.startswith('out/')} - set(inputs)
        if written or any(tree(case).get(name) != data for name, data in inputs.items()):
            failures.append(f'{label}: wrote outside its output folder or changed an input: {sorted(written)}')
        shutil.rmtree(case)
    assert tree(kit.root) == kit_before, 'a case changed the valid inputs'
    assert not (REPO_ROOT / 'results' / 'hostile').exists(), 'a case wrote into the repository'
    assert not failures, f'{len(failures)} of {len(all_cases)} cases failed:\n' + '\n'.join(failures[:15])
    assert len(all_cases) >= 250 and outcomes['ok'] > 0 and outcomes['error'] > 100, outcomes
    assert time.monotonic() - started < 120, 'the fuzz cases took too long'
