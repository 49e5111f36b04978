"""`edsc eval --generative` on a tiny random bundle: every table, the figure, the claims (numbers not checked:
the models are untrained), and the refusal of bad options before any loading."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edsc.eval.generative import GenerativeEvalConfig, run_generative_eval
from edsc.random_bundle import make_random_bundle
from edsc.train.generative import install_untrained
from shared.bundle import Bundle
from shared.errors import InvalidArgumentError

ROOT = Path(__file__).resolve().parents[3]


def test_generative_eval_writes_every_table(tmp_path):
    bundle = make_random_bundle(tmp_path / "b", size=64)
    install_untrained(bundle, tmp_path / "gen", (16, 160))
    cfg = GenerativeEvalConfig(faces=3, snrs=(0.0, 10.0), inversion_steps=1, baselines=(), batch=3)
    res = run_generative_eval(Bundle(bundle), cfg, tmp_path / "out", tmp_path / "cache", progress=False)
    assert set(res["links"]) == {"k16-flow", "k16-noflow", "k160-flow", "k160-noflow"}
    for v in res["links"].values():
        assert [r["snr_db"] for r in v["rows"]] == [0.0, 10.0]
        assert {"psnr", "lpips_alex", "lpips_vgg"} <= set(v["rows"][0])
        assert set(v["flatness"]) == {"psnr", "lpips_alex", "lpips_vgg"}
    assert res["links"]["k16-flow"]["cbr_real"] == pytest.approx(16 / (3 * 64 * 64))
    assert res["links"]["k160-flow"]["cbr_complex"] == pytest.approx(80 / (3 * 64 * 64))
    p = res["privacy"]
    assert set(p["modes"]) == {"none", "identity", "eyes"} and p["variant"] == "k160-flow"
    assert p["modes"]["identity"]["filter_satisfied"] == 1.0 and p["modes"]["none"]["private_dims"] == 0
    assert all(0.0 <= p["modes"][m]["reid_all25"] <= 1.0 for m in p["modes"])
    assert "k16: flow raises PSNR at every SNR" in res["claims"]
    for name in ("results.json", "results.md", "psnr_lpips.png"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    assert json.loads((tmp_path / "out" / "results.json").read_text())["faces"] == 3
    assert list((tmp_path / "cache").glob("inversions-*.pt"))         # a rerun resumes from the cache


def test_bad_generative_eval_options_are_refused():
    with pytest.raises(InvalidArgumentError, match="unknown baseline"):
        GenerativeEvalConfig(baselines=("bpg",))
    with pytest.raises(InvalidArgumentError, match="faces"):
        GenerativeEvalConfig(faces=1)
    proc = subprocess.run([sys.executable, "-m", "edsc.cli.main", "eval", "--generative", "--faces", "1",
                           "--out", "/tmp/never-written-generative"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2 and "edsc: error:" in proc.stderr and "faces" in proc.stderr
