"""`edsc eval` end to end on the tiny bundle with a tiny configuration; bad input exits 2 without a traceback."""

from __future__ import annotations

import csv

import pytest

from edsc.cli.main import main
from edsc.eval.schemes import METHODS


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_eval_quick_writes_every_output(tiny_bundle, tmp_path, monkeypatch, capsys, fake_links, pooled_features):
    monkeypatch.setattr("edsc.eval.run.build_links", lambda *a, **k: fake_links)
    monkeypatch.setattr("edsc.eval.metrics.load_inception", lambda device="cpu": pooled_features)
    out = tmp_path / "out"
    code = main(["eval", "--bundle", str(tiny_bundle), "--device", "cpu", "--quick", "--quiet", "--out", str(out),
                 "--faces", "2", "--inversion-steps", "2", "--rinv-sweep", "1,2,3", "--max-edit-steps", "2",
                 "--snr", "-6,6,18", "--channels", "awgn,rayleigh", "--fading-snr", "-6,18", "--no-costs",
                 "--no-ood"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "report.md" in printed and "Editable-DeepSC" in printed

    awgn = _rows(out / "fig4_awgn.csv")
    assert {(r["method"], float(r["snr_db"])) for r in awgn} == {(m, s) for m in METHODS for s in (-6, 6, 18)}
    assert all(float(r["fid"]) >= 0 and r["kid"] != "" for r in awgn)
    rayleigh = _rows(out / "fig4_rayleigh.csv")
    assert {(r["method"], float(r["snr_db"])) for r in rayleigh} == {(m, s) for m in METHODS for s in (-6, 18)}
    assert "fid" not in rayleigh[0]                                          # quick: FID/KID on AWGN only
    cbr = {r["method"]: float(r["cbr"]) for r in _rows(out / "table1_cbr.csv")}
    assert cbr["Editable-DeepSC"] == pytest.approx(512 / (3 * 64 * 64)) and cbr["DeepJSCC M2"] == 0.0833
    assert [int(r["r_inv"]) for r in _rows(out / "table3_rinv.csv")] == [1, 2, 3]
    assert len(_rows(out / "table4_adapters.csv")) == 6
    assert {r["channel"] for r in _rows(out / "ablation_matching.csv")} == {"none", "awgn"}
    for name in ("fig4_awgn.png", "fig4_rayleigh.png", "samples_awgn.png", "table3_rinv.png",
                 "table4_adapters.png", "results.json"):
        assert (out / name).stat().st_size > 0
    report = (out / "report.md").read_text()
    assert "## Findings" in report and "random-init" in report
    assert "JPEG+LDPC M2 falls off a cliff" in report                        # the fake link's cliff at 6 dB
    assert "**agrees**" in report or "**disagrees**" in report


def _exit_code(argv):
    try:
        return main(argv)
    except SystemExit as exc:                       # argparse's own errors (a malformed list)
        return exc.code


@pytest.mark.parametrize("args, message", [
    (["--snr", "99"], "SNR"),
    (["--snr", "x"], "numbers"),
    (["--channels", "awgn,tdl"], "channel"),
    (["--methods", "ours,talk2edit"], "method"),
    (["--faces", "1"], "faces"),
    (["--rinv-sweep", "0"], "r_inv"),
    (["--store", "STORE_IS_A_FILE"], "cannot write the inversion store"),
])
def test_eval_bad_input_exits_2(args, message, tmp_path, capsys):
    if "STORE_IS_A_FILE" in args:
        (tmp_path / "file").write_text("not a directory")
        args = [str(tmp_path / "file" / "inv") if a == "STORE_IS_A_FILE" else a for a in args]
    assert _exit_code(["eval", "--bundle", str(tmp_path / "none"), "--out", str(tmp_path / "o"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_eval_rerun_resumes_from_the_inversion_store(tiny_bundle, tmp_path, monkeypatch, capsys, fake_links):
    import json

    monkeypatch.setattr("edsc.eval.run.build_links", lambda *a, **k: fake_links)
    def argv(out, *extra):
        return ["eval", "--bundle", str(tiny_bundle), "--device", "cpu", "--quick", "--quiet", "--out", str(out),
                "--faces", "2", "--inversion-steps", "2", "--rinv-sweep", "2", "--max-edit-steps", "2", "--snr", "6",
                "--channels", "awgn", "--methods", "ours,jpeg-m1", "--no-fid", "--no-costs", "--no-ood", *extra]

    out = tmp_path / "out"
    assert main(argv(out)) == 0
    first = json.loads((out / "results.json").read_text())["facts"]
    stored = sorted((out / "inversions").rglob("*.pt"))
    assert stored and sum(first["inversions"].values()) == len(stored)
    assert not any(first["inversions_from_store"].values())
    assert main(argv(out)) == 0                              # the same command again: nothing is inverted anew
    second = json.loads((out / "results.json").read_text())["facts"]
    assert second["inversions_from_store"] == second["inversions"] == first["inversions"]
    assert sorted((out / "inversions").rglob("*.pt")) == stored
    assert "read back from the inversion store" in (out / "report.md").read_text()
    other = tmp_path / "other"
    assert main(argv(other, "--no-store")) == 0
    assert not (other / "inversions").exists()
    capsys.readouterr()
