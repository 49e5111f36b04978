"""The check and verdict engine shared by `edsc eval` and `edsc bundle report` (edsc.eval.checks)."""

import math

import pytest

from edsc.eval.checks import all_pass, judge_sections, make_check, make_verdict, number, passes
from shared.errors import InvalidArgumentError


@pytest.mark.parametrize("value,op,threshold,expected", [
    (0.9, ">=", 0.9, True), (0.89, ">=", 0.9, False), (0.1, "<=", 0.1, True), (0.0, ">", 0.0, False),
    (-1e-9, "<", 0.0, True), (3, ">", 2.5, True),
    (None, ">=", 0.0, False), (math.nan, "<=", 1.0, False), (True, ">=", 0.0, False), ("1", ">=", 0.0, False),
])
def test_passes(value, op, threshold, expected):
    assert passes(value, op, threshold) is expected


def test_unknown_comparison_is_refused():
    with pytest.raises(InvalidArgumentError, match="comparison"):
        passes(1.0, "==", 1.0)


def test_all_pass_needs_every_pair():
    assert all_pass([(2, 1), (3, 2)], ">") and not all_pass([(2, 1), (2, 2)], ">") and all_pass([], "<")


def test_number_is_json_safe():
    assert number(0.1234567891) == 0.123457 and number(None) is None
    assert number(math.inf) is None and number(math.nan) is None and number(2.5, 0) == 2.0


def test_make_check_judges_the_unrounded_value_and_keeps_the_note():
    c = make_check(0.8999999, ">=", 0.9, "share")
    assert c == {"value": 0.9, "op": ">=", "threshold": 0.9, "unit": "share", "passed": False}
    assert make_check(0.5, "<=", 0.6, "ratio", note="ours")["note"] == "ours"
    assert make_check(None, "<=", 0.6, "ratio")["passed"] is False


def test_judge_sections_recomputes_every_flag():
    report = {"sections": {
        "a": {"checks": {"x": {"value": 0.95, "op": ">=", "threshold": 0.9, "passed": False},
                         "y": {"value": 0.2, "op": "<=", "threshold": 0.1, "passed": True}}},
        "b": {"checks": {}},                                               # no checks: not judged
        "c": {"checks": {"z": {"value": 1.0, "op": ">", "threshold": 0.0}}, "skipped": "no model"},
        "d": {"checks": {"w": {"value": 1.0, "op": ">", "threshold": 0.0}}},
    }}
    out = judge_sections(report)
    assert out is not report and report["sections"]["a"]["checks"]["x"]["passed"] is False   # a copy
    a = out["sections"]["a"]
    assert a["checks"]["x"]["passed"] is True and a["checks"]["y"]["passed"] is False and a["passed"] is False
    assert out["sections"]["b"]["passed"] is None and out["sections"]["c"]["passed"] is None
    assert out["sections"]["d"]["passed"] is True
    assert out["passed"] is False and out["failed_checks"] == ["a.y"]
    fixed = judge_sections({"sections": {"d": report["sections"]["d"]}})
    assert fixed["passed"] is True and fixed["failed_checks"] == []
    assert judge_sections({"sections": {}})["passed"] is False                 # nothing judged: no pass


def test_make_verdict_layout():
    v = make_verdict("claim", "yes", None, "ours", "rule")
    assert list(v) == ["finding", "paper", "agrees", "ours", "rule"] and v["agrees"] is None
