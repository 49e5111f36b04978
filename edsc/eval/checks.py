"""The check and verdict engine of `edsc eval` and `edsc bundle report`: measured numbers judged by stated rules.

Both tools judge numbers, never hard-code a result, and write the rule beside the outcome:

* a **check** holds one value against a threshold (``edsc bundle report``)::

      CHECK = {"value": float | None, "op": ">=" | "<=" | ">" | "<", "threshold": float, "unit": str,
               "passed": bool, "note": str (optional)}

  :func:`make_check` builds one, :func:`judge_sections` recomputes every ``passed`` flag of a report whose
  ``sections`` hold checks;
* a **verdict** says whether a finding of the paper holds here (``edsc eval``)::

      VERDICT = {"finding": str, "paper": str, "agrees": bool | None, "ours": str, "rule": str}

  :func:`make_verdict` builds one; ``agrees`` is None for a finding the paper does not make.

Every comparison goes through :func:`passes`: a missing, NaN or non-numeric value never passes.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from typing import Any

from shared.errors import InvalidArgumentError

__all__ = ["OPS", "OP_TEXT", "passes", "all_pass", "number", "make_check", "judge_sections", "make_verdict"]

#: The comparisons a rule may use: value OP threshold.
OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": lambda v, t: v >= t, "<=": lambda v, t: v <= t, ">": lambda v, t: v > t, "<": lambda v, t: v < t,
}
#: How each comparison is printed.
OP_TEXT: dict[str, str] = {">=": "≥", "<=": "≤", ">": ">", "<": "<"}


def passes(value: Any, op: str, threshold: float) -> bool:
    """Whether ``value op threshold`` holds.

    Input
    -----
    value : a number; None, NaN, a bool or anything else that is not a number never passes.
    op : one of :data:`OPS`.
    threshold : a number.

    Output
    ------
    bool
    """
    if op not in OPS:
        raise InvalidArgumentError(f"unknown comparison {op!r}; expected one of {sorted(OPS)}")
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return False
    return bool(OPS[op](float(value), float(threshold)))


def all_pass(pairs: Iterable[tuple[Any, Any]], op: str) -> bool:
    """Whether ``a op b`` holds for every pair ``(a, b)`` (True for no pair)."""
    return all(passes(a, op, b) for a, b in pairs)


def number(x: Any, digits: int = 6) -> float | None:
    """A JSON-safe float rounded to ``digits`` decimals (None for None, NaN and infinities)."""
    if x is None:
        return None
    x = float(x)
    return round(x, digits) if math.isfinite(x) else None


def make_check(value: Any, op: str, threshold: float, unit: str, note: str | None = None) -> dict[str, Any]:
    """One measured number against its threshold.

    Input
    -----
    value : the measurement (stored rounded by :func:`number`; judged unrounded).
    op, threshold : the rule, ``value op threshold``.
    unit : what the number is ("share", "lpips", "ratio", ...; "share" prints as a percentage).
    note : optional text shown beside the check.

    Output
    ------
    ``{"value", "op", "threshold", "unit", "passed"[, "note"]}``
    """
    out = {"value": number(value), "op": op, "threshold": threshold, "unit": unit,
           "passed": passes(value, op, threshold)}
    if note:
        out["note"] = note
    return out


def judge_sections(report: dict[str, Any]) -> dict[str, Any]:
    """Recompute every pass/fail flag of a report from its values and thresholds.

    Input
    -----
    report : ``{"sections": {name: {"checks": {check: CHECK}, "skipped": str (optional), ...}}, ...}`` (a
        report as ``edsc bundle report`` writes it, or a hand-made one with the same layout).

    Output
    ------
    A copy with each check's ``passed``, each section's ``passed`` (all its checks pass; None when it has no
    check or was skipped), the overall ``passed`` (every section that has checks passes) and ``failed_checks``
    (``"section.check"``).
    """
    out = copy.deepcopy(report)
    failed: list[str] = []
    judged: list[bool] = []
    for name, section in out.get("sections", {}).items():
        checks = section.get("checks", {})
        for cname, c in checks.items():
            c["passed"] = passes(c.get("value"), c["op"], c["threshold"])
            if not c["passed"]:
                failed.append(f"{name}.{cname}")
        section["passed"] = all(c["passed"] for c in checks.values()) if checks and not section.get("skipped") \
            else None
        if section["passed"] is not None:
            judged.append(section["passed"])
    out["passed"] = bool(judged) and all(judged)
    out["failed_checks"] = failed
    return out


def make_verdict(finding: str, paper: str, agrees: bool | None, ours: str, rule: str) -> dict[str, Any]:
    """Whether a finding of the paper holds in our numbers.

    Input
    -----
    finding : the claim, e.g. "Editable-DeepSC has the lowest CBR (Table I)".
    paper : what the paper reports.
    agrees : the rule's outcome on our numbers; None when the paper makes no such claim.
    ours : our numbers, as text.
    rule : how ``agrees`` was decided.

    Output
    ------
    ``{"finding", "paper", "agrees", "ours", "rule"}``
    """
    return {"finding": finding, "paper": paper, "agrees": agrees, "ours": ours, "rule": rule}
