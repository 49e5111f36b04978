"""Size and shape of source trees, side by side: lines of Python per package, the largest files, the import graph
between ``edsc/`` subpackages and the ``duplicates`` pair count. Prints Markdown.

    python tools/tree_stats.py BEFORE AFTER [--names before,after] [--duplicates-seconds 300]

BEFORE and AFTER are checkouts of this repository (e.g. ``git worktree add /tmp/old REV`` and the working tree).
The files counted are those git tracks plus the untracked ones it does not ignore (what ``duplicates`` reads);
generated gRPC modules (``*_pb2*.py``) are counted apart.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from import_graph import cycles, graph  # noqa: E402  (a sibling script, not a package)

PACKAGES = ("channel_emulator", "transmitter", "receiver", "shared", "edsc", "tests", "benchmarks", "tools")
GENERATED = re.compile(r"_pb2(_grpc)?\.pyi?$")


def python_files(tree: Path) -> list[Path]:
    """The tree's Python files that git tracks or does not ignore, relative to the tree."""
    out = subprocess.run(["git", "-C", str(tree), "ls-files", "--cached", "--others", "--exclude-standard",
                          "*.py"], check=True, capture_output=True, text=True).stdout
    return sorted({Path(p) for p in out.splitlines() if (tree / p).is_file()})


def line_counts(tree: Path) -> tuple[dict[str, int], dict[str, int], list[tuple[int, str]]]:
    """(lines per package, generated lines per package, every hand-written file's (lines, path))."""
    per: dict[str, int] = defaultdict(int)
    gen: dict[str, int] = defaultdict(int)
    files = []
    for rel in python_files(tree):
        n = len((tree / rel).read_text(encoding="utf-8", errors="replace").splitlines())
        top = rel.parts[0] if len(rel.parts) > 1 else "(top level)"
        if GENERATED.search(rel.name):
            gen[top] += n
            continue
        per[top] += n
        files.append((n, str(rel)))
    return per, gen, sorted(files, reverse=True)


def duplicate_pairs(tree: Path, seconds: int) -> str:
    """The first line of ``duplicates --repo TREE`` (the pair and file counts)."""
    out = subprocess.run(["duplicates", "--repo", str(tree), "--seconds", str(seconds)], capture_output=True,
                         text=True).stdout.splitlines()
    incomplete = [line for line in out if line.startswith("incomplete:")]
    return (out[0] if out else "(no output)") + (f" ({'; '.join(incomplete)})" if incomplete else "")


def edsc_graph(tree: Path) -> tuple[list[str], list[tuple[str, str]], dict[str, int]]:
    edges, lines = graph((tree / "edsc").resolve())
    return [f"{a} -> {b}" for a in sorted(edges) for b in sorted(edges[a])], cycles(edges), lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("trees", nargs=2, type=Path)
    ap.add_argument("--names", default="before,after")
    ap.add_argument("--duplicates-seconds", type=int, default=300)
    ap.add_argument("--top", type=int, default=10)
    args = ap.parse_args()
    names = args.names.split(",")
    trees = [t.resolve() for t in args.trees]
    counts = [line_counts(t) for t in trees]
    graphs = [edsc_graph(t) for t in trees]

    print("### Lines of Python per package\n")
    print(f"| package | {names[0]} | {names[1]} | change |\n|---|---:|---:|---:|")
    tops = [p for p in PACKAGES if any(p in c[0] for c in counts)]
    tops += sorted({p for c in counts for p in c[0]} - set(tops))
    for top in tops + ["total"]:
        a, b = (sum(c[0].values()) if top == "total" else c[0].get(top, 0) for c in counts)
        print(f"| {top} | {a:,} | {b:,} | {b - a:+,} |")
    ga, gb = (sum(c[1].values()) for c in counts)
    print(f"\nGenerated gRPC modules (`*_pb2*.py`, not counted above): {ga:,} / {gb:,} lines.\n")

    print("### Lines per `edsc/` subpackage (`tools/import_graph.py --lines`)\n")
    print(f"| subpackage | {names[0]} | {names[1]} |\n|---|---:|---:|")
    for sub in sorted(set(graphs[0][2]) | set(graphs[1][2])):
        print(f"| {sub} | {graphs[0][2].get(sub, 0):,} | {graphs[1][2].get(sub, 0):,} |")

    for name, (_, _, files) in zip(names, counts):
        print(f"\n### The {args.top} largest files, {name}\n")
        print("| file | lines |\n|---|---:|")
        for n, path in files[: args.top]:
            print(f"| {path} | {n:,} |")

    for name, (edges, cyc, _) in zip(names, graphs):
        print(f"\n### Import graph between `edsc/` subpackages, {name} ({len(edges)} edges)\n")
        print("```\n" + "\n".join(edges) + "\ncycles: "
              + (", ".join(f"{a} <-> {b}" for a, b in cyc) if cyc else "none") + "\n```")

    print("\n### `duplicates` (pairs of places sharing 6 or more lines)\n")
    for where in (".", "edsc"):
        for name, tree in zip(names, trees):
            label = "whole tree" if where == "." else f"`{where}/` only"
            print(f"- {label}, {name}: {duplicate_pairs(tree / where, args.duplicates_seconds)}")


if __name__ == "__main__":
    main()
