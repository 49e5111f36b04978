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

Example
-------
>>> from edsc.world.instructions import generate
>>> for ins in generate(3, "train", seed=0): print(ins.text, ins.label_dict())  # doctest: +SKIP
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from shared.errors import InvalidArgumentError

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

ATTRIBUTES: tuple[str, ...] = ("bangs", "eyeglasses", "beard", "smiling", "age")
MAX_DEGREE = 5
MODES: tuple[str, ...] = ("target", "definite", "indefinite")
_SPLITS = ("train", "val", "all")

#: CelebA-Dialog names of the degrees 0..5 of each attribute (degree rises with beard and with age).
DEGREE_NAMES: dict[str, tuple[str, ...]] = {
    "bangs": ("none", "very short", "short", "half forehead", "long", "covering forehead"),
    "eyeglasses": ("none", "rimless", "thin frame", "thick frame", "thin-frame sunglasses",
                   "thick-frame sunglasses"),
    "beard": ("none", "stubble", "short", "medium", "bushy", "full"),
    "smiling": ("serious", "corners up", "some teeth", "beaming", "big smile", "laughing"),
    "age": ("child", "teen", "young adult", "40s", "60s", "80s"),
}


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
# Lexicon (shared by both splits)
# ----------------------------------------------------------------------------------------------------------

# Personas: who the photo shows. Slots {obj} {poss} {subj} {subj_be} {subj_looks} {subj_has}.
_PERSONAS: tuple[dict[str, str], ...] = (
    dict(obj="him", poss="his", subj="he", subj_be="he is", subj_looks="he looks", subj_has="he has"),
    dict(obj="her", poss="her", subj="she", subj_be="she is", subj_looks="she looks", subj_has="she has"),
    dict(obj="them", poss="their", subj="they", subj_be="they are", subj_looks="they look",
         subj_has="they have"),
    dict(obj="me", poss="my", subj="I", subj_be="I am", subj_looks="I look", subj_has="I have"),
    dict(obj="the person", poss="the person's", subj="the person", subj_be="the person is",
         subj_looks="the person looks", subj_has="the person has"),
    dict(obj="this guy", poss="this guy's", subj="this guy", subj_be="this guy is", subj_looks="this guy looks",
         subj_has="this guy has"),
    dict(obj="the woman", poss="the woman's", subj="the woman", subj_be="the woman is",
         subj_looks="the woman looks", subj_has="the woman has"),
    dict(obj="the man", poss="the man's", subj="the man", subj_be="the man is", subj_looks="the man looks",
         subj_has="the man has"),
)
_PERSONA_KEYS = frozenset(_PERSONAS[0])

# Per attribute. Direction-keyed pools: {+1: [...], -1: [...]}; degree-keyed pools: {degree: [...]}.
#   nouns   (text, plural)            cmp   comparative after "make the {noun}"
#   vb      verb taking the noun      pcmp  comparative for the person ("make him older")
#   pvb     whole verb phrase with {q} (a quantity) and persona slots
#   opp     the state that motivates the change ("the bangs are too SHORT" → +1); popp for the person
#   ml      mass noun after more/less  add   what "add ..." adds (indefinite +1 from none)
#   zn      noun after "no ..."        rm    verb that removes it (target 0)
#   has     noun phrase of degree d    pred  predicate of degree d after "make the {noun}"
#   look    after "make him look"      as    (age) person noun phrase    act (smiling) verb phrase
_LEX: dict[str, dict[str, Any]] = {
    "bangs": dict(
        nouns=[("bangs", True), ("fringe", False), ("hair over the forehead", False), ("forehead hair", False),
               ("front hair", False)],
        cmp={1: ["longer", "fuller", "thicker", "heavier"],
             -1: ["shorter", "thinner", "lighter", "sparser", "more cropped"]},
        vb={1: ["lengthen", "grow out", "extend", "thicken"], -1: ["shorten", "trim", "cut back", "thin out"]},
        pcmp={1: [], -1: []},
        pvb={1: ["let {poss} bangs grow {q}", "cover {q} more of {poss} forehead",
                 "let the fringe fall {q} lower"],
             -1: ["show {q} more of {poss} forehead", "trim {poss} fringe back {q}", "reveal {q} more forehead"]},
        opp={1: ["short", "thin", "sparse", "skimpy"], -1: ["long", "thick", "heavy", "full"]},
        popp={1: [], -1: []},
        ml=["bangs", "fringe"],
        add=["bangs", "a fringe", "some bangs"],
        zn=["bangs", "fringe"],
        rm=["remove", "get rid of", "cut off", "lose"],
        has={0: ["no bangs", "no fringe", "a bare forehead", "an open forehead"],
             1: ["very short bangs", "a very short fringe", "tiny bangs", "barely any bangs"],
             2: ["short bangs", "a short fringe"],
             3: ["bangs down to the middle of the forehead", "a half-forehead fringe",
                 "bangs covering half the forehead"],
             4: ["long bangs", "a long fringe"],
             5: ["bangs covering the whole forehead", "a fringe that covers the forehead",
                 "full forehead-covering bangs"]},
        pred={1: ["very short", "barely there"], 2: ["short"],
              3: ["half-forehead length", "halfway down the forehead"], 4: ["long"],
              5: ["long enough to cover the forehead", "forehead-covering"]},
        look={}, as_={}, act={},
    ),
    "eyeglasses": dict(
        nouns=[("glasses", True), ("eyeglasses", True), ("spectacles", True), ("specs", True), ("shades", True),
               ("frames", True), ("eyewear", False)],
        cmp={1: ["thicker", "heavier", "darker", "bolder", "chunkier", "more prominent"],
             -1: ["thinner", "lighter", "subtler", "more subtle", "less prominent", "more delicate"]},
        vb={1: ["thicken", "darken", "beef up", "bulk up"], -1: ["thin out", "lighten", "tone down", "slim down"]},
        pcmp={1: [], -1: []},
        pvb={1: ["make the lenses {q} darker", "go {q} bolder on the frames"],
             -1: ["make the lenses {q} lighter", "go {q} lighter on the frames"]},
        opp={1: ["thin", "light", "subtle", "flimsy", "faint"], -1: ["thick", "heavy", "dark", "chunky", "bold"]},
        popp={1: [], -1: []},
        ml=[],
        add=["glasses", "a pair of glasses", "some specs", "eyeglasses", "spectacles"],
        zn=["glasses", "eyeglasses", "specs", "spectacles", "eyewear"],
        rm=["remove", "take off", "get rid of", "lose", "drop"],
        has={0: ["no glasses", "no eyeglasses", "no specs", "no eyewear"],
             1: ["rimless glasses", "rimless eyeglasses", "frameless glasses"],
             2: ["thin-framed glasses", "glasses with thin frames", "thin frame glasses", "wire-rimmed glasses"],
             3: ["thick-framed glasses", "glasses with thick frames", "thick frame glasses", "chunky frames"],
             4: ["thin-framed sunglasses", "sunglasses with thin frames", "thin frame sunglasses"],
             5: ["thick-framed sunglasses", "sunglasses with thick frames", "thick frame sunglasses",
                 "big chunky sunglasses"]},
        pred={1: ["rimless", "frameless"], 2: ["thin-framed", "thin frame"], 3: ["thick-framed", "thick frame"],
              4: ["thin-framed sunglasses", "thin frame sunglasses"],
              5: ["thick-framed sunglasses", "thick frame sunglasses"]},
        look={}, as_={}, act={},
    ),
    "beard": dict(
        nouns=[("beard", False), ("facial hair", False), ("stubble", False), ("whiskers", True),
               ("chin hair", False)],
        cmp={1: ["longer", "thicker", "bushier", "fuller", "heavier", "denser"],
             -1: ["shorter", "thinner", "sparser", "lighter", "neater", "more trimmed"]},
        vb={1: ["grow", "grow out", "thicken", "lengthen", "fill out"],
            -1: ["trim", "shorten", "thin out", "cut back"]},
        pcmp={1: ["hairier", "more bearded", "scruffier", "more rugged"],
              -1: ["more clean-shaven", "less bearded", "less hairy", "smoother-faced"]},
        pvb={1: ["let {poss} beard grow {q}", "let {obj} grow {poss} beard out {q}"],
             -1: ["shave {poss} beard down {q}", "trim {poss} beard {q}"]},
        opp={1: ["short", "thin", "sparse", "patchy"], -1: ["long", "thick", "bushy", "heavy", "wild"]},
        popp={1: ["clean-cut", "baby-faced", "smooth"], -1: ["scruffy", "hairy", "unkempt", "shaggy"]},
        ml=["beard", "facial hair"],
        add=["a beard", "some facial hair"],
        zn=["beard", "facial hair", "stubble"],
        rm=["remove", "shave off", "get rid of", "lose"],
        has={0: ["no beard", "no facial hair", "a clean-shaven face", "a smooth chin"],
             1: ["stubble", "light stubble", "a stubbly chin", "a bit of stubble"],
             2: ["a short beard", "a short trimmed beard"],
             3: ["a medium beard", "a medium-length beard"],
             4: ["a bushy beard", "a thick bushy beard"],
             5: ["a full beard", "a very long beard", "a long full beard"]},
        pred={1: ["stubble length", "just stubble"], 2: ["short"], 3: ["medium length", "medium-length", "medium"],
              4: ["bushy"], 5: ["full", "very long"]},
        look={0: ["clean-shaven", "freshly shaven", "beardless"], 1: ["stubbly", "unshaven"],
              5: ["fully bearded"]},
        as_={}, act={},
    ),
    "smiling": dict(
        nouns=[("smile", False), ("grin", False)],
        cmp={1: ["bigger", "wider", "broader", "stronger", "more obvious", "larger"],
             -1: ["smaller", "subtler", "weaker", "fainter", "narrower", "more subtle"]},
        vb={1: ["widen", "broaden", "strengthen", "enlarge", "amplify"],
            -1: ["tone down", "soften", "shrink", "weaken", "dial back"]},
        pcmp={1: ["happier", "more cheerful", "more smiley", "jollier", "more joyful"],
              -1: ["more serious", "less happy", "less cheerful", "more neutral", "more stern"]},
        pvb={1: ["make {obj} smile {q} more", "have {obj} smile {q} more", "cheer {obj} up {q}"],
             -1: ["make {obj} smile {q} less", "have {obj} smile {q} less", "calm {poss} smile down {q}"]},
        opp={1: ["small", "faint", "weak", "subtle", "tight"], -1: ["big", "wide", "broad", "exaggerated"]},
        popp={1: ["serious", "grumpy", "sad", "gloomy", "stern"], -1: ["smiley", "cheerful", "giddy", "goofy"]},
        ml=["smile", "smiling"],
        add=["a smile"],
        zn=["smile", "smiling"],
        rm=["remove", "get rid of", "lose", "wipe off"],
        has={0: ["no smile", "a serious expression", "a neutral expression", "a straight face"],
             1: ["a slight smile with the corners up", "the corners of the mouth turned up", "a faint smile",
                 "a barely-there smile"],
             2: ["a smile showing some teeth", "a smile with some teeth", "a toothy little smile"],
             3: ["a beaming smile", "a beaming face"],
             4: ["a big smile", "a huge smile", "a big grin"],
             5: ["a laugh", "a laughing face", "a full-on laugh"]},
        pred={2: ["toothy"], 3: ["beaming"], 4: ["big", "huge"], 5: ["a full laugh"]},
        look={0: ["serious", "neutral", "stern", "unsmiling"], 1: ["like {subj_be} barely smiling"],
              3: ["beaming"], 5: ["like {subj_be} laughing"]},
        as_={},
        act={0: ["stop smiling", "keep a straight face", "look serious"],
             1: ["smile very slightly", "turn up the corners of {poss} mouth"],
             2: ["smile showing some teeth", "smile with a few teeth showing"],
             3: ["beam"],
             4: ["smile big", "grin broadly", "give a big smile"],
             5: ["laugh", "burst out laughing"]},
    ),
    "age": dict(
        nouns=[("age", False), ("apparent age", False), ("perceived age", False), ("age level", False)],
        cmp={1: ["higher", "greater"], -1: ["lower"]},
        vb={1: ["increase", "raise", "advance", "bump up"], -1: ["decrease", "lower", "reduce", "roll back"]},
        pcmp={1: ["older", "more aged", "more mature"], -1: ["younger", "more youthful", "less old", "less aged"]},
        pvb={1: ["age {obj} {q}", "make {obj} age {q}"],
             -1: ["de-age {obj} {q}", "rejuvenate {obj} {q}", "turn back the clock {q} on {obj}"]},
        opp={1: ["low"], -1: ["high"]},
        popp={1: ["young", "youthful", "childish"], -1: ["old", "aged", "elderly"]},
        ml=[], add=[], zn=[], rm=[],
        has={}, pred={},
        look={0: ["like a child", "like a kid", "childlike"], 1: ["like a teenager", "like a teen", "teenage"],
              2: ["like a young adult", "about thirty"],
              3: ["middle-aged", "like someone in their forties", "about forty"],
              4: ["like someone in their sixties", "about sixty", "like a senior"],
              5: ["like someone in their eighties", "about eighty", "very old"]},
        as_={0: ["a child", "a kid", "a little kid", "a young child"],
             1: ["a teenager", "a teen", "someone in their late teens"],
             2: ["a young adult", "someone in their thirties", "someone in their 30s"],
             3: ["someone in their forties", "someone in their 40s", "a middle-aged person"],
             4: ["someone in their sixties", "someone in their 60s", "a senior"],
             5: ["someone in their eighties", "someone in their 80s", "a very old person"]},
        act={},
    ),
}
_DIR_POOLS = ("cmp", "vb", "pcmp", "pvb", "opp", "popp")
_DEG_POOLS = {"has": "has", "pred": "pred", "look": "look", "as": "as_", "act": "act"}
_ZERO_POOLS = ("zn", "rm")  # target 0 only ("no beard", "remove the glasses")
_CHANGE_POOLS = ("ml", "add")  # change modes only ("more beard", "add glasses")
#: Slots that carry a target degree; a target template without one must fix its degree with ``degrees``.
_DEGREE_SLOTS = frozenset(_DEG_POOLS) | frozenset(_ZERO_POOLS) | {"d", "level"}

# Attribute-independent, direction-keyed.
_GEN_DIR: dict[str, dict[int, list[str]]] = {
    "more": {1: ["more"], -1: ["less"]},
    "updown": {1: ["up", "higher"], -1: ["down", "lower"]},
    "ud_vb": {1: ["increase", "raise", "boost", "bump up", "push up", "turn up"],
              -1: ["decrease", "lower", "reduce", "bring down", "turn down", "dial down"]},
    "pm": {1: ["plus"], -1: ["minus"]},
    "ud": {1: ["up"], -1: ["down"]},
}
# Attribute-independent, plain.
_GEN: dict[str, list[str]] = {
    "req": ["", "", "", "", "please", "could you", "can you", "would you", "could you please", "can you please",
            "I'd like you to", "I want you to", "kindly", "go ahead and", "just", "try to", "pls"],
    "too_q": ["", "", "a bit", "a little", "way", "far", "kind of", "much", "slightly"],
}
# Indefinite amounts (all mean a change of 1). The empty amount is the most frequent.
_AMOUNTS = ["", "", "", "", "", "a bit", "a little", "a little bit", "slightly", "somewhat", "a touch", "a tad",
            "much", "a lot", "way", "quite a bit", "even", "kind of", "sort of"]
# Counts of a definite change, and the numbers of a target level.
_COUNT_WORDS: dict[int, list[str]] = {1: ["one", "1"], 2: ["two", "2"], 3: ["three", "3"], 4: ["four", "4"],
                                      5: ["five", "5"]}
_LEVEL_WORDS: dict[int, list[str]] = {0: ["zero", "0"], **_COUNT_WORDS}
_UNITS = [("step", "steps"), ("level", "levels"), ("notch", "notches"), ("degree", "degrees"),
          ("stage", "stages"), ("point", "points")]
_LEVEL_FORMS = ["level {d}", "level {d}", "degree {d}", "grade {d}", "step {d}", "{d} out of 5", "{d} out of five",
                "{d} on the scale"]
_NUMBER_WORDS = frozenset(
    "zero one two three four five six seven eight nine ten single twenty thirty forty fifty sixty seventy eighty "
    "ninety twenties thirties forties fifties sixties seventies eighties".split())

# Style noise.
_PREFIXES = ["uh", "um", "hmm", "ok", "okay so", "so", "hey", "well", "hi", "alright", "oh", "right", "maybe",
             "I think", "perhaps", "hmm maybe", "uh maybe", "ok so"]
_SUFFIXES = ["please", "thanks", "thank you", "if you can", "if possible", "for me", "ok", "thx", "cheers"]
_QUESTION_STARTS = frozenset({"could", "can", "would", "will", "how", "what", "is", "may", "should"})


# ----------------------------------------------------------------------------------------------------------
# Templates
# ----------------------------------------------------------------------------------------------------------

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
            _, slots = _pattern_parts(pattern)
            if mode == "target" and not _DEGREE_SLOTS.intersection(slots) and (
                    spec["degrees"] is None or len(spec["degrees"]) != 1):
                raise RuntimeError(f"target template {pattern!r} names no degree")
            # A pattern shared by several modes ({q}: a count or a vague amount) is one sentence structure:
            # all its variants go to the split of its first occurrence.
            split = split_of_pattern.setdefault(pattern, "val" if j % 5 == 3 else "train")
            out.append(Template(template_id=tid, mode=mode, split=split, **spec))
    return tuple(out)


def templates(split: Literal["train", "val", "all"] = "all") -> list[Template]:
    """The templates of a split (``"all"``: both), in a fixed order."""
    _check_split(split)
    return [t for t in _all_templates() if split == "all" or t.split == split]


def _check_split(split: str) -> None:
    if split not in _SPLITS:
        raise InvalidArgumentError(f"split must be one of {', '.join(_SPLITS)}, got {split!r}")


# ----------------------------------------------------------------------------------------------------------
# Pattern language
# ----------------------------------------------------------------------------------------------------------

# Nodes: ("lit", text) | ("slot", name) | ("opt", seq) | ("alt", [seq, ...]); seq = tuple of nodes.

@lru_cache(maxsize=None)
def _parse(pattern: str) -> tuple:
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
def _pattern_parts(pattern: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    lits: list[str] = []
    slots: list[str] = []
    _walk(_parse(pattern), lits, slots)
    return tuple(lits), tuple(dict.fromkeys(slots))


# ----------------------------------------------------------------------------------------------------------
# Slot pools
# ----------------------------------------------------------------------------------------------------------

_ALWAYS = _PERSONA_KEYS | {"noun", "be", "it", "req", "too_q"}
_CHANGE_ONLY = {"q", "by", "num"}


def _pool(name: str, attribute: str, mode: str, direction: int | None, degree: int | None) -> list[str]:
    """Values a slot can take (may contain nested slots); [] if the slot has no words here.

    ``q``/``by``/``num``/``d``/``level`` return a representative list (their values are built at render time).
    """
    lex = _LEX[attribute]
    if name in _PERSONA_KEYS:
        return [p[name] for p in _PERSONAS]
    if name == "noun":
        return [n for n, _ in lex["nouns"]]
    if name == "be":
        return ["is", "are"]
    if name == "it":
        return ["it", "them"]
    if name in _GEN:
        return _GEN[name]
    if name in _CHANGE_ONLY:
        if mode == "target":
            return []
        if mode == "indefinite":
            return [] if name == "num" else [a for a in _AMOUNTS if a]
        words = [w for ws in _COUNT_WORDS.values() for w in ws] + ["a single"]
        units = [u for pair in _UNITS for u in pair]
        return words + units + ["by"]
    if name in ("d", "level"):
        if mode != "target":
            return []
        nums = [w for ws in _LEVEL_WORDS.values() for w in ws]
        return nums if name == "d" else [f.replace("{d}", "") for f in _LEVEL_FORMS] + nums
    if name == "goal":  # the state the change aims at: "not LONG enough" → +1
        if mode == "target":
            return []
        dirs = (1, -1) if direction is None else (direction,)
        return [v for d in dirs for v in lex["opp"].get(-d, [])]
    if name in _DIR_POOLS or name in _GEN_DIR:
        if mode == "target":
            return []
        src = lex[name] if name in _DIR_POOLS else _GEN_DIR[name]
        dirs = (1, -1) if direction is None else (direction,)
        return [v for d in dirs for v in src.get(d, [])]
    if name in _DEG_POOLS:
        if mode != "target":
            return []
        src = lex[_DEG_POOLS[name]]
        degs = range(MAX_DEGREE + 1) if degree is None else (degree,)
        return [v for d in degs for v in src.get(d, [])]
    if name in _ZERO_POOLS:
        return list(lex[name]) if mode == "target" and degree in (None, 0) else []
    if name in _CHANGE_POOLS:
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
    _, slots = _pattern_parts(t.pattern)
    if t.mode == "target" and degree is None:
        degs = t.degrees if t.degrees is not None else range(MAX_DEGREE + 1)
        return any(all(_pool(s, attribute, t.mode, None, d) for s in slots) for d in degs)
    if t.mode != "target" and direction is None:
        return any(all(_pool(s, attribute, t.mode, d, None) for s in slots) for d in (1, -1))
    return all(_pool(s, attribute, t.mode, direction, degree) for s in slots)


# ----------------------------------------------------------------------------------------------------------
# Rendering
# ----------------------------------------------------------------------------------------------------------

class _Ctx:
    def __init__(self, attribute: str, mode: str, direction: int | None, change: int | None,
                 target: int | None, rng: random.Random):
        self.attribute = attribute
        self.mode = mode
        self.direction = direction
        self.change = change
        self.target = target
        self.rng = rng
        self.persona = rng.choice(_PERSONAS)
        self.noun = rng.choice(_LEX[attribute]["nouns"])
        self.count_rendered = False
        self.level_rendered = False


def _count_word(n: int, rng: random.Random, with_unit: bool) -> str:
    words = _COUNT_WORDS[n] + (["a single"] if n == 1 and with_unit else [])
    return rng.choice(words)


def _slot_value(name: str, ctx: _Ctx) -> str:
    rng = ctx.rng
    if name in _PERSONA_KEYS:
        return ctx.persona[name]
    if name == "noun":
        return ctx.noun[0]
    if name == "be":
        return "are" if ctx.noun[1] else "is"
    if name == "it":
        return "them" if ctx.noun[1] else "it"
    if name in ("q", "by"):
        if ctx.mode == "indefinite":
            return rng.choice(_AMOUNTS)
        assert ctx.mode == "definite" and ctx.change is not None
        ctx.count_rendered = True
        sing, plur = rng.choice(_UNITS)
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
        d = rng.choice(_LEVEL_WORDS[ctx.target])
        return d if name == "d" else rng.choice(_LEVEL_FORMS).replace("{d}", d)
    pool = _pool(name, ctx.attribute, ctx.mode, ctx.direction, ctx.target)
    if not pool:
        raise RuntimeError(f"slot {{{name}}} has no words for {ctx.attribute}/{ctx.mode}")
    return rng.choice(pool)


def _render_seq(seq: tuple, ctx: _Ctx) -> str:
    out: list[str] = []
    for node in seq:
        kind = node[0]
        if kind == "lit":
            out.append(node[1])
        elif kind == "slot":
            value = _slot_value(node[1], ctx)
            out.append(_render_seq(_parse(value), ctx) if "{" in value else value)
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


def _render(t: Template, ctx: _Ctx) -> str:
    text = _tidy(_render_seq(_parse(t.pattern), ctx))
    if t.mode == "definite" and not ctx.count_rendered:
        raise RuntimeError(f"template {t.template_id} rendered a definite change without its count")
    return text


# ----------------------------------------------------------------------------------------------------------
# Noise
# ----------------------------------------------------------------------------------------------------------

def _style(text: str, rng: random.Random) -> str:
    """Fillers, final punctuation and punctuation noise (no casing, no typos)."""
    if rng.random() < 0.22:
        text = rng.choice(_PREFIXES) + ("," if rng.random() < 0.5 else "") + " " + text
    if rng.random() < 0.15 and not text.endswith("?"):
        suffix = rng.choice(_SUFFIXES)
        if not (suffix == "please" and "please" in text.lower()):
            text = text + ("," if rng.random() < 0.6 else "") + " " + suffix
    words = text.split(" ")
    r = rng.random()
    if r < 0.10:
        text = text.replace(",", "")
    elif r < 0.18 and len(words) > 3:
        k = rng.randrange(1, len(words) - 1)
        words[k] = words[k].rstrip(",") + ","
        text = " ".join(words)
    elif r < 0.22 and len(words) > 3:
        k = rng.randrange(1, len(words) - 1)
        words[k] = words[k].rstrip(",") + "..."
        text = " ".join(words)
    if text[-1] in "?.!":
        return text
    first = re.sub(r"[^a-z']", "", text.split(" ")[0].lower())
    question = first in _QUESTION_STARTS or any(
        re.sub(r"[^a-z']", "", w.lower()) in ("could", "can", "would") for w in text.split(" ")[:3])
    if question and rng.random() < 0.75:
        end = rng.choice(["?", "?", "?", "??", " ?"])
    else:
        end = rng.choices(["", ".", "!", "!!", "...", " ."], weights=[35, 40, 14, 4, 5, 2])[0]
    return text + end


def _typo_eligible(word: str) -> bool:
    """Whether a (punctuation-free) word may receive a typo."""
    return word.isalpha() and len(word) >= 4 and word.lower() not in _NUMBER_WORDS


@lru_cache(maxsize=1)
def _forbidden_typo_results() -> frozenset[str]:
    return frozenset(vocabulary_words("all")) | _NUMBER_WORDS


def _typo(word: str, rng: random.Random) -> str:
    forbidden = _forbidden_typo_results()
    for _ in range(8):
        chars = list(word)
        op = rng.random()
        if op < 0.45:
            k = rng.randrange(1, len(chars) - 1)
            chars[k], chars[k + 1] = chars[k + 1], chars[k]
        elif op < 0.8:
            del chars[rng.randrange(1, len(chars))]
        else:
            k = rng.randrange(1, len(chars))
            chars.insert(k, chars[k])
        new = "".join(chars)
        if new != word and new.lower() not in forbidden:
            return new
    return word


_TOKEN_RE = re.compile(r"^([^A-Za-z0-9']*)(.*?)([^A-Za-z0-9']*)$")


def _apply_typos(text: str, rng: random.Random, rate: float) -> str:
    if rate <= 0:
        return text
    out = []
    for tok in text.split(" "):
        lead, core, trail = _TOKEN_RE.match(tok).groups()
        if _typo_eligible(core) and rng.random() < rate:
            core = _typo(core, rng)
        out.append(lead + core + trail)
    return " ".join(out)


def _casing(text: str, rng: random.Random) -> str:
    r = rng.random()
    if r < 0.55:  # sentence case
        return text[:1].upper() + text[1:]
    if r < 0.87:  # all lower case
        return text.lower()
    if r < 0.92:  # shouting
        return text.upper()
    return " ".join(w[:1].upper() + w[1:] if rng.random() < 0.3 else w for w in text.split(" "))


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
    ctx = _Ctx(attribute, mode, direction, change, target, rng)
    clean = _render(t, ctx)
    style_rng = random.Random(f"{key}/style")
    text = _style(clean, style_rng)
    text = _apply_typos(text, random.Random(f"{key}/typo"), typo_rate)
    text = _casing(text, style_rng)
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
    _check_split(split)
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
    _check_split(split)
    rate = _check_typo_rate(typo_rate)
    seed = _seed_from(rng)
    key = f"editdsc-instructions/state/{seed}"
    content = random.Random(f"{key}/content")
    a = content.randrange(len(ATTRIBUTES))
    mode = content.choice(MODES)
    return _sample(split, ATTRIBUTES[a], mode, key, content, rate, current=current[a])


# ----------------------------------------------------------------------------------------------------------
# Vocabulary
# ----------------------------------------------------------------------------------------------------------

def _words(text: str) -> list[str]:
    from shared.models.language import tokenize

    return [w for w in tokenize(text) if any(c.isalnum() for c in w)]


def _slot_texts(name: str, t: Template) -> set[str]:
    if name in ("q", "by", "num", "d", "level"):
        if name in ("d", "level"):
            vals = [w for ws in _LEVEL_WORDS.values() for w in ws]
            return set(vals) | ({f.replace("{d}", "") for f in _LEVEL_FORMS} if name == "level" else set())
        if t.mode == "indefinite":
            return set(_AMOUNTS) if name != "num" else set()
        return {w for ws in _COUNT_WORDS.values() for w in ws} | {"a single", "by"} | {
            u for pair in _UNITS for u in pair}
    out: set[str] = set()
    for attribute in t.attributes:
        if not t.applies(attribute):
            continue
        out.update(_pool(name, attribute, t.mode, t.direction, None))
    return out


@lru_cache(maxsize=None)
def _vocabulary(split: str) -> frozenset[str]:
    texts: set[str] = set(_PREFIXES) | set(_SUFFIXES)
    for t in templates(split):  # type: ignore[arg-type]
        lits, slots = _pattern_parts(t.pattern)
        texts.update(lits)
        pending = list(slots)
        seen: set[str] = set()
        while pending:
            name = pending.pop()
            if name in seen:
                continue
            seen.add(name)
            for value in _slot_texts(name, t):
                vlits, vslots = _pattern_parts(value)
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
    _check_split(split)
    return set(_vocabulary(split))
