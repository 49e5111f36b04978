"""Compares the golden outputs of two trees (written by ``tools/golden_run.sh``): every CSV cell and every line of
the Markdown reports, as printed. Prints Markdown: per file, identical or the differing cells / lines.

    python tools/golden_compare.py BEFORE_OUT AFTER_OUT [--names before,after] [--show 40]

A difference in a column or line that holds a time (``seconds``, ``_s``, ``time``, ``wall``, ``CPU``, ``RSS``) is
listed apart from the others: times are measured, not computed, and differ from run to run.
"""

from __future__ import annotations

import argparse
import csv
import re
from pathlib import Path

TIMING = re.compile(r"(second|_s\b|_s$|\bs /|time|wall|cpu|rss|mib|throughput|per_s)", re.IGNORECASE)


def csv_cells(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return (rows[0], rows[1:]) if rows else ([], [])


def compare_csv(a: Path, b: Path) -> tuple[list[str], list[str], str | None]:
    """(differing cells, differing timing cells, a structural problem or None)."""
    ha, ra = csv_cells(a)
    hb, rb = csv_cells(b)
    if ha != hb:
        return [], [], f"headers differ: {ha} vs {hb}"
    if len(ra) != len(rb):
        return [], [], f"{len(ra)} vs {len(rb)} rows"
    diffs, timing = [], []
    for i, (x, y) in enumerate(zip(ra, rb)):
        for col, u, v in zip(ha, x, y):
            if u != v:
                (timing if TIMING.search(col) else diffs).append(f"row {i + 1} `{col}`: {u} → {v}")
    return diffs, timing, None


def cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def compare_lines(a: Path, b: Path) -> tuple[list[str], list[str]]:
    """Line by line; in a Markdown table a row whose differing cells all sit in time columns (by the table's
    header) counts as a time difference."""
    la = a.read_text(encoding="utf-8").splitlines()
    lb = b.read_text(encoding="utf-8").splitlines()
    diffs, timing = [], []
    header: list[str] = []
    for i in range(max(len(la), len(lb))):
        u = la[i] if i < len(la) else "(none)"
        v = lb[i] if i < len(lb) else "(none)"
        if u.startswith("|") and i + 1 < len(la) and la[i + 1].startswith("|---"):
            header = cells(u)
        if u == v:
            continue
        is_time = bool(TIMING.search(u) and TIMING.search(v))
        cu, cv = cells(u), cells(v)
        if u.startswith("|") and v.startswith("|") and len(cu) == len(cv) == len(header):
            cols = [header[j] for j in range(len(cu)) if cu[j] != cv[j]]
            is_time = all(TIMING.search(c) for c in cols)
            u, v = f"{u}` (columns: {', '.join(cols)})", v
        (timing if is_time else diffs).append(f"line {i + 1}:\n  - `{u[:300]}`\n  + `{v[:300]}`")
    return diffs, timing


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outs", nargs=2, type=Path)
    ap.add_argument("--names", default="before,after")
    ap.add_argument("--show", type=int, default=40, help="differences listed per file at the most")
    args = ap.parse_args()
    a_root, b_root = args.outs
    names = args.names.split(",")
    files = sorted({p.relative_to(a_root) for p in a_root.rglob("*") if p.suffix in (".csv", ".md")}
                   | {p.relative_to(b_root) for p in b_root.rglob("*") if p.suffix in (".csv", ".md")})
    same, total_diffs = [], 0
    for rel in files:
        a, b = a_root / rel, b_root / rel
        if not a.is_file() or not b.is_file():
            print(f"- `{rel}`: only in {names[1] if b.is_file() else names[0]}")
            continue
        if a.suffix == ".csv":
            diffs, timing, problem = compare_csv(a, b)
        else:
            (diffs, timing), problem = compare_lines(a, b), None
        if problem:
            print(f"- `{rel}`: **{problem}**")
            total_diffs += 1
            continue
        if not diffs and not timing:
            same.append(str(rel))
            continue
        total_diffs += len(diffs)
        print(f"- `{rel}`: {len(diffs)} differing values, {len(timing)} differing times")
        for d in diffs[: args.show]:
            print(f"  - {d}")
        if len(diffs) > args.show:
            print(f"  - ... {len(diffs) - args.show} more")
        for d in timing[: min(args.show, 6)]:
            print(f"  - (time) {d}")
    print(f"\nIdentical to the last printed digit ({len(same)} files): " + ", ".join(f"`{s}`" for s in same))
    print(f"\nDiffering values other than times: {total_diffs}")


if __name__ == "__main__":
    main()
