"""SE_T: text instruction → typed :class:`Edit`, and the expected degree of eq. 10.

Modes (Talk-to-Edit's ``request_mode`` head):

========== ============ ============ ============
mode        direction    change       target
========== ============ ============ ============
target      None         None         0..u
definite    ±1           1..u         None
indefinite  ±1           None         None
========== ============ ============ ============

An indefinite request is a change of 1 (Talk-to-Edit's ``decide_next_edit`` sets ``score_change_value = 1``).
The ``end`` request mode of the published encoder (a dialogue turn, not an edit) is rejected.

Input limits of :class:`InstructionParser`: at most :data:`MAX_INSTRUCTION_CHARS` (512) characters and
:data:`MAX_TOKENS` (64) tokens.

Scope. A bundle edits its attributes by degree and nothing else; an instruction that asks for anything else ("make
the nose bigger", "make it brighter", "!!!???") is refused with :class:`shared.errors.InvalidArgumentError`, whose
message names what the bundle can edit. Refused are: empty instructions, instructions without a word, instructions
with no word of the parser's vocabulary (after spelling correction); when the vocabulary records attribute
evidence (words that name one attribute in the training corpus' edit requests, such as "fringe" or "older"),
instructions without any; and, when the encoder has the ``in_scope`` head
(:data:`shared.models.language.SCOPE_HEAD`), instructions that head reads as out of scope. The refusal names
the word the instruction asks about when the vocabulary can tell it: a word that never occurred in an edit request
of the parser's training corpus (when there are several, the one whose removal makes the encoder most confident
that the rest is in scope).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch

from shared.errors import InvalidArgumentError
from shared.models.language import HEAD_LABELS, SCOPE_HEAD, SCOPE_LABELS, LanguageEncoder, Vocabulary, tokenize
from shared.world_spec import ATTRIBUTES

__all__ = ["Edit", "EditMode", "expected_degree", "InstructionParser", "MAX_INSTRUCTION_CHARS", "MAX_TOKENS",
           "REQUIRED_HEADS", "quote_input"]

EditMode = Literal["target", "definite", "indefinite"]
#: The one limit on an instruction's length, for the parser and every service that accepts instructions.
MAX_INSTRUCTION_CHARS = 512
MAX_TOKENS = 64
#: Longest piece of user input an error message quotes.
QUOTE_CHARS = 100
#: A refusal names a word only when the instruction has at most this many words outside the edit vocabulary.
_MAX_NAMED_CANDIDATES = 2
REQUIRED_HEADS = ("attribute", "request_mode", "score_change_direction", "score_change_value", "target_score")

_MODES = ("target", "definite", "indefinite")
#: request_mode head label → Edit mode (``None``: not an edit).
_REQUEST_MODE_TO_EDIT: dict[str, str | None] = {
    "change_definite": "definite", "change_indefinite": "indefinite", "target": "target", "end": None,
}


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def quote_input(text: str, limit: int = QUOTE_CHARS) -> str:
    """User input for an error message: whitespace collapsed, at most ``limit`` characters, in single quotes."""
    text = " ".join(str(text).split())
    return f"'{text[:limit]}...'" if len(text) > limit else f"'{text}'"


@dataclass(frozen=True)
class Edit:
    """A typed edit request.

    Attributes
    ----------
    attribute : str
        Attribute name (``bangs``, ``eyeglasses``, ``beard``, ``smiling``, ``age`` by default).
    mode : {"target", "definite", "indefinite"}
    direction : int or None
        +1 / −1 for the change modes, None for target.
    change : int or None
        1..u for definite, None otherwise.
    target : int or None
        0..u for target, None otherwise.
    """

    attribute: str
    mode: EditMode
    direction: int | None = None
    change: int | None = None
    target: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.attribute, str) or not self.attribute:
            raise InvalidArgumentError("edit attribute must be a non-empty string")
        if self.mode not in _MODES:
            raise InvalidArgumentError(f"edit mode must be one of {', '.join(_MODES)}, got {quote_input(self.mode)}")
        if self.mode == "target":
            if self.direction is not None or self.change is not None:
                raise InvalidArgumentError("a target edit has no direction and no change")
            if not _is_int(self.target) or self.target < 0:
                raise InvalidArgumentError(f"a target edit needs a target degree >= 0, got {quote_input(self.target)}")
            return
        if self.target is not None:
            raise InvalidArgumentError(f"a {self.mode} edit has no target")
        if self.direction not in (1, -1) or not _is_int(self.direction):
            raise InvalidArgumentError(f"a {self.mode} edit needs direction +1 or -1, got {quote_input(self.direction)}")
        if self.mode == "definite":
            if not _is_int(self.change) or self.change < 1:
                raise InvalidArgumentError(f"a definite edit needs a change >= 1, got {quote_input(self.change)}")
        elif self.change is not None:
            raise InvalidArgumentError("an indefinite edit has no change (it is a change of 1)")

    def to_dict(self) -> dict[str, Any]:
        """``{"attribute", "mode", "direction", "change", "target"}`` (JSON-ready)."""
        return {"attribute": self.attribute, "mode": self.mode, "direction": self.direction,
                "change": self.change, "target": self.target}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Edit":
        keys = {"attribute", "mode", "direction", "change", "target"}
        unknown = sorted(set(d) - keys)
        if unknown:
            raise InvalidArgumentError(f"unknown edit fields: {', '.join(unknown)}")
        if "attribute" not in d or "mode" not in d:
            raise InvalidArgumentError("an edit needs 'attribute' and 'mode'")
        return cls(attribute=d["attribute"], mode=d["mode"], direction=d.get("direction"),
                   change=d.get("change"), target=d.get("target"))

    @property
    def signed_change(self) -> int | None:
        """d·Δ for the change modes (indefinite = ±1), None for target."""
        if self.mode == "target":
            return None
        return int(self.direction) * (1 if self.mode == "indefinite" else int(self.change))


def expected_degree(edit: Edit, current_degree: int, u: int = 5) -> int:
    """Eq. 10: ``a_exp = min(max(a + Δ·d, 0), u)``; target mode → the target clamped to 0..u.

    Parameters
    ----------
    edit : Edit
    current_degree : int
        a, the predicted degree of the edited attribute in the original image (0..u).
    u : int
        Largest degree.
    """
    if not _is_int(u) or u < 1:
        raise InvalidArgumentError(f"u must be a positive integer, got {quote_input(u)}")
    a = int(current_degree)
    if a != current_degree or not 0 <= a <= u:
        raise InvalidArgumentError(f"current degree {quote_input(current_degree)} is outside [0, {u}]")
    value = edit.target if edit.mode == "target" else a + edit.signed_change
    return min(max(int(value), 0), u)


def _one_edit(a: str, b: str) -> bool:
    """True when ``b`` is one edit from ``a``: a substitution, an insertion / deletion or an adjacent swap."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i:] == b[i + 1:]


class TypoFixer:
    """Maps an out-of-vocabulary word to the most frequent vocabulary word one edit away (typo correction).

    The corpus' typos are one adjacent swap, one dropped or one doubled letter, never the first letter, in words
    of at least 4 letters; a word-level LSTM sees such a word as ``<UNK>``. :class:`InstructionParser` corrects
    such words before the encoder (``spell_fix=True``) with the vocabulary's token counts (ties, and vocabularies
    without counts such as Talk-to-Edit's: the alphabetically first candidate).

    Parameters
    ----------
    counts : token → count in the training sentences (the vocabulary's words)
    min_len : words shorter than this are left alone
    """

    def __init__(self, counts: dict[str, int], min_len: int = 4):
        self.counts = {w: c for w, c in counts.items() if w.isalpha() or "-" in w or "'" in w}
        self.min_len = min_len
        self.by_first: dict[str, list[str]] = defaultdict(list)
        for w in self.counts:
            if w:
                self.by_first[w[0]].append(w)

    def fix_token(self, token: str) -> str:
        if token in self.counts or len(token) < self.min_len or not token[0].isalpha():
            return token
        cands = [w for w in self.by_first.get(token[0], []) if _one_edit(token, w)]
        return max(sorted(cands), key=lambda w: self.counts[w]) if cands else token

    def fix(self, text: str) -> str:
        return " ".join(self.fix_token(t) for t in tokenize(text))


class InstructionParser:
    """Text → :class:`Edit` with a :class:`~shared.models.language.LanguageEncoder`; refuses what the bundle
    cannot edit (see the module docstring).

    Parameters
    ----------
    encoder : LanguageEncoder
        Needs the heads ``attribute``, ``request_mode`` (4 classes, Talk-to-Edit order ``change_definite,
        change_indefinite, target, end``), ``score_change_direction`` (negative, positive),
        ``score_change_value`` (1..u) and ``target_score`` (0..u); uses ``in_scope`` (out of scope, in scope)
        when it has it.
    vocab : Vocabulary
    attributes : sequence of str
        Names for the classes of the ``attribute`` head, in order (default ``bangs, eyeglasses, beard,
        smiling, age``: Talk-to-Edit's ``Bangs, Eyeglasses, No_Beard, Smiling, Young``).
    max_tokens, max_chars : int
        Input limits.
    spell_fix : bool
        Replace an out-of-vocabulary word by the most frequent vocabulary word one typo away (:class:`TypoFixer`).
    """

    def __init__(self, encoder: LanguageEncoder, vocab: Vocabulary,
                 attributes: Sequence[str] = ATTRIBUTES, max_tokens: int = MAX_TOKENS,
                 max_chars: int = MAX_INSTRUCTION_CHARS, spell_fix: bool = True):
        heads = encoder.cfg.heads
        missing = [h for h in REQUIRED_HEADS if h not in heads]
        if missing:
            raise InvalidArgumentError(f"the language encoder lacks the heads {', '.join(missing)}")
        if heads["attribute"] != len(attributes):
            raise InvalidArgumentError(
                f"the attribute head has {heads['attribute']} classes but {len(attributes)} names were given")
        if heads["request_mode"] != len(HEAD_LABELS["request_mode"]):
            raise InvalidArgumentError(f"the request_mode head must have 4 classes, has {heads['request_mode']}")
        if heads["score_change_direction"] != 2:
            raise InvalidArgumentError("the score_change_direction head must have 2 classes")
        if heads["target_score"] != heads["score_change_value"] + 1:
            raise InvalidArgumentError("target_score must have one class more (0..u) than score_change_value (1..u)")
        if SCOPE_HEAD in heads and heads[SCOPE_HEAD] != len(SCOPE_LABELS):
            raise InvalidArgumentError(f"the {SCOPE_HEAD} head must have {len(SCOPE_LABELS)} classes")
        if len(vocab) != encoder.cfg.vocab_size:
            raise InvalidArgumentError(
                f"vocabulary has {len(vocab)} tokens, the encoder's embedding {encoder.cfg.vocab_size}")
        self.encoder = encoder
        self.vocab = vocab
        self.attributes = [str(a) for a in attributes]
        self.u = heads["score_change_value"]
        self.max_tokens = int(max_tokens)
        self.max_chars = int(max_chars)
        self.has_scope_head = SCOPE_HEAD in heads
        self.fixer = TypoFixer(vocab.counts or dict.fromkeys(vocab.token_to_idx, 0)) if spell_fix else None

    @property
    def scope_note(self) -> str:
        """What this parser's bundle can edit, for refusals."""
        return f"this bundle edits {', '.join(self.attributes)}"

    def tokens(self, text: str) -> list[str]:
        """Validates and tokenizes one instruction (spelling corrected); refuses empty and wordless ones."""
        if not isinstance(text, str):
            raise InvalidArgumentError(f"an instruction must be a string, got {type(text).__name__}")
        if not text.strip():
            raise InvalidArgumentError(f"the instruction is empty; {self.scope_note}")
        if len(text) > self.max_chars:
            raise InvalidArgumentError(
                f"the instruction has {len(text)} characters, more than the limit of {self.max_chars}")
        toks = tokenize(text)
        if not any(any(c.isalnum() for c in t) for t in toks):
            raise InvalidArgumentError(f"the instruction has no words; {self.scope_note}")
        if len(toks) > self.max_tokens:
            raise InvalidArgumentError(
                f"the instruction has {len(toks)} tokens, more than the limit of {self.max_tokens}")
        if self.fixer is not None:
            toks = [self.fixer.fix_token(t) for t in toks]
        if all(t not in self.vocab for t in toks):
            raise InvalidArgumentError(
                f"cannot read {quote_input(text)}: it contains no known word; {self.scope_note}")
        return toks

    def parse(self, text: str) -> Edit:
        """One instruction → :class:`Edit` (raises :class:`InvalidArgumentError` on bad or out-of-scope input)."""
        return self.parse_batch([text])[0]

    def parse_batch(self, texts: Sequence[str]) -> list[Edit]:
        """Several instructions in one encoder pass; an error names the first bad instruction's index."""
        if isinstance(texts, str):
            raise InvalidArgumentError("parse_batch expects a sequence of instructions, got a single string")
        if len(texts) == 0:
            return []
        token_lists = []
        for i, text in enumerate(texts):
            try:
                token_lists.append(self.tokens(text))
            except InvalidArgumentError as e:
                if len(texts) == 1:
                    raise
                raise InvalidArgumentError(f"instruction {i}: {e}") from None
        if self.vocab.evidence:
            for i, toks in enumerate(token_lists):
                if not any(t in self.vocab.evidence for t in toks):
                    where = f"instruction {i}: " if len(texts) > 1 else ""
                    raise InvalidArgumentError(f"{where}{self._refusal(toks)}")
        out = self._run(token_lists)
        heads = REQUIRED_HEADS + ((SCOPE_HEAD,) if self.has_scope_head else ())
        pred = {name: out[name].argmax(dim=1).cpu().tolist() for name in heads}
        edits = []
        for i in range(len(texts)):
            where = f"instruction {i}: " if len(texts) > 1 else ""
            if self.has_scope_head and pred[SCOPE_HEAD][i] == SCOPE_LABELS.index("out_of_scope"):
                raise InvalidArgumentError(f"{where}{self._refusal(token_lists[i])}")
            edits.append(self._edit_from_classes({name: pred[name][i] for name in REQUIRED_HEADS}, texts[i], where))
        return edits

    def _run(self, token_lists: Sequence[Sequence[str]]) -> dict[str, torch.Tensor]:
        """The encoder's logits per head for tokenized instructions, in eval mode without gradients."""
        tokens, lengths = self.vocab.encode_batch(token_lists)        # (B, T), (B,)
        device = next(self.encoder.parameters()).device
        was_training = self.encoder.training
        self.encoder.eval()
        try:
            with torch.no_grad():
                return self.encoder(tokens.to(device), lengths.to(device))
        finally:
            self.encoder.train(was_training)

    def _refusal(self, toks: list[str]) -> str:
        """The message refusing an out-of-scope instruction; names the word it asks about when it can."""
        edit_counts = self.vocab.edit_counts
        candidates = [t for t in dict.fromkeys(toks)
                      if any(c.isalpha() for c in t) and edit_counts.get(t, 0) == 0]
        if not edit_counts or not 1 <= len(candidates) <= _MAX_NAMED_CANDIDATES:
            return f"this instruction asks for nothing this bundle can edit; {self.scope_note}"
        word = candidates[0]
        if len(candidates) > 1 and self.has_scope_head:
            # the word whose removal leaves the most in-scope-looking rest is the one the refusal is about
            variants = [[t for t in toks if t != c] or [t for t in toks] for c in candidates]
            p_in = self._run(variants)[SCOPE_HEAD].softmax(dim=1)[:, SCOPE_LABELS.index("in_scope")]
            word = candidates[int(p_in.argmax())]
        return f"cannot edit {quote_input(word, 40)}; {self.scope_note}"

    def _edit_from_classes(self, cls: Mapping[str, int], text: str, where: str) -> Edit:
        request = HEAD_LABELS["request_mode"][cls["request_mode"]]
        mode = _REQUEST_MODE_TO_EDIT[request]
        if mode is None:
            raise InvalidArgumentError(
                f"{where}{quote_input(text)} reads as ending the dialogue, not as an edit request")
        attribute = self.attributes[cls["attribute"]]
        direction = 1 if cls["score_change_direction"] == 1 else -1
        if mode == "target":
            return Edit(attribute, "target", target=int(cls["target_score"]))
        if mode == "definite":
            return Edit(attribute, "definite", direction=direction, change=int(cls["score_change_value"]) + 1)
        return Edit(attribute, "indefinite", direction=direction)
