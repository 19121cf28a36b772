"""The docs' tables are rendered from the results files and stay in step with them."""
import json
from pathlib import Path

import pytest

from utils.results import load_results, markdown_table, render, stale_documents, write_results

ROOT = Path(__file__).resolve().parent.parent


def test_every_results_table_matches_its_file():
    docs = [ROOT / 'README.md'] + sorted((ROOT / 'docs').glob('**/*.md'))
    assert stale_documents(docs, ROOT) == []


def test_render_replaces_a_stale_table(tmp_path):
    write_results(tmp_path / 'r.json', [{'variant': 'fp32', 'seconds': 1.5}, {'variant': 'bf16', 'seconds': 0.5}],
                  machine={'cpu': 'test CPU', 'cores': 2, 'flags': ['avx2'], 'torch': '0'})
    doc = 'intro\n<!-- table: r.json -->\n| old |\n<!-- end table -->\nafter\n'
    out = render(doc, tmp_path)
    assert '| variant | seconds |' in out and '| bf16 | 0.50 |' in out and '| old |' not in out
    assert 'test CPU (2 cores; avx2)' in out and out.endswith('<!-- end table -->\nafter\n')
    assert render(out, tmp_path) == out
    doc_file = tmp_path / 'doc.md'
    doc_file.write_text(doc)
    assert stale_documents([doc_file], tmp_path) == [str(doc_file)]


def test_results_file_is_checked(tmp_path):
    (tmp_path / 'bad.json').write_text(json.dumps({'rows': 3}))
    with pytest.raises(ValueError, match='bad.json: not a results file'):
        load_results(tmp_path / 'bad.json')
    (tmp_path / 'big.json').write_text(' ' * 100)
    with pytest.raises(ValueError, match='big.json: results file larger than 10 bytes'):
        load_results(tmp_path / 'big.json', max_bytes=10)


def test_markdown_table_columns_follow_the_file():
    payload = {'columns': ['b', 'a'], 'rows': [{'a': 1, 'b': None}], 'machine': {}, 'command': 'x'}
    assert markdown_table(payload).splitlines()[:3] == ['| b | a |', '|---|---|', '|  | 1 |']
