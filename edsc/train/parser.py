"""Training stage (d): the instruction parser (LSTM language encoder) on the SynthFace instruction corpus.

Labels per sentence: attribute; request mode (change_definite / change_indefinite / target, Talk-to-Edit's
order); direction (negative / positive, change modes only); change value 1..u (definite only); target 0..u
(target only). Each head's cross-entropy counts only where its label exists.

Generalisation to unseen sentence *structures* (validation templates, :mod:`edsc.world.instructions` splits by
template) and to typos comes from:

* **fresh sentences every epoch** (``generate(n, "train", seed=<per-epoch seed>)``): the model never sees the
  same noisy sentence twice, only the same templates;
* a **vocabulary from the training sentences** with ``min_count`` (drops most typo tokens, so misspelt words are
  ``<UNK>`` in training exactly as at validation);
* **word dropout**: each token is replaced by ``<UNK>`` with probability ``word_dropout`` (the model learns to
  read around unknown words), and with ``token_drop`` deleted (robust to missing fillers / function words);
* an LSTM of the Talk-to-Edit layout (:class:`~shared.models.language.LanguageEncoder`, the class is fixed; sizes
  are configurable), AdamW with warm-up + cosine decay, gradient clipping, LSTM dropout between layers.

Determinism / resumption: the sentences of epoch ``e``, the order of the batches and the word dropout of step
``s`` are pure functions of ``(seed, e, s)``; a checkpoint holds the model, the optimizer and the step.
Held-out metrics are computed on ``generate(val_sentences, "val", seed=<held-out seed>)``: validation templates,
a seed stream that training never uses.

Run directory: ``config.json``, ``ckpt-<step>.pt``, ``log.csv`` (step, epoch, lr, loss, val exact at
checkpoints), ``metrics.json``, ``vocab.json`` and the final ``language.safetensors`` + ``language.json``
(``{"arch": "lstm", "config": LanguageEncoderConfig}``).

Example::

    from edsc.train.parser import ParserTrainConfig, train_parser
    encoder, vocab, metrics = train_parser(ParserTrainConfig(), run_dir="runs/parser")
"""

from __future__ import annotations

import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from tqdm import tqdm

from edsc.train.common import (RunDir, lr_at, make_generator, out_of_time, set_lr, stable_seed, stopped_early,
                               write_json)
from edsc.world.instructions import LabelledInstruction, generate
from shared.errors import InvalidArgumentError
from shared.models.language import HEAD_LABELS, SPECIAL_TOKENS, LanguageEncoder, LanguageEncoderConfig, Vocabulary, tokenize
from transmitter.instruction import Edit, InstructionParser

__all__ = ["ParserTrainConfig", "train_parser", "exact_match", "evaluate_parser", "MODE_TO_CLASS"]

MODE_TO_CLASS = {"definite": 0, "indefinite": 1, "target": 2}
IGNORE = -100
DEFAULT_ATTRIBUTES = ["bangs", "eyeglasses", "beard", "smiling", "age"]


@dataclass
class ParserTrainConfig:
    """Configuration of :func:`train_parser`.

    Parameters
    ----------
    train_sentences : sentences generated per epoch (fresh ones each epoch)
    val_sentences : held-out sentences from the validation templates
    epochs, batch_size, lr, weight_decay, warmup, grad_clip : optimisation
    embedding_dim, hidden_size, num_layers, linear_hidden, dropout : encoder sizes (LanguageEncoderConfig)
    word_dropout : probability that a training token becomes ``<UNK>``
    token_drop : probability that a training token is deleted (sentences keep at least one token)
    vocab_sentences, min_count : the vocabulary is built from the first ``vocab_sentences`` training sentences
        (epoch 0's), keeping tokens seen at least ``min_count`` times
    typo_rate : typo probability per eligible word, training and validation
    seed : seed of everything (init, sentences, batches, dropout)
    checkpoint_every, log_every : in steps
    """

    train_sentences: int = 24000
    val_sentences: int = 2000
    epochs: int = 12
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    warmup: int = 200
    grad_clip: float = 5.0
    embedding_dim: int = 128
    hidden_size: int = 192
    num_layers: int = 2
    linear_hidden: int = 128
    dropout: float = 0.2
    word_dropout: float = 0.08
    token_drop: float = 0.02
    vocab_sentences: int = 24000
    min_count: int = 3
    typo_rate: float = 0.03
    seed: int = 0
    checkpoint_every: int = 500
    log_every: int = 50

    def __post_init__(self) -> None:
        if self.train_sentences < 1 or self.epochs < 0 or self.batch_size < 1:
            raise InvalidArgumentError("train_sentences and batch_size must be >= 1, epochs >= 0")
        for name in ("word_dropout", "token_drop", "typo_rate"):
            v = getattr(self, name)
            if not 0.0 <= v < 1.0:
                raise InvalidArgumentError(f"{name} must lie in [0, 1), got {v}")


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
    return evaluate_parser(parser, items, batch_size)["exact"]


def evaluate_parser(parser: InstructionParser, items: list[LabelledInstruction],
                    batch_size: int = 256) -> dict[str, Any]:
    """Exact match plus per-field accuracies, per-mode exact match and the worst templates.

    A sentence the parser rejects (no known word, ``end`` mode) counts as wrong.
    """
    fields = ("attribute", "mode", "direction", "change", "target")
    correct = 0
    field_ok: Counter[str] = Counter()
    by_mode: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_template: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    errors: list[dict[str, Any]] = []
    for start in range(0, len(items), batch_size):
        chunk = items[start:start + batch_size]
        edits: list[Edit | None] = []
        try:
            edits = list(parser.parse_batch([it.text for it in chunk]))
        except InvalidArgumentError:  # parse one by one to isolate the rejected sentence
            for it in chunk:
                try:
                    edits.append(parser.parse(it.text))
                except InvalidArgumentError:
                    edits.append(None)
        for edit, it in zip(edits, chunk):
            label = it.label_dict()
            got = edit.to_dict() if edit is not None else {}
            ok = got == label
            correct += ok
            for f in fields:
                field_ok[f] += got.get(f, "missing") == label[f]
            by_mode[it.mode][0] += ok
            by_mode[it.mode][1] += 1
            by_template[it.template_id][0] += ok
            by_template[it.template_id][1] += 1
            if not ok and len(errors) < 20:
                errors.append({"text": it.text, "label": label, "parsed": got or None})
    n = max(1, len(items))
    worst = sorted(((c / t, tid, t) for tid, (c, t) in by_template.items()), key=lambda x: (x[0], x[1]))[:8]
    return {
        "exact": correct / n,
        "n": len(items),
        "fields": {f: round(field_ok[f] / n, 4) for f in fields},
        "by_mode": {m: round(c / max(1, t), 4) for m, (c, t) in sorted(by_mode.items())},
        "worst_templates": [{"template": tid, "exact": round(acc, 4), "n": t} for acc, tid, t in worst],
        "errors": errors,
    }


def _epoch_sentences(cfg: ParserTrainConfig, epoch: int) -> list[LabelledInstruction]:
    return generate(cfg.train_sentences, "train", seed=stable_seed("parser-train", cfg.seed, epoch) % (2 ** 31),
                    typo_rate=cfg.typo_rate)


def _val_sentences(cfg: ParserTrainConfig, typo_rate: float) -> list[LabelledInstruction]:
    return generate(cfg.val_sentences, "val", seed=stable_seed("parser-heldout", cfg.seed) % (2 ** 31),
                    typo_rate=typo_rate)


def _corrupt(tokens: torch.Tensor, lengths: torch.Tensor, cfg: ParserTrainConfig,
             g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Word dropout (→ <UNK>) and token deletion on a right-padded batch (B, T)."""
    B, T = tokens.shape
    real = torch.arange(T).view(1, T) < lengths.view(B, 1)
    unk = (torch.rand(B, T, generator=g) < cfg.word_dropout) & real
    drop = (torch.rand(B, T, generator=g) < cfg.token_drop) & real
    tokens = torch.where(unk, torch.full_like(tokens, SPECIAL_TOKENS["<UNK>"]), tokens)
    if not drop.any():
        return tokens, lengths
    keep = real & ~drop
    keep[keep.sum(1) == 0] = real[keep.sum(1) == 0]  # never empty a sentence
    new_len = keep.sum(1)
    out = torch.full_like(tokens, SPECIAL_TOKENS["<NULL>"])
    for i in range(B):
        row = tokens[i][keep[i]]
        out[i, : row.numel()] = row
    return out, new_len


def train_parser(config: ParserTrainConfig | None = None, run_dir: str | Path | None = None,
                 resume: bool = True, progress: bool = True, attributes: list[str] | None = None,
                 time_limit: float | None = None) -> tuple[LanguageEncoder, Vocabulary, dict[str, Any]]:
    """Trains the built-in language encoder.

    Parameters
    ----------
    config : ParserTrainConfig
    run_dir : where checkpoints, logs, metrics and the final weights go (``None``: nothing is written)
    resume : continue from the newest checkpoint in ``run_dir`` (same config required)
    progress : tqdm bar on stderr
    attributes : names of the attribute head's classes (default the five SynthFace attributes)
    time_limit : wall-clock seconds for this call; when reached, a checkpoint is written and the call returns
        early with ``metrics["complete"] = False``: call again to resume

    Output
    ------
    (encoder in eval mode on CPU, vocabulary, metrics: ``val_exact`` (validation templates, typos at the
    training rate, parsed as served, i.e. with the parser's spelling correction), ``val_exact_clean`` (no typos),
    ``val_exact_no_spell_fix`` (typos, correction off), ``train_exact``, per-field / per-mode results, ...)
    """
    cfg = config or ParserTrainConfig()
    attributes = list(attributes or DEFAULT_ATTRIBUTES)
    t0 = time.perf_counter()
    run = RunDir(run_dir, cfg, resume=resume) if run_dir is not None else None

    first = _epoch_sentences(cfg, 0)
    vocab_src = first[: cfg.vocab_sentences]
    vocab = Vocabulary.build([it.text for it in vocab_src], min_count=cfg.min_count)
    enc_cfg = LanguageEncoderConfig(vocab_size=len(vocab), embedding_dim=cfg.embedding_dim,
                                    hidden_size=cfg.hidden_size, num_layers=cfg.num_layers,
                                    linear_hidden=cfg.linear_hidden, dropout=cfg.dropout,
                                    heads={"attribute": len(attributes), "score_change_direction": 2,
                                           "score_change_value": 5, "target_score": 6,
                                           "request_mode": len(HEAD_LABELS["request_mode"])})
    torch.manual_seed(stable_seed("parser-init", cfg.seed))
    encoder = LanguageEncoder(enc_cfg)
    decay = [p for p in encoder.parameters() if p.ndim > 1]
    no_decay = [p for p in encoder.parameters() if p.ndim <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)
    steps_per_epoch = (cfg.train_sentences + cfg.batch_size - 1) // cfg.batch_size
    total = cfg.epochs * steps_per_epoch
    start = 0
    if run is not None and resume:
        ck = run.load_latest()
        if ck is not None:
            encoder.load_state_dict(ck["model"])
            opt.load_state_dict(ck["optimizer"])
            start = int(ck["step"])
    log = run.log(["step", "epoch", "lr", "loss", "val_exact"], start if start > 0 else None) if run else None
    val = _val_sentences(cfg, cfg.typo_rate)
    val_small = val[:500]

    bar = tqdm(total=total, initial=start, desc="parser", file=sys.stderr, disable=not progress, leave=False,
               dynamic_ncols=True)
    loss_avg = None
    step = start
    encoder.train()
    for epoch in range(start // steps_per_epoch, cfg.epochs):
        items = first if epoch == 0 else _epoch_sentences(cfg, epoch)
        tokens, lengths = vocab.encode_batch([tokenize(it.text) for it in items])
        labels = _labels(items, attributes)
        order = torch.randperm(len(items), generator=make_generator("parser-order", cfg.seed, epoch))
        for b in range(step - epoch * steps_per_epoch, steps_per_epoch):
            idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
            lr = lr_at(step, cfg.lr, total, cfg.warmup)
            set_lr(opt, lr)
            g = make_generator("parser-step", cfg.seed, step)
            length = lengths[idx]
            tok, length = _corrupt(tokens[idx, : int(length.max())], length, cfg, g)
            tok = tok[:, : int(length.max())]
            torch.manual_seed(stable_seed("parser-dropout", cfg.seed, step))
            out = encoder(tok, length)
            loss = sum(F.cross_entropy(out[h], labels[h][idx], ignore_index=IGNORE)
                       for h in labels if (labels[h][idx] != IGNORE).any())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(encoder.parameters(), cfg.grad_clip)
            opt.step()
            step += 1
            lv = float(loss.detach())
            loss_avg = lv if loss_avg is None else 0.98 * loss_avg + 0.02 * lv
            bar.update(1)
            bar.set_postfix(loss=f"{loss_avg:.3f}", epoch=epoch)
            at_ckpt = step % cfg.checkpoint_every == 0 or step == total
            if log is not None and (step % cfg.log_every == 0 or at_ckpt):
                vx = ""
                if at_ckpt:
                    vx = exact_match(InstructionParser(encoder, vocab, attributes), val_small)
                    encoder.train()
                log.log(step=step, epoch=epoch, lr=lr, loss=lv, val_exact=vx)
            stop = out_of_time(t0, time_limit, step, total)
            if run is not None and (at_ckpt or stop):
                run.save(step, {"model": encoder.state_dict(), "optimizer": opt.state_dict()})
            if stop:
                return encoder, vocab, stopped_early(encoder, bar, step, total, start, t0)
    bar.close()
    encoder.eval()
    parser = InstructionParser(encoder, vocab, attributes)                      # spelling correction on, as served
    val_report = evaluate_parser(parser, val)
    clean = evaluate_parser(parser, _val_sentences(cfg, 0.0))
    unfixed = evaluate_parser(InstructionParser(encoder, vocab, attributes, spell_fix=False), val)
    metrics: dict[str, Any] = {
        "complete": True,
        "val_exact": val_report["exact"],
        "val_exact_clean": clean["exact"],
        "val_exact_no_spell_fix": unfixed["exact"],
        "train_exact": exact_match(parser, first[:2000]),
        "val": {k: v for k, v in val_report.items() if k != "exact"},
        "val_sentences": len(val),
        "train_sentences_per_epoch": cfg.train_sentences,
        "vocab_size": len(vocab),
        "parameters": sum(p.numel() for p in encoder.parameters()),
        "steps": total,
        "resumed_from": start,
        "final_loss": loss_avg,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    if run is not None:
        run.write_metrics(metrics)
        vocab.save(run.path / "vocab.json")
        save_file({k: v.detach().cpu().contiguous() for k, v in encoder.state_dict().items()},
                  str(run.path / "language.safetensors"))
        write_json(run.path / "language.json", {"arch": "lstm", "config": enc_cfg.to_dict(),
                                                "attributes": attributes})
    return encoder, vocab, metrics


if __name__ == "__main__":  # pragma: no cover
    # manual runs: python -m edsc.train.parser RUN_DIR [key=value ...] [time_limit=SECONDS]
    import json

    torch.set_num_threads(1)
    out = sys.argv[1] if len(sys.argv) > 1 else "runs/parser"
    kw: dict[str, Any] = {}
    limit = None
    for arg in sys.argv[2:]:
        k, v = arg.split("=", 1)
        if k == "time_limit":
            limit = float(v)
        else:
            kw[k] = type(getattr(ParserTrainConfig, k))(v) if hasattr(ParserTrainConfig, k) else v
    _, _, m = train_parser(ParserTrainConfig(**kw), run_dir=out, time_limit=limit)
    print(json.dumps(m, indent=2))
