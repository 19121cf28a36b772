"""docs/options.md is generated from the option schema and stays current; every key has a meaning."""
from pathlib import Path

import pytest

from options.meanings import MEANINGS
from scripts import option_reference

ROOT = Path(__file__).resolve().parent.parent


def test_every_schema_key_has_a_meaning_and_every_meaning_a_key():
    keys = option_reference.schema_keys()
    assert len(keys) == len(set(keys)) > 80
    assert sorted(set(keys) - set(MEANINGS)) == []
    assert sorted(set(MEANINGS) - set(keys)) == []


def test_options_doc_is_current():
    assert (ROOT / 'docs' / 'options.md').read_text(encoding='utf-8') == option_reference.reference(), \
        'docs/options.md is stale: run python -m scripts.option_reference'


def test_reference_shows_type_default_choices_and_meaning():
    text = option_reference.reference()
    assert '| `train.precision` | one of `fp32`, `bf16`, `fp16` | `fp32` | ' in text
    assert '| `train.niter` | int | required | training iterations |' in text
    assert '| `test.attacks` | list | `[none]` | ' in text
    assert '| `datasets.*.GT_size` | int or null | `null` | ' in text


def test_a_key_without_a_meaning_is_named(monkeypatch):
    monkeypatch.delitem(option_reference.MEANINGS, 'train.lr_G')
    with pytest.raises(KeyError, match='no meaning for train.lr_G'):
        option_reference.reference()
