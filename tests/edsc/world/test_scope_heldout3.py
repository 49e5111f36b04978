"""Tests of edsc/world/scope_heldout3: the third held-out set of out-of-scope instructions is well formed and
disjoint from the first two held-out sets and from a sample of the training negatives."""

from __future__ import annotations

import re
import unicodedata

from edsc.train.parser import training_negatives
from edsc.world.scope_heldout import HELD_OUT
from edsc.world.scope_heldout2 import HELD_OUT_2
from edsc.world.scope_heldout3 import HELD_OUT_3, held_out_3

# words naming one of the five attributes or their parts; only "scoped_property" may use them (for a property
# other than degree)
_ATTRIBUTE_WORDS = re.compile(
    r"\b(bangs?|fringe|glasses|spectacles|specs|eyeglasses|beard\w*|smil\w*|grin\w*|age|aged|ageing|aging|old\w*|"
    r"young\w*|elderly|lens\w*|frames|rimless|smirk\w*|stubble)\b"
)


def _norm(text: str) -> str:
    """Case-folded word tokens joined by single spaces: ignores case, punctuation and spacing."""
    return " ".join(re.findall(r"\w+", text.casefold()))


def _collisions(others: list[str]) -> list[tuple[str, str]]:
    """This set's (category, text) pairs equal to one of ``others``, exactly or after normalisation."""
    exact = set(others)
    worded = {_norm(t) for t in others if _norm(t)}
    return [(c, t) for t, c in held_out_3() if t in exact or (_norm(t) and _norm(t) in worded)]


def _script(ch: str) -> str:
    """First word of a letter's Unicode name (LATIN, CYRILLIC, CJK, HANGUL, ARABIC, ...)."""
    return unicodedata.name(ch, "UNKNOWN").split()[0]


def test_categories_match_first_set_and_are_non_empty():
    assert list(HELD_OUT_3) == list(HELD_OUT)
    assert all(len(texts) > 0 for texts in HELD_OUT_3.values())
    assert 200 <= sum(len(texts) for texts in HELD_OUT_3.values()) <= 240


def test_held_out_3_is_text_category_pairs_in_dict_order():
    items = held_out_3()
    assert items == [(text, category) for category, texts in HELD_OUT_3.items() for text in texts]
    assert all(isinstance(t, str) and c in HELD_OUT_3 for t, c in items)


def test_no_duplicates_exact_or_normalised():
    texts = [text for text, _ in held_out_3()]
    assert len(texts) == len(set(texts))
    worded = [_norm(t) for t in texts if _norm(t)]
    assert len(worded) == len(set(worded))


def test_empty_and_punctuation_have_no_words_and_others_do():
    assert all(t.strip() == "" for t in HELD_OUT_3["empty"])
    assert all(_norm(t) == "" and t.strip() for t in HELD_OUT_3["punctuation"])
    for category in set(HELD_OUT_3) - {"empty", "punctuation"}:
        assert all(_norm(t) for t in HELD_OUT_3[category]), category


def test_attribute_words_only_in_scoped_property():
    allowed = ("scoped_property", "foreign")
    offending = [(c, t) for t, c in held_out_3() if c not in allowed and _ATTRIBUTE_WORDS.search(t.casefold())]
    assert offending == []
    assert all(_ATTRIBUTE_WORDS.search(t.casefold()) for t in HELD_OUT_3["scoped_property"])


def test_foreign_spans_several_scripts():
    scripts = {_script(ch) for t in HELD_OUT_3["foreign"] for ch in t if ch.isalpha()}
    non_latin = scripts - {"LATIN"}
    assert len(non_latin) >= 6, sorted(scripts)
    assert "LATIN" in scripts


def test_disjoint_from_first_held_out_set():
    assert _collisions([t for texts in HELD_OUT.values() for t in texts]) == []


def test_disjoint_from_second_held_out_set():
    # the failure message names only this set's sentences
    assert _collisions([t for texts in HELD_OUT_2.values() for t in texts]) == []


def test_disjoint_from_training_negatives_sample():
    training = [item.text for item in training_negatives(20000, seed=0, typo_rate=0.03)]
    assert len(training) == 20000
    assert _collisions(training) == []
