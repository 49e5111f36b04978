"""Tests of edsc/train/identity.py (the identity-encoder training stage). Tiny configs: mechanics, not quality."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from safetensors.torch import load_file

from edsc.train.augment import augment
from edsc.train.identity import IdentityTrainConfig, evaluate_identity, identity_augment, train_identity
from shared.errors import InvalidArgumentError
from shared.models.identity import build_identity_encoder

SIZE = 32
TINY_MODEL = dict(widths=[4, 8, 8], blocks=[0, 1, 0], hidden=16, input_size=SIZE, groups=2)


def _tiny(**kw) -> IdentityTrainConfig:
    base = dict(model=TINY_MODEL, steps=4, batch_size=8, chunk=8, fresh_per_step=4, window=4, warmup=1,
                checkpoint_every=2, log_every=1, eval_faces=8, eval_during=8, reid_people=4, size=SIZE)
    base.update(kw)
    return IdentityTrainConfig(**base)


def test_identity_augment_keeps_colours_and_scale():
    aug = identity_augment()
    assert aug.p_color == 0.0 and aug.max_scale == 0.0 and aug.max_rotate == 0.0
    x = torch.full((2, 3, SIZE, SIZE), 0.3)
    y = augment(x, aug.__class__(**{**aug.__dict__, "p_noise": 0.0}), torch.Generator().manual_seed(0))
    assert torch.allclose(y, x, atol=0.02)  # a flat image stays flat: no colour change
    with pytest.raises(InvalidArgumentError):
        IdentityTrainConfig(steps=-1)


def test_train_resume_files_and_metrics(tmp_path):
    cfg = _tiny()
    model_a, m_a = train_identity(cfg, tmp_path / "a", progress=False)
    assert m_a["complete"]
    held = m_a["heldout"]
    assert set(held["r2"]) == set(model_a.dims) and held["n"] == 8
    assert set(held["reid"]) == {"same_l1", "different_l1", "ratio", "top1", "people"}
    for name in ("config.json", "log.csv", "metrics.json", "identity_encoder.safetensors", "identity_encoder.json"):
        assert (tmp_path / "a" / name).exists(), name
    spec = json.loads((tmp_path / "a" / "identity_encoder.json").read_text())
    rebuilt = build_identity_encoder(spec["arch"], spec["config"])
    rebuilt.load_state_dict(load_file(str(tmp_path / "a" / "identity_encoder.safetensors")))

    _, part = train_identity(cfg, tmp_path / "b", progress=False, time_limit=0.0)
    assert not part["complete"] and part["step"] == 1
    model_b, m_b = train_identity(cfg, tmp_path / "b", progress=False)
    assert m_b["resumed_from"] == 1
    for (k, va), vb in zip(model_a.state_dict().items(), model_b.state_dict().values()):
        assert torch.equal(va, vb), k
    with pytest.raises(InvalidArgumentError, match="another config"):
        train_identity(_tiny(lr=1e-4), tmp_path / "a", progress=False)


def test_loss_decreases(tmp_path):
    # one fixed chunk of 64 faces (window 1, 40 steps < 64): the regression loss must fall
    cfg = _tiny(model=dict(TINY_MODEL, widths=[8, 16, 16], blocks=[0, 0, 0], hidden=32), steps=40,
                batch_size=16, chunk=64, fresh_per_step=1, window=1, aug_prob=0.0, lr=5e-3,
                checkpoint_every=1000, eval_during=0, warmup=3)
    model, m = train_identity(cfg, tmp_path / "r", progress=False)
    losses = [float(r["loss"]) for r in csv.DictReader(open(tmp_path / "r" / "log.csv"))]
    assert len(losses) == 40
    assert sum(losses[-8:]) / 8 < 0.93 * sum(losses[:8]) / 8  # ≈ 0.49 → 0.42 in 40 steps
    ev = evaluate_identity(model, n=8, seed=1, size=SIZE, reid_people=0)
    assert "reid" not in ev and -10 < ev["r2_mean"] <= 1.0
