"""Fingerprint of tiny training runs: the logged losses (times left out), the checkpoints written, a hash of the
trained weights and the metrics, for the fields (and their warm start), adapters, generator and parser stages.

Run it in two trees (or before and after a change) and ``diff`` the outputs: equal output means the stages
compute the same losses and weights for the same seeds, and write the same files.

    python tools/train_fingerprint.py [fields warm adapters generator parser] > fingerprint.txt

Models are tiny (a random 64-px bundle, a 32-px generator, a small LSTM); one torch thread.
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

TIMES = {"seconds", "sec", "cpu_sec", "train_seconds", "eval_seconds", "sec_per_step", "cpu_sec_per_step",
         "sec_per_step_median", "cpu_sec_per_step_median"}


def weights_hash(state: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for k in sorted(state):
        h.update(k.encode())
        h.update(state[k].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def log_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return [{k: v for k, v in r.items() if k not in TIMES} for r in csv.DictReader(fh)]


def checkpoints(run: Path) -> list[tuple[str, list[str], Any]]:
    out = []
    for p in sorted(run.glob("*.pt")):
        c = torch.load(p, weights_only=False)
        out.append((p.name, sorted(c), c.get("step")))
    return out


def untimed(m: Any) -> Any:
    if isinstance(m, dict):
        return {k: untimed(v) for k, v in m.items() if k not in TIMES}
    if isinstance(m, list):
        return [untimed(x) for x in m]
    return m


def report(name: str, run: Path, log: str, state: dict[str, torch.Tensor], metrics: dict[str, Any]) -> None:
    print(f"{name} log", log_rows(run / log))
    print(f"{name} checkpoints", checkpoints(run))
    print(f"{name} weights", weights_hash(state))
    print(f"{name} metrics", json.dumps(untimed(metrics), sort_keys=True, default=str))


def tiny_identity() -> nn.Module:
    """A stand-in identity encoder F: images (B, 3, H, W) → (B, 6)."""
    torch.manual_seed(1)
    return nn.Sequential(nn.Conv2d(3, 4, 3, stride=4), nn.AdaptiveAvgPool2d(4), nn.Flatten(1), nn.Linear(4 * 16, 6))


def fields(tmp: Path, bundle: Path) -> None:
    from edsc.train.fields import FieldTrainConfig, train_fields
    from shared.bundle import Bundle
    from shared.models.stylegan2 import Discriminator

    b = Bundle(bundle)
    torch.manual_seed(2)
    disc = Discriminator(64, channels={4: 16, 8: 16, 16: 16, 32: 8, 64: 8}).eval()
    cfg = FieldTrainConfig(steps=7, batch_size=4, lr=3e-3, warmup=2, final_frac=0.1, lambda_disc=0.1,
                           field=dict(hidden=32, layers=2, step_scale=0.05), channel="torch", eval_latents=4,
                           eval_every=4, log_every=3, ckpt_every=3)
    f, m = train_fields(b.generator, b.predictor, tiny_identity(), disc, b.adapters, cfg, tmp / "f", progress=False)
    report("fields", tmp / "f", "log.csv", f.state_dict(), m)


def warm_start(tmp: Path, bundle: Path) -> None:
    from edsc.train.fields import pretrain_fields_on_world
    from shared.bundle import Bundle
    from shared.models.field import FieldBank, FieldConfig

    b = Bundle(bundle)
    torch.manual_seed(4)
    bank = FieldBank.residual(["smiling", "age"], FieldConfig(hidden=32, layers=2, step_scale=0.05))
    m = pretrain_fields_on_world(bank, b.generator, ["smiling", "age"], steps=12, batch_size=16, lr=3e-3,
                                 progress=False)
    print("warm weights", weights_hash(bank.state_dict()))
    print("warm metrics", json.dumps(untimed(m), sort_keys=True))


def adapters(tmp: Path, bundle: Path) -> None:
    from edsc.train.adapters import AdapterTrainConfig, train_adapters
    from shared.bundle import Bundle

    b = Bundle(bundle)
    w = b.generator.mapping(torch.randn(9, 512, generator=torch.Generator().manual_seed(3))).detach()
    cfg = AdapterTrainConfig(snr_levels=[-6.0, 6.0], steps=5, lr=3e-3, warmup=1, final_frac=0.2, n_ft=4, n_eval=3,
                             n_val=2, val_every=2, batch_size=4, target="render", channel="torch", eval_draws=1,
                             log_every=2, ckpt_every=3)
    codec, m = train_adapters(b.generator, b.adapters, w, cfg, tmp / "a", progress=False)
    report("adapters", tmp / "a", "log.csv", codec.state_dict(), m)


def generator(tmp: Path) -> None:
    from edsc.train.generator import GeneratorTrainConfig, train_generator

    cfg = GeneratorTrainConfig(size=32, channels={4: 16, 8: 16, 16: 8, 32: 8}, style_dim=64, n_mlp=2, batch=4,
                               steps=5, warmup_steps=1, eval_every=2, checkpoint_every=2, eval_faces=4,
                               sample_faces=2, inversion_faces=0, device="cpu", seed=3)
    g, m = train_generator(cfg, tmp / "g", progress=False)
    report("generator", tmp / "g", "losses.csv", g.state_dict(), m)
    evals = (tmp / "g/eval.jsonl").read_text().splitlines()
    print("generator eval.jsonl", [untimed(json.loads(line)) for line in evals])
    _, part = train_generator(cfg, tmp / "g2", progress=False, stop_at=3)
    print("generator stopped", json.dumps(untimed({k: v for k, v in part.items() if k != "history"}), sort_keys=True))
    g2, _ = train_generator(cfg, tmp / "g2", progress=False)
    same_log = log_rows(tmp / "g2/losses.csv") == log_rows(tmp / "g/losses.csv")
    print("generator resumed", weights_hash(g2.state_dict()), "same log:", same_log)


def parser(tmp: Path) -> None:
    from edsc.train.parser import ParserTrainConfig, train_parser

    cfg = ParserTrainConfig(train_sentences=192, out_of_scope_sentences=64, val_sentences=64, vocab_sentences=192,
                            min_count=1, epochs=3, batch_size=32, embedding_dim=16, hidden_size=24, linear_hidden=16,
                            warmup=2, checkpoint_every=5, log_every=3)
    enc, _, m = train_parser(cfg, tmp / "p", progress=False)
    report("parser", tmp / "p", "log.csv", enc.state_dict(), m)
    print("parser files", sorted(p.name for p in (tmp / "p").iterdir()))
    _, _, part = train_parser(cfg, tmp / "q", progress=False, time_limit=0.0)
    print("parser stopped", untimed(part))
    enc2, _, m2 = train_parser(cfg, tmp / "q", progress=False)
    print("parser resumed", weights_hash(enc2.state_dict()), m2["resumed_from"])


def main() -> None:
    torch.set_num_threads(1)
    stages = sys.argv[1:] or ["fields", "warm", "adapters", "generator", "parser"]
    tmp = Path(tempfile.mkdtemp(prefix="edsc-fingerprint-"))
    bundle = None
    if {"fields", "warm", "adapters"} & set(stages):
        from edsc.random_bundle import make_random_bundle
        bundle = make_random_bundle(tmp / "tiny", size=64, seed=0)
    for stage in stages:
        {"fields": lambda: fields(tmp, bundle), "warm": lambda: warm_start(tmp, bundle),
         "adapters": lambda: adapters(tmp, bundle),
         "generator": lambda: generator(tmp), "parser": lambda: parser(tmp)}[stage]()


if __name__ == "__main__":
    main()
