"""The template pattern language of the instruction corpus.

A pattern is text with ``{slot}`` (filled from a word pool), ``[optional part]`` (rendered with probability 1/2)
and ``(alternative|alternative)``. :func:`parse_pattern` turns it into a tree of nodes::

    ("lit", text) | ("slot", name) | ("opt", seq) | ("alt", (seq, ...))     seq = tuple of nodes

>>> pattern_parts("make the {noun} [a bit] (longer|fuller)")
(('make the ', ' ', 'a bit', ' ', 'longer', 'fuller'), ('noun',))
"""

from __future__ import annotations

from functools import lru_cache

__all__ = ["parse_pattern", "pattern_parts"]


@lru_cache(maxsize=None)
def parse_pattern(pattern: str) -> tuple:
    seq, i = _parse_seq(pattern, 0, ())
    if i != len(pattern):
        raise ValueError(f"unbalanced pattern {pattern!r}")
    return seq


def _parse_seq(s: str, i: int, stops: tuple[str, ...]) -> tuple[tuple, int]:
    nodes: list = []
    buf = ""
    while i < len(s) and s[i] not in stops:
        c = s[i]
        if c in "{[(":
            if buf:
                nodes.append(("lit", buf))
                buf = ""
            if c == "{":
                j = s.index("}", i)
                nodes.append(("slot", s[i + 1:j]))
                i = j + 1
            elif c == "[":
                sub, i = _parse_seq(s, i + 1, ("]",))
                nodes.append(("opt", sub))
                i += 1
            else:
                alts = []
                i += 1
                while True:
                    sub, i = _parse_seq(s, i, ("|", ")"))
                    alts.append(sub)
                    if s[i] == ")":
                        i += 1
                        break
                    i += 1
                nodes.append(("alt", tuple(alts)))
        else:
            buf += c
            i += 1
    if buf:
        nodes.append(("lit", buf))
    return tuple(nodes), i


def _walk(seq: tuple, lits: list[str], slots: list[str]) -> None:
    for node in seq:
        kind = node[0]
        if kind == "lit":
            lits.append(node[1])
        elif kind == "slot":
            slots.append(node[1])
        elif kind == "opt":
            _walk(node[1], lits, slots)
        else:
            for sub in node[1]:
                _walk(sub, lits, slots)


@lru_cache(maxsize=None)
def pattern_parts(pattern: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    lits: list[str] = []
    slots: list[str] = []
    _walk(parse_pattern(pattern), lits, slots)
    return tuple(lits), tuple(dict.fromkeys(slots))
