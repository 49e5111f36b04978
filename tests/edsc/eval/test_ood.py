"""The out-of-distribution experiment (edsc.eval.ood): verdicts on hand-made numbers, the photographs, and a run
of `edsc eval` on the tiny bundle."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from edsc.eval import ood as O
from edsc.eval.schemes import OURS

SNRS = (-6.0, 6.0, 18.0)


def _ood(ours=(0.1, 0.05, 0.01), other=(0.3, 0.2, 0.1), fid_art=60.0, fid_nat=10.0, inv=(0.2, 0.05),
         adapters=((0.2, 0.1), (0.1, 0.08), (0.02, 0.02))):
    rows = []
    for method, curve in ((OURS, ours), ("DeepJSCC M1", other)):
        rows += [{"method": method, "snr_db": s, "lpips": v, "fid": 100 * v, "kid": v / 10, "lpips_gt": v + 0.1,
                  "edit_acc": 0.5} for s, v in zip(SNRS, curve)]
    ad = []
    for s, (without, with_) in zip(SNRS, adapters):
        ad += [{"method": f"{OURS} with adapters", "adapters": True, "snr_db": s, "lpips": with_},
               {"method": f"{OURS} without adapters", "adapters": False, "snr_db": s, "lpips": without}]
    facts = {"inversion_lpips_artwork": inv[0], "inversion_lpips_natural": inv[1], "degrees_read_artwork": 0.6,
             "degrees_read_natural": 0.98,
             "distance": {"faces": 32, "fid_artwork_natural": fid_art, "fid_natural_natural": fid_nat,
                          "kid_artwork_natural": 0.1, "kid_natural_natural": 0.001}}
    photos = [{"photo": "astronaut", "snr_db": s, "lpips": 0.1, "inversion_lpips": 0.4, "jecc_status": "reached"}
              for s in SNRS]
    return {"rows": rows, "adapters": ad, "photos": photos, "facts": facts}


def _by_finding(items):
    return {v["finding"].rsplit(" (", 1)[0]: v for v in items}


def test_verdicts_follow_the_numbers():
    v = _by_finding(O.verdicts_ood(_ood()))
    assert v["the artwork domain lies outside the generator's training domain"]["agrees"] is True
    assert "×6.0" in v["the artwork domain lies outside the generator's training domain"]["ours"]
    assert v["Editable-DeepSC has the best (lowest) LPIPS at every SNR on out-of-distribution faces"]["agrees"]
    adapters = v["the SNR adapters improve LPIPS at -6 dB on out-of-distribution faces"]
    assert adapters["agrees"] is True and "0.3622 → 0.2238" in adapters["paper"]
    assert "help at 2 of 3 SNRs" in adapters["ours"]


def test_verdicts_disagree_when_the_numbers_do():
    v = _by_finding(O.verdicts_ood(_ood(ours=(0.4, 0.05, 0.01), fid_art=15.0, adapters=((0.1, 0.2),) * 3)))
    assert v["the artwork domain lies outside the generator's training domain"]["agrees"] is False
    best = v["Editable-DeepSC has the best (lowest) LPIPS at every SNR on out-of-distribution faces"]
    assert best["agrees"] is False and best["ours"].startswith("not best at -6 dB: DeepJSCC M1")
    assert v["the SNR adapters improve LPIPS at -6 dB on out-of-distribution faces"]["agrees"] is False
    worse_inversion = _by_finding(O.verdicts_ood(_ood(inv=(0.05, 0.2))))
    assert worse_inversion["the artwork domain lies outside the generator's training domain"]["agrees"] is False
    assert O.verdicts_ood(None) == [] and O.section_ood(None) == ""


def test_section_has_every_table():
    text = O.section_ood(_ood(), [{"method": OURS, "snr_db": s, "lpips": 0.01} for s in SNRS])
    for part in ("Domain distance", "**LPIPS**", "**FID**", "**KID**", "painted ideal edit", "Table IV, MetFaces",
                 "Real photographs", "on the renders (Fig. 4"):
        assert part in text


def test_real_photographs():
    names, photos = O.real_photographs(48)
    assert names == list(O.PHOTOS) and photos.shape == (len(names), 3, 48, 48)
    assert photos.min() >= -1 and photos.max() <= 1 and photos.std() > 0.1


def test_eval_runs_the_ood_experiment(tiny_bundle, tmp_path, monkeypatch, capsys, fake_links, pooled_features):
    from edsc.cli.main import main

    monkeypatch.setattr("edsc.eval.run.build_links", lambda *a, **k: fake_links)
    monkeypatch.setattr("edsc.eval.metrics.load_inception", lambda device="cpu": pooled_features)
    out = tmp_path / "out"
    assert main(["eval", "--bundle", str(tiny_bundle), "--device", "cpu", "--quick", "--quiet", "--out", str(out),
                 "--faces", "2", "--inversion-steps", "2", "--rinv-sweep", "2", "--max-edit-steps", "2",
                 "--snr", "-6,18", "--channels", "awgn", "--methods", "ours,deepjscc-m2", "--no-costs",
                 "--ood-snr", "-6,18"]) == 0
    with open(out / "ood_artwork.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {(r["method"], float(r["snr_db"])) for r in rows} == {(m, s) for m in (OURS, "DeepJSCC M2")
                                                                 for s in (-6, 18)}
    assert all(float(r["fid"]) >= 0 for r in rows)
    facts = json.loads((out / "results.json").read_text())["facts"]["ood"]
    assert facts["distance"]["faces"] == 32 and facts["inversion_lpips_artwork"] > 0
    for name in ("ood_artwork.png", "samples_ood.png", "ood_photos.png", "ood_adapters.csv", "ood_photos.csv"):
        assert (out / name).stat().st_size > 0
    report = (out / "report.md").read_text()
    assert "## Out-of-distribution faces" in report and "MetFaces" in report
    assert "Table V analogue" not in report                                   # --no-costs
    capsys.readouterr()
