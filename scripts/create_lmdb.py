"""Pack an image folder into an LMDB in the published InvMIHNet layout.

Usage: ``python -m scripts.create_lmdb --input <folder> --output <x.lmdb> [--name NAME] [--overwrite]``
or ``python -m scripts.create_lmdb --convert-meta <published.lmdb>``

Each image (searched recursively, sorted by relative path) is stored under its file stem
(made unique with ``_1``, ``_2``, ... when stems repeat) as raw HWC BGR uint8 bytes of its
8-bit colour version (grey expanded to three channels, alpha dropped, 16-bit rounded to
8 bits). ``meta_info.json`` holds 'name', 'keys' and 'resolution' ("3_H_W": one per key,
or a single one when every image has the same size). The LMDB is built in a temporary
folder beside the output and moved into place at the end.

``--convert-meta`` writes ``meta_info.json`` for an LMDB made by the published code, whose metadata is a
pickle (``meta_info.pkl``), which the datasets never load: a pickle can run any code. The conversion reads the
pickle with an unpickler that refuses every class and function, so only plain lists, strings and numbers can
come out of it (nothing is imported or called), checks its keys against the ones stored in the LMDB, and warns
that it read a pickle. Run it only on an LMDB you have reason to trust.
"""

from __future__ import annotations

import argparse
import logging
import io
import json
import math
import os
import pickle
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import lmdb
import numpy as np

from data.steg_dataset import META_FILE, META_LIMIT, OLD_META_FILE, read_meta
from utils.atomic_io import atomic_write_text
from utils.image_io import list_images, read_image, to_uint8
from utils.limited_read import read_limited

logger = logging.getLogger(__name__)

_PAGE = 4096
_BASE_MAP_SIZE = 64 * 2**20


def _unique_keys(paths: list[Path]) -> list[str]:
    """File stems, with ``_<n>`` appended to repeats (never colliding with another stem)."""
    stems = [path.stem for path in paths]
    all_stems = set(stems)
    used: set[str] = set()
    keys = []
    for stem in stems:
        key = stem
        if key in used:
            number = 1
            while f"{stem}_{number}" in used or f"{stem}_{number}" in all_stems:
                number += 1
            key = f"{stem}_{number}"
        used.add(key)
        keys.append(key)
    return keys


def _stored_bytes(path: Path) -> tuple[bytes, str]:
    """The raw HWC BGR uint8 bytes of an image and its "C_H_W" resolution."""
    rgb = to_uint8(read_image(path))
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    height, width, channels = bgr.shape
    return bgr.tobytes(), f"{channels}_{height}_{width}"


def _map_size_for(value_bytes: int, count: int) -> int:
    """LMDB map size for ``count`` values of about ``value_bytes`` each, with headroom."""
    pages_per_value = math.ceil(value_bytes / _PAGE) + 1
    return int(pages_per_value * _PAGE * count * 1.5) + _BASE_MAP_SIZE


def _check_replaceable(output: Path) -> None:
    """Refuse to delete anything but an LMDB folder or an empty folder."""
    if output.is_dir() and not output.is_symlink():
        if (output / "data.mdb").is_file() or not any(output.iterdir()):
            return
    raise FileExistsError(f"{output} exists and is not an LMDB folder; refusing to replace it")


def create_lmdb(input_dir: str | os.PathLike, output_path: str | os.PathLike,
                name: str | None = None, overwrite: bool = False) -> int:
    """Build an LMDB at ``output_path`` from the images under ``input_dir``; return the count.

    Raises ``FileExistsError`` when the output exists (unless ``overwrite``), ``ValueError``
    when the input folder holds no images, and ``ImageReadError`` naming a file that
    cannot be decoded.
    """
    source = Path(input_dir)
    if not source.is_dir():
        raise ValueError(f"--input: {source} is not a directory")
    paths = list_images(source)
    if not paths:
        raise ValueError(f"--input: no image files found under {source}")
    output = Path(output_path)
    if output.exists() or output.is_symlink():
        if not overwrite:
            raise FileExistsError(f"{output} already exists; use --overwrite to replace it")
        _check_replaceable(output)
    keys = _unique_keys(paths)
    output.parent.mkdir(parents=True, exist_ok=True)

    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        resolutions = _write_values(staging, paths, keys)
        meta = {
            "name": name or output.stem,
            "keys": keys,
            "resolution": resolutions[:1] if len(set(resolutions)) == 1 else resolutions,
        }
        (staging / META_FILE).write_text(json.dumps(meta), encoding="utf-8")
        staging.chmod(0o755)
        if output.exists():
            shutil.rmtree(output)
        os.replace(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return len(keys)


def _write_values(folder: Path, paths: list[Path], keys: list[str]) -> list[str]:
    """Store every image in a new LMDB in ``folder``; return the resolutions in key order."""
    first_value, first_resolution = _stored_bytes(paths[0])
    env = lmdb.open(str(folder), map_size=_map_size_for(len(first_value), len(paths)),
                    sync=False, metasync=False)
    resolutions = []
    try:
        for number, (path, key) in enumerate(zip(paths, keys)):
            if number == 0:
                value, resolution = first_value, first_resolution
            else:
                value, resolution = _stored_bytes(path)
            encoded_key = key.encode("utf-8")
            if not encoded_key or len(encoded_key) > env.max_key_size():
                raise ValueError(f"{path}: key {key!r} is empty or longer than "
                                 f"{env.max_key_size()} bytes")
            _put_growing(env, encoded_key, value)
            resolutions.append(resolution)
            if (number + 1) % 100 == 0:
                logger.info("%d / %d images stored", number + 1, len(paths))
        env.sync(True)
    finally:
        env.close()
    return resolutions


def _put_growing(env: lmdb.Environment, key: bytes, value: bytes) -> None:
    """Store one value in its own transaction, doubling the map size while it is full."""
    while True:
        try:
            with env.begin(write=True) as txn:
                txn.put(key, value)
            return
        except lmdb.MapFullError:
            env.set_mapsize(env.info()["map_size"] * 2)


class _LiteralUnpickler(pickle.Unpickler):
    """An unpickler that refuses every global (class or function): only built-in literals come out."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"it names {module}.{name}; published metadata holds only lists and strings")


def _stored_keys(folder: Path) -> list[str]:
    """Every key stored in the LMDB at ``folder``, in LMDB order."""
    with lmdb.open(str(folder), readonly=True, lock=False, readahead=False) as env, env.begin() as txn:
        return [bytes(key).decode("utf-8", "replace") for key in txn.cursor().iternext(keys=True, values=False)]


def convert_meta(folder: str | os.PathLike) -> Path:
    """Write ``meta_info.json`` for a published LMDB from its ``meta_info.pkl`` (see the module docstring);
    returns the JSON file. ``ValueError`` for a pickle that holds anything but the published metadata."""
    root = Path(folder)
    pickled = root / OLD_META_FILE
    if not (root / "data.mdb").is_file():
        raise ValueError(f"{root} is not an LMDB folder (no data.mdb)")
    logger.warning("warning: reading the pickle %s (classes and functions refused); convert only an LMDB you "
                   "trust", pickled)
    try:
        meta = _LiteralUnpickler(io.BytesIO(read_limited(pickled, META_LIMIT, "metadata"))).load()
    except (pickle.UnpicklingError, EOFError, TypeError, AttributeError, IndexError, KeyError,
            RecursionError) as exc:
        raise ValueError(f"{pickled} is not the published LMDB metadata: {exc}") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("keys"), list) or "resolution" not in meta:
        raise ValueError(f"{pickled} is not the published LMDB metadata (a dict with 'keys' and 'resolution')")
    keys = [key.decode("utf-8", "replace") if isinstance(key, bytes) else key for key in meta["keys"]]
    resolution = meta["resolution"]
    resolution = [resolution] if isinstance(resolution, str) else resolution
    if not isinstance(resolution, list) or not all(isinstance(v, str) for v in keys + resolution):
        raise ValueError(f"{pickled}: 'keys' and 'resolution' must be strings")
    missing = sorted(set(keys) - set(_stored_keys(root)))
    if missing:
        raise ValueError(f"{pickled} lists {len(missing)} keys the LMDB does not hold, e.g. {missing[0]!r:.80}")
    name = meta.get("name") if isinstance(meta.get("name"), str) else root.stem
    target = atomic_write_text(root / META_FILE, json.dumps({"name": name, "keys": keys, "resolution": resolution}))
    read_meta(target, str(root))
    return target


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description="Pack an image folder into an InvMIHNet LMDB.")
    parser.add_argument("--input", help="folder of images (searched recursively)")
    parser.add_argument("--output", help="LMDB folder to create, e.g. train.lmdb")
    parser.add_argument("--name", default=None, help=f"dataset name stored in {META_FILE}")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing LMDB")
    parser.add_argument("--convert-meta", metavar="LMDB",
                        help=f"write {META_FILE} for a published LMDB from its {OLD_META_FILE} (see above)")
    args = parser.parse_args(argv)
    if args.convert_meta is None and (args.input is None or args.output is None):
        parser.error("give --input and --output, or --convert-meta LMDB")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if args.convert_meta is not None:
            logger.info("Wrote %s", convert_meta(args.convert_meta))
            return 0
        count = create_lmdb(args.input, args.output, name=args.name, overwrite=args.overwrite)
    except (ValueError, OSError) as exc:
        parser.exit(1, f"create_lmdb: error: {exc}\n")
    logger.info("Stored %d images in %s", count, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
