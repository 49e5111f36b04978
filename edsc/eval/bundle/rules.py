"""What `edsc bundle report` measures against what: its sections, constants and threshold rules.

Every check of a section is one number against a rule of :data:`RULES`, made by :func:`check`; the pass/fail
flags are computed by the shared engine (:mod:`edsc.eval.checks`), and :func:`verdict` recomputes them on any
report with the same layout.
"""

from __future__ import annotations

from typing import Any

from edsc.eval.checks import judge_sections, make_check

__all__ = ["REPORT_FORMAT", "SECTIONS", "NAMESPACE", "EDIT_SNR_DB", "TYPO_RATE", "RULES", "check", "verdict"]

REPORT_FORMAT = 1
SECTIONS: tuple[str, ...] = ("generator", "inversion", "predictor", "parser", "jecc", "adapters", "cost")
NAMESPACE = "report"
EDIT_SNR_DB = 18.0
TYPO_RATE = 0.03          # the corpus' default typo rate

#: (section, check family) -> (op, threshold, unit). A check is named ``family`` or ``family.<detail>``
#: (an attribute, a mode, an SNR level). Rules marked "ours" are this module's choice (no number was given).
RULES: dict[tuple[str, str], tuple[str, float, str]] = {
    ("generator", "lpips_mean"): ("<=", 0.10, "lpips"),
    ("generator", "eval_exact"): (">=", 0.90, "share"),
    ("inversion", "lpips_mean"): ("<=", 0.15, "lpips"),
    ("inversion", "eval_exact"): (">=", 0.85, "share"),
    ("predictor", "jecc_exact"): (">=", 0.90, "share"),
    ("predictor", "jecc_within1"): (">=", 0.99, "share"),
    ("predictor", "eval_exact"): (">=", 0.90, "share"),
    ("predictor", "eval_within1"): (">=", 0.99, "share"),
    ("parser", "exact_clean"): (">=", 0.98, "share"),
    ("parser", "exact_by_mode"): (">=", 0.98, "share"),        # the overall rule, per mode
    ("parser", "exact_typos"): (">=", 0.95, "share"),          # ours: with the corpus' 3 % typo rate
    ("jecc", "target_reached"): (">=", 0.85, "share"),
    ("jecc", "others_unchanged"): (">=", 0.90, "share"),
    ("jecc", "identity_drift_ratio"): ("<=", 0.50, "ratio"),   # ours: drift / distance between different people
    ("adapters", "lpips_gain"): (">", 0.0, "lpips"),           # LPIPS without the bank − with it
}


def check(section: str, name: str, value: float | None, note: str | None = None) -> dict[str, Any]:
    """One measured number against its rule in :data:`RULES` (family = ``name`` up to the first ``.``).

    Output: ``{"value", "op", "threshold", "unit", "passed"[, "note"]}`` (:func:`edsc.eval.checks.make_check`).
    """
    op, threshold, unit = RULES[(section, name.split(".", 1)[0])]
    return make_check(value, op, threshold, unit, note)


def verdict(report: dict[str, Any]) -> dict[str, Any]:
    """Recompute every pass/fail flag of ``report`` from its values and thresholds.

    Parameters
    ----------
    report : a report as :func:`~edsc.eval.bundle.report.bundle_report` returns it (or a hand-made one with the
        same layout).

    Output
    ------
    A copy with each check's ``passed``, each section's ``passed`` (all its checks pass; ``None`` when it has no
    check or was skipped), the overall ``passed`` (every section that has checks passes) and ``failed_checks``
    (:func:`edsc.eval.checks.judge_sections`).
    """
    return judge_sections(report)
