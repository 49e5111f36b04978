"""Integration test of `edsc demo` (what `make demo` runs): the three services as real processes, every
channel x SNR request of an image sent concurrently, sheets and summary.json written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_demo_runs_end_to_end_on_a_bundle(tmp_path, tiny_bundle):
    out = tmp_path / "demo-out"
    env = {**os.environ, "EDSC_DEVICE": "cpu", "EDSC_TRANSMITTER_TORCH_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "edsc.cli.main", "demo", "--bundle", str(tiny_bundle), "--out",
                        str(out), "--inversion-steps", "2", "--edit-steps", "2"],
                       capture_output=True, text=True, cwd=REPO, env=env, timeout=400)
    assert r.returncode == 0, r.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["preview_bundle"] is False and summary["warning"] is None
    assert len(summary["items"]) == 4                                   # 2 inputs x 2 channels
    from PIL import Image
    for item in summary["items"]:
        # original | noiseless edit | received at each SNR, 128 px tiles 4 px apart
        assert Image.open(item["sheet"]).size == (128 * 5 + 4 * 4, 128)
        assert Path(item["noiseless"]).is_file() and isinstance(item["noiseless_same_at_every_snr"], bool)
        assert [run["snr_db"] for run in item["runs"]] == summary["snr_db"]
        assert all(run["cbr"] > 0 and run["outcome"]["status"] for run in item["runs"])
    assert max(run["batch_size"] for item in summary["items"] for run in item["runs"]) >= 1
    assert len(list(out.glob("*dB.png"))) == 12 and "Traceback" not in r.stderr


def test_demo_with_a_missing_bundle_is_a_clear_error(tmp_path):
    r = subprocess.run([sys.executable, "-m", "edsc.cli.main", "demo", "--bundle", str(tmp_path / "nope"),
                        "--out", str(tmp_path / "o")], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert r.returncode == 2 and "does not exist" in r.stderr and "Traceback" not in r.stderr
