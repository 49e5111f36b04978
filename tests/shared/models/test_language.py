"""Tests of shared/models/language.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from shared.errors import BundleError, InvalidArgumentError
from shared.models.language import (
    SPECIAL_TOKENS,
    LanguageEncoder,
    LanguageEncoderConfig,
    Vocabulary,
    load_talk2edit_language_encoder,
    tokenize,
)

DATA = Path(__file__).parent / "data" / "talk2edit_layouts.json"


@pytest.fixture(scope="module")
def layouts() -> dict:
    return json.loads(DATA.read_text())


@pytest.fixture(scope="module")
def published_sd(layouts) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    sd = {}
    for key, shape in layouts["language_encoder"]:
        if key.endswith("num_batches_tracked"):
            sd[key] = torch.tensor(77, dtype=torch.long)
        elif key.endswith("running_var"):
            sd[key] = torch.rand(shape, generator=g) + 0.5
        else:
            sd[key] = torch.randn(shape, generator=g) * 0.05
    return sd


# ---------------------------------------------------------------------------------------------------------------
# Tokenizer / vocabulary
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,tokens", [
    ("Make the bangs slightly longer, please!", ["make", "the", "bangs", "slightly", "longer", "please"]),
    ("Can you add eyeglasses?", ["can", "you", "add", "eyeglasses", "?"]),
    ("I don't want a beard; thanks.", ["i", "don't", "want", "a", "beard", ";", "thanks"]),
    ("  MEDIUM-LENGTH   bangs\n", ["medium-length", "bangs"]),
    ("make him 'older': (much)", ["make", "him", "older", "much"]),
    ("...", []),
])
def test_tokenize(text, tokens):
    assert tokenize(text) == tokens


def test_tokenize_rejects_non_string():
    with pytest.raises(InvalidArgumentError):
        tokenize(None)  # type: ignore[arg-type]


def test_vocabulary_build_min_count_and_order():
    vocab = Vocabulary.build(["make bangs longer", "make bangs shorter", "zebra make"], min_count=2)
    assert {t: vocab.token_to_idx[t] for t in SPECIAL_TOKENS} == SPECIAL_TOKENS
    assert list(vocab.token_to_idx)[4:] == ["bangs", "make"]  # sorted, 'longer'/'shorter'/'zebra' dropped
    assert vocab.encode(["make", "zebra"]) == [5, 3]
    with pytest.raises(InvalidArgumentError, match="not in the vocabulary"):
        vocab.encode(["zebra"], allow_unk=False)
    assert vocab.decode([5, 4, 2, 5]) == ["make", "bangs", "<END>"]


def test_vocabulary_edit_counts_from_in_scope_sentences_only():
    vocab = Vocabulary.build(["make the bangs longer", "make him older"], out_of_scope=["make the nose bigger"])
    assert "nose" in vocab and vocab.counts["make"] == 3 and vocab.counts["nose"] == 1
    assert vocab.edit_counts["make"] == 2 and vocab.edit_counts.get("nose", 0) == 0
    d = json.loads(json.dumps(vocab.to_dict()))
    assert d["edit_token_counts"] == vocab.edit_counts
    again = Vocabulary.from_dict(d)
    assert again.edit_counts == vocab.edit_counts and again.counts == vocab.counts
    plain = Vocabulary.build(["make the bangs longer"])           # no out-of-scope sentences: the same counts
    assert plain.edit_counts == plain.counts and "edit_token_counts" not in plain.to_dict()
    assert Vocabulary.from_dict(plain.to_dict()).edit_counts == plain.counts


def test_vocabulary_reads_talk2edit_file_and_round_trips(tmp_path):
    # Talk-to-Edit's language/templates/vocab.json layout: {"text_token_to_idx": {...}}
    t2e = {"text_token_to_idx": {"<NULL>": 0, "<START>": 1, "<END>": 2, "<UNK>": 3, "?": 4, "a": 5,
                                 "bangs": 6, "longer": 7}}
    path = tmp_path / "vocab.json"
    path.write_text(json.dumps(t2e, indent=4))
    vocab = Vocabulary.load(path)
    assert len(vocab) == 8 and vocab.token_to_idx["bangs"] == 6
    out = tmp_path / "saved.json"
    vocab.save(out)
    assert json.loads(out.read_text()) == t2e
    assert Vocabulary.load(out).token_to_idx == vocab.token_to_idx


def test_vocabulary_validation(tmp_path):
    with pytest.raises(BundleError, match="<UNK>"):
        Vocabulary({"<NULL>": 0, "<START>": 1, "<END>": 2, "x": 3})
    with pytest.raises(BundleError, match="cover"):
        Vocabulary({"<NULL>": 0, "<START>": 1, "<END>": 2, "<UNK>": 3, "x": 9})
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(BundleError, match="cannot read vocabulary"):
        Vocabulary.load(bad)


def test_encode_batch_pads_with_null():
    vocab = Vocabulary.build(["a b c"])
    tokens, lengths = vocab.encode_batch([["a"], ["a", "b", "c"]])
    assert tokens.tolist() == [[4, 0, 0], [4, 5, 6]]
    assert lengths.tolist() == [1, 3]


# ---------------------------------------------------------------------------------------------------------------
# Encoder
# ---------------------------------------------------------------------------------------------------------------

def test_builtin_config_and_round_trip():
    cfg = LanguageEncoderConfig(vocab_size=50)
    assert (cfg.embedding_dim, cfg.hidden_size, cfg.num_layers) == (64, 128, 1)
    assert cfg.heads == {"attribute": 5, "score_change_direction": 2, "score_change_value": 5, "target_score": 6,
                         "request_mode": 4}
    assert LanguageEncoderConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    enc = LanguageEncoder(cfg)
    out = enc(torch.randint(1, 50, (3, 7)))
    assert {k: tuple(v.shape) for k, v in out.items()} == {k: (3, n) for k, n in cfg.heads.items()}
    with pytest.raises(InvalidArgumentError, match="unknown LanguageEncoderConfig keys"):
        LanguageEncoderConfig.from_dict({"hidden": 3})


def test_published_layout_exact(layouts):
    enc = LanguageEncoder(LanguageEncoderConfig.talk2edit())
    got = [(k, tuple(v.shape)) for k, v in enc.state_dict().items()]
    expected = [(k, tuple(s)) for k, s in layouts["language_encoder"]]
    assert got == expected
    assert sum(p.numel() for p in enc.parameters()) == 16_271_999


def test_load_published_encoder_strict(published_sd):
    vocab = Vocabulary({**SPECIAL_TOKENS, **{f"w{i}": i for i in range(4, 229)}})
    ckpt = {"epoch": 20, "best_epoch_so_far": 18, "state_dict": published_sd, "best_val_acc": 99.0,
            "optimizer": {"state": {}, "param_groups": []}}
    enc = load_talk2edit_language_encoder(ckpt, vocab)
    assert not enc.training
    assert enc.cfg == LanguageEncoderConfig.talk2edit()
    own = enc.state_dict()
    assert all(torch.equal(own[k], v) for k, v in published_sd.items())
    # also a 'module.' prefixed bare dict
    enc2 = load_talk2edit_language_encoder({"module." + k: v for k, v in published_sd.items()})
    assert torch.equal(enc2.lstm.word2vec.weight, published_sd["lstm.word2vec.weight"])


def test_load_published_encoder_errors(published_sd):
    small_vocab = Vocabulary.build(["a b"])
    with pytest.raises(BundleError, match="229"):
        load_talk2edit_language_encoder({"state_dict": published_sd}, small_vocab)
    broken = dict(published_sd)
    del broken["request_mode.0.bn.running_var"]
    with pytest.raises(BundleError, match="missing"):
        load_talk2edit_language_encoder({"state_dict": broken})


def _talk2edit_last_index(x: torch.Tensor) -> torch.Tensor:
    """Talk-to-Edit's rule: first i with x[i] != NULL and x[i+1] == NULL, else T-1."""
    b, t = x.shape
    idx = torch.full((b,), t - 1, dtype=torch.long)
    for i in range(b):
        for j in range(t - 1):
            if x[i, j] != 0 and x[i, j + 1] == 0:
                idx[i] = j
                break
    return idx


def test_last_token_state_and_padding():
    torch.manual_seed(0)
    enc = LanguageEncoder(LanguageEncoderConfig(vocab_size=30, num_layers=2)).eval()
    seqs = [[5, 6, 7], [8], [9, 10, 11, 12, 13]]
    padded = torch.zeros(3, 5, dtype=torch.long)
    for i, s in enumerate(seqs):
        padded[i, : len(s)] = torch.tensor(s)
    lengths = torch.tensor([3, 1, 5])
    with torch.no_grad():
        h_batch = enc.embed(padded, lengths)
        h_default = enc.embed(padded)  # lengths from the NULL padding
        states, _ = enc.lstm.rnn(enc.lstm.word2vec(padded))
        ref = states[torch.arange(3), _talk2edit_last_index(padded)]
        for i, s in enumerate(seqs):
            h_single = enc.embed(torch.tensor([s]))
            assert torch.allclose(h_batch[i], h_single[0], atol=1e-6)
    assert torch.equal(h_batch, h_default)
    assert torch.allclose(h_batch, ref, atol=1e-6)
