"""Instruction encoder SE_T: tokenizer, vocabulary and the LSTM language encoder.

Modelled on Talk-to-Edit's ``language/lstm.py`` (``Encoder``) and ``language/language_utils.py``:

* Tokenizer: ``?`` and ``;`` become tokens of their own, ``.``, ``!`` and ``,`` are removed, the text is
  lower-cased and split. No ``<START>``/``<END>`` is added (Talk-to-Edit's ``tokenize`` defaults
  ``add_start_token=add_end_token=False`` and neither training nor inference turns them on); unknown words map
  to ``<UNK>`` (``allow_unknown: 1`` in its dialog config). Differences, both harmless for the published
  vocabulary: we split on runs of whitespace (Talk-to-Edit splits on single spaces, so double spaces give
  empty ``<UNK>`` tokens) and also drop ``: " ( ) [ ] { }`` and quotes around words.
* Vocabulary file: JSON ``{"text_token_to_idx": {token: index}}`` with ``<NULL>``=0, ``<START>``=1,
  ``<END>``=2, ``<UNK>``=3 and the other tokens in sorted order (``language/templates/vocab.json``, 229 tokens).
* Encoder: ``lstm.word2vec`` = Embedding(V, E) → ``lstm.rnn`` = LSTM(E, H, L, batch_first) → hidden state at
  the last real token (right padding with ``<NULL>``) → one head per output, each Sequential(fc_block(H→256),
  Linear(256→n)), heads named and ordered as in ``language/templates/metadata_fsm.json``.
  Built-in encoders may add one head of their own, ``in_scope`` (:data:`SCOPE_HEAD`): whether the
  sentence asks for an edit of the bundle's attributes at all.

Published ``language_encoder.pth.tar``: ``{'state_dict': ...}`` (plus epoch / optimizer entries), no
``module.`` prefix; Embedding(229, 300), 2-layer LSTM(1024), heads ``start`` (1), ``suggestion`` (5),
``whether_enough`` (5), ``whats_next`` (2), ``attribute`` (5), ``score_change_direction`` (2),
``score_change_value`` (5), ``target_score`` (6), ``request_mode`` (4).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from shared.dataclass_config import checked_fields
from shared.errors import BundleError, InvalidArgumentError
from shared.models.predictor import FCBlock, load_state_dict_strict, unwrap_state_dict
from shared.world_spec import TALK2EDIT_ATTRIBUTES

__all__ = [
    "SPECIAL_TOKENS",
    "NULL", "START", "END", "UNK",
    "HEAD_LABELS",
    "TALK2EDIT_HEADS",
    "BUILTIN_HEADS",
    "SCOPE_HEAD",
    "SCOPE_LABELS",
    "tokenize",
    "Vocabulary",
    "LanguageEncoderConfig",
    "LanguageEncoder",
    "load_talk2edit_language_encoder",
]

NULL, START, END, UNK = "<NULL>", "<START>", "<END>", "<UNK>"
SPECIAL_TOKENS: dict[str, int] = {NULL: 0, START: 1, END: 2, UNK: 3}

#: Class labels of every head, in index order (Talk-to-Edit's metadata_fsm.json).
HEAD_LABELS: dict[str, list[str]] = {
    "start": ["start_pureRequest"],
    "suggestion": ["yes", "yes_pureRequest", "no", "no_pureRequest", "no_end"],
    "whether_enough": ["yes", "yes_pureRequest", "yes_end", "no", "no_pureRequest"],
    "whats_next": ["pureRequest", "end"],
    "attribute": list(TALK2EDIT_ATTRIBUTES),
    "score_change_direction": ["negative", "positive"],
    "score_change_value": ["1", "2", "3", "4", "5"],
    "target_score": ["0", "1", "2", "3", "4", "5"],
    "request_mode": ["change_definite", "change_indefinite", "target", "end"],
}
#: Heads of the published encoder, in module-registration order.
TALK2EDIT_HEADS: dict[str, int] = {name: len(labels) for name, labels in HEAD_LABELS.items()}
#: Heads of the built-in (single-request) encoder.
BUILTIN_HEADS: dict[str, int] = {
    name: TALK2EDIT_HEADS[name]
    for name in ("attribute", "score_change_direction", "score_change_value", "target_score", "request_mode")
}

#: The optional out-of-scope head of built-in encoders (not in Talk-to-Edit's layout): does the sentence ask for an
#: edit of the bundle's attributes at all? Encoders without it rely on the parser's vocabulary checks alone.
SCOPE_HEAD = "in_scope"
SCOPE_LABELS: list[str] = ["out_of_scope", "in_scope"]

_KEEP_AS_TOKEN = ("?", ";")
_REMOVE = (".", "!", ",", ":", '"', "(", ")", "[", "]", "{", "}")


def tokenize(text: str) -> list[str]:
    """Splits an instruction into tokens (see the module docstring).

    >>> tokenize("Make the bangs slightly longer, please!")
    ['make', 'the', 'bangs', 'slightly', 'longer', 'please']
    """
    if not isinstance(text, str):
        raise InvalidArgumentError(f"an instruction must be a string, got {type(text).__name__}")
    for p in _KEEP_AS_TOKEN:
        text = text.replace(p, f" {p}")
    for p in _REMOVE:
        text = text.replace(p, "")
    tokens = []
    for tok in text.lower().split():
        tok = tok.strip("'\u2018\u2019")
        if tok:
            tokens.append(tok)
    return tokens


class Vocabulary:
    """Token ↔ index mapping with Talk-to-Edit's special tokens.

    Parameters
    ----------
    token_to_idx : mapping
        Must hold ``<NULL>``=0, ``<START>``=1, ``<END>``=2, ``<UNK>``=3; indices must be 0..V−1.
    """

    def __init__(self, token_to_idx: Mapping[str, int], counts: Mapping[str, int] | None = None,
                 edit_counts: Mapping[str, int] | None = None, evidence: Mapping[str, str] | None = None):
        t2i = {str(k): int(v) for k, v in token_to_idx.items()}
        for tok, idx in SPECIAL_TOKENS.items():
            if t2i.get(tok) != idx:
                raise BundleError(f"vocabulary must map {tok} to {idx}, got {t2i.get(tok)}")
        if sorted(t2i.values()) != list(range(len(t2i))):
            raise BundleError("vocabulary indices must be unique and cover 0..V-1")
        self.token_to_idx: dict[str, int] = t2i
        self.idx_to_token: dict[int, str] = {v: k for k, v in t2i.items()}
        # How often each token occurred in the corpus the vocabulary was built from (optional; the parser's
        # spelling correction prefers frequent words). Talk-to-Edit's files have none.
        self.counts: dict[str, int] = {str(k): int(v) for k, v in (counts or {}).items() if k in t2i}
        # How often each token occurred in the corpus' in-scope edit requests (the parser names a word that never
        # did when it refuses an instruction); without out-of-scope sentences in the corpus, the same as counts.
        self.edit_counts: dict[str, int] = ({str(k): int(v) for k, v in edit_counts.items() if k in t2i}
                                            if edit_counts is not None else dict(self.counts))
        # Attribute evidence: token → the attribute it names in the corpus' edit requests ("fringe" → bangs).
        # When known, the parser refuses an instruction without any such token.
        self.evidence: dict[str, str] = {str(k): str(v) for k, v in (evidence or {}).items() if k in t2i}

    # -- construction / files ------------------------------------------------------------------------------------
    @classmethod
    def build(cls, corpus: Iterable[str], min_count: int = 1, out_of_scope: Iterable[str] = ()) -> "Vocabulary":
        """Special tokens first, then every token seen at least ``min_count`` times, in sorted order.

        ``corpus`` holds edit requests, ``out_of_scope`` sentences the parser must refuse: both count towards the
        vocabulary and :attr:`counts`, only ``corpus`` towards :attr:`edit_counts`.
        """
        edit: Counter[str] = Counter()
        for text in corpus:
            edit.update(tokenize(text))
        counts = Counter(edit)
        for text in out_of_scope:
            counts.update(tokenize(text))
        t2i = dict(SPECIAL_TOKENS)
        for tok in sorted(counts):
            if counts[tok] >= min_count and tok not in t2i:
                t2i[tok] = len(t2i)
        return cls(t2i, counts={t: c for t, c in counts.items() if t in t2i},
                   edit_counts={t: c for t, c in edit.items() if t in t2i})

    def to_dict(self) -> dict[str, dict[str, int]]:
        """Talk-to-Edit's vocab.json layout (plus ``token_counts`` when the counts are known)."""
        d = {"text_token_to_idx": dict(sorted(self.token_to_idx.items(), key=lambda kv: kv[1]))}
        if self.counts:
            d["token_counts"] = dict(sorted(self.counts.items()))
        if self.edit_counts != self.counts:
            d["edit_token_counts"] = dict(sorted(self.edit_counts.items()))
        if self.evidence:
            d["attribute_evidence"] = dict(sorted(self.evidence.items()))
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Vocabulary":
        """Accepts ``{"text_token_to_idx": {...}[, "token_counts": {...}][, "edit_token_counts": {...}]
        [, "attribute_evidence": {...}]}`` (Talk-to-Edit's file, ours) or a bare token→index mapping."""
        if "text_token_to_idx" in d:
            return cls(d["text_token_to_idx"], counts=d.get("token_counts"), edit_counts=d.get("edit_token_counts"),
                       evidence=d.get("attribute_evidence"))
        return cls(d)

    def save(self, path: str | os.PathLike[str]) -> None:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=2, ensure_ascii=False)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "Vocabulary":
        """Reads a vocabulary JSON (ours or Talk-to-Edit's ``language/templates/vocab.json``)."""
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            raise BundleError(f"cannot read vocabulary {os.fspath(path)}: {e}") from e
        return cls.from_dict(data)

    # -- use --------------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.token_to_idx)

    def __contains__(self, token: object) -> bool:
        return token in self.token_to_idx

    @property
    def null_index(self) -> int:
        return SPECIAL_TOKENS[NULL]

    @property
    def unk_index(self) -> int:
        return SPECIAL_TOKENS[UNK]

    def encode(self, tokens: Sequence[str], allow_unk: bool = True) -> list[int]:
        out = []
        for tok in tokens:
            if tok in self.token_to_idx:
                out.append(self.token_to_idx[tok])
            elif allow_unk:
                out.append(self.unk_index)
            else:
                raise InvalidArgumentError(f"token {tok!r} is not in the vocabulary")
        return out

    def decode(self, indices: Iterable[int], stop_at_end: bool = True) -> list[str]:
        out = []
        for i in indices:
            tok = self.idx_to_token.get(int(i), UNK)
            out.append(tok)
            if stop_at_end and tok == END:
                break
        return out

    def encode_batch(self, token_lists: Sequence[Sequence[str]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Encodes and right-pads with ``<NULL>``: (tokens (B, T) long, lengths (B,) long)."""
        encoded = [self.encode(t) for t in token_lists]
        lengths = torch.tensor([len(e) for e in encoded], dtype=torch.long)
        t_max = max(1, int(lengths.max())) if len(encoded) else 1
        tokens = torch.full((len(encoded), t_max), self.null_index, dtype=torch.long)
        for i, e in enumerate(encoded):
            if e:
                tokens[i, : len(e)] = torch.tensor(e, dtype=torch.long)
        return tokens, lengths


# ----------------------------------------------------------------------------------------------------------------
# Encoder
# ----------------------------------------------------------------------------------------------------------------

@dataclass
class LanguageEncoderConfig:
    """Configuration of :class:`LanguageEncoder`.

    Parameters
    ----------
    vocab_size : int
        V.
    embedding_dim : int
        E (Talk-to-Edit: 300; built-in: 64).
    hidden_size : int
        H of the LSTM (Talk-to-Edit: 1024; built-in: 128).
    num_layers : int
        L (Talk-to-Edit: 2; built-in: 1).
    linear_hidden : int
        Width of each head's fc_block (256).
    heads : dict[str, int]
        Head name → number of classes, in registration order.
    dropout : float
        LSTM dropout between layers.
    """

    vocab_size: int = len(SPECIAL_TOKENS)
    embedding_dim: int = 64
    hidden_size: int = 128
    num_layers: int = 1
    linear_hidden: int = 256
    heads: dict[str, int] = field(default_factory=lambda: dict(BUILTIN_HEADS))
    dropout: float = 0.0

    def __post_init__(self) -> None:
        self.heads = {str(k): int(v) for k, v in dict(self.heads).items()}
        if self.vocab_size < len(SPECIAL_TOKENS):
            raise InvalidArgumentError(f"vocab_size must be >= {len(SPECIAL_TOKENS)}, got {self.vocab_size}")
        for name, n in self.heads.items():
            if n < 1:
                raise InvalidArgumentError(f"head {name!r} needs at least one class, got {n}")

    @classmethod
    def talk2edit(cls, vocab_size: int = 229) -> "LanguageEncoderConfig":
        """The published encoder's configuration."""
        return cls(vocab_size=vocab_size, embedding_dim=300, hidden_size=1024, num_layers=2, linear_hidden=256,
                   heads=dict(TALK2EDIT_HEADS), dropout=0.0)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "LanguageEncoderConfig":
        return cls(**checked_fields(cls, d))


class _TokenLSTM(nn.Module):
    """``lstm`` sub-module: ``word2vec`` (Embedding) and ``rnn`` (LSTM); names fixed by the published layout."""

    def __init__(self, cfg: LanguageEncoderConfig):
        super().__init__()
        self.word2vec = nn.Embedding(cfg.vocab_size, cfg.embedding_dim)
        self.rnn = nn.LSTM(cfg.embedding_dim, cfg.hidden_size, num_layers=cfg.num_layers, bias=True,
                           batch_first=True, dropout=cfg.dropout if cfg.num_layers > 1 else 0.0)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        states, _ = self.rnn(self.word2vec(tokens))  # (B, T, H)
        # A unidirectional LSTM's state at t depends only on tokens <= t: right padding never leaks in.
        idx = (lengths.clamp(min=1) - 1).to(states.device).view(-1, 1, 1).expand(-1, 1, states.shape[2])
        return states.gather(1, idx).squeeze(1)  # (B, H)


class LanguageEncoder(nn.Module):
    """Embedding → LSTM → state at the last real token → heads (each fc_block(H→256) + Linear).

    Parameters
    ----------
    config : LanguageEncoderConfig or dict

    Input
    -----
    tokens : torch.Tensor
        (B, T) long, right-padded with ``<NULL>`` (0).
    lengths : torch.Tensor, optional
        (B,) number of real tokens; default: the count of non-``<NULL>`` tokens.

    Output
    ------
    dict[str, torch.Tensor]
        Head name → logits (B, n_head).
    """

    def __init__(self, config: LanguageEncoderConfig | Mapping[str, Any] | None = None):
        super().__init__()
        if config is None:
            config = LanguageEncoderConfig()
        elif not isinstance(config, LanguageEncoderConfig):
            config = LanguageEncoderConfig.from_dict(config)
        self.cfg = config
        self.lstm = _TokenLSTM(config)
        self.head_names: list[str] = list(config.heads)
        for name, n in config.heads.items():
            if not name.isidentifier() or hasattr(self, name):
                raise InvalidArgumentError(f"head name {name!r} is not usable as a module name")
            self.add_module(name, nn.Sequential(FCBlock(config.hidden_size, config.linear_hidden),
                                                nn.Linear(config.linear_hidden, n)))

    def embed(self, tokens: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T) tokens → (B, H) hidden state at the last real token."""
        if tokens.ndim != 2:
            raise InvalidArgumentError(f"tokens must have shape (B, T), got {tuple(tokens.shape)}")
        if lengths is None:
            lengths = (tokens != SPECIAL_TOKENS[NULL]).sum(dim=1)
        return self.lstm(tokens, lengths)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        h = self.embed(tokens, lengths)
        return {name: getattr(self, name)(h) for name in self.head_names}


def load_talk2edit_language_encoder(state_dict: Mapping[str, Any],
                                    vocab: Vocabulary | Mapping[str, Any] | None = None) -> LanguageEncoder:
    """Builds the published encoder from ``language_encoder.pth.tar`` content (strict loading).

    Parameters
    ----------
    state_dict : mapping
        ``{'state_dict': ...}`` or the bare state dict (a ``module.`` prefix is stripped).
    vocab : Vocabulary or the vocab.json content, optional
        Checked against the embedding size when given.

    Output
    ------
    LanguageEncoder in eval mode.
    """
    sd = unwrap_state_dict(state_dict)
    emb = sd.get("lstm.word2vec.weight")
    if emb is None:
        raise BundleError("no 'lstm.word2vec.weight' in the language encoder state dict")
    vocab_size = int(emb.shape[0])
    if vocab is not None:
        if not isinstance(vocab, Vocabulary):
            vocab = Vocabulary.from_dict(vocab)
        if len(vocab) != vocab_size:
            raise BundleError(f"vocabulary has {len(vocab)} tokens, the encoder's embedding {vocab_size}")
    num_layers = len([k for k in sd if re.fullmatch(r"lstm\.rnn\.weight_ih_l\d+", k)])
    hidden = int(sd["lstm.rnn.weight_hh_l0"].shape[1])
    heads = {}
    for name in TALK2EDIT_HEADS:
        key = f"{name}.1.weight"
        if key in sd:
            heads[name] = int(sd[key].shape[0])
    linear_hidden = int(sd[f"{next(iter(heads))}.1.weight"].shape[1]) if heads else 256
    cfg = LanguageEncoderConfig(vocab_size=vocab_size, embedding_dim=int(emb.shape[1]), hidden_size=hidden,
                                num_layers=num_layers, linear_hidden=linear_hidden, heads=heads)
    model = LanguageEncoder(cfg)
    load_state_dict_strict(model, sd, "Talk-to-Edit language encoder")
    return model.eval()
