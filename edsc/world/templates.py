"""Templates of the instruction corpus: the catalogue, its train/validation split, slot pools and rendering.

Templates are written per request mode, either generic (any attribute whose slot pools are non-empty) or
attribute-specific. Within each group (mode x scope) every fifth template (index = 3 mod 5) is a validation
template; a pattern used by several modes counts as one sentence structure, and all its variants share the split
of its first occurrence. Patterns use the language of :mod:`edsc.world.patterns`; slots are filled from
:mod:`edsc.world.lexicon`.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from edsc.world.lexicon import (AMOUNTS, CHANGE_POOLS, COUNT_WORDS, DEG_POOLS, DEGREE_SLOTS, DIR_POOLS, GEN,
                                GEN_DIR, LEVEL_FORMS, LEVEL_WORDS, LEX, PERSONA_KEYS, PERSONAS, PREFIXES, SUFFIXES,
                                UNITS, ZERO_POOLS)
from edsc.world.patterns import parse_pattern, pattern_parts
from shared.errors import InvalidArgumentError
from shared.world_spec import ATTRIBUTES, MAX_DEGREE

__all__ = ["MODES", "SPLITS", "Template", "templates", "check_split", "RenderContext", "render",
           "vocabulary_words"]

MODES: tuple[str, ...] = ("target", "definite", "indefinite")
SPLITS = ("train", "val", "all")

_NON_AGE = ("bangs", "eyeglasses", "beard", "smiling")


def _t(pattern: str, *, attrs: Sequence[str] = ATTRIBUTES, direction: int | None = None,
       degrees: Sequence[int] | None = None, when: str | None = None) -> dict[str, Any]:
    return dict(pattern=pattern, attributes=tuple(attrs), direction=direction,
                degrees=None if degrees is None else tuple(degrees), when=when)


# Pattern language: {slot}, [optional part] (rendered with probability 1/2), (alternative|alternative).
# Quantity slots: {q} = "two steps" (definite) or "a bit"/"" (indefinite); {by} = "by two", "by 2 levels",
# "two steps" (definite) or an indefinite amount; {num} = a bare count ("two", "2"); {d} = a target level number;
# {level} = "level 3", "degree four", "2 out of 5", ...
_GROUPS: list[tuple[str, str, list[dict[str, Any]]]] = [
    ("target", "gen", [
        _t("{req} make the {noun} {pred}"),
        _t("the {noun} should be {pred}"),
        _t("I want {poss} {noun} {pred}"),
        _t("can the {noun} be {pred}?"),
        _t("{req} give {obj} {has}", degrees=range(1, 6)),
        _t("I'd like {has}"),
        _t("let's go with {has}"),
        _t("{has}, please"),
        _t("{req} change {poss} {noun} to {has}", degrees=range(1, 6)),
        _t("switch to {has}"),
        _t("how about {has}?"),
        _t("edit the (photo|picture|image) so {subj_has} {has}"),
        _t("{subj} should have {has}"),
        _t("try {has} instead"),
        _t("I'd rather see {obj} with {has}"),
        _t("{req} make {obj} look {look}"),
        _t("{subj} should look {look}"),
        _t("I want {obj} to look {look}"),
        _t("{req} set the {noun} to {level}"),
        _t("{noun} at {level}[, please]"),
        _t("put the {noun} (on|at) {level}"),
        _t("I want the {noun} at {level}"),
        _t("{req} change the {noun} level to {d}"),
        _t("the {noun} should be (at|on) {level}"),
        _t("make the {noun} {level}"),
        _t("{level} (for|on) the {noun}"),
        _t("can we go to {level} on the {noun}?"),
        _t("{req} adjust the {noun} to {level}"),
        _t("{noun}: {level}"),
        _t("set {noun} to {d}"),
        _t("{req} {rm} the {noun}"),
        _t("{rm} {poss} {noun}[, please]"),
        _t("no {zn}"),
        _t("no more {zn}[, please]"),
        _t("without (the|any) {zn}[, please]"),
        _t("I don't want any {zn}"),
        _t("(lose|ditch) the {noun}", attrs=_NON_AGE, degrees=(0,)),
        _t("get the {noun} off {poss} face", attrs=_NON_AGE, degrees=(0,)),
        _t("{d} on the {noun} scale"),
        _t("go for {has}"),
        _t("{subj_looks} better with {has}"),
        _t("{has} would suit {obj} better"),
        _t("replace the {noun} with {has}[ instead]", degrees=range(1, 6)),
        _t("the {noun} (has to|needs to) be {pred}"),
        _t("what about {level} for the {noun}?"),
        _t("target {level} (on|for) the {noun}"),
        _t("move the {noun} to {level}"),
        _t("I'd like the {noun} to look {pred}"),
        _t("picture {obj} with {has}"),
        _t("{req} take the {noun} (all the way|straight) to {level}"),
        _t("let's see {obj} with {has}"),
        _t("the (right|ideal) {noun} would be {level}"),
    ]),
    ("target", "age", [
        _t("{req} turn {obj} into {as}", attrs=("age",)),
        _t("make {obj} {as}", attrs=("age",)),
        _t("show {obj} as {as}", attrs=("age",)),
        _t("what would {subj} look like as {as}?", attrs=("age",)),
        _t("I want to see {obj} as {as}", attrs=("age",)),
        _t("imagine {obj} as {as}", attrs=("age",)),
        _t("give {obj} the face of {as}", attrs=("age",)),
    ]),
    ("target", "smiling", [
        _t("{req} make {obj} {act}", attrs=("smiling",)),
        _t("have {obj} {act}", attrs=("smiling",)),
        _t("I want {obj} to {act}", attrs=("smiling",)),
        _t("can {subj} {act}?", attrs=("smiling",)),
        _t("let {obj} {act}", attrs=("smiling",)),
        _t("{req} wipe the (smile|grin) off {poss} face", attrs=("smiling",), degrees=(0,)),
        _t("keep {poss} face (serious|neutral)", attrs=("smiling",), degrees=(0,)),
    ]),
    ("target", "eyeglasses", [
        _t("{req} put {has} on {obj}", attrs=("eyeglasses",), degrees=range(1, 6)),
        _t("make {obj} wear {has}", attrs=("eyeglasses",), degrees=range(1, 6)),
        _t("swap the {noun} for {has}", attrs=("eyeglasses",), degrees=range(1, 6)),
        _t("{req} take {poss} {noun} off", attrs=("eyeglasses",), degrees=(0,)),
        _t("{subj} shouldn't wear any (glasses|eyewear)", attrs=("eyeglasses",), degrees=(0,)),
        _t("{subj} should wear {has}", attrs=("eyeglasses",), degrees=range(1, 6)),
    ]),
    ("target", "beard", [
        _t("let {obj} grow {has}", attrs=("beard",), degrees=range(1, 6)),
        _t("{req} shave {obj} clean", attrs=("beard",), degrees=(0,)),
        _t("{req} trim {poss} beard down to {has}", attrs=("beard",), degrees=range(1, 5)),
        _t("I'd like {obj} with {has}", attrs=("beard",), degrees=range(1, 6)),
        _t("clean-shave {obj}", attrs=("beard",), degrees=(0,)),
    ]),
    ("target", "bangs", [
        _t("{req} cut {poss} {noun} {pred}", attrs=("bangs",), degrees=(1, 2, 3)),
        _t("clear {poss} forehead", attrs=("bangs",), degrees=(0,)),
        _t("cover {poss} forehead completely", attrs=("bangs",), degrees=(5,)),
        _t("show {poss} whole forehead", attrs=("bangs",), degrees=(0,)),
        _t("{req} style {poss} hair with {has}", attrs=("bangs",), degrees=range(1, 6)),
    ]),
    ("definite", "gen", [
        _t("{req} make the {noun} {q} {cmp}"),
        _t("make {poss} {noun} {q} {cmp}"),
        _t("I want the {noun} {q} {cmp}"),
        _t("the {noun} should be {q} {cmp}"),
        _t("{req} {vb} the {noun} {by}"),
        _t("{vb} {poss} {noun} {by}[, please]"),
        _t("{ud_vb} the {noun} {by}"),
        _t("{ud_vb} the {noun} level by {num}"),
        _t("move the {noun} {q} {updown}"),
        _t("{noun} {pm} {num}"),
        _t("{noun} {ud} {q}[, please]"),
        _t("turn the {noun} {updown} by {num}"),
        _t("{q} {cmp} {noun}[, please]"),
        _t("{cmp} {noun} by {num}"),
        _t("can you make the {noun} {q} {cmp}?"),
        _t("could the {noun} be {q} {cmp}?"),
        _t("let's make the {noun} {q} {cmp}"),
        _t("{req} make {obj} {q} {pcmp}"),
        _t("make {obj} look {q} {pcmp}"),
        _t("I want to look {q} {pcmp}"),
        _t("{subj} should look {q} {pcmp}"),
        _t("{req} {pvb}"),
        _t("the {noun} {be} {q} too {opp}"),
        _t("go {q} {updown} on the {noun}"),
        _t("adjust the {noun} {q} {updown}"),
        _t("{q} {updown} for the {noun}"),
        _t("add {q} to the {noun}", direction=1),
        _t("take {q} off the {noun}", direction=-1),
        _t("{noun} {cmp} by {num}[, please]"),
        _t("make the {noun} exactly {q} {cmp}"),
        _t("{noun}: {q} {cmp}"),
        _t("can we go {q} {cmp} with the {noun}?"),
        _t("I'd like the {noun} {q} {cmp}"),
        _t("step the {noun} {updown} {q}"),
        _t("{q} {more} {ml}[, please]"),
        _t("give {obj} {q} {more} {ml}"),
        _t("{ud_vb} the (strength|intensity) of the {noun} {by}"),
        _t("{subj_looks} {q} too {popp}"),
        _t("make the {noun} less {opp} by {num}"),
        _t("{q} {cmp} on the {noun}"),
        _t("{subj_looks} too {popp}, (fix|change) that by {num}"),
        _t("shift the {noun} {q} {ud} the scale"),
        _t("I'd go {q} {cmp} on the {noun}"),
        _t("please change the {noun}: {num} {updown}"),
        _t("{cmp} {noun}, {q}"),
    ]),
    ("definite", "attr", [
        _t("add {q} of age", attrs=("age",), direction=1),
        _t("take away {q} of age", attrs=("age",), direction=-1),
        _t("cut the {noun} {q} shorter", attrs=("bangs", "beard"), direction=-1),
        _t("let the {noun} grow {q} longer", attrs=("bangs", "beard"), direction=1),
        _t("make {obj} smile {q} (more|wider)", attrs=("smiling",), direction=1),
        _t("make the lenses {q} (darker|tinted)", attrs=("eyeglasses",), direction=1),
        _t("make the lenses {q} (lighter|clearer)", attrs=("eyeglasses",), direction=-1),
        _t("{req} trim the {noun} {q}", attrs=("beard",), direction=-1),
    ]),
    ("indefinite", "gen", [
        _t("{req} make the {noun} {q} {cmp}"),
        _t("make {poss} {noun} {q} {cmp}"),
        _t("I want the {noun} {q} {cmp}"),
        _t("I'd like {poss} {noun} to be {q} {cmp}"),
        _t("the {noun} should be {q} {cmp}"),
        _t("{noun} {q} {cmp}[, please]"),
        _t("{cmp} {noun}"),
        _t("{q} {cmp} {noun}, please"),
        _t("can you make the {noun} {q} {cmp}?"),
        _t("could the {noun} be {q} {cmp}?"),
        _t("let's make the {noun} {q} {cmp}"),
        _t("{vb} the {noun} {q}"),
        _t("{req} {vb} {poss} {noun} {by}"),
        _t("{req} make {obj} look {q} {pcmp}"),
        _t("{q} {pcmp}[, please]"),
        _t("I want to look {q} {pcmp}"),
        _t("{req} {pvb}"),
        _t("the {noun} {be} {too_q} too {opp}"),
        _t("{subj_looks} {too_q} too {popp}"),
        _t("the {noun} {be} too {opp}, {vb} {it} {q}"),
        _t("could you {vb} the {noun} {q}?"),
        _t("try {q} {cmp} {noun}"),
        _t("how about {q} {cmp} {noun}?"),
        _t("let's go {q} {cmp} on the {noun}"),
        _t("I think the {noun} could be {q} {cmp}"),
        _t("maybe {q} {cmp} on the {noun}?"),
        _t("{noun}: {q} {cmp}"),
        _t("go {q} {cmp} with the {noun}"),
        _t("turn the {noun} {updown} {q}"),
        _t("{ud_vb} the {noun} {q}"),
        _t("{q} {more} {ml}[, please]"),
        _t("give {obj} {q} {more} {ml}"),
        _t("take (away|off) some of the {ml}", direction=-1),
        _t("make the {noun} not so {opp}"),
        _t("make the {noun} less {opp}"),
        _t("the {noun} needs to be {q} {cmp}"),
        _t("can we get {q} {cmp} {noun}?"),
        _t("I'd prefer {q} {cmp} {noun}"),
        _t("{subj} would look better with {q} {cmp} {noun}"),
        _t("edit the (photo|picture) so the {noun} {be} {q} {cmp}"),
        _t("tweak the {noun}, {q} {cmp}"),
        _t("just {q} {cmp} {noun}, nothing else"),
        _t("{req} add {add}", direction=1, when="absent"),
        _t("give {obj} {add}", direction=1, when="absent"),
        _t("{req} make {obj} {q} {pcmp}"),
        _t("{subj} should look {q} {pcmp}"),
        _t("bump the {noun} {updown} {q}"),
        _t("{noun} {ud} {q}[, please]"),
        _t("I'd like {obj} to look {q} {pcmp}"),
        _t("not so {opp} on the {noun}"),
        _t("(move|nudge) the {noun} {q} {updown}"),
        _t("{q} {cmp}, the {noun}"),
        _t("{cmp} {noun} would be (nice|better)"),
        _t("the {noun} {be} not {goal} enough"),
        # (54-56, training split) more "not X enough" / "add" phrasings: without them the held-out template
        # 53 above had no training construction at all (the parser read it as the opposite direction).
        _t("I don't think the {noun} {be} {goal} enough"),
        _t("{poss} {noun} {be} still not {goal} enough, {vb} {it} {q}"),
        _t("could you add {add}?", direction=1, when="absent"),
    ]),
    ("indefinite", "attr", [
        _t("put {add} on {obj}", attrs=("eyeglasses",), direction=1, when="absent"),
        _t("let {obj} grow {add}", attrs=("beard",), direction=1, when="absent"),
        _t("{req} cheer {obj} up", attrs=("smiling",), direction=1),
        _t("make {obj} look (older|aged)", attrs=("age",), direction=1),
        _t("make {obj} look (younger|more youthful)", attrs=("age",), direction=-1),
        _t("{req} age {obj}", attrs=("age",), direction=1),
        _t("de-age {obj}", attrs=("age",), direction=-1),
        _t("(thin|cut) the {noun} back", attrs=("bangs", "beard"), direction=-1),
        _t("show more forehead", attrs=("bangs",), direction=-1),
        _t("{req} make {obj} smile", attrs=("smiling",), direction=1, when="absent"),
        _t("less (scruff|fuzz) on {poss} face", attrs=("beard",), direction=-1),
        _t("(tone|dial) the {noun} down {q}", attrs=("smiling", "eyeglasses"), direction=-1),
    ]),
]

_MODE_ABBR = {"target": "tgt", "definite": "def", "indefinite": "ind"}


@dataclass(frozen=True)
class Template:
    """A sentence pattern with slots for one request mode.

    Attributes
    ----------
    template_id : str
        ``"<mode>.<scope>.<index>"``, e.g. ``"tgt.gen.04"``.
    mode : {"target", "definite", "indefinite"}
    pattern : str
        ``{slot}``, ``[optional]``, ``(alternative|alternative)``.
    split : {"train", "val"}
    attributes : tuple of str
        Attributes the template may be used for (it is used only where every slot has words).
    direction : int or None
        Fixed direction of a change template; None: either (target templates: always None).
    degrees : tuple of int or None
        Target degrees the template may express (None: any with words for its slots).
    when : {"absent", "present"} or None
        Condition on the current degree for :func:`generate_for_state` ("add glasses" only without glasses).
    """

    template_id: str
    mode: str
    pattern: str
    split: str
    attributes: tuple[str, ...] = ATTRIBUTES
    direction: int | None = None
    degrees: tuple[int, ...] | None = None
    when: str | None = None

    def applies(self, attribute: str, direction: int | None = None, degree: int | None = None) -> bool:
        """Whether the template can render an instruction for this attribute (and direction or target degree)."""
        return _applies(self, attribute, direction, degree)


@lru_cache(maxsize=None)
def _all_templates() -> tuple[Template, ...]:
    out: list[Template] = []
    split_of_pattern: dict[str, str] = {}
    seen: set[tuple[str, str]] = set()
    for mode, scope, specs in _GROUPS:
        for j, spec in enumerate(specs):
            tid = f"{_MODE_ABBR[mode]}.{scope}.{j:02d}"
            pattern = spec["pattern"]
            if (pattern, mode) in seen:
                raise RuntimeError(f"duplicate {mode} template {pattern!r}")
            seen.add((pattern, mode))
            _, slots = pattern_parts(pattern)
            if mode == "target" and not DEGREE_SLOTS.intersection(slots) and (
                    spec["degrees"] is None or len(spec["degrees"]) != 1):
                raise RuntimeError(f"target template {pattern!r} names no degree")
            # A pattern shared by several modes ({q}: a count or a vague amount) is one sentence structure:
            # all its variants go to the split of its first occurrence.
            split = split_of_pattern.setdefault(pattern, "val" if j % 5 == 3 else "train")
            out.append(Template(template_id=tid, mode=mode, split=split, **spec))
    return tuple(out)


def templates(split: Literal["train", "val", "all"] = "all") -> list[Template]:
    """The templates of a split (``"all"``: both), in a fixed order."""
    check_split(split)
    return [t for t in _all_templates() if split == "all" or t.split == split]


def check_split(split: str) -> None:
    if split not in SPLITS:
        raise InvalidArgumentError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")


# ----------------------------------------------------------------------------------------------------------
# Slot pools
# ----------------------------------------------------------------------------------------------------------

_CHANGE_ONLY = {"q", "by", "num"}


def _pool(name: str, attribute: str, mode: str, direction: int | None, degree: int | None) -> list[str]:
    """Values a slot can take (may contain nested slots); [] if the slot has no words here.

    ``q``/``by``/``num``/``d``/``level`` return a representative list (their values are built at render time).
    """
    lex = LEX[attribute]
    if name in PERSONA_KEYS:
        return [p[name] for p in PERSONAS]
    if name == "noun":
        return [n for n, _ in lex["nouns"]]
    if name == "be":
        return ["is", "are"]
    if name == "it":
        return ["it", "them"]
    if name in GEN:
        return GEN[name]
    if name in _CHANGE_ONLY:
        if mode == "target":
            return []
        if mode == "indefinite":
            return [] if name == "num" else [a for a in AMOUNTS if a]
        words = [w for ws in COUNT_WORDS.values() for w in ws] + ["a single"]
        units = [u for pair in UNITS for u in pair]
        return words + units + ["by"]
    if name in ("d", "level"):
        if mode != "target":
            return []
        nums = [w for ws in LEVEL_WORDS.values() for w in ws]
        return nums if name == "d" else [f.replace("{d}", "") for f in LEVEL_FORMS] + nums
    if name == "goal":  # the state the change aims at: "not LONG enough" → +1
        if mode == "target":
            return []
        dirs = (1, -1) if direction is None else (direction,)
        return [v for d in dirs for v in lex["opp"].get(-d, [])]
    if name in DIR_POOLS or name in GEN_DIR:
        if mode == "target":
            return []
        src = lex[name] if name in DIR_POOLS else GEN_DIR[name]
        dirs = (1, -1) if direction is None else (direction,)
        return [v for d in dirs for v in src.get(d, [])]
    if name in DEG_POOLS:
        if mode != "target":
            return []
        src = lex[DEG_POOLS[name]]
        degs = range(MAX_DEGREE + 1) if degree is None else (degree,)
        return [v for d in degs for v in src.get(d, [])]
    if name in ZERO_POOLS:
        return list(lex[name]) if mode == "target" and degree in (None, 0) else []
    if name in CHANGE_POOLS:
        return list(lex[name]) if mode != "target" else []
    raise KeyError(f"unknown slot {{{name}}}")


@lru_cache(maxsize=None)
def _applies(t: Template, attribute: str, direction: int | None, degree: int | None) -> bool:
    if attribute not in t.attributes:
        return False
    if t.mode == "target":
        if direction is not None:
            return False
        if degree is not None and t.degrees is not None and degree not in t.degrees:
            return False
    else:
        if degree is not None:
            return False
        if direction is not None and t.direction is not None and direction != t.direction:
            return False
        direction = direction if direction is not None else t.direction
    _, slots = pattern_parts(t.pattern)
    if t.mode == "target" and degree is None:
        degs = t.degrees if t.degrees is not None else range(MAX_DEGREE + 1)
        return any(all(_pool(s, attribute, t.mode, None, d) for s in slots) for d in degs)
    if t.mode != "target" and direction is None:
        return any(all(_pool(s, attribute, t.mode, d, None) for s in slots) for d in (1, -1))
    return all(_pool(s, attribute, t.mode, direction, degree) for s in slots)


# ----------------------------------------------------------------------------------------------------------
# Rendering
# ----------------------------------------------------------------------------------------------------------

class RenderContext:
    def __init__(self, attribute: str, mode: str, direction: int | None, change: int | None,
                 target: int | None, rng: random.Random):
        self.attribute = attribute
        self.mode = mode
        self.direction = direction
        self.change = change
        self.target = target
        self.rng = rng
        self.persona = rng.choice(PERSONAS)
        self.noun = rng.choice(LEX[attribute]["nouns"])
        self.count_rendered = False
        self.level_rendered = False


def _count_word(n: int, rng: random.Random, with_unit: bool) -> str:
    words = COUNT_WORDS[n] + (["a single"] if n == 1 and with_unit else [])
    return rng.choice(words)


def _slot_value(name: str, ctx: RenderContext) -> str:
    rng = ctx.rng
    if name in PERSONA_KEYS:
        return ctx.persona[name]
    if name == "noun":
        return ctx.noun[0]
    if name == "be":
        return "are" if ctx.noun[1] else "is"
    if name == "it":
        return "them" if ctx.noun[1] else "it"
    if name in ("q", "by"):
        if ctx.mode == "indefinite":
            return rng.choice(AMOUNTS)
        assert ctx.mode == "definite" and ctx.change is not None
        ctx.count_rendered = True
        sing, plur = rng.choice(UNITS)
        unit = sing if ctx.change == 1 else plur
        with_unit = f"{_count_word(ctx.change, rng, True)} {unit}"
        if name == "q":
            return with_unit
        return rng.choice([f"by {_count_word(ctx.change, rng, False)}", f"by {with_unit}", with_unit])
    if name == "num":
        assert ctx.mode == "definite" and ctx.change is not None
        ctx.count_rendered = True
        return _count_word(ctx.change, rng, False)
    if name in ("d", "level"):
        assert ctx.mode == "target" and ctx.target is not None
        ctx.level_rendered = True
        d = rng.choice(LEVEL_WORDS[ctx.target])
        return d if name == "d" else rng.choice(LEVEL_FORMS).replace("{d}", d)
    pool = _pool(name, ctx.attribute, ctx.mode, ctx.direction, ctx.target)
    if not pool:
        raise RuntimeError(f"slot {{{name}}} has no words for {ctx.attribute}/{ctx.mode}")
    return rng.choice(pool)


def _render_seq(seq: tuple, ctx: RenderContext) -> str:
    out: list[str] = []
    for node in seq:
        kind = node[0]
        if kind == "lit":
            out.append(node[1])
        elif kind == "slot":
            value = _slot_value(node[1], ctx)
            out.append(_render_seq(parse_pattern(value), ctx) if "{" in value else value)
        elif kind == "opt":
            if ctx.rng.random() < 0.5:
                out.append(_render_seq(node[1], ctx))
        else:
            out.append(_render_seq(ctx.rng.choice(node[1]), ctx))
    return "".join(out)


def _tidy(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\s+([,?:])", r"\1", text)
    text = re.sub(r",(?=[,?])", "", text)
    text = re.sub(r"^[,:]\s*", "", text)
    return text


def render(t: Template, ctx: RenderContext) -> str:
    text = _tidy(_render_seq(parse_pattern(t.pattern), ctx))
    if t.mode == "definite" and not ctx.count_rendered:
        raise RuntimeError(f"template {t.template_id} rendered a definite change without its count")
    return text


# ----------------------------------------------------------------------------------------------------------
# Vocabulary
# ----------------------------------------------------------------------------------------------------------

def _words(text: str) -> list[str]:
    from shared.models.language import tokenize

    return [w for w in tokenize(text) if any(c.isalnum() for c in w)]


def _slot_texts(name: str, t: Template) -> set[str]:
    if name in ("q", "by", "num", "d", "level"):
        if name in ("d", "level"):
            vals = [w for ws in LEVEL_WORDS.values() for w in ws]
            return set(vals) | ({f.replace("{d}", "") for f in LEVEL_FORMS} if name == "level" else set())
        if t.mode == "indefinite":
            return set(AMOUNTS) if name != "num" else set()
        return {w for ws in COUNT_WORDS.values() for w in ws} | {"a single", "by"} | {
            u for pair in UNITS for u in pair}
    out: set[str] = set()
    for attribute in t.attributes:
        if not t.applies(attribute):
            continue
        out.update(_pool(name, attribute, t.mode, t.direction, None))
    return out


@lru_cache(maxsize=None)
def _vocabulary(split: str) -> frozenset[str]:
    texts: set[str] = set(PREFIXES) | set(SUFFIXES)
    for t in templates(split):  # type: ignore[arg-type]
        lits, slots = pattern_parts(t.pattern)
        texts.update(lits)
        pending = list(slots)
        seen: set[str] = set()
        while pending:
            name = pending.pop()
            if name in seen:
                continue
            seen.add(name)
            for value in _slot_texts(name, t):
                vlits, vslots = pattern_parts(value)
                texts.update(vlits)
                pending.extend(vslots)
    words: set[str] = set()
    for text in texts:
        words.update(_words(text))
    return frozenset(words)


def vocabulary_words(split: Literal["train", "val", "all"] = "all") -> set[str]:
    """Lower-case words the templates of ``split`` can produce (typos aside).

    Words are the tokens of :func:`shared.models.language.tokenize` (the parser's tokenizer: lower case,
    ``. ! , :`` removed, ``?`` and ``;`` split off, hyphenated words and contractions kept whole, e.g.
    ``thin-framed``, ``i'd``) without the punctuation tokens ``?`` and ``;``. The set includes the noise fillers
    and is a slight over-approximation (every word of every slot pool a template uses).
    """
    check_split(split)
    return set(_vocabulary(split))
