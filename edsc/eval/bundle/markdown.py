"""The bundle report as Markdown: bundle facts, a summary per section, then each section's checks with the
threshold beside every value and its other measurements."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from edsc.eval.bundle.rules import SECTIONS, verdict
from edsc.eval.checks import OP_TEXT

__all__ = ["report_markdown"]


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{100 * value:.1f} %" if unit == "share" else f"{value:.4g}"
    return str(value)


def _result(passed: bool | None, skipped: bool = False) -> str:
    """PASS / FAIL; a section without checks is INFO, one that could not run SKIPPED."""
    return "SKIPPED" if skipped else {True: "PASS", False: "FAIL", None: "INFO"}[passed]


def _cell(text: Any) -> str:
    """Table-safe text (a ``|`` would end the cell)."""
    return str(text).replace("|", "\\|")


def _flatten(info: dict[str, Any], prefix: str = "") -> Iterable[tuple[str, str]]:
    """(key, text) rows of the scalar leaves of ``info``; lists of records are summarised (the JSON has them)."""
    for key, value in info.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _flatten(value, f"{name}.")
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            yield name, f"{len(value)} entries (see the JSON)"
        elif isinstance(value, list):
            yield name, ", ".join(_fmt(v) for v in value)
        else:
            yield name, _fmt(value)


def _section_markdown(index: int, name: str, section: dict[str, Any]) -> list[str]:
    head = (f"## {index}. {name} — {_result(section.get('passed'), bool(section.get('skipped')))} "
            f"({_fmt(section.get('wall_s'))} s)")
    lines = [head, "", section.get("about", ""), ""]
    if section.get("skipped"):
        return lines + [f"Skipped: {section['skipped']}.", ""]
    if section["checks"]:
        lines += ["| check | value | threshold | result | note |", "|---|---:|---:|:---:|---|"]
        for cname, c in section["checks"].items():
            lines.append(f"| {cname} | {_fmt(c['value'], c.get('unit', ''))} | {OP_TEXT[c['op']]} "
                         f"{_fmt(float(c['threshold']), c.get('unit', ''))} | {_result(c['passed'])} | "
                         f"{_cell(c.get('note', ''))} |")
        lines.append("")
    rows = list(_flatten(section.get("info", {})))
    if rows:
        lines += ["| measured (no threshold) | value |", "|---|---|"]
        lines += [f"| {k} | {_cell(v)} |" for k, v in rows]
        lines.append("")
    return lines


def report_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: bundle facts, a summary per section, then each section's checks with the
    threshold beside every value (pass/fail recomputed with :func:`verdict`) and its other measurements."""
    report = verdict(report)
    b, s = report["bundle"], report["settings"]
    failed = report["failed_checks"]
    lines = [f"# Bundle report: {b['version']} — {_result(report['passed'])}", "",
             f"{b['path']}: {b['resolution']} px, {b['parameters_total']:,} parameters, {_fmt(b['size_mb'])} MB "
             f"on disk. {s['faces']} held-out faces, r_inv {s['inversion_steps']}, seed {s['seed']}, "
             f"{s['device']}, {s['torch_threads']} torch threads of {s['cpu_count']} cores. "
             f"Total {_fmt(report.get('wall_s'))} s.", "",
             "| component | arch | parameters |", "|---|---|---:|"]
    lines += [f"| {k} | {v['arch']} | {v['parameters']:,} |" for k, v in b["components"].items()]
    lines += ["", "| section | result | checks passed | wall time (s) |", "|---|:---:|---:|---:|"]
    for name, sec in report["sections"].items():
        n_ok = sum(c["passed"] for c in sec["checks"].values())
        lines.append(f"| {name} | {_result(sec['passed'], bool(sec.get('skipped')))} | {n_ok}/{len(sec['checks'])} | "
                     f"{_fmt(sec['wall_s'])} |")
    lines += ["", f"Failed checks: {', '.join(failed) if failed else 'none'}.", ""]
    for i, (name, sec) in enumerate(report["sections"].items(), 1):
        lines += _section_markdown(SECTIONS.index(name) + 1 if name in SECTIONS else i, name, sec)
    return "\n".join(lines).rstrip() + "\n"
