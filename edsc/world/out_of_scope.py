"""Out-of-scope sentences: requests the bundle cannot carry out, the negative class of the instruction parser.

A bundle edits five attributes (:data:`shared.world_spec.ATTRIBUTES`) by degree. Everything else is out of scope
and must be refused rather than read as the nearest edit: other face parts ("make the nose bigger"), other
properties of the edited parts ("dye the beard grey"), accessories, the body, whole-image edits ("make it
brighter"), requests that name no attribute ("a bit more"), requests outside image editing, fillers on their own,
gibberish, punctuation and other languages.

Sentences are rendered from patterns in the language of :mod:`edsc.world.patterns` with this module's word pools
and the corpus' persona and request pools, then get the corpus' style noise, typos and casing
(:mod:`edsc.world.noise`). Gibberish and punctuation are drawn character by character. The held-out sentences
the parser's refusal rate is measured on (:mod:`edsc.world.scope_heldout`) are written apart from these, with
other wording.

>>> from edsc.world.out_of_scope import generate_out_of_scope
>>> [x.category for x in generate_out_of_scope(3, seed=0)]  # doctest: +SKIP
"""

from __future__ import annotations

import random
import re
import string
from dataclasses import dataclass

from edsc.world.lexicon import GEN, PERSONAS, PREFIXES, SUFFIXES
from edsc.world.noise import apply_typos, casing, style
from edsc.world.patterns import parse_pattern
from shared.errors import InvalidArgumentError

__all__ = ["CATEGORIES", "OutOfScopeInstruction", "generate_out_of_scope"]


@dataclass(frozen=True)
class OutOfScopeInstruction:
    """One sentence the parser must refuse.

    Attributes
    ----------
    text : str
    category : str
        One of :data:`CATEGORIES`.
    template_id : str
        ``"<category>.<index>"`` of the pattern, or the category for drawn strings.
    """

    text: str
    category: str
    template_id: str


# Word pools (slots of the patterns below, besides the corpus' persona slots and {req}).
_POOLS: dict[str, list[str]] = {
    "part": ["nose", "ears", "eyebrows", "brows", "eyes", "lips", "cheeks", "jaw", "jawline", "neck", "skin",
             "eyelashes", "lashes", "ear", "eyebrow", "shoulders", "head", "complexion", "freckles", "pupils",
             "chin", "chin line", "temples", "cheekbones", "dimples", "nostrils", "teeth",
             "eyelids", "earlobes", "jowls", "double chin", "irises", "nose bridge", "philtrum", "scalp", "pores", "moles", "birthmark", "eye bags", "gums", "tongue"],
    "blemish": ["pimple", "pimples", "acne", "spots", "blemishes", "dark circles", "under-eye circles", "scar", "scars",
                "mole", "birthmark", "freckle", "redness", "veins", "stains", "blackheads", "wart", "bruise",
                "sunburn", "rash", "eye bags", "puffiness", "shine", "oily skin"],
    "feature": ["a cleft chin", "a dimple", "a gap tooth", "a gold tooth", "a widow's peak", "a beauty mark",
                "a unibrow", "a hooked nose", "a square jaw", "high cheekbones", "a strong chin",
                "a roman nose", "freckles", "full lips", "almond eyes", "big ears", "a gap in the teeth",
                "braces", "buck teeth", "a crooked nose", "thick eyebrows", "a tan", "a broken nose"],
    "part_verb": ["sharpen", "soften", "fill in", "fill out", "reshape", "sculpt", "lift", "tighten", "contour",
                  "define", "smooth out", "plump up", "slim", "narrow", "widen", "round off", "chisel", "hollow out",
                  "tuck", "pinch", "shrink", "enlarge", "lengthen", "shorten", "raise", "lower", "tone"],
    "shape": ["bigger", "smaller", "larger", "wider", "narrower", "longer", "shorter", "thinner", "thicker",
              "rounder", "straighter", "pointier", "fuller", "sharper", "smoother", "flatter", "more defined",
              "less visible", "more symmetrical", "darker", "lighter", "redder", "paler"],
    "color": ["red", "blue", "green", "brown", "blonde", "blond", "black", "pink", "purple", "grey", "gray",
              "silver", "golden", "orange", "white", "ginger", "auburn", "platinum"],
    "hair_style": ["curly", "wavy", "straight", "spiky", "messy", "neater", "shinier", "frizzy", "braided",
                   "slicked back", "in a ponytail", "in a bun"],
    "scoped": ["beard", "bangs", "fringe", "glasses", "eyeglasses", "smile", "facial hair", "specs", "stubble",
               "whiskers", "spectacles", "grin", "shades", "eyewear", "forehead hair"],
    "frame_part": ["frames", "rims", "lenses", "arms of the glasses", "nose pads", "frame", "lens", "temples of the specs",
                   "glass frames", "bridge of the glasses"],
    "material": ["metal", "plastic", "wooden", "gold", "golden", "silver", "tortoiseshell", "titanium", "chrome",
                 "rimless", "round", "square", "cat-eye", "aviator", "retro", "vintage", "tinted", "mirrored",
                 "polarized", "designer", "cheap looking", "thick-rimmed"],
    "shape_noun": ["a point", "a square", "a circle", "a heart", "a spike", "a triangle", "a curl", "two points",
                   "braids", "a knot", "a zigzag", "a star"],
    "side": ["down the middle", "to one side", "on the left", "on the right", "in the centre", "to the side",
             "in a zigzag"],
    "hair_treat": ["bleach", "dye", "highlight", "perm", "braid", "curl", "straighten", "streak", "tint", "gel",
                   "frost", "wax", "plait", "style", "colour", "color", "dreadlock", "shave a pattern into"],
    "smile_quality": ["genuine", "fake", "forced", "sincere", "crooked", "lopsided", "evil", "sinister", "smug",
                      "sarcastic", "awkward", "nervous", "toothless", "closed-lipped", "sly", "flirty", "creepy",
                      "mischievous", "polite", "practised"],
    "accessory": ["a hat", "a cap", "earrings", "a necklace", "a scarf", "a tie", "a mask", "makeup", "lipstick",
                  "a tattoo", "a piercing", "headphones", "a helmet", "a crown", "a hood", "a bandana",
                  "a moustache", "eyeshadow", "a hoodie", "a flower in the hair", "a veil", "a beanie", "a turban",
                  "a wig", "a bow tie", "a headband", "a nose ring", "a monocle", "a bandage", "an eyepatch",
                  "face paint", "a sombrero", "a tiara", "a collar", "a lanyard", "a visor", "a party hat",
                  "a balaclava", "a face mask", "a hijab", "a beret", "a gas mask", "a snorkel", "a medal"],
    "acc_noun": ["hat", "cap", "earrings", "necklace", "scarf", "tie", "mask", "makeup", "lipstick", "tattoo",
                 "piercing", "headphones", "helmet", "hood", "veil", "wig", "beanie", "turban", "headband",
                 "bow tie", "eyeliner", "mascara", "blush", "jewellery", "jewelry", "hairclip", "collar"],
    "body": ["taller", "shorter", "fatter", "slimmer", "more muscular", "skinnier", "stronger looking",
             "more tanned", "paler", "prettier", "uglier", "more handsome", "more attractive", "sleepier",
             "angrier", "more surprised", "sadder looking", "more tired"],
    "body_part": ["shoulders", "arms", "chest", "waist", "belly", "neck", "hands", "muscles", "torso", "hips",
                  "legs", "biceps", "posture", "figure", "frame", "body"],
    "body_adj": ["broader", "narrower", "wider", "slimmer", "bigger", "smaller", "stronger", "thinner", "bulkier",
                 "more toned", "more defined", "straighter", "leaner", "chubbier"],
    "body_verb": ["slim {obj} down", "bulk {obj} up", "fatten {obj} up", "tone {obj} up", "shrink {obj}",
                  "stretch {obj}", "open {poss} mouth", "close {poss} mouth",
                  "tilt {poss} head", "raise {poss} arm", "make {obj} yawn",
                  "make {obj} stick out {poss} tongue", "make {obj} shout",
                  "make {obj} look up", "turn {obj} around", "make {obj} face the camera", "make {obj} pout"],
    "being": ["a cat", "a dog", "a robot", "a zombie", "a cartoon", "an elf", "a vampire", "an alien", "a woman",
              "a man", "a clown", "a pirate", "a painting", "a sketch", "an anime character", "a celebrity"],
    "img_adj": ["brighter", "darker", "sharper", "blurrier", "warmer", "cooler", "more colorful",
                "black and white", "grayscale", "sepia", "less saturated", "more vivid", "higher resolution",
                "smaller", "bigger", "square", "less noisy"],
    "img_noun": ["brightness", "contrast", "saturation", "exposure", "sharpness", "resolution", "white balance",
                 "the background", "the lighting", "the colors", "the shadows", "the noise", "the hue",
                 "the temperature", "the vignette", "the highlights"],
    "img_thing": ["grain", "film grain", "noise", "text", "a caption", "my logo", "a logo", "a watermark",
                  "a frame", "a sticker", "some sparkles", "stars", "a date stamp", "a signature", "lens flare",
                  "a shadow", "a vignette", "a border", "an emoji", "a speech bubble", "rain", "snow", "a rainbow",
                  "motion blur", "bokeh", "scan lines", "a glitch effect", "a halo", "confetti"],
    "img_place": ["in the corner", "at the top", "at the bottom", "on the left", "on the right", "in the middle",
                  "over the face", "across the image", "behind {obj}", "everywhere"],
    "img_verb": ["crop", "rotate", "flip", "mirror", "blur", "sharpen", "resize", "compress", "denoise",
                 "upscale", "straighten", "recolor", "watermark", "print", "save", "share", "export", "delete"],
    "image": ["the photo", "the picture", "the image", "it", "this photo", "this", "the shot", "the selfie"],
    "vague": ["a bit", "a little", "slightly", "much", "way", "a lot", "even", "two steps", "by 3", "one notch"],
    "cmp_any": ["bigger", "smaller", "longer", "shorter", "more", "less", "higher", "lower", "stronger",
                "weaker", "thicker", "thinner"],
    "offtopic": [
        "what's the weather today", "tell me a joke", "play some music", "set a timer for ten minutes",
        "send this to my mom", "order a pizza", "how far is the moon", "what time is it", "book a table for two",
        "remind me to call john", "translate this into german", "what is two plus two", "write me a poem",
        "turn off the lights", "call a taxi", "who won the game last night", "find me a recipe for pancakes",
        "open my email", "how do i reset my password", "what is the capital of france", "buy more milk",
        "schedule a meeting for monday", "is it going to rain", "sing me a song", "what's your name",
        "how old are you", "what can you do", "who made you", "explain quantum physics", "do my homework",
        "check my bank balance", "show me the news", "navigate to the airport", "how tall is mount everest",
        "turn the volume up", "make me a sandwich", "recommend a movie", "what day is it",
        "how many people live in tokyo", "upload this to instagram", "count to ten", "what does this app do",
        "i like your interface", "this is a nice photo", "who is this person", "how much does this cost",
        "print this document", "start a new game", "lock the door", "what's for dinner",
        "my laptop won't turn on", "why is my internet so slow", "how do i install python", "my phone battery dies fast",
        "can you fix my printer", "the wifi keeps disconnecting", "what's a good laptop for students",
        "how do i update my router", "my screen is flickering, any idea why", "can you recommend a vpn",
        "i forgot my password again", "the app keeps crashing", "how much ram do i need", "my mouse stopped working",
        "is this website safe", "help me with my taxes", "what should i cook tonight", "how do i change a tyre",
        "what is the meaning of life", "are you a robot", "where is the nearest pharmacy", "book me a flight to rome",
    ],
    "filler": ["ok", "okay", "thanks", "thank you", "hello", "hi", "hey", "yes", "no", "please", "hmm", "cheers",
               "sure", "fine", "good", "nice", "great", "cool", "bye", "never mind", "nothing", "undo", "stop",
               "cancel", "again", "wait", "hello there", "good morning", "test", "testing", "hmm ok", "ok thanks",
               "yes please", "no thanks", "whatever", "maybe", "uh", "right", "well", "alright"],
    "foreign": [
        # French
        "rends le nez plus petit", "ajoute un chapeau", "mets-lui des lunettes", "fais-le sourire davantage",
        "rends la photo plus lumineuse", "enlève la barbe s'il te plaît", "quel temps fait-il", "bonjour",
        "rajeunis cette personne", "coupe la frange", "change la couleur des cheveux", "merci beaucoup",
        # German
        "mach die nase kleiner", "füge eine brille hinzu", "lass ihn mehr lächeln", "mach das bild heller",
        "entferne den bart bitte", "wie spät ist es", "guten tag", "mach sie jünger", "die haare sollen länger sein",
        "danke schön", "mach ihn älter", "kürze den pony",
        # Spanish
        "haz la nariz más pequeña", "ponle un sombrero", "quítale las gafas", "haz que sonría más",
        "aclara la foto", "quítale la barba", "qué hora es", "hola amigo", "hazlo más joven", "gracias",
        "hazla parecer mayor", "corta el flequillo",
        # Dutch
        "maak de oren kleiner", "zet hem een bril op", "laat haar meer lachen", "maak de foto lichter",
        "haal de baard weg", "hoe laat is het", "maak hem jonger", "knip de pony korter", "dank je wel",
        # Italian
        "rendi il mento più largo", "mettigli gli occhiali", "cambia il colore degli occhi", "aggiungi un cappello",
        "rendila più giovane", "che ore sono", "accorcia la frangia", "grazie mille",
        # Portuguese
        "deixa o nariz menor", "põe óculos nele", "faz ela sorrir mais", "tira a barba dele",
        "deixa ele mais velho", "que horas são", "corta a franja", "obrigado",
    ],
    "noattr": ["make it {cmp_any}", "{vague} {cmp_any}", "more", "less", "go up by two", "set it to level 3",
               "increase it", "decrease it {vague}", "a bit more please", "turn it up", "turn it down",
               "level 4", "degree two", "bigger", "much less", "up two steps", "down one level",
               "make {obj} look {vague} better", "change {obj}", "edit {poss} face", "fix {poss} face",
               "improve the face", "do something to {poss} face", "make {obj} look different",
               "change it back", "same as before", "the other one", "do it again", "keep going", "a bit less"],
}

# Patterns per category. Slots: the pools above, the corpus' persona slots ({obj}, {poss}, ...) and {req}.
_PATTERNS: dict[str, list[str]] = {
    "face_part": [
        "{req} make the {part} {shape}", "make {poss} {part} {vague} {shape}", "I want {poss} {part} {shape}",
        "the {part} should be {shape}", "can you make the {part} {shape}?", "{part} {shape}[, please]",
        "{req} change the shape of {poss} {part}", "{shape} {part}", "{req} fix {poss} {part}",
        "give {obj} {shape} {part}", "{part}: {shape}", "could the {part} be {vague} {shape}?",
        "I'd like {poss} {part} to look {shape}", "edit the (photo|picture) so the {part} look {shape}",
        "{req} change the {part} color to {color}", "make {poss} {part} {color}", "remove {poss} {part}",
        "hide the {part}", "{req} resize the {part}", "the {part} (is|are) too big",
        "{part_verb} {poss} {part}", "{req} {part_verb} the {part}", "{part_verb} the {part} {vague}",
        "{poss} {part} (look|looks) (odd|weird|off|wrong), {part_verb} (it|them)", "add (some|a few) {part}",
        "{poss} {part} could use some work", "(less|more|fewer) {part}[, please]", "a {shape} {part}",
        "I'd (love|like) {shape} {part} on {obj}", "(fix|redo|change) the {part} (area|region|shape)",
        "(remove|take away|get rid of|erase|clean up|hide|cover) the {blemish} (on|under|around|near) {poss} {part}",
        "(remove|take away|get rid of|erase|clean up|fix) {poss} {blemish}", "{req} (add|put) {blemish} on {poss} {part}",
        "give {obj} {feature}", "{req} give {obj} {feature}", "{feature} would suit {obj}", "{feature}[, please]",
        "I want {feature}", "(more|less) prominent {part}[, please]", "make the {part} (more|less) prominent",
        "close (up|the) gap (in|between) {poss} {part}", "{poss} {part} (is|are) (way|far|much) too {shape}",
        "(hello|hi), (could|would) you (please|kindly) give {obj} {feature}?",
    ],
    "scoped_property": [
        "{req} make the {scoped} {color}", "dye {poss} {scoped} {color}", "color the {scoped} {color}",
        "I want a {color} {scoped}", "change the color of the {scoped} to {color}", "{color} {scoped}[, please]",
        "make {poss} hair {color}", "dye {poss} hair {color}", "{req} make {poss} hair {hair_style}",
        "I want {poss} hair {hair_style}", "give {obj} {color} hair", "make the hair {hair_style}",
        "make the {scoped} shiny", "make the {scoped} crooked", "turn the {scoped} {color}",
        "{material} {frame_part} on the {scoped}", "give the {scoped} {material} {frame_part}",
        "{req} make the {frame_part} {material}", "{req} tint the {frame_part} {color}", "{color} {frame_part}",
        "make {poss} {scoped} look {material}", "swap the {frame_part} for {material} ones",
        "{hair_treat} the {scoped}", "{req} {hair_treat} {poss} {scoped}", "{poss} {scoped} should be {color}",
        "{poss} {scoped} should be {hair_style}", "give {poss} {scoped} a {color} streak",
        "the {scoped} (looks|is) too {color}", "the smile looks {smile_quality}, make it {smile_quality}",
        "make the (smile|grin) {smile_quality}", "{poss} (smile|grin) should look {smile_quality}",
        "shape {poss} {scoped} into {shape_noun}", "{req} shape the {scoped} into {shape_noun}",
        "part the {scoped} {side}", "{req} part {poss} {scoped} {side}", "style the {scoped} {side}",
        "put (a gold tooth|braces|a gap|fangs|a diamond) in {poss} (smile|grin)",
        "(add|put) glitter (on|in) {poss} {scoped}", "the {scoped} should (sparkle|glow|shine)",
    ],
    "accessory": [
        "{req} add {accessory}", "put {accessory} on {obj}", "give {obj} {accessory}", "{accessory}, please",
        "{req} remove the {acc_noun}", "take off {poss} {acc_noun}", "get rid of the {acc_noun}",
        "no {acc_noun}", "can {subj} wear {accessory}?", "make {obj} wear {accessory}",
        "I want {obj} with {accessory}", "swap the {acc_noun} for {accessory}",
        "put {accessory} over {poss} face", "{accessory} would look (nice|good|great|funny)",
        "(slap|stick|pop) {accessory} on {obj}", "{subj} needs {accessory}", "ditch the {acc_noun}",
        "(draw|paint) {accessory} on {obj}",
    ],
    "body": [
        "{req} make {obj} {body}", "make {obj} look {vague} {body}", "{subj} should look {body}",
        "I want {obj} to look {body}", "{body}[, please]", "turn {obj} into {being}", "make {obj} {being}",
        "can you make {obj} look like {being}?", "show {obj} as {being}", "change {poss} gender",
        "make {obj} close {poss} eyes", "make {obj} look to the left", "turn {poss} head", "make {obj} wink",
        "{body_verb}", "{req} {body_verb}", "give {obj} {body_adj} {body_part}", "{body_adj} {body_part}",
        "make {poss} {body_part} {body_adj}", "{poss} {body_part} should be {body_adj}",
        "{subj} (seems|is) too (thin|fat|weak|short|tall)[, change that]",
    ],
    "image": [
        "{req} make {image} {img_adj}", "make {image} {vague} {img_adj}", "{req} {img_verb} {image}",
        "{img_verb} {image}[, please]", "{req} increase the {img_noun}", "turn (up|down) the {img_noun}",
        "lower the {img_noun}", "adjust the {img_noun}", "{req} change {img_noun}", "remove {img_noun}",
        "add a filter to {image}", "can you {img_verb} {image}?", "I want {image} {img_adj}",
        "apply a {color} tint", "zoom in on the face", "zoom out", "add a border", "make the background {color}",
        "replace the background with a beach", "blur the background", "put {obj} on a {color} background",
        "add {img_thing}", "{req} add {img_thing} {img_place}", "put {img_thing} {img_place}",
        "(add|put|overlay) {img_thing} (on|over) {image}", "{img_thing} {img_place}[, please]",
        "remove the {img_thing}", "give {image} {img_thing}",
        "(darken|lighten|brighten|fade|soften|blur) the (corners|edges|border|borders|top|bottom|sides)[ {vague}]",
        "{img_verb} {image}, {img_noun} style", "{img_adj}, (like|in) a (film|movie|polaroid|magazine) style",
    ],
    "no_attribute": ["{noattr}"],
    "off_topic": ["{offtopic}", "{req} {offtopic}", "hey, {offtopic}?"],
    "filler": ["{filler}", "{filler} {filler}"],
    "foreign": ["{foreign}"],
}
#: Categories of the generator, drawn uniformly; ``gibberish`` and ``punctuation`` are drawn character by character.
CATEGORIES: tuple[str, ...] = tuple(_PATTERNS) + ("gibberish", "punctuation")
_NOISY = ("face_part", "scoped_property", "accessory", "body", "image", "no_attribute", "off_topic")


def _render(seq: tuple, rng: random.Random, persona: dict[str, str]) -> str:
    out: list[str] = []
    for node in seq:
        kind = node[0]
        if kind == "lit":
            out.append(node[1])
        elif kind == "slot":
            name = node[1]
            if name in persona:
                value = persona[name]
            elif name == "req":
                value = rng.choice(GEN["req"])
            else:
                value = rng.choice(_POOLS[name])
            out.append(_render(parse_pattern(value), rng, persona) if "{" in value else value)
        elif kind == "opt":
            if rng.random() < 0.5:
                out.append(_render(node[1], rng, persona))
        else:
            out.append(_render(rng.choice(node[1]), rng, persona))
    return "".join(out)


def _tidy(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return re.sub(r"\s+([,?:])", r"\1", text)


def _gibberish(rng: random.Random) -> str:
    words = []
    for _ in range(rng.randint(1, 5)):
        r = rng.random()
        if r < 0.6:
            word = "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(2, 10)))
        elif r < 0.8:   # pronounceable
            word = "".join(rng.choice("bcdfghjklmnprstvwz") + rng.choice("aeiou") for _ in range(rng.randint(1, 4)))
        elif r < 0.9:
            word = "".join(rng.choice(string.digits) for _ in range(rng.randint(1, 6)))
        else:
            word = rng.choice(string.ascii_lowercase) * rng.randint(3, 8)
        words.append(word)
    return " ".join(words)


def _punctuation(rng: random.Random) -> str:
    return "".join(rng.choice("!?.,;:-*#@()'\" ") for _ in range(rng.randint(1, 12))) or "?"


def _one(category: str, rng: random.Random, key: str, typo_rate: float) -> OutOfScopeInstruction:
    if category == "gibberish":
        return OutOfScopeInstruction(_gibberish(rng), category, category)
    if category == "punctuation":
        return OutOfScopeInstruction(_punctuation(rng), category, category)
    patterns = _PATTERNS[category]
    j = rng.randrange(len(patterns))
    text = _tidy(_render(parse_pattern(patterns[j]), rng, rng.choice(PERSONAS)))
    style_rng = random.Random(f"{key}/style")
    if category in _NOISY:
        text = style(text, style_rng)
        text = apply_typos(text, random.Random(f"{key}/typo"), typo_rate)
    elif category == "filler" and style_rng.random() < 0.3:
        text = f"{style_rng.choice(PREFIXES)} {text} {style_rng.choice(SUFFIXES)}"
    return OutOfScopeInstruction(casing(text, style_rng), category, f"{category}.{j:02d}")


def generate_out_of_scope(n: int, seed: int = 0, typo_rate: float = 0.03) -> list[OutOfScopeInstruction]:
    """``n`` out-of-scope sentences, categories uniform (:data:`CATEGORIES`); deterministic for (n, seed,
    typo_rate), sentence ``i`` from streams derived from (seed, i).

    Parameters
    ----------
    n : int
        Number of sentences (>= 0).
    seed : int
    typo_rate : float
        Typo probability per eligible word of the edit-like categories, in [0, 1].
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise InvalidArgumentError(f"n must be a non-negative integer, got {n}")
    if not 0.0 <= float(typo_rate) <= 1.0:
        raise InvalidArgumentError(f"typo_rate must be in [0, 1], got {typo_rate}")
    order = [CATEGORIES[k % len(CATEGORIES)] for k in range(n)]
    random.Random(f"editdsc-out-of-scope/{seed}/cells").shuffle(order)
    out = []
    for i, category in enumerate(order):
        key = f"editdsc-out-of-scope/{seed}/{i}"
        out.append(_one(category, random.Random(f"{key}/content"), key, float(typo_rate)))
    return out
