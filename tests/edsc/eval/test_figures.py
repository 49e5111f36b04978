"""Tests of edsc/eval/figures.py (the evaluation's curves and sample grids) and edsc.eval.ood.not_best_at."""

from __future__ import annotations

import torch
from PIL import Image

from edsc.eval.figures import sample_grid, snr_curves
from edsc.eval.ood import not_best_at
from edsc.eval.schemes import OURS

ROWS = [{"method": m, "snr_db": s, "lpips": v, "fid": 10 * v}
        for m, vals in ((OURS, (0.3, 0.1)), ("other", (0.2, 0.15))) for s, v in zip((-6.0, 6.0), vals)]


def test_not_best_at_names_each_lost_snr():
    assert not_best_at(ROWS, "lpips") == ["-6 dB: other 0.2000 vs ours 0.3000"]
    assert not_best_at([r for r in ROWS if r["snr_db"] == 6.0], "fid") == []
    assert not_best_at(ROWS, "lpips", fmt=lambda v: f"{v:.1f}") == ["-6 dB: other 0.2 vs ours 0.3"]


def test_snr_curves_draws_one_panel_per_metric(tmp_path):
    one = snr_curves([{k: v for k, v in r.items() if k != "fid"} for r in ROWS], "t", tmp_path / "a.png", 6.0)
    two = snr_curves(ROWS, "t", tmp_path / "b.png", 4.2)
    w1, h1 = Image.open(one).size
    w2, h2 = Image.open(two).size
    assert h1 == h2 and w1 == round(6.0 * 110) and w2 == round(2 * 4.2 * 110)      # dpi 110


def test_sample_grid_has_a_header_row_and_a_row_per_method(tmp_path):
    img = torch.zeros(3, 8, 8)
    header = {"source": img, "ideal": img, "reference": img}
    cells = {(m, s): img for m in (OURS, "other") for s in (-6.0, 0.0, 6.0, 12.0)}
    w, h = Image.open(sample_grid(header, cells, tmp_path / "g.png")).size
    assert (w, h) == (round(1.6 * 4 * 100), round(1.7 * 3 * 100))                 # 4 SNR columns, 1 + 2 rows
