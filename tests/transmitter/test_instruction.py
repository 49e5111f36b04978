"""Tests of transmitter/instruction.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from shared.errors import InvalidArgumentError
from shared.models.language import BUILTIN_HEADS, SCOPE_HEAD, LanguageEncoder, LanguageEncoderConfig, Vocabulary
from transmitter.instruction import (MAX_INSTRUCTION_CHARS, MAX_TOKENS, Edit, InstructionParser, TypoFixer, _one_edit,
                                    expected_degree, quote_input)

CORPUS = [
    "make the bangs longer", "make the bangs a bit shorter", "remove the eyeglasses", "add thick glasses",
    "give him a full beard", "let the person smile more", "make her look older", "make him younger please",
    "set the bangs to degree 3", "no i am done", "what else ?",
]


# ---------------------------------------------------------------------------------------------------------------
# Edit
# ---------------------------------------------------------------------------------------------------------------

def test_edit_to_dict_exact_keys_and_json():
    e = Edit("bangs", "definite", direction=-1, change=2)
    d = e.to_dict()
    assert d == {"attribute": "bangs", "mode": "definite", "direction": -1, "change": 2, "target": None}
    assert list(d) == ["attribute", "mode", "direction", "change", "target"]
    assert json.loads(json.dumps(d)) == d
    assert Edit.from_dict(json.loads(json.dumps(d))) == e
    assert Edit("age", "target", target=0).to_dict() == {"attribute": "age", "mode": "target", "direction": None,
                                                        "change": None, "target": 0}
    assert Edit("smiling", "indefinite", direction=1).to_dict()["change"] is None


@pytest.mark.parametrize("kwargs", [
    dict(attribute="bangs", mode="target", target=None),
    dict(attribute="bangs", mode="target", target=2, direction=1),
    dict(attribute="bangs", mode="target", target=-1),
    dict(attribute="bangs", mode="definite", direction=1, change=0),
    dict(attribute="bangs", mode="definite", direction=2, change=1),
    dict(attribute="bangs", mode="definite", direction=1),
    dict(attribute="bangs", mode="definite", direction=1, change=1, target=3),
    dict(attribute="bangs", mode="indefinite", direction=1, change=1),
    dict(attribute="bangs", mode="indefinite", direction=None),
    dict(attribute="bangs", mode="indefinite", direction=True),
    dict(attribute="bangs", mode="relative", direction=1),
    dict(attribute="", mode="indefinite", direction=1),
])
def test_edit_validation(kwargs):
    with pytest.raises(InvalidArgumentError):
        Edit(**kwargs)


def test_edit_from_dict_rejects_unknown_fields():
    with pytest.raises(InvalidArgumentError, match="unknown edit fields"):
        Edit.from_dict({"attribute": "bangs", "mode": "target", "target": 1, "degree": 3})


def test_edit_is_frozen():
    e = Edit("bangs", "indefinite", direction=1)
    with pytest.raises(Exception):
        e.direction = -1  # type: ignore[misc]


# ---------------------------------------------------------------------------------------------------------------
# Eq. 10
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("edit,a,expected", [
    (Edit("bangs", "definite", direction=1, change=2), 1, 3),
    (Edit("bangs", "definite", direction=1, change=4), 3, 5),    # clamped at u
    (Edit("bangs", "definite", direction=-1, change=2), 3, 1),
    (Edit("bangs", "definite", direction=-1, change=5), 2, 0),   # clamped at 0
    (Edit("bangs", "definite", direction=1, change=5), 0, 5),
    (Edit("bangs", "indefinite", direction=1), 2, 3),
    (Edit("bangs", "indefinite", direction=-1), 2, 1),
    (Edit("bangs", "indefinite", direction=1), 5, 5),            # already at u
    (Edit("bangs", "indefinite", direction=-1), 0, 0),           # already at 0
    (Edit("bangs", "target", target=4), 1, 4),
    (Edit("bangs", "target", target=0), 5, 0),
    (Edit("bangs", "target", target=2), 2, 2),
    (Edit("bangs", "target", target=9), 2, 5),                   # target clamped to u
])
def test_expected_degree(edit, a, expected):
    assert expected_degree(edit, a) == expected


def test_expected_degree_other_u_and_errors():
    assert expected_degree(Edit("x", "definite", direction=1, change=3), 1, u=3) == 3
    with pytest.raises(InvalidArgumentError, match="outside"):
        expected_degree(Edit("x", "indefinite", direction=1), 6)
    with pytest.raises(InvalidArgumentError, match="outside"):
        expected_degree(Edit("x", "indefinite", direction=1), -1)


# ---------------------------------------------------------------------------------------------------------------
# Parser
# ---------------------------------------------------------------------------------------------------------------

@pytest.fixture()
def vocab() -> Vocabulary:
    return Vocabulary.build(CORPUS)


def _encoder(vocab, seed=0, scope=False, **bias_classes) -> LanguageEncoder:
    """Built-in encoder (with the in_scope head when ``scope``); for each head in ``bias_classes`` the output is
    forced to that class."""
    torch.manual_seed(seed)
    heads = {**BUILTIN_HEADS, SCOPE_HEAD: 2} if scope else dict(BUILTIN_HEADS)
    enc = LanguageEncoder(LanguageEncoderConfig(vocab_size=len(vocab), heads=heads))
    with torch.no_grad():
        for head, cls in bias_classes.items():
            lin = getattr(enc, head)[1]
            lin.weight.zero_()
            lin.bias.fill_(-10.0)
            lin.bias[cls] = 10.0
    return enc


@pytest.mark.parametrize("classes,expected", [
    (dict(request_mode=0, attribute=0, score_change_direction=1, score_change_value=1, target_score=5),
     Edit("bangs", "definite", direction=1, change=2)),
    (dict(request_mode=0, attribute=2, score_change_direction=0, score_change_value=4, target_score=0),
     Edit("beard", "definite", direction=-1, change=5)),
    (dict(request_mode=1, attribute=3, score_change_direction=0, score_change_value=2, target_score=1),
     Edit("smiling", "indefinite", direction=-1)),
    (dict(request_mode=2, attribute=4, score_change_direction=1, score_change_value=2, target_score=0),
     Edit("age", "target", target=0)),
    (dict(request_mode=2, attribute=1, score_change_direction=1, score_change_value=0, target_score=5),
     Edit("eyeglasses", "target", target=5)),
])
def test_parse_maps_head_classes(vocab, classes, expected):
    parser = InstructionParser(_encoder(vocab, **classes), vocab)
    assert parser.parse("make the bangs longer") == expected


def test_parse_end_mode_is_rejected(vocab):
    parser = InstructionParser(_encoder(vocab, request_mode=3), vocab)
    with pytest.raises(InvalidArgumentError, match="ending the dialogue"):
        parser.parse("no i am done")


@pytest.mark.parametrize("text,match", [
    ("", "empty"),
    ("   \n\t ", "empty"),
    ("...!!", "no words"),
    ("zebra quantum flux", "no known word"),
    ("bangs " * (MAX_TOKENS + 1), "tokens"),
    ("b" * (MAX_INSTRUCTION_CHARS + 1), "characters"),
    ("!!!???...", "no words"),
    ("? ; ?", "no words"),
    (None, "string"),
    (42, "string"),
])
def test_parse_errors(vocab, text, match):
    parser = InstructionParser(_encoder(vocab, request_mode=0), vocab)
    with pytest.raises(InvalidArgumentError, match=match):
        parser.parse(text)


def test_parse_batch_equals_single_and_names_bad_index(vocab):
    # request mode fixed to target; the target class depends on the text through the LSTM
    enc = _encoder(vocab, seed=0, request_mode=2)
    with torch.no_grad():  # make the target head sensitive to the LSTM state
        enc.target_score[0].fc.weight.mul_(20.0)
        enc.target_score[1].bias.zero_()
    parser = InstructionParser(enc, vocab)
    texts = ["make the bangs longer", "add thick glasses", "let the person smile more please", "older"]
    batch = parser.parse_batch(texts)
    assert batch == [parser.parse(t) for t in texts]
    assert all(e.mode == "target" for e in batch)
    assert len({e.target for e in batch}) > 1  # the texts do reach the heads
    with pytest.raises(InvalidArgumentError, match="instruction 1: the instruction is empty"):
        parser.parse_batch(["make the bangs longer", " "])
    with pytest.raises(InvalidArgumentError, match="single string"):
        parser.parse_batch("make the bangs longer")
    assert parser.parse_batch([]) == []


def test_parser_restores_training_mode(vocab):
    enc = _encoder(vocab, request_mode=1)
    enc.train()
    parser = InstructionParser(enc, vocab)
    parser.parse("make him younger please")
    assert enc.training


def test_parser_validates_encoder(vocab):
    enc = LanguageEncoder(LanguageEncoderConfig(vocab_size=len(vocab), heads={"attribute": 5, "request_mode": 4}))
    with pytest.raises(InvalidArgumentError, match="lacks the heads"):
        InstructionParser(enc, vocab)
    with pytest.raises(InvalidArgumentError, match="attribute head has 5 classes"):
        InstructionParser(_encoder(vocab), vocab, attributes=["a", "b"])
    with pytest.raises(InvalidArgumentError, match="vocabulary has"):
        InstructionParser(_encoder(vocab), Vocabulary.build(["a b"]))


def test_parser_accepts_published_configuration():
    vocab = Vocabulary.build(CORPUS + [f"w{i}" for i in range(229)])
    cfg = LanguageEncoderConfig.talk2edit(vocab_size=len(vocab))
    torch.manual_seed(0)
    enc = LanguageEncoder(cfg)
    with torch.no_grad():
        enc.request_mode[1].weight.zero_()
        enc.request_mode[1].bias.copy_(torch.tensor([0.0, 5.0, 0.0, 0.0]))
    edit = InstructionParser(enc, vocab).parse("Make the bangs longer!")
    assert edit.mode == "indefinite" and edit.direction in (1, -1)
    assert edit.attribute in ("bangs", "eyeglasses", "beard", "smiling", "age")


def test_typo_fixer():
    assert _one_edit("bangs", "bnags") and _one_edit("bangs", "bangss") and _one_edit("bangs", "bang")
    assert not _one_edit("bangs", "bangs") and not _one_edit("bangs", "sgnab") and not _one_edit("ab", "abcd")
    fixer = TypoFixer({"make": 4, "the": 9, "facial": 2, "hair": 9, "frames": 2, "flames": 1})
    assert fixer.fix("Maek the fcial hair, OK?") == "make the facial hair ok ?"
    assert fixer.fix_token("framse") == "frames"
    assert fixer.fix_token("fames") == "frames"  # both "frames" and "flames" are one edit away: more frequent wins
    assert fixer.fix_token("xyzzy") == "xyzzy" and fixer.fix_token("teh") == "teh"  # unknown / too short


def test_vocabulary_counts_round_trip():
    v = Vocabulary.build(CORPUS)
    assert v.counts["the"] == sum(t.split().count("the") for t in CORPUS) and v.counts["bangs"] == 3
    again = Vocabulary.from_dict(json.loads(json.dumps(v.to_dict())))
    assert again.counts == v.counts and again.token_to_idx == v.token_to_idx
    bare = Vocabulary.from_dict({"text_token_to_idx": v.token_to_idx})  # Talk-to-Edit's file: no counts
    assert bare.counts == {} and "token_counts" not in bare.to_dict()


def test_parser_corrects_typos_before_the_encoder(vocab):
    parser = InstructionParser(_encoder(vocab, request_mode=1), vocab)
    assert parser.tokens("make the bnags longre") == ["make", "the", "bangs", "longer"]
    assert parser.tokens("mkae teh bangs") == ["make", "teh", "bangs"]      # "teh": too short to correct
    raw = InstructionParser(_encoder(vocab, request_mode=1), vocab, spell_fix=False)
    assert raw.tokens("make the bnags longre") == ["make", "the", "bnags", "longre"]
    # a typo'd word now counts as known: the instruction is no longer rejected
    assert parser.parse("bnags") == InstructionParser(_encoder(vocab, request_mode=1), vocab).parse("bangs")
    with pytest.raises(InvalidArgumentError, match="no known word"):
        raw.parse("bnags")


# ---------------------------------------------------------------------------------------------------------------
# Scope
# ---------------------------------------------------------------------------------------------------------------

SCOPE_CORPUS = ["make the bangs longer", "make him older", "remove the glasses please", "the beard is too long, trim it",
                "make the bangs and the smile bigger"]
NEGATIVES = ["make the nose bigger", "make it brighter", "tell me a joke please", "make the ears and nose bigger"]


@pytest.fixture()
def scope_vocab() -> Vocabulary:
    return Vocabulary.build(SCOPE_CORPUS, out_of_scope=NEGATIVES)


def test_every_refusal_says_what_the_bundle_edits(vocab):
    parser = InstructionParser(_encoder(vocab, request_mode=0), vocab)
    for text in ("", "!!!???...", "zebra quantum flux"):
        with pytest.raises(InvalidArgumentError, match="this bundle edits bangs, eyeglasses, beard, smiling, age"):
            parser.parse(text)


def test_scope_head_refuses_and_names_the_word(scope_vocab):
    parser = InstructionParser(_encoder(scope_vocab, scope=True, in_scope=0, request_mode=0), scope_vocab)
    with pytest.raises(InvalidArgumentError,
                       match=r"^cannot edit 'nose'; this bundle edits bangs, eyeglasses, beard, smiling, age$"):
        parser.parse("Make the NOSE bigger!")
    with pytest.raises(InvalidArgumentError, match="^cannot edit 'brighter'"):
        parser.parse("make it brighter")
    # an out-of-vocabulary word is named too
    with pytest.raises(InvalidArgumentError, match="^cannot edit 'nostrils'"):
        parser.parse("make the nostrils bigger")
    # many words outside the edit requests: nothing to name
    with pytest.raises(InvalidArgumentError, match="^this instruction asks for nothing this bundle can edit; "):
        parser.parse("tell me a joke please")
    # two candidates: one of them is named
    with pytest.raises(InvalidArgumentError, match="^cannot edit '(ears|nose)'"):
        parser.parse("make the ears and nose bigger")
    with pytest.raises(InvalidArgumentError, match="^instruction 0: cannot edit 'nose'"):
        parser.parse_batch(["make the nose bigger", "make it brighter"])


def test_scope_head_in_scope_parses(scope_vocab):
    parser = InstructionParser(_encoder(scope_vocab, scope=True, in_scope=1, request_mode=1, attribute=0,
                                        score_change_direction=1), scope_vocab)
    assert parser.parse("make the nose bigger") == Edit("bangs", "indefinite", direction=1)


def test_scope_head_must_have_two_classes(vocab):
    enc = LanguageEncoder(LanguageEncoderConfig(vocab_size=len(vocab), heads={**BUILTIN_HEADS, SCOPE_HEAD: 3}))
    with pytest.raises(InvalidArgumentError, match="in_scope head must have 2 classes"):
        InstructionParser(enc, vocab)


def test_errors_quote_little_input_and_no_reprs(vocab):
    assert quote_input("  make\n the   bangs ") == "'make the bangs'"
    long = quote_input("x" * 500)
    assert long.startswith("'") and long.endswith("...'") and len(long) <= 105
    parser = InstructionParser(_encoder(vocab, request_mode=3), vocab)
    with pytest.raises(InvalidArgumentError) as info:
        parser.parse("no i am done " + "zz " * 40)
    message = str(info.value)
    assert "\\" not in message and "zz zz" in message and len(message) < 180


SHIPPED = Path(__file__).resolve().parents[2] / "bundles" / "synthface-128"


@pytest.mark.skipif(not (SHIPPED / "manifest.json").is_file(), reason="the built-in bundle is not present")
def test_shipped_parser_refuses_out_of_scope_and_keeps_edits():
    from shared.bundle import Bundle

    bundle = Bundle(SHIPPED)
    parser = InstructionParser(bundle.language, bundle.vocabulary(), bundle.attributes)
    for text in ("make the nose bigger", "!!!???...", "make it brighter", "tell me a joke"):
        with pytest.raises(InvalidArgumentError, match="this bundle edits bangs, eyeglasses, beard, smiling, age$"):
            parser.parse(text)
    with pytest.raises(InvalidArgumentError, match="^cannot edit 'nose'"):
        parser.parse("make the nose bigger")
    assert parser.parse("make the bangs a bit longer") == Edit("bangs", "indefinite", direction=1)
    assert parser.parse("make the bnags a bit longer") == Edit("bangs", "indefinite", direction=1)   # a typo
    assert parser.parse("remove the glasses") == Edit("eyeglasses", "target", target=0)
