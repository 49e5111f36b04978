"""The verdicts of `edsc eval` (edsc.eval.report): each rule on hand-made result rows."""

import pytest

from edsc.eval import report as R
from edsc.eval.run import EvalResults
from edsc.eval.schemes import OURS

SNRS = (-6.0, 0.0, 6.0, 12.0, 18.0)


def _fig4(curves: dict[str, list[float]], metric: str = "lpips") -> list[dict]:
    return [{"method": m, "snr_db": s, metric: v} for m, values in curves.items() for s, v in zip(SNRS, values)]


def test_best_agrees_only_when_ours_is_lowest_everywhere():
    rows = _fig4({OURS: [0.3, 0.2, 0.1, 0.05, 0.01], "DeepJSCC M1": [0.4, 0.3, 0.2, 0.1, 0.05]})
    v = R.verdict_best(rows, "lpips", "awgn")
    assert v["agrees"] is True and v["ours"] == "best at every SNR" and "LPIPS" in v["finding"]
    rows = _fig4({OURS: [0.3, 0.2, 0.1, 0.05, 0.01], "JPEG+LDPC M1": [0.9, 0.9, 0.02, 0.02, 0.02]})
    v = R.verdict_best(rows, "lpips", "awgn")
    assert v["agrees"] is False and v["ours"].startswith("not best at 6 dB: JPEG+LDPC M1")
    assert "12 dB" in v["ours"] and "18 dB" not in v["ours"]


def test_best_is_not_judged_on_fading_or_without_the_metric():
    rows = _fig4({OURS: [0.3, 0.2, 0.1, 0.05, 0.01], "DeepJSCC M1": [0.1] * 5})
    v = R.verdict_best(rows, "lpips", "rayleigh")
    assert v["agrees"] is None and v["paper"] == "no fading results in the paper"
    assert R.verdict_best(rows, "fid", "awgn") is None
    assert R.verdict_best(_fig4({"DeepJSCC M1": [0.1] * 5}), "lpips", "awgn") is None
    assert R.verdict_best([], "lpips", "awgn") is None


def test_cliff_needs_an_abrupt_step_that_contains_6_db():
    cliff = _fig4({"JPEG+LDPC M1": [0.9, 0.9, 0.03, 0.03, 0.03], "DeepJSCC M1": [0.4, 0.3, 0.25, 0.22, 0.2]})
    (v,) = R.verdict_cliff(cliff)
    assert v["agrees"] is True and "between 6 and 0 dB" in v["ours"] and "DeepJSCC M1" in v["ours"]
    slope = _fig4({"JPEG+LDPC M2": [0.5, 0.4, 0.3, 0.2, 0.1]})
    (v,) = R.verdict_cliff(slope)
    assert v["agrees"] is False                               # steepest step 0.1 of a total 0.4: no cliff
    elsewhere = _fig4({"JPEG+LDPC M1": [0.9, 0.85, 0.8, 0.75, 0.03]})
    assert R.verdict_cliff(elsewhere)[0]["agrees"] is False   # abrupt, but between 18 and 12 dB
    two = [{"method": "JPEG+LDPC M1", "snr_db": s, "lpips": v} for s, v in ((0.0, 0.9), (18.0, 0.03))]
    assert R.verdict_cliff(two) == []                         # two points cannot tell a cliff from a slope


def test_adapters_verdict_uses_minus_6_db_and_counts_the_wins():
    rows = [{"snr_db": s, "lpips": w, "adapters": True} for s, w in zip(SNRS, [0.1, 0.08, 0.05, 0.03, 0.02])]
    rows += [{"snr_db": s, "lpips": w, "adapters": False} for s, w in zip(SNRS, [0.2, 0.1, 0.05, 0.02, 0.02])]
    v = R.verdict_adapters(rows)
    assert v["agrees"] is True and "at -6 dB" in v["finding"]
    assert "0.2000 → 0.1000 (-50 %)" in v["ours"] and "help at 2 of 5 SNRs (-6, 0 dB)" in v["ours"]
    worse = [dict(r, lpips=0.3) if r["adapters"] and r["snr_db"] == -6.0 else r for r in rows]
    assert R.verdict_adapters(worse)["agrees"] is False
    only = [r for r in rows if r["snr_db"] >= 6.0]
    assert "at 6 dB" in R.verdict_adapters(only)["finding"]    # the lowest SNR run when −6 dB is missing
    assert R.verdict_adapters([]) is None


def _sweep(lpips_gt, cpu, wall=None):
    wall = wall or cpu
    return [{"r_inv": r, "lpips_gt": g, "cpu_seconds_per_image": c, "seconds_per_image": w}
            for r, g, c, w in zip((14, 18, 22, 26, 30), lpips_gt, cpu, wall)]


def test_rinv_verdicts():
    best_mid, time_up = R.verdict_rinv(_sweep([0.3, 0.2, 0.1, 0.2, 0.3], [1, 2, 3, 4, 5]))
    assert best_mid["agrees"] is True and "r_inv 22" in best_mid["ours"]
    assert time_up["agrees"] is True and time_up["ours"].startswith("CPU seconds")
    best_edge, time_flat = R.verdict_rinv(_sweep([0.1, 0.2, 0.3, 0.4, 0.5], [1, 2, 2, 4, 5]))
    assert best_edge["agrees"] is False and time_flat["agrees"] is False      # equal times are not growth
    _, wall = R.verdict_rinv(_sweep([0.3, 0.2, 0.1, 0.2, 0.3], [5, 4, 3, 2, 1], [1, 2, 3, 4, 5]), device="cuda")
    assert wall["agrees"] is True and wall["ours"].startswith("wall seconds")
    (only_time,) = R.verdict_rinv(_sweep([0.3, 0.2], [1, 2]))                 # no interior value to be best
    assert only_time["finding"].startswith("time per image")
    assert R.verdict_rinv(_sweep([0.3], [1])) == []


def test_cbr_verdict():
    rows = [{"method": OURS, "cbr": 0.0104}, {"method": "DeepJSCC M1", "cbr": 0.0833},
            {"method": "JPEG+LDPC M1", "cbr": 0.467}]
    v = R.verdict_cbr(rows)
    assert v["agrees"] is True and v["ours"].startswith("ours 0.0104; DeepJSCC M1 0.0833")
    assert R.verdict_cbr(rows + [{"method": "X", "cbr": 0.0104}])["agrees"] is False      # a tie is not lowest
    assert R.verdict_cbr(rows[:1]) is None and R.verdict_cbr(rows[1:]) is None


def test_ablation_verdict():
    matched = {"method": "attribute matching (JECC)", "channel": "none", "matching": True, "edit_acc": 0.75,
               "others_kept": 0.9, "lpips_gt": 0.07}
    fixed = {"method": "fixed 2 steps/degree", "channel": "none", "matching": False, "edit_acc": 0.25,
             "others_kept": 0.8, "lpips_gt": 0.1}
    noisy = dict(matched, channel="awgn", edit_acc=0.0)
    v = R.verdict_ablation([noisy, matched, fixed])
    assert v["agrees"] is True and "0.7500 with matching vs 0.2500 with fixed 2 steps/degree" in v["ours"]
    assert R.verdict_ablation([dict(matched, edit_acc=0.25), fixed])["agrees"] is False
    assert R.verdict_ablation([matched]) is None


def test_verdicts_collects_every_rule_in_report_order():
    rows = {
        "table1_cbr": [{"method": OURS, "cbr": 0.01}, {"method": "DeepJSCC M1", "cbr": 0.08}],
        "fig4_awgn": [dict(r, fid=v * 100, kid=v) for r, v in
                      zip(_fig4({OURS: [0.3, 0.2, 0.1, 0.05, 0.01], "JPEG+LDPC M1": [0.9, 0.9, 0.03, 0.03, 0.03]}),
                          [0.3, 0.2, 0.1, 0.05, 0.01, 0.9, 0.9, 0.03, 0.03, 0.03])],
        "table4_adapters": [{"snr_db": -6.0, "lpips": 0.1, "adapters": True},
                            {"snr_db": -6.0, "lpips": 0.2, "adapters": False}],
        "table3_rinv": _sweep([0.3, 0.2, 0.1, 0.2, 0.3], [1, 2, 3, 4, 5]),
    }
    results = EvalResults(config={"channels": ["awgn"]}, bundle={"device": "cpu"}, rows=rows)
    found = [v["finding"] for v in R.verdicts(results)]
    assert found[0].startswith("Editable-DeepSC has the lowest CBR")
    assert found[1:4] == [f"Editable-DeepSC has the best (lowest) {m} at every SNR (awgn)"
                          for m in ("LPIPS", "FID", "KID")]
    assert found[4].startswith("JPEG+LDPC M1 falls off a cliff")
    assert found[5].startswith("the SNR adapters") and found[6].startswith("an intermediate r_inv")
    assert found[7].startswith("time per image") and len(found) == 8     # no ablation rows: no ablation verdict
    assert all(set(v) == {"finding", "paper", "agrees", "ours", "rule"} for v in R.verdicts(results))


@pytest.mark.parametrize("value,digits,text", [(None, 4, "–"), (True, 4, "yes"), (float("nan"), 4, "n/a"),
                                                (0.12345, 4, "0.1235"), (1234.5, 4, "1234"), (3, 4, "3")])
def test_number_format(value, digits, text):
    assert R._fmt(value, digits) == text
