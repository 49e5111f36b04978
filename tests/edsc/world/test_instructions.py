"""Tests of edsc/world/ instructions, templates, patterns, noise, out_of_scope and scope_heldout: the corpora of
the instruction parser."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest
import torch

from edsc.world.instructions import (ATTRIBUTES, MAX_DEGREE, MODES, LabelledInstruction, generate,
                                     generate_for_state, templates, vocabulary_words)
from edsc.world.noise import TOKEN_RE, typo_eligible
from edsc.world.out_of_scope import CATEGORIES, generate_out_of_scope
from edsc.world.patterns import pattern_parts
from edsc.train.parser import held_out_keys, training_negatives
from edsc.world.scope_heldout import HELD_OUT, held_out
from shared.errors import InvalidArgumentError
from shared.models.language import tokenize

COUNT_TOKENS = {1: {"one", "1", "single"}, 2: {"two", "2"}, 3: {"three", "3"}, 4: {"four", "4"},
                5: {"five", "5"}}
ALL_COUNT_TOKENS = set().union(*COUNT_TOKENS.values())


@pytest.fixture(scope="module")
def train_clean():
    return generate(3000, "train", seed=11, typo_rate=0.0)


@pytest.fixture(scope="module")
def val_clean():
    return generate(1500, "val", seed=12, typo_rate=0.0)


def test_constants_and_template_counts():
    assert ATTRIBUTES == ("bangs", "eyeglasses", "beard", "smiling", "age")
    assert MAX_DEGREE == 5
    all_t = templates("all")
    assert len(all_t) >= 150
    assert len({t.pattern for t in all_t}) >= 150
    assert len({t.template_id for t in all_t}) == len(all_t)
    for mode in MODES:
        assert sum(t.mode == mode for t in templates("train")) >= 30
        assert sum(t.mode == mode for t in templates("val")) >= 8


def test_determinism():
    a = generate(300, "train", seed=5)
    b = generate(300, "train", seed=5)
    assert a == b
    assert [x.text for x in generate(300, "train", seed=6)] != [x.text for x in a]
    assert generate(0, "val", seed=1) == []
    s1 = [generate_for_state([1, 2, 3, 4, 5], random.Random(3)) for _ in range(2)]
    assert s1[0] == s1[1]
    assert generate_for_state([0, 0, 0, 0, 0], 17) == generate_for_state([0, 0, 0, 0, 0], 17)


def test_split_is_by_template():
    train, val = templates("train"), templates("val")
    train_ids, val_ids = {t.template_id for t in train}, {t.template_id for t in val}
    assert train_ids and val_ids and not (train_ids & val_ids)
    assert train_ids | val_ids == {t.template_id for t in templates("all")}
    # no sentence structure appears in both splits (not even under another mode)
    assert not ({t.pattern for t in train} & {t.pattern for t in val})
    # validation can express every attribute x mode x direction / target degree
    for split in ("train", "val"):
        ts = templates(split)
        for a in ATTRIBUTES:
            for d in range(MAX_DEGREE + 1):
                assert any(t.mode == "target" and t.applies(a, None, d) for t in ts), (split, a, d)
            for mode in ("definite", "indefinite"):
                for direction in (1, -1):
                    assert any(t.mode == mode and t.applies(a, direction) for t in ts), (split, a, mode, direction)
    assert {x.template_id for x in generate(600, "train", seed=1)} <= train_ids
    assert {x.template_id for x in generate(600, "val", seed=1)} <= val_ids


def _check_labels(x: LabelledInstruction) -> None:
    assert x.attribute in ATTRIBUTES and x.mode in MODES
    if x.mode == "target":
        assert x.direction is None and x.change is None and 0 <= x.target <= MAX_DEGREE
    elif x.mode == "definite":
        assert x.direction in (1, -1) and 1 <= x.change <= MAX_DEGREE and x.target is None
    else:
        assert x.direction in (1, -1) and x.change is None and x.target is None
    assert x.label_dict() == {"attribute": x.attribute, "mode": x.mode, "direction": x.direction,
                              "change": x.change, "target": x.target}


def test_label_consistency(train_clean, val_clean):
    for x in train_clean + val_clean:
        _check_labels(x)
    with pytest.raises(InvalidArgumentError):
        LabelledInstruction("x", "bangs", "target", 1, None, 3, "t")
    with pytest.raises(InvalidArgumentError):
        LabelledInstruction("x", "bangs", "definite", 1, None, None, "t")
    with pytest.raises(InvalidArgumentError):
        LabelledInstruction("x", "bangs", "indefinite", -1, 2, None, "t")
    with pytest.raises(InvalidArgumentError):
        LabelledInstruction("x", "hair", "indefinite", -1, None, None, "t")


def test_counts_are_in_the_text(train_clean, val_clean):
    """A definite sentence names its count; an indefinite one names none; a level template names its level."""
    by_id = {t.template_id: t for t in templates("all")}
    for x in train_clean + val_clean:
        toks = set(tokenize(x.text))
        if x.mode == "definite":
            assert toks & COUNT_TOKENS[x.change], x
            others = ALL_COUNT_TOKENS - COUNT_TOKENS[x.change]
            assert not toks & others, x
        elif x.mode == "indefinite":
            assert not toks & ALL_COUNT_TOKENS, x
        else:
            slots = pattern_parts(by_id[x.template_id].pattern)[1]
            if "d" in slots or "level" in slots:
                level = {0: {"zero", "0"}, **COUNT_TOKENS}[x.target] - {"single"}
                assert toks & level, x


def test_coverage_and_balance(train_clean, val_clean):
    for data in (train_clean, val_clean):
        cells = Counter((x.attribute, x.mode) for x in data)
        assert len(cells) == len(ATTRIBUTES) * len(MODES)
        assert max(cells.values()) - min(cells.values()) <= 1
        dirs = {(x.attribute, x.mode, x.direction) for x in data if x.mode != "target"}
        assert dirs == {(a, m, d) for a in ATTRIBUTES for m in ("definite", "indefinite") for d in (1, -1)}
        targets = {(x.attribute, x.target) for x in data if x.mode == "target"}
        assert targets == {(a, d) for a in ATTRIBUTES for d in range(MAX_DEGREE + 1)}
        changes = {(x.attribute, x.change) for x in data if x.mode == "definite"}
        assert changes == {(a, c) for a in ATTRIBUTES for c in range(1, MAX_DEGREE + 1)}
        # roughly uniform directions and degrees
        d = Counter(x.direction for x in data if x.mode != "target")
        assert abs(d[1] - d[-1]) < 0.15 * (d[1] + d[-1])
    assert len({x.template_id for x in train_clean}) >= 0.9 * len(templates("train"))
    assert len({x.template_id for x in val_clean}) == len(templates("val"))
    assert len({x.text.lower() for x in train_clean}) > 0.9 * len(train_clean)


def test_vocabulary(train_clean, val_clean):
    v_train, v_val, v_all = vocabulary_words("train"), vocabulary_words("val"), vocabulary_words("all")
    assert v_val <= v_train  # synonyms are shared: validation has no unseen word
    assert v_train | v_val == v_all
    assert {"bangs", "fringe", "spectacles", "specs", "shades", "beard", "stubble", "grin", "older", "younger",
            "thin-framed", "i'd", "please", "level", "two", "5"} <= v_all
    assert all(w == w.lower() for w in v_all)
    for data, vocab in ((train_clean, v_train), (val_clean, v_val)):
        for x in data:
            words = [w for w in tokenize(x.text) if w not in ("?", ";")]
            assert set(words) <= vocab, (x.text, set(words) - vocab)


@pytest.mark.parametrize("rate", [0.03, 0.2])
def test_typo_rate(rate):
    clean = generate(2000, "train", seed=21, typo_rate=0.0)
    noisy = generate(2000, "train", seed=21, typo_rate=rate)
    eligible = changed = 0
    vocab = vocabulary_words("all")
    for c, n in zip(clean, noisy):
        assert c.label_dict() == n.label_dict() and c.template_id == n.template_id
        ct, nt = c.text.split(" "), n.text.split(" ")
        assert len(ct) == len(nt)
        for a, b in zip(ct, nt):
            core = TOKEN_RE.match(a).group(2)
            if typo_eligible(core):
                eligible += 1
                if a != b:
                    changed += 1
                    assert b.strip(".,!?:").lower() not in vocab  # never another corpus word
            else:
                assert a == b  # numbers, short and hyphenated words are never misspelt
    observed = changed / eligible
    assert abs(observed - rate) < 0.25 * rate + 0.005, observed


def test_generate_for_state():
    rng = random.Random(0)
    by_id = {t.template_id: t for t in templates("all")}
    modes = Counter()
    for _ in range(1500):
        degrees = [rng.randrange(MAX_DEGREE + 1) for _ in ATTRIBUTES]
        x = generate_for_state(degrees, rng)
        _check_labels(x)
        modes[x.mode] += 1
        cur = degrees[ATTRIBUTES.index(x.attribute)]
        if x.mode == "target":
            assert x.target != cur
        else:
            new = cur + x.direction * (x.change if x.mode == "definite" else 1)
            assert 0 <= new <= MAX_DEGREE and new != cur
        if by_id[x.template_id].when == "absent":
            assert cur == 0
    assert min(modes.values()) > 400
    # tensors, arrays and generators of numpy / torch
    x = generate_for_state(torch.tensor([5, 5, 5, 5, 5]), torch.Generator().manual_seed(1))
    assert (x.mode == "target") or x.direction == -1
    x = generate_for_state(np.zeros(5, dtype=np.int64), np.random.default_rng(2))
    assert (x.mode == "target" and x.target > 0) or x.direction == 1
    assert generate_for_state([2, 2, 2, 2, 2], 3, split="val").template_id in {t.template_id for t in templates("val")}
    for bad in ([1, 2, 3], [0, 0, 0, 0, 6], [0, 0, 0, 0, -1], [0.5, 0, 0, 0, 0], "abcde"):
        with pytest.raises(InvalidArgumentError):
            generate_for_state(bad, 0)


def test_invalid_arguments():
    with pytest.raises(InvalidArgumentError):
        generate(-1)
    with pytest.raises(InvalidArgumentError):
        generate(10, "test")
    with pytest.raises(InvalidArgumentError):
        generate(10, "train", typo_rate=1.5)
    with pytest.raises(InvalidArgumentError):
        templates("validation")
    with pytest.raises(InvalidArgumentError):
        vocabulary_words("dev")


def test_rendered_sentences_are_well_formed():
    """No pattern syntax, doubled spaces or dangling commas survive rendering; fillers stay fillers."""
    for x in generate(600, "all", seed=4, typo_rate=0.0) + generate(600, "val", seed=5, typo_rate=0.0):
        assert x.text and x.text == x.text.strip(), x.text
        assert not set(x.text) & set("{}[]|"), x.text
        assert "  " not in x.text and ",," not in x.text and not x.text.startswith(","), x.text
        assert tokenize(x.text)


def test_pattern_parts():
    assert pattern_parts("make the {noun} [a bit] (longer|{cmp})") == (("make the ", " ", "a bit", " ", "longer"),
                                                                        ("noun", "cmp"))


# ---------------------------------------------------------------------------------------------------------------
# Out-of-scope sentences
# ---------------------------------------------------------------------------------------------------------------

def test_out_of_scope_generator():
    a = generate_out_of_scope(400, seed=3)
    assert a == generate_out_of_scope(400, seed=3)
    assert [x.text for x in a] != [x.text for x in generate_out_of_scope(400, seed=4)]
    counts = Counter(x.category for x in a)
    assert set(counts) == set(CATEGORIES) and max(counts.values()) - min(counts.values()) <= 1
    assert all(x.text for x in a)
    assert not any(set(x.text) & set("{}[]|") for x in a if x.category not in ("punctuation", "gibberish"))
    with pytest.raises(InvalidArgumentError):
        generate_out_of_scope(-1)
    with pytest.raises(InvalidArgumentError):
        generate_out_of_scope(3, typo_rate=2.0)


def test_held_out_is_apart_from_training_and_from_edit_requests():
    items = held_out()
    assert len(items) >= 200 and len({t for _, t in items}) == len(items)
    assert set(HELD_OUT) >= {"face_part", "image", "off_topic", "gibberish", "punctuation", "empty", "foreign"}
    key = lambda text: " ".join(tokenize(text))  # noqa: E731 - what the parser sees
    # punctuation and whitespace are refused before the encoder, and short strings of them repeat by chance
    held = {key(t) for c, t in items if c not in ("punctuation", "empty")}
    # the parser's training negatives (what training sees: the generator minus the held-out sets' sentences)
    training = {key(x.text) for x in training_negatives(20000, seed=0, typo_rate=0.0)}
    assert not held & training
    assert held <= held_out_keys()
    edits = {key(x.text) for x in generate(6000, "all", seed=0, typo_rate=0.0)}
    assert not held & edits
