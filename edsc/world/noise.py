"""Style noise and typos of the instruction corpus (deterministic for a given random stream).

Fillers, final punctuation and punctuation noise (:func:`style`), casing (:func:`casing`) and light typos
(:func:`apply_typos`): one swap of adjacent letters, one dropped letter or one doubled letter (never the first
letter) in each *eligible* word with probability ``rate``. Eligible words are alphabetic, at least 4 letters long
and not number words; a typo is rejected if it produces another corpus word, so the label stays recoverable.
"""

from __future__ import annotations

import random
import re
from functools import lru_cache

from edsc.world.lexicon import NUMBER_WORDS, PREFIXES, QUESTION_STARTS, SUFFIXES
from edsc.world.templates import vocabulary_words

__all__ = ["style", "casing", "apply_typos", "typo_eligible", "TOKEN_RE"]


def style(text: str, rng: random.Random) -> str:
    """Fillers, final punctuation and punctuation noise (no casing, no typos)."""
    if rng.random() < 0.22:
        text = rng.choice(PREFIXES) + ("," if rng.random() < 0.5 else "") + " " + text
    if rng.random() < 0.15 and not text.endswith("?"):
        suffix = rng.choice(SUFFIXES)
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
    question = first in QUESTION_STARTS or any(
        re.sub(r"[^a-z']", "", w.lower()) in ("could", "can", "would") for w in text.split(" ")[:3])
    if question and rng.random() < 0.75:
        end = rng.choice(["?", "?", "?", "??", " ?"])
    else:
        end = rng.choices(["", ".", "!", "!!", "...", " ."], weights=[35, 40, 14, 4, 5, 2])[0]
    return text + end


def typo_eligible(word: str) -> bool:
    """Whether a (punctuation-free) word may receive a typo."""
    return word.isalpha() and len(word) >= 4 and word.lower() not in NUMBER_WORDS


@lru_cache(maxsize=1)
def _forbidden_typo_results() -> frozenset[str]:
    return frozenset(vocabulary_words("all")) | NUMBER_WORDS


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


TOKEN_RE = re.compile(r"^([^A-Za-z0-9']*)(.*?)([^A-Za-z0-9']*)$")


def apply_typos(text: str, rng: random.Random, rate: float) -> str:
    if rate <= 0:
        return text
    out = []
    for tok in text.split(" "):
        lead, core, trail = TOKEN_RE.match(tok).groups()
        if typo_eligible(core) and rng.random() < rate:
            core = _typo(core, rng)
        out.append(lead + core + trail)
    return " ".join(out)


def casing(text: str, rng: random.Random) -> str:
    r = rng.random()
    if r < 0.55:  # sentence case
        return text[:1].upper() + text[1:]
    if r < 0.87:  # all lower case
        return text.lower()
    if r < 0.92:  # shouting
        return text.upper()
    return " ".join(w[:1].upper() + w[1:] if rng.random() < 0.3 else w for w in text.split(" "))
