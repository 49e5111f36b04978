"""Tests of edsc/train/parser.py (the instruction-parser training stage). Tiny configs: mechanics, not quality."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from safetensors.torch import load_file

from edsc.train.parser import ParserTrainConfig, _corrupt, evaluate_parser, exact_match, train_parser
from edsc.world.instructions import generate
from shared.errors import InvalidArgumentError
from shared.models.language import LanguageEncoder, LanguageEncoderConfig, Vocabulary
from transmitter.instruction import InstructionParser


def _tiny(**kw) -> ParserTrainConfig:
    base = dict(train_sentences=192, out_of_scope_sentences=64, val_sentences=64, vocab_sentences=192, min_count=1,
                epochs=2, batch_size=32, embedding_dim=16, hidden_size=24, linear_hidden=16, warmup=2,
                checkpoint_every=4, log_every=2)
    base.update(kw)
    return ParserTrainConfig(**base)


def test_config_validation():
    with pytest.raises(InvalidArgumentError):
        ParserTrainConfig(word_dropout=1.0)
    with pytest.raises(InvalidArgumentError):
        ParserTrainConfig(batch_size=0)


def test_corrupt_word_dropout_and_deletion():
    tokens = torch.tensor([[5, 6, 7, 8, 0, 0], [9, 10, 11, 12, 13, 14]])
    lengths = torch.tensor([4, 6])
    cfg = ParserTrainConfig(word_dropout=0.5, token_drop=0.0)
    out, ln = _corrupt(tokens, lengths, cfg, torch.Generator().manual_seed(0))
    assert torch.equal(ln, lengths)
    assert ((out == 3) | (out == tokens)).all()  # only <UNK> replacements
    assert (out[0, 4:] == 0).all()  # padding untouched
    assert int((out == 3).sum()) > 0
    cfg = ParserTrainConfig(word_dropout=0.0, token_drop=0.5)
    out, ln = _corrupt(tokens, lengths, cfg, torch.Generator().manual_seed(1))
    assert (ln >= 1).all() and (ln <= lengths).all() and int(ln.sum()) < int(lengths.sum())
    for i in range(2):
        kept = out[i, : ln[i]].tolist()
        orig = tokens[i, : lengths[i]].tolist()
        it = iter(orig)
        assert all(t in it for t in kept)  # an ordered subsequence
        assert (out[i, ln[i]:] == 0).all()
    # never empties a sentence
    out, ln = _corrupt(torch.tensor([[5, 0]]), torch.tensor([1]), ParserTrainConfig(token_drop=0.99),
                       torch.Generator().manual_seed(0))
    assert int(ln[0]) == 1 and int(out[0, 0]) == 5


def test_train_writes_files_and_resumes_identically(tmp_path):
    cfg = _tiny()
    enc_a, vocab_a, m_a = train_parser(cfg, tmp_path / "a", progress=False)
    assert m_a["complete"] and m_a["steps"] == 16 and 0.0 <= m_a["val_exact"] <= 1.0
    assert {"val_exact_clean", "train_exact", "val", "vocab_size"} <= set(m_a)
    for name in ("config.json", "log.csv", "metrics.json", "vocab.json", "language.safetensors", "language.json"):
        assert (tmp_path / "a" / name).exists(), name
    spec = json.loads((tmp_path / "a" / "language.json").read_text())
    rebuilt = LanguageEncoder(LanguageEncoderConfig.from_dict(spec["config"]))
    rebuilt.load_state_dict(load_file(str(tmp_path / "a" / "language.safetensors")))
    vocab = Vocabulary.load(tmp_path / "a" / "vocab.json")
    assert len(vocab) == len(vocab_a)
    tokens, lengths = vocab.encode_batch([["make", "the", "bangs", "longer"]])
    out_a, out_r = enc_a(tokens, lengths), rebuilt.eval()(tokens, lengths)
    assert all(torch.equal(out_a[h], out_r[h]) for h in out_a)
    InstructionParser(rebuilt, vocab, spec["attributes"])  # heads and vocabulary fit the parser

    # interrupted after one step (mid-epoch), then resumed: same weights as the uninterrupted run
    _, _, part = train_parser(cfg, tmp_path / "b", progress=False, time_limit=0.0)
    assert not part["complete"] and part["step"] == 1
    enc_b, _, m_b = train_parser(cfg, tmp_path / "b", progress=False)
    assert m_b["resumed_from"] == 1
    for (k, va), vb in zip(enc_a.state_dict().items(), enc_b.state_dict().values()):
        assert torch.equal(va, vb), k
    assert m_a["val_exact"] == m_b["val_exact"]
    rows = lambda p: [r[:4] for r in csv.reader(open(p))]  # noqa: E731 - step, epoch, lr, loss
    assert rows(tmp_path / "a" / "log.csv") == rows(tmp_path / "b" / "log.csv")
    with pytest.raises(InvalidArgumentError, match="another config"):
        train_parser(_tiny(lr=1e-4), tmp_path / "a", progress=False)


def test_loss_decreases(tmp_path):
    cfg = _tiny(train_sentences=256, epochs=10, word_dropout=0.0, token_drop=0.0, lr=1e-2, log_every=1,
                checkpoint_every=1000)
    train_parser(cfg, tmp_path / "r", progress=False)
    losses = [float(r["loss"]) for r in csv.DictReader(open(tmp_path / "r" / "log.csv"))]
    assert len(losses) == 100
    assert sum(losses[-4:]) / 4 < sum(losses[:4]) / 4 - 1.0  # starts near ln5+ln2+ln5+ln6+ln4+ln2 ≈ 7.8


def test_no_run_dir_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _, _, m = train_parser(_tiny(epochs=1), None, progress=False)
    assert m["complete"] and list(tmp_path.iterdir()) == []


def test_evaluate_parser_report_and_rejections():
    items = generate(40, "val", seed=3)
    vocab = Vocabulary.build([it.text for it in items])
    torch.manual_seed(0)
    enc = LanguageEncoder(LanguageEncoderConfig(vocab_size=len(vocab), embedding_dim=8, hidden_size=8,
                                                linear_hidden=8)).eval()
    parser = InstructionParser(enc, vocab)
    rep = evaluate_parser(parser, items)
    assert rep["n"] == 40 and 0.0 <= rep["exact"] <= 1.0
    assert set(rep["fields"]) == {"attribute", "mode", "direction", "change", "target"}
    assert set(rep["by_mode"]) <= {"definite", "indefinite", "target"}
    assert exact_match(parser, items) == rep["exact"]
    # a sentence with no known word is counted wrong, not raised
    from dataclasses import replace

    odd = [replace(items[0], text="zzz qqq"), *items[1:4]]
    rep = evaluate_parser(parser, odd)
    assert rep["n"] == 4 and rep["exact"] <= 0.75
    assert rep["errors"][0]["text"] == "zzz qqq" and rep["errors"][0]["parsed"] is None


def test_training_negatives_never_hold_a_held_out_sentence(monkeypatch):
    from edsc.train import parser as parser_mod
    from shared.models.language import tokenize

    keys = parser_mod.held_out_keys()
    assert len(keys) > 550  # the three held-out sets, punctuation and blanks aside
    cfg = parser_mod.ParserTrainConfig(out_of_scope_sentences=4000)
    for epoch in range(2):
        seen = {" ".join(tokenize(x.text)) for x in parser_mod._epoch_negatives(cfg, epoch)}
        assert not seen & keys
    # the filter is what keeps them apart: the raw generator writes some held-out sentences by itself
    monkeypatch.setattr(parser_mod, "held_out_keys", lambda: frozenset())
    raw = {" ".join(tokenize(x.text)) for x in parser_mod.training_negatives(40000, seed=1, typo_rate=0.0)}
    assert raw & keys


def test_install_puts_a_finished_run_into_a_bundle(tmp_path, tiny_bundle):
    import shutil

    from edsc.train.parser import install_parser
    from shared.bundle import Bundle

    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, bundle)
    (tmp_path / "unfinished").mkdir()
    with pytest.raises(InvalidArgumentError, match="not complete"):
        install_parser(tmp_path / "unfinished", bundle, "t2")
    enc, _, _ = train_parser(_tiny(), tmp_path / "run", progress=False)
    install_parser(tmp_path / "run", bundle, "t2")
    b = Bundle(bundle)                                                  # checksums and manifest hold
    assert b.manifest.version == "t2" and "parser" in b.manifest.provenance["stages"]
    shipped = b.language
    for k, v in enc.state_dict().items():                              # large weights ship as float16
        assert torch.allclose(shipped.state_dict()[k].float(), v.float(), atol=1e-2), k
    assert sorted(p.name for p in bundle.iterdir() if p.name.startswith(".")) == []   # no temporary files left
