"""Re-render every results table in README.md and docs/*.md from the files under benchmarks/results/.

python -m scripts.render_docs          # rewrite the tables in place
python -m scripts.render_docs --check  # exit 1, naming the documents, when a table no longer matches its file
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from utils.atomic_io import atomic_write_text
from utils.results import render, stale_documents

ROOT = Path(__file__).resolve().parent.parent


def documents() -> list[Path]:
    """The documents that may hold results tables."""
    return [ROOT / 'README.md'] + sorted((ROOT / 'docs').glob('**/*.md'))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--check', action='store_true', help='only report documents whose tables are stale')
    args = parser.parse_args()
    if args.check:
        stale = stale_documents(documents(), ROOT)
        for path in stale:
            print(f'{path}: tables differ from their results files; run python -m scripts.render_docs')
        return 1 if stale else 0
    for path in documents():
        text = path.read_text(encoding='utf-8')
        new = render(text, ROOT)
        if new != text:
            atomic_write_text(path, new)
            print(f'rendered {path.relative_to(ROOT)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
