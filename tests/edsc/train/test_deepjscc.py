"""Tests of edsc/train/deepjscc.py: tiny configs (32 px faces, a few-hundred-parameter model, a few steps).

Checks mechanics (the loss falls, resumption is bit-identical, files are written), not the quality a real run
reaches.
"""

from __future__ import annotations

import pytest
import torch

from edsc.baselines import load_deepjscc
from edsc.train.deepjscc import DeepJSCCTrainConfig, evaluate_deepjscc, export_run, train_deepjscc
from shared.errors import InvalidArgumentError


def _tiny(**kw) -> DeepJSCCTrainConfig:
    base = dict(model=dict(image_size=32, widths=[8, 8, 8, 8], num_down=2), steps=6, batch_size=4, chunk=8,
                fresh_per_step=4, window=4, warmup=2, lr=3e-3, checkpoint_every=3, log_every=1, eval_faces=4,
                eval_during=4, eval_lpips=None)
    base.update(kw)
    return DeepJSCCTrainConfig(**base)


def test_config_checks():
    with pytest.raises(InvalidArgumentError):
        _tiny(snr_min=5.0, snr_max=0.0)
    with pytest.raises(InvalidArgumentError):
        _tiny(channel={"model": "awgn", "snr_db": 3.0})
    with pytest.raises(InvalidArgumentError):
        DeepJSCCTrainConfig.from_dict({"bogus": 1})
    assert DeepJSCCTrainConfig().model["image_size"] == 128


def test_short_training_lowers_the_loss():
    cfg = _tiny(steps=40, eval_faces=0, eval_during=0)
    init, _ = train_deepjscc(_tiny(steps=0, eval_faces=0), None, progress=False)
    trained, metrics = train_deepjscc(cfg, None, progress=False)
    assert metrics["complete"]
    before = evaluate_deepjscc(init, n=8, snrs=[12.0], lpips_net=None)[0]["psnr"]
    after = evaluate_deepjscc(trained, n=8, snrs=[12.0], lpips_net=None)[0]["psnr"]
    assert after > before + 1.0  # 13.5 -> 15.0 dB with these seeds


def test_resume_is_bit_identical_and_writes_files(tmp_path):
    cfg = _tiny()
    full, m_full = train_deepjscc(cfg, tmp_path / "a", progress=False)
    part, m_part = train_deepjscc(cfg, tmp_path / "b", progress=False, max_seconds=0.0)  # stops after one step
    assert not m_part["complete"] and m_part["step"] == 1
    notes = export_run(tmp_path / "b", tmp_path / "partial")  # a stopped run exports its checkpoint, flagged
    assert notes["complete"] is False and notes["step"] == 1 and len(notes["heldout"]) == 5
    assert load_deepjscc(tmp_path / "partial").k == 256
    resumed, m_res = train_deepjscc(cfg, tmp_path / "b", progress=False)
    assert m_res["complete"] and m_res["resumed_from"] == 1
    for (k, a), (_, b) in zip(full.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), k
    rows = (tmp_path / "b" / "log.csv").read_text().strip().splitlines()
    assert [int(r.split(",")[0]) for r in rows[1:]] == list(range(1, 7))
    assert (tmp_path / "b" / "metrics.json").is_file()
    assert [r["snr_db"] for r in m_res["heldout"]] == [-6.0, 0.0, 6.0, 12.0, 18.0]
    final = load_deepjscc(tmp_path / "b" / "final")
    for (k, a), (_, b) in zip(resumed.state_dict().items(), final.state_dict().items()):
        assert torch.equal(a, b), k
    assert export_run(tmp_path / "b", tmp_path / "exported")["steps"] == 6
    assert (tmp_path / "exported" / "model.safetensors").read_bytes() == (
        tmp_path / "b" / "final" / "model.safetensors").read_bytes()
    with pytest.raises(InvalidArgumentError, match="another config"):
        train_deepjscc(_tiny(lr=1e-2), tmp_path / "b", progress=False)
