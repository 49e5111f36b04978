"""`edsc bundle report`: every section runs on the tiny random bundle, the layout and thresholds are the documented
ones, pass/fail flags follow the values, the Markdown shows each threshold beside its value, and the CLI prints
valid JSON / fails cleanly on a missing bundle."""

import json
import re
import pytest

from edsc.eval.bundle import RULES, SECTIONS, ReportContext, bundle_report, report_markdown, verdict
from edsc.cli.main import main
from shared.bundle import Bundle
from shared.errors import InvalidArgumentError

ATTRS = ("bangs", "eyeglasses", "beard", "smiling", "age")
TOP_KEYS = {"report_format", "bundle", "settings", "sections", "shared_s", "wall_s", "passed", "failed_checks"}
SECTION_KEYS = {"about", "checks", "info", "wall_s", "passed"}
CHECK_KEYS = {"value", "op", "threshold", "unit", "passed"}
OPS = {">=": lambda v, t: v >= t, "<=": lambda v, t: v <= t, ">": lambda v, t: v > t, "<": lambda v, t: v < t}
SMALL = dict(faces=4, inversion_steps=2, edit_steps=5, predictor_faces=24, parser_sentences=90, progress=False)


@pytest.fixture(scope="module")
def report(tiny_bundle):
    return bundle_report(tiny_bundle, **SMALL)


def _assert_consistent(rep):
    failed = []
    for name, sec in rep["sections"].items():
        for cname, c in sec["checks"].items():
            assert set(c) - {"note"} == CHECK_KEYS, (name, cname)
            assert isinstance(c["passed"], bool)
            assert c["passed"] == (c["value"] is not None and OPS[c["op"]](c["value"], c["threshold"]))
            failed += [] if c["passed"] else [f"{name}.{cname}"]
        expected = all(c["passed"] for c in sec["checks"].values()) if sec["checks"] else None
        assert sec["passed"] is expected
    assert rep["failed_checks"] == failed
    judged = [s["passed"] for s in rep["sections"].values() if s["passed"] is not None]
    assert rep["passed"] is (bool(judged) and all(judged))


def test_every_section_runs_with_documented_layout(report):
    assert set(report) == TOP_KEYS
    assert list(report["sections"]) == list(SECTIONS)
    for name, sec in report["sections"].items():
        assert set(sec) == SECTION_KEYS, name
        assert "skipped" not in sec and sec["wall_s"] >= 0
    facts = report["bundle"]
    assert facts["parameters_total"] == sum(c["parameters"] for c in facts["components"].values()) > 0
    assert facts["size_mb"] > 0 and facts["version"] == "random-tiny@seed0"
    assert report["settings"]["faces"] == 4 and report["settings"]["inversion_steps"] == 2
    json.dumps(report, allow_nan=False)          # plain, finite JSON


def test_checks_and_thresholds(report):
    s = report["sections"]
    assert set(s["generator"]["checks"]) == {"lpips_mean", *(f"eval_exact.{a}" for a in ATTRS)}
    assert set(s["inversion"]["checks"]) == {"lpips_mean", *(f"eval_exact.{a}" for a in ATTRS)}
    assert set(s["predictor"]["checks"]) == {f"{r}_{k}.{a}" for r in ("jecc", "eval") for k in ("exact", "within1")
                                             for a in ATTRS}
    assert {"exact_clean", "exact_typos", "exact_by_mode.target", "exact_by_mode.definite",
            "exact_by_mode.indefinite"} == set(s["parser"]["checks"])
    assert {"target_reached", "others_unchanged", "identity_drift_ratio"} == set(s["jecc"]["checks"])
    assert set(s["adapters"]["checks"]) == {f"lpips_gain.{lv:g}dB" for lv in (-6, 0, 6, 12, 18)}
    assert s["cost"]["checks"] == {} and s["cost"]["passed"] is None
    expected = {("generator", "lpips_mean"): ("<=", 0.10), ("generator", "eval_exact.age"): (">=", 0.90),
                ("inversion", "lpips_mean"): ("<=", 0.15), ("inversion", "eval_exact.bangs"): (">=", 0.85),
                ("predictor", "jecc_exact.beard"): (">=", 0.90), ("predictor", "eval_within1.age"): (">=", 0.99),
                ("parser", "exact_clean"): (">=", 0.98), ("jecc", "target_reached"): (">=", 0.85),
                ("jecc", "others_unchanged"): (">=", 0.90), ("adapters", "lpips_gain.18dB"): (">", 0.0)}
    for (sec, name), (op, thr) in expected.items():
        c = s[sec]["checks"][name]
        assert (c["op"], c["threshold"]) == (op, thr), (sec, name)
    _assert_consistent(report)
    assert verdict(report) == report             # verdict is idempotent on a computed report


def test_measurements_are_sane(report):
    s = report["sections"]
    assert 0 <= s["generator"]["checks"]["lpips_mean"]["value"] <= s["generator"]["info"]["lpips_max"]
    assert s["inversion"]["info"]["faces"] == 4 and s["inversion"]["info"]["steps"] == 2
    info = s["jecc"]["info"]
    assert info["edits"] == 4 and sum(info["status_counts"].values()) == 4
    assert 0 <= info["iterations_mean"] <= info["iterations_max"] <= 5
    assert set(info["identity"]) == {"drift", "baseline_inversion", "edit_and_channel", "different_people"}
    ad = s["adapters"]
    assert 0 < ad["info"]["tuned_share_per_level"] < ad["info"]["bank_share"] <= 1
    for key, lv in ad["info"]["lpips"].items():   # a random bundle's adapters are the identity: no gain
        assert lv["with"] == pytest.approx(lv["without"], abs=1e-6)
    cost = s["cost"]["info"]
    assert cost["edit_s"] > 0 and cost["cpu_count"] >= 1 and cost["torch_threads"] >= 1
    assert s["parser"]["info"]["sentences"] == 90
    assert report["shared_s"]["inversion_s"] > 0


def _fabricated():
    def c(value, op, thr, unit="share", passed=True):
        return {"value": value, "op": op, "threshold": thr, "unit": unit, "passed": passed}

    return {
        "report_format": 1, "wall_s": 1.0, "shared_s": {}, "passed": True, "failed_checks": [],
        "bundle": {"version": "fake@1", "path": "/x", "resolution": 128, "parameters_total": 10, "size_mb": 1.0,
                   "components": {"generator": {"arch": "stylegan2", "parameters": 10}}},
        "settings": {"faces": 2, "inversion_steps": 110, "seed": 0, "device": "cpu", "torch_threads": 2,
                     "cpu_count": 2},
        "sections": {
            "generator": {"about": "g", "wall_s": 1.0, "info": {"lpips_max": 0.2}, "passed": False, "checks": {
                "lpips_mean": c(0.10, "<=", 0.10, "lpips", passed=False),        # equal to the bound: passes
                "eval_exact.bangs": c(0.90, ">=", 0.90)}},
            "inversion": {"about": "i", "wall_s": 1.0, "info": {}, "passed": True, "checks": {
                "lpips_mean": c(0.151, "<=", 0.15, "lpips"),                     # just over: fails
                "eval_exact.age": c(None, ">=", 0.85)}},                         # missing value: fails
            "adapters": {"about": "a", "wall_s": 1.0, "info": {}, "passed": None, "checks": {
                "lpips_gain.18dB": c(0.0, ">", 0.0, "lpips"),                    # a tie is no win
                "lpips_gain.-6dB": c(0.12, ">", 0.0, "lpips", passed=False)}},
            "cost": {"about": "c", "wall_s": 3.0, "info": {"edit_s": 3.0}, "passed": False, "checks": {}},
        },
    }


def test_verdict_recomputes_flags_from_values():
    out = verdict(_fabricated())
    s = out["sections"]
    assert s["generator"]["checks"]["lpips_mean"]["passed"] is True and s["generator"]["passed"] is True
    assert s["inversion"]["checks"]["lpips_mean"]["passed"] is False
    assert s["inversion"]["checks"]["eval_exact.age"]["passed"] is False and s["inversion"]["passed"] is False
    assert s["adapters"]["checks"]["lpips_gain.18dB"]["passed"] is False
    assert s["adapters"]["checks"]["lpips_gain.-6dB"]["passed"] is True
    assert s["cost"]["passed"] is None
    assert out["passed"] is False
    assert out["failed_checks"] == ["inversion.lpips_mean", "inversion.eval_exact.age", "adapters.lpips_gain.18dB"]
    _assert_consistent(out)
    good = _fabricated()
    del good["sections"]["inversion"], good["sections"]["adapters"]
    assert verdict(good)["passed"] is True
    assert verdict({"sections": {}})["passed"] is False        # nothing judged is no pass


def test_markdown_puts_thresholds_beside_values():
    md = report_markdown(_fabricated())
    assert md.startswith("# Bundle report: fake@1 — FAIL")
    assert "| lpips_mean | 0.1 | ≤ 0.1 | PASS |" in md
    assert "| eval_exact.bangs | 90.0 % | ≥ 90.0 % | PASS |" in md
    assert "| lpips_mean | 0.151 | ≤ 0.15 | FAIL |" in md
    assert "| eval_exact.age | n/a | ≥ 85.0 % | FAIL |" in md
    assert "| lpips_gain.18dB | 0 | > 0 | FAIL |" in md
    assert "## 7. cost — INFO" in md and "| edit_s | 3 |" in md
    assert "inversion.lpips_mean" in md.split("## 1.")[0]      # failed checks listed in the summary


def test_markdown_of_a_real_report_has_a_row_per_check(report):
    md = report_markdown(report)
    rows = re.findall(r"^\| ([^|]+) \| [^|]+ \| [≥≤<>] [^|]+ \| (PASS|FAIL) \|", md, flags=re.M)
    assert len(rows) == sum(len(s["checks"]) for s in report["sections"].values())
    for line in md.splitlines():                             # no cell broken by a stray "|"
        if line.startswith("| ") and ("PASS" in line or "FAIL" in line) and "check" not in line:
            assert line.count("|") - line.count("\\|") in (5, 6), line


def test_sections_subset_and_bad_arguments(tiny_bundle):
    rep = bundle_report(tiny_bundle, sections="parser,predictor", **SMALL)
    assert list(rep["sections"]) == ["predictor", "parser"] and "inversion_s" not in rep["shared_s"]
    with pytest.raises(InvalidArgumentError, match="unknown"):
        bundle_report(tiny_bundle, sections="generator,bogus", **SMALL)
    with pytest.raises(InvalidArgumentError, match="faces"):
        bundle_report(tiny_bundle, **{**SMALL, "faces": 0})


def test_report_faces_are_reproducible_and_distinct(tiny_bundle):
    ctx = ReportContext(bundle=Bundle(tiny_bundle), faces=3, progress=False)
    a, b = ctx.world_faces("faces", 3), ctx.world_faces("faces", 3)
    assert (a.identity == b.identity).all() and (a.renders == b.renders).all()
    assert not (ctx.world_faces("predictor", 3).identity == a.identity).all()
    assert a.degrees.eq(a.degrees.round()).all()             # integer degrees


def test_cli_prints_json_and_writes_files(capsys, tiny_bundle, tmp_path):
    code = main(["bundle", "report", "--json", "--faces", "4", "--inversion-steps", "2", "--bundle", str(tiny_bundle),
                 "--out", str(tmp_path / "rep"), "--max-edit-steps", "5", "--predictor-faces", "24"])
    out, err = capsys.readouterr()
    assert code == 0
    rep = json.loads(out)
    assert set(rep) == TOP_KEYS and list(rep["sections"]) == list(SECTIONS)
    assert "inversion" in err                                # progress goes to stderr
    assert json.loads((tmp_path / "rep" / "report.json").read_text())["sections"].keys() == rep["sections"].keys()
    assert (tmp_path / "rep" / "report.md").read_text().startswith("# Bundle report:")


def test_cli_missing_bundle_exits_2_with_a_clear_message(capsys, tmp_path):
    code = main(["bundle", "report", "--bundle", str(tmp_path / "nope")])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.startswith("edsc: error: bundle directory") and "does not exist" in err and "Traceback" not in err


def test_rules_cover_every_check_family(report):
    families = {(sec, name.split(".", 1)[0]) for sec, s in report["sections"].items() for name in s["checks"]}
    assert families <= set(RULES)


def test_inversion_cache_is_reused_and_keyed(tiny_bundle, tmp_path):
    import torch

    def ctx(**kw):
        return ReportContext(bundle=Bundle(tiny_bundle), **{**dict(faces=3, inversion_steps=2, progress=False,
                                                                    inversion_cache=tmp_path), **kw})

    first = ctx()
    inv = first.inverted
    assert "inversion_s" in first.timings and len(list(tmp_path.glob("inversion-*.pt"))) == 1
    second = ctx()
    second._invert = None                                   # inverting would fail: the cache must serve it
    again = second.inverted
    assert torch.equal(again.w.cpu(), inv.w.cpu()) and torch.equal(again.lpips, inv.lpips)
    assert second.timings["inversion_cached_s"] == pytest.approx(inv.seconds)
    # anything the inversion depends on makes another key
    assert len({ctx(**kw).inversion_key() for kw in ({}, {"inversion_steps": 3}, {"faces": 4}, {"seed": 1},
                                                      {"batch": 2})}) == 5
    rep = bundle_report(tiny_bundle, sections="inversion", inversion_cache=tmp_path, **{**SMALL, "faces": 3})
    assert rep["sections"]["inversion"]["info"]["from_cache"] is True


def test_jecc_scores_by_attribute(report):
    info = report["sections"]["jecc"]["info"]
    assert set(info["target_reached_by_attribute"]) == set(ATTRS)
    assert set(info["others_unchanged_by_attribute"]) == set(ATTRS)
    for v in [*info["target_reached_by_attribute"].values(), *info["others_unchanged_by_attribute"].values()]:
        assert v is None or 0.0 <= v <= 1.0


def test_cli_unwritable_inversion_cache_exits_2_before_any_work(capsys, tiny_bundle, tmp_path):
    (tmp_path / "file").write_text("not a directory")
    code = main(["bundle", "report", "--bundle", str(tiny_bundle), "--inversion-cache", str(tmp_path / "file" / "c")])
    out, err = capsys.readouterr()
    assert code == 2 and "cannot write the inversion cache" in err and "Traceback" not in err


def test_inversion_reports_its_start(tiny_bundle, tmp_path):
    """With the encoder start the section also scores step 0, G(w_0); at r_inv 0 that is the inversion itself. The
    mean start has no per-face step 0 to score."""
    import shutil

    from shared.bundle import update_manifest
    from shared.models import world_latent as WL

    layout = tmp_path / "tiny-layout"
    shutil.copytree(tiny_bundle, layout)
    update_manifest(layout, latent_layout={"name": WL.LAYOUT, "integer_fraction": 0.7})
    small = {**SMALL, "faces": 3}
    info = bundle_report(layout, sections="inversion", **{**small, "inversion_steps": 0})["sections"]["inversion"]
    assert info["info"]["start"] == "encoder" and set(info["info"]["start_eval_exact"]) == set(ATTRS)
    for a in ATTRS:
        assert info["info"]["start_eval_exact"][a] == info["checks"][f"eval_exact.{a}"]["value"]
    assert info["info"]["start_lpips_mean"] == pytest.approx(info["checks"]["lpips_mean"]["value"], abs=1e-4)
    mean = bundle_report(tiny_bundle, sections="inversion", **small)["sections"]["inversion"]["info"]
    assert mean["start"] == "mean" and "start_eval_exact" not in mean and "start_lpips_mean" not in mean


def test_jecc_misses_account_for_every_missed_target(report):
    jecc = report["sections"]["jecc"]
    missed = jecc["info"]["target_missed"]
    causes = ("parse", "aim", "not_reached", "predictors_disagree", "channel")
    assert set(missed) == {*causes, "others_changed_by_edit"}
    assert sum(missed[c] for c in causes) == pytest.approx(1.0 - jecc["checks"]["target_reached"]["value"], abs=1e-6)
    assert 0.0 <= missed["others_changed_by_edit"] <= 1.0
