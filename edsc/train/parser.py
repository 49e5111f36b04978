"""Training stage: the instruction parser (LSTM language encoder) on the SynthFace instruction corpus.

Labels per sentence: attribute; request mode (change_definite / change_indefinite / target, Talk-to-Edit's
order); direction (negative / positive, change modes only); change value 1..u (definite only); target 0..u
(target only). Each head's cross-entropy counts only where its label exists. The vocabulary is built from the
training sentences alone, so validation (other templates) meets unknown words as a user would.
"""

from __future__ import annotations

import dataclasses
import random
import sys
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from tqdm import tqdm

from edsc.world.instructions import LabelledInstruction, generate
from shared.models.language import HEAD_LABELS, LanguageEncoder, LanguageEncoderConfig, Vocabulary, tokenize
from transmitter.instruction import Edit, InstructionParser

MODE_TO_CLASS = {"definite": 0, "indefinite": 1, "target": 2}
IGNORE = -100


@dataclass
class ParserTrainConfig:
    train_sentences: int = 12000
    val_sentences: int = 2000
    epochs: int = 6
    batch_size: int = 64
    lr: float = 2e-3
    embedding_dim: int = 64
    hidden_size: int = 128
    num_layers: int = 1
    linear_hidden: int = 128
    typo_rate: float = 0.03
    seed: int = 0


def _labels(items: list[LabelledInstruction], attributes: list[str]) -> dict[str, torch.Tensor]:
    def col(fn):
        return torch.tensor([fn(it) for it in items], dtype=torch.long)

    return {
        "attribute": col(lambda it: attributes.index(it.attribute)),
        "request_mode": col(lambda it: MODE_TO_CLASS[it.mode]),
        "score_change_direction": col(lambda it: IGNORE if it.direction is None else (1 if it.direction > 0 else 0)),
        "score_change_value": col(lambda it: IGNORE if it.change is None else it.change - 1),
        "target_score": col(lambda it: IGNORE if it.target is None else it.target),
    }


def exact_match(parser: InstructionParser, items: list[LabelledInstruction], batch_size: int = 256) -> float:
    """Share of sentences whose parsed (attribute, mode, direction, change / target) equals the label."""
    correct = 0
    for start in range(0, len(items), batch_size):
        chunk = items[start:start + batch_size]
        edits = parser.parse_batch([it.text for it in chunk])
        for edit, it in zip(edits, chunk):
            correct += edit == Edit(it.attribute, it.mode, it.direction, it.change, it.target)
    return correct / max(1, len(items))


def train_parser(config: ParserTrainConfig | None = None, attributes: list[str] | None = None,
                 progress: bool = True) -> tuple[LanguageEncoder, Vocabulary, dict]:
    """Train the built-in language encoder.

    Output: (encoder (eval mode, CPU), vocabulary, metrics {"val_exact", "train_exact", "seconds", ...}).
    """
    config = config or ParserTrainConfig()
    attributes = attributes or ["bangs", "eyeglasses", "beard", "smiling", "age"]
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    t0 = time.perf_counter()
    train = generate(config.train_sentences, "train", seed=config.seed, typo_rate=config.typo_rate)
    val = generate(config.val_sentences, "val", seed=config.seed + 1, typo_rate=config.typo_rate)
    vocab = Vocabulary.build([it.text for it in train], min_count=1)
    enc_cfg = LanguageEncoderConfig(vocab_size=len(vocab), embedding_dim=config.embedding_dim,
                                    hidden_size=config.hidden_size, num_layers=config.num_layers,
                                    linear_hidden=config.linear_hidden,
                                    heads={"attribute": len(attributes), "score_change_direction": 2,
                                           "score_change_value": 5, "target_score": 6,
                                           "request_mode": len(HEAD_LABELS["request_mode"])})
    encoder = LanguageEncoder(enc_cfg)
    tokens, lengths = vocab.encode_batch([tokenize(it.text) for it in train])
    labels = _labels(train, attributes)
    optimizer = torch.optim.Adam(encoder.parameters(), lr=config.lr)
    n = len(train)
    steps = config.epochs * ((n + config.batch_size - 1) // config.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=steps)
    bar = tqdm(total=steps, desc="parser", file=sys.stderr, disable=not progress, leave=False)
    losses = []
    encoder.train()
    for _ in range(config.epochs):
        order = list(range(n))
        rng.shuffle(order)
        for start in range(0, n, config.batch_size):
            idx = torch.tensor(order[start:start + config.batch_size])
            length = lengths[idx]
            out = encoder(tokens[idx, : int(length.max())], length)
            loss = sum(F.cross_entropy(out[h], labels[h][idx], ignore_index=IGNORE)
                       for h in labels if (labels[h][idx] != IGNORE).any())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(encoder.parameters(), 5.0)
            optimizer.step()
            scheduler.step()
            losses.append(float(loss))
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
    bar.close()
    encoder.eval()
    parser = InstructionParser(encoder, vocab, attributes)
    metrics = {
        "val_exact": exact_match(parser, val),
        "train_exact": exact_match(parser, train[:2000]),
        "val_sentences": len(val),
        "train_sentences": len(train),
        "vocab_size": len(vocab),
        "final_loss": sum(losses[-20:]) / max(1, len(losses[-20:])),
        "seconds": time.perf_counter() - t0,
        "config": dataclasses.asdict(config),
    }
    return encoder, vocab, metrics
