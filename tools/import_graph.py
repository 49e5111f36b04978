"""Import edges between the subpackages of a package, read with ``ast`` (nothing is imported).

Prints one line ``edsc.a -> edsc.b`` per edge, then any cycles, then the lines of Python per subpackage.

    python tools/import_graph.py [--root edsc] [--lines]
"""

from __future__ import annotations

import argparse
import ast
from collections import defaultdict
from pathlib import Path


def module_name(path: Path, base: Path) -> str:
    parts = list(path.relative_to(base.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def subpackage(module: str, root: str) -> str | None:
    parts = module.split(".")
    if parts[0] != root:
        return None
    return ".".join(parts[:2])


def imports_of(path: Path, module: str) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.add(target)
            out.update(f"{target}.{alias.name}" for alias in node.names)
    return out


def graph(root: Path) -> tuple[dict[str, set[str]], dict[str, int]]:
    edges: dict[str, set[str]] = defaultdict(set)
    lines: dict[str, int] = defaultdict(int)
    for path in sorted(root.rglob("*.py")):
        module = module_name(path, root)
        src = subpackage(module, root.name) if "." in module else None
        if src is None:
            src = root.name
        lines[src] += len(path.read_text().splitlines())
        for target in imports_of(path, module):
            dst = subpackage(target, root.name)
            where = root.parent / dst.replace(".", "/") if dst else None
            if dst and dst not in (src, root.name) and (where.is_dir() or where.with_suffix(".py").is_file()):
                edges[src].add(dst)
    return edges, lines


def cycles(edges: dict[str, set[str]]) -> list[tuple[str, str]]:
    reach: dict[str, set[str]] = {}

    def walk(node: str) -> set[str]:
        seen: set[str] = set()
        todo = [node]
        while todo:
            for nxt in edges.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    for node in list(edges):
        reach[node] = walk(node)
    return sorted({tuple(sorted((a, b))) for a in reach for b in reach[a] if a in reach.get(b, set()) and a != b})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default="edsc")
    ap.add_argument("--lines", action="store_true", help="also print lines of Python per subpackage")
    args = ap.parse_args()
    edges, lines = graph(Path(args.root).resolve())
    for src in sorted(edges):
        for dst in sorted(edges[src]):
            print(f"{src} -> {dst}")
    found = cycles(edges)
    print("cycles: " + (", ".join(f"{a} <-> {b}" for a, b in found) if found else "none"))
    if args.lines:
        for name in sorted(lines):
            print(f"lines {name} {lines[name]}")


if __name__ == "__main__":
    main()
