"""Tests of edsc/world/scope_heldout2: the second held-out set of out-of-scope instructions is well formed and
disjoint from the first held-out set and from the training negatives."""

from __future__ import annotations

import re

import pytest

from edsc.train.parser import training_negatives
from edsc.world.scope_heldout import HELD_OUT
from edsc.world.scope_heldout2 import HELD_OUT_2, held_out_2


def _norm(text: str) -> str:
    """Case-folded word tokens joined by single spaces: ignores case, punctuation and spacing."""
    return " ".join(re.findall(r"\w+", text.casefold()))


@pytest.fixture(scope="module")
def training_texts() -> set[str]:
    return {item.text for item in training_negatives(20000, seed=0, typo_rate=0.03)}


def test_categories_match_first_set_and_are_non_empty():
    assert list(HELD_OUT_2) == list(HELD_OUT)
    assert all(len(texts) > 0 for texts in HELD_OUT_2.values())
    assert 200 <= sum(len(texts) for texts in HELD_OUT_2.values()) <= 240


def test_held_out_2_is_text_category_pairs_in_dict_order():
    items = held_out_2()
    assert items == [(text, category) for category, texts in HELD_OUT_2.items() for text in texts]
    assert all(isinstance(t, str) and c in HELD_OUT_2 for t, c in items)


def test_no_duplicates():
    texts = [text for text, _ in held_out_2()]
    assert len(texts) == len(set(texts))
    worded = [_norm(t) for t in texts if _norm(t)]
    assert len(worded) == len(set(worded))


def test_empty_category_has_no_words_and_others_do():
    assert all(_norm(t) == "" for t in HELD_OUT_2["empty"])
    assert all(_norm(t) == "" for t in HELD_OUT_2["punctuation"])
    for category in set(HELD_OUT_2) - {"empty", "punctuation"}:
        assert all(_norm(t) for t in HELD_OUT_2[category]), category


def test_foreign_sentences_are_not_ascii_english_only():
    foreign = HELD_OUT_2["foreign"]
    assert sum(any(ord(ch) > 127 for ch in t) for t in foreign) >= len(foreign) // 2


def test_disjoint_from_first_held_out_set():
    first = {t for texts in HELD_OUT.values() for t in texts}
    first_norm = {_norm(t) for t in first if _norm(t)}
    for text, category in held_out_2():
        assert text not in first, (category, text)
        assert _norm(text) not in first_norm, (category, text)


def test_disjoint_from_training_negatives(training_texts):
    training_norm = {_norm(t) for t in training_texts}
    for text, category in held_out_2():
        assert text not in training_texts, (category, text)
        if _norm(text):
            assert _norm(text) not in training_norm, (category, text)
