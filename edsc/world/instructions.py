"""SynthFace instruction corpus: labelled edit instructions for training and validating the instruction parser.

Every sentence is rendered from a hand-written *template* (a pattern with slots) and carries the edit it asks
for, in the label space of :class:`transmitter.instruction.Edit`:

========== ============ ============ ============
mode        direction    change       target
========== ============ ============ ============
target      None         None         0..5
definite    ±1           1..5         None
indefinite  ±1           None         None
========== ============ ============ ============

Labelling conventions
---------------------
* **Definite vs indefinite.** A change is *definite* only when it names an explicit count: a number word or
  digit with a unit ("two steps longer", "3 levels older", "a single notch up"), "by two", "plus 3". Every
  vague amount ("a bit", "slightly", "much", "a lot", "way", "even", nothing at all) is *indefinite*, i.e. a
  change of 1 (the parser's convention). "add glasses" / "give him a beard" (no degree named) are indefinite +1.
* **Target.** A target names an end state with the attribute's CelebA-Dialog degree vocabulary
  (:data:`DEGREE_NAMES`, e.g. "thick-framed sunglasses" → eyeglasses 5, "someone in their forties" → age 3),
  or an explicit level ("level 3", "degree four", "2 out of 5", "set the beard to 4"). Removal ("remove the
  glasses", "no beard", "shave off the stubble", "stop smiling") is target 0. Contrasts the parser must learn:
  "step 2" / "to 3" (target) vs "two steps" / "by 3" (definite); "make the bangs short" (target 2) vs "the
  bangs are too short" (indefinite +1); "show more of his forehead" (bangs −1) and "more serious" (smiling −1).
* **Direction.** +1 raises the degree on the CelebA-Dialog scale: longer/fuller bangs, heavier/darker glasses
  (towards sunglasses), longer/bushier beard, bigger smile, older.

Templates and the split
-----------------------
Templates are written per request mode, either generic (any attribute whose slot pools are non-empty) or
attribute-specific. The train/validation split is **by template**: within each group (mode × scope) every
fifth template (index ≡ 3 mod 5) is a validation template, so validation measures generalisation to unseen
sentence *structures*. The slot pools (attribute nouns and synonyms, comparatives, verbs, degree phrases,
numbers, fillers) are **shared by both splits** on purpose: the validation set should test paraphrase
generalisation, not out-of-vocabulary words; the templates are also written so that every word a validation
template can produce is in :func:`vocabulary_words` of the training split (a test checks it). A pattern used by
several modes (``{q}`` renders a count or a vague amount) counts as one structure: all its variants share a split.

Noise (deterministic from the seed): prefix/suffix fillers ("uh", "ok so", "maybe", "thanks", "if possible"),
casing (sentence case, lower case, upper case, random capitals), punctuation (final ``.``/``!``/``?``/none,
stray or missing commas, ``...``) and light typos. A typo is one swap of adjacent letters, one dropped letter
or one doubled letter (never the first letter), applied to each *eligible* word with probability ``typo_rate``.
Eligible words are alphabetic, at least 4 letters long and not number words (the count of a definite change
and the level of a target are never misspelt); a typo is rejected if it produces another corpus word, so the
label stays recoverable. Content, noise and typos use separate random streams: the same seed with
``typo_rate=0`` gives the same sentences without typos.

Modules: :mod:`edsc.world.lexicon` (word pools), :mod:`edsc.world.patterns` (the pattern language),
:mod:`edsc.world.templates` (the template catalogue, its split, slot pools and rendering), :mod:`edsc.world.noise`
(style noise and typos); this module holds the labels and the sampling. Sentences the parser must refuse are in
:mod:`edsc.world.out_of_scope` (training) and :mod:`edsc.world.scope_heldout` (measurement).

Example
-------
>>> from edsc.world.instructions import generate
>>> for ins in generate(3, "train", seed=0): print(ins.text, ins.label_dict())  # doctest: +SKIP
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from edsc.world.noise import apply_typos, casing, style
from edsc.world.templates import (MODES, RenderContext, Template, check_split, render, templates,
                                  vocabulary_words)
from shared.errors import InvalidArgumentError
from shared.world_spec import ATTRIBUTES, DEGREE_NAMES, MAX_DEGREE

__all__ = [
    "ATTRIBUTES",
    "MAX_DEGREE",
    "MODES",
    "DEGREE_NAMES",
    "LabelledInstruction",
    "Template",
    "templates",
    "generate",
    "generate_for_state",
    "vocabulary_words",
]


# ----------------------------------------------------------------------------------------------------------
# Labels
# ----------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LabelledInstruction:
    """One instruction sentence with its edit label.

    Attributes
    ----------
    text : str
        The sentence as a user would type it (noise and typos included).
    attribute : str
        One of :data:`ATTRIBUTES`.
    mode : {"target", "definite", "indefinite"}
    direction : int or None
        +1 / −1 for the change modes, None for target.
    change : int or None
        1..5 for definite, None otherwise (an indefinite change is a change of 1).
    target : int or None
        0..5 for target, None otherwise.
    template_id : str
        Id of the template the sentence was rendered from (e.g. ``"ind.gen.07"``).
    """

    text: str
    attribute: str
    mode: str
    direction: int | None
    change: int | None
    target: int | None
    template_id: str

    def __post_init__(self) -> None:
        if self.attribute not in ATTRIBUTES:
            raise InvalidArgumentError(f"unknown attribute {self.attribute!r}; expected one of {ATTRIBUTES}")
        if self.mode not in MODES:
            raise InvalidArgumentError(f"unknown mode {self.mode!r}; expected one of {MODES}")
        if self.mode == "target":
            if self.direction is not None or self.change is not None:
                raise InvalidArgumentError("a target instruction has no direction and no change")
            if not isinstance(self.target, int) or not 0 <= self.target <= MAX_DEGREE:
                raise InvalidArgumentError(f"target must be in 0..{MAX_DEGREE}, got {self.target!r}")
            return
        if self.target is not None:
            raise InvalidArgumentError(f"a {self.mode} instruction has no target")
        if self.direction not in (1, -1):
            raise InvalidArgumentError(f"direction must be +1 or -1, got {self.direction!r}")
        if self.mode == "definite":
            if not isinstance(self.change, int) or not 1 <= self.change <= MAX_DEGREE:
                raise InvalidArgumentError(f"a definite change must be in 1..{MAX_DEGREE}, got {self.change!r}")
        elif self.change is not None:
            raise InvalidArgumentError("an indefinite instruction has no change")

    def label_dict(self) -> dict[str, Any]:
        """``{"attribute", "mode", "direction", "change", "target"}`` (same keys as ``Edit.to_dict``)."""
        return {"attribute": self.attribute, "mode": self.mode, "direction": self.direction,
                "change": self.change, "target": self.target}


# ----------------------------------------------------------------------------------------------------------
# Sampling
# ----------------------------------------------------------------------------------------------------------

def _candidates(split: str, attribute: str, mode: str, direction: int | None, degree: int | None,
                current: int | None = None) -> list[Template]:
    out = []
    for t in templates(split):  # type: ignore[arg-type]
        if t.mode != mode or not t.applies(attribute, direction, degree):
            continue
        if current is not None and t.when == "absent" and current != 0:
            continue
        if current is not None and t.when == "present" and current == 0:
            continue
        out.append(t)
    return out


def _sample(split: str, attribute: str, mode: str, key: str, rng: random.Random, typo_rate: float,
            current: int | None = None) -> LabelledInstruction:
    """One instruction for (attribute, mode); ``current`` restricts to edits that change that degree."""
    direction = change = target = None
    if mode == "target":
        degrees = [d for d in range(MAX_DEGREE + 1) if d != current]
        target = rng.choice(degrees)
        cands = _candidates(split, attribute, mode, None, target, current)
    else:
        dirs = [1, -1] if current is None else [d for d in (1, -1) if 0 <= current + d <= MAX_DEGREE]
        direction = rng.choice(dirs)
        if mode == "definite":
            room = MAX_DEGREE if current is None else (MAX_DEGREE - current if direction > 0 else current)
            change = rng.randint(1, room)
        cands = _candidates(split, attribute, mode, direction, None, current)
    if not cands:
        raise RuntimeError(f"no {split} template for {attribute}/{mode} direction={direction} target={target}")
    t = rng.choice(cands)
    ctx = RenderContext(attribute, mode, direction, change, target, rng)
    clean = render(t, ctx)
    style_rng = random.Random(f"{key}/style")
    text = style(clean, style_rng)
    text = apply_typos(text, random.Random(f"{key}/typo"), typo_rate)
    text = casing(text, style_rng)
    return LabelledInstruction(text=text, attribute=attribute, mode=mode, direction=direction, change=change,
                               target=target, template_id=t.template_id)


def _check_typo_rate(typo_rate: float) -> float:
    try:
        rate = float(typo_rate)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"typo_rate must be a number in [0, 1], got {typo_rate!r}") from None
    if not 0.0 <= rate <= 1.0:
        raise InvalidArgumentError(f"typo_rate must be in [0, 1], got {typo_rate!r}")
    return rate


def generate(n: int, split: Literal["train", "val", "all"] = "train", seed: int = 0,
             typo_rate: float = 0.03) -> list[LabelledInstruction]:
    """``n`` labelled instructions rendered from the templates of ``split``.

    Balanced: each of the 15 (attribute, mode) cells gets ⌊n/15⌋ or ⌈n/15⌉ sentences (in shuffled order);
    within a cell the direction (±1), the definite change (1..5) and the target degree (0..5) are uniform, and
    the template is uniform among those that can express the drawn label. Deterministic for a given
    (n, split, seed, typo_rate); sentence ``i`` uses random streams derived from (seed, split, i).

    Parameters
    ----------
    n : int
        Number of instructions (>= 0).
    split : {"train", "val", "all"}
    seed : int
    typo_rate : float
        Probability that an eligible word gets one typo (see the module docstring), in [0, 1].
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise InvalidArgumentError(f"n must be a non-negative integer, got {n!r}")
    check_split(split)
    rate = _check_typo_rate(typo_rate)
    cells = [(a, m) for a in ATTRIBUTES for m in MODES]
    order = [cells[k % len(cells)] for k in range(n)]
    random.Random(f"editdsc-instructions/{seed}/{split}/cells").shuffle(order)
    out = []
    for i, (attribute, mode) in enumerate(order):
        key = f"editdsc-instructions/{seed}/{split}/{i}"
        out.append(_sample(split, attribute, mode, key, random.Random(f"{key}/content"), rate))
    return out


def _as_degrees(degrees: Any) -> list[int]:
    if hasattr(degrees, "tolist"):
        degrees = degrees.tolist()
    try:
        values = list(degrees)
    except TypeError:
        raise InvalidArgumentError(f"degrees must be a sequence of {len(ATTRIBUTES)} integers") from None
    if len(values) != len(ATTRIBUTES):
        raise InvalidArgumentError(f"degrees must have {len(ATTRIBUTES)} entries ({', '.join(ATTRIBUTES)}), "
                                   f"got {len(values)}")
    out = []
    for name, v in zip(ATTRIBUTES, values):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v) or not 0 <= v <= MAX_DEGREE:
            raise InvalidArgumentError(f"degree of {name} must be an integer in 0..{MAX_DEGREE}, got {v!r}")
        out.append(int(v))
    return out


def _seed_from(rng: Any) -> int:
    if rng is None:
        return random.SystemRandom().getrandbits(63)
    if isinstance(rng, random.Random):
        return rng.getrandbits(63)
    if isinstance(rng, int) and not isinstance(rng, bool):
        return rng
    if hasattr(rng, "integers"):  # numpy.random.Generator
        return int(rng.integers(0, 2 ** 63 - 1))
    if hasattr(rng, "manual_seed") and hasattr(rng, "initial_seed"):  # torch.Generator
        import torch

        return int(torch.randint(0, 2 ** 62, (1,), generator=rng).item())
    raise InvalidArgumentError(f"rng must be a random.Random, numpy Generator, torch Generator, int or None, "
                               f"got {type(rng).__name__}")


def generate_for_state(degrees: Sequence[int] | Any, rng: Any = None, *,
                       split: Literal["train", "val", "all"] = "all",
                       typo_rate: float = 0.0) -> LabelledInstruction:
    """An instruction that makes sense for a face whose current degrees are ``degrees``.

    The attribute and the mode are uniform; the instruction always asks for a real change that stays on the
    scale, so it is never a no-op and never clipped by eq. 10: a target differs from the current degree
    (uniform over the other five), a change goes in a direction with room (uniform over the feasible ones) and a
    definite change is uniform in 1..room. Templates that presuppose a state are filtered ("add glasses" only
    when the degree is 0; "remove the glasses" is a target 0, so only when glasses are there).

    Parameters
    ----------
    degrees : sequence of 5 ints or tensor/array of shape (5,)
        Current degrees in :data:`ATTRIBUTES` order, each in 0..5.
    rng : random.Random, numpy.random.Generator, torch.Generator, int or None
        Source of randomness (one draw is taken from it); an int is a seed; None: fresh entropy.
    split : {"train", "val", "all"}
        Which templates to use (default all).
    typo_rate : float
        Typo probability per eligible word (default 0: clean sentences for evaluation).
    """
    current = _as_degrees(degrees)
    check_split(split)
    rate = _check_typo_rate(typo_rate)
    seed = _seed_from(rng)
    key = f"editdsc-instructions/state/{seed}"
    content = random.Random(f"{key}/content")
    a = content.randrange(len(ATTRIBUTES))
    mode = content.choice(MODES)
    return _sample(split, ATTRIBUTES[a], mode, key, content, rate, current=current[a])
