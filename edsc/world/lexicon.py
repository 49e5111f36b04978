"""Word pools of the SynthFace instruction corpus, shared by the training and validation templates.

Per attribute (:data:`LEX`), direction-keyed pools (``{+1: [...], -1: [...]}``) and degree-keyed pools
(``{degree: [...]}``); attribute-independent pools (:data:`GEN`, :data:`GEN_DIR`); quantities (vague amounts,
counts, units, level forms); personas (who the photo shows); and the fillers of the style noise.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PERSONAS", "PERSONA_KEYS", "LEX", "DIR_POOLS", "DEG_POOLS", "ZERO_POOLS", "CHANGE_POOLS",
           "DEGREE_SLOTS", "GEN_DIR", "GEN", "AMOUNTS", "COUNT_WORDS", "LEVEL_WORDS", "UNITS", "LEVEL_FORMS",
           "NUMBER_WORDS", "PREFIXES", "SUFFIXES", "QUESTION_STARTS"]

# Personas: who the photo shows. Slots {obj} {poss} {subj} {subj_be} {subj_looks} {subj_has}.
PERSONAS: tuple[dict[str, str], ...] = (
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
PERSONA_KEYS = frozenset(PERSONAS[0])

# Per attribute. Direction-keyed pools: {+1: [...], -1: [...]}; degree-keyed pools: {degree: [...]}.
#   nouns   (text, plural)            cmp   comparative after "make the {noun}"
#   vb      verb taking the noun      pcmp  comparative for the person ("make him older")
#   pvb     whole verb phrase with {q} (a quantity) and persona slots
#   opp     the state that motivates the change ("the bangs are too SHORT" → +1); popp for the person
#   ml      mass noun after more/less  add   what "add ..." adds (indefinite +1 from none)
#   zn      noun after "no ..."        rm    verb that removes it (target 0)
#   has     noun phrase of degree d    pred  predicate of degree d after "make the {noun}"
#   look    after "make him look"      as    (age) person noun phrase    act (smiling) verb phrase
LEX: dict[str, dict[str, Any]] = {
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
DIR_POOLS = ("cmp", "vb", "pcmp", "pvb", "opp", "popp")
DEG_POOLS = {"has": "has", "pred": "pred", "look": "look", "as": "as_", "act": "act"}
ZERO_POOLS = ("zn", "rm")  # target 0 only ("no beard", "remove the glasses")
CHANGE_POOLS = ("ml", "add")  # change modes only ("more beard", "add glasses")
#: Slots that carry a target degree; a target template without one must fix its degree with ``degrees``.
DEGREE_SLOTS = frozenset(DEG_POOLS) | frozenset(ZERO_POOLS) | {"d", "level"}

# Attribute-independent, direction-keyed.
GEN_DIR: dict[str, dict[int, list[str]]] = {
    "more": {1: ["more"], -1: ["less"]},
    "updown": {1: ["up", "higher"], -1: ["down", "lower"]},
    "ud_vb": {1: ["increase", "raise", "boost", "bump up", "push up", "turn up"],
              -1: ["decrease", "lower", "reduce", "bring down", "turn down", "dial down"]},
    "pm": {1: ["plus"], -1: ["minus"]},
    "ud": {1: ["up"], -1: ["down"]},
}
# Attribute-independent, plain.
GEN: dict[str, list[str]] = {
    "req": ["", "", "", "", "please", "could you", "can you", "would you", "could you please", "can you please",
            "I'd like you to", "I want you to", "kindly", "go ahead and", "just", "try to", "pls"],
    "too_q": ["", "", "a bit", "a little", "way", "far", "kind of", "much", "slightly"],
}
# Indefinite amounts (all mean a change of 1). The empty amount is the most frequent.
AMOUNTS = ["", "", "", "", "", "a bit", "a little", "a little bit", "slightly", "somewhat", "a touch", "a tad",
            "much", "a lot", "way", "quite a bit", "even", "kind of", "sort of"]
# Counts of a definite change, and the numbers of a target level.
COUNT_WORDS: dict[int, list[str]] = {1: ["one", "1"], 2: ["two", "2"], 3: ["three", "3"], 4: ["four", "4"],
                                      5: ["five", "5"]}
LEVEL_WORDS: dict[int, list[str]] = {0: ["zero", "0"], **COUNT_WORDS}
UNITS = [("step", "steps"), ("level", "levels"), ("notch", "notches"), ("degree", "degrees"),
          ("stage", "stages"), ("point", "points")]
LEVEL_FORMS = ["level {d}", "level {d}", "degree {d}", "grade {d}", "step {d}", "{d} out of 5", "{d} out of five",
                "{d} on the scale"]
NUMBER_WORDS = frozenset(
    "zero one two three four five six seven eight nine ten single twenty thirty forty fifty sixty seventy eighty "
    "ninety twenties thirties forties fifties sixties seventies eighties".split())

# Style noise.
PREFIXES = ["uh", "um", "hmm", "ok", "okay so", "so", "hey", "well", "hi", "alright", "oh", "right", "maybe",
             "I think", "perhaps", "hmm maybe", "uh maybe", "ok so"]
SUFFIXES = ["please", "thanks", "thank you", "if you can", "if possible", "for me", "ok", "thx", "cheers"]
QUESTION_STARTS = frozenset({"could", "can", "would", "will", "how", "what", "is", "may", "should"})
