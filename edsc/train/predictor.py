"""Training stage (b): the attribute predictor P that JECC uses, and the separate evaluation predictor.

Both are trained on SynthFace renders with exact labels (the degrees the faces were drawn with):

* **Data.** Faces stream from :class:`edsc.world.faces.FacePool` (namespace ``"train"``, a per-role data seed);
  a share ``frac_prob`` of the attribute degrees is fractional (uniform in [0, 5]) so the decision boundaries sit
  where the rounded degree changes — what JECC meets when it walks a latent from one degree to the next.
* **Labels.** ``label="soft"``: a fractional degree ``d = i + f`` gets probability ``1 − f`` on ``i`` and ``f`` on
  ``i + 1`` (argmax = rounded degree, and the softmax is calibrated along the path); ``"round"``: one-hot on
  ``floor(d + 0.5)``. Integer degrees are one-hot either way; optional label smoothing.
* **Robustness.** A share ``aug_prob`` of each batch goes through :func:`edsc.train.augment.augment` (shift /
  scale / rotation, colour, blur, down-up resampling, JPEG-like, noise): the predictor will read a generator's
  slightly soft images, not clean renders.
* **Held-out metrics** (never on training faces): per-attribute exact and within-±1 accuracy on ``eval_faces``
  integer-degree renders (namespace ``heldout/predictor-int``), the same faces after a fixed generator-like
  degradation (``AugmentConfig.generator_like``), and the rounded degree of fractional renders
  (``heldout/predictor-frac``; faces within ``0.1`` of a rounding boundary are left out, their label is a
  coin toss).

The two roles differ by configuration, see :meth:`PredictorTrainConfig.jecc` and
:meth:`PredictorTrainConfig.evaluation`: the evaluation predictor uses another SmallCNN shape (other widths,
BatchNorm instead of GroupNorm, dropout), rounded instead of soft labels, other initialisation and data seeds and
another training stream, so its errors are as little correlated as a CPU budget allows with those of the
predictor JECC optimises against (JECC stops when *its* predictor reads the target; the evaluation predictor
then checks the edit independently).

Run directory: ``config.json``, ``ckpt-<step>.pt`` (model, optimizer, step), ``log.csv`` (step, lr, loss,
train accuracy, held-out exact accuracy at checkpoints), ``metrics.json`` and the final weights
``predictor.safetensors`` + ``predictor.json`` (``{"arch", "config"}``, the bundle's component entry).

Example::

    from edsc.train.predictor import PredictorTrainConfig, train_predictor
    model, metrics = train_predictor(PredictorTrainConfig.jecc(steps=3000), "runs/predictor-jecc")
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

from edsc.train.augment import AugmentConfig, augment
from edsc.train.loop import FitConfig, adamw, fit, open_log, optimizer_step, resume_from
from edsc.train.rundir import RunDir
from edsc.world.faces import FacePool, FaceStream, heldout_faces
from edsc.world.seeds import make_generator, stable_seed
from shared.atomic_io import save_safetensors_atomic, write_json_atomic
from shared.errors import InvalidArgumentError
from shared.models.predictor import AttributePredictor, SmallCNNConfig, build_predictor

__all__ = ["PredictorTrainConfig", "train_predictor", "evaluate_predictor", "degree_targets"]

_ROLES = ("jecc", "eval")


@dataclass
class PredictorTrainConfig:
    """Configuration of :func:`train_predictor`.

    Parameters
    ----------
    role : ``"jecc"`` (the predictor P of the bundle) or ``"eval"`` (the evaluation predictor)
    arch, model : predictor architecture and its config (see :func:`shared.models.predictor.build_predictor`)
    seed : initialisation seed; the data stream uses ``stable_seed(role, seed)``
    steps, batch_size, lr, weight_decay, warmup, grad_clip : optimisation (AdamW, warm-up + cosine)
    fresh_per_step, window, chunk : rendering budget (faces rendered per step), pool window in chunks, chunk size
    frac_prob : probability that an attribute's degree is fractional in training faces
    label : ``"soft"`` or ``"round"`` (see the module docstring); label_smoothing on top
    aug_prob, augment : share of each batch augmented, and how
    checkpoint_every, log_every : steps between checkpoints / log rows
    eval_faces, eval_seed : size and seed of the held-out sets; eval_during: faces used at checkpoints
    size : render size
    """

    role: str = "jecc"
    arch: str = "small_cnn"
    model: dict[str, Any] = field(default_factory=lambda: SmallCNNConfig().to_dict())
    seed: int = 0
    steps: int = 2000
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    warmup: int = 100
    grad_clip: float = 5.0
    fresh_per_step: int = 24
    window: int = 24
    chunk: int = 64
    frac_prob: float = 0.3
    label: str = "soft"
    label_smoothing: float = 0.0
    aug_prob: float = 0.75
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    checkpoint_every: int = 200
    log_every: int = 20
    eval_faces: int = 500
    eval_during: int = 128
    eval_seed: int = 0
    size: int = 128

    def __post_init__(self) -> None:
        if self.role not in _ROLES:
            raise InvalidArgumentError(f"role must be one of {_ROLES}, got {self.role!r}")
        if self.label not in ("soft", "round"):
            raise InvalidArgumentError(f"label must be 'soft' or 'round', got {self.label!r}")
        if isinstance(self.augment, dict):
            self.augment = AugmentConfig.from_dict(self.augment)
        if self.steps < 0 or self.batch_size < 1:
            raise InvalidArgumentError("steps must be >= 0 and batch_size >= 1")

    @classmethod
    def jecc(cls, **overrides: Any) -> "PredictorTrainConfig":
        """The predictor JECC uses: the default SmallCNN (GroupNorm, widths 16..160), seed 0."""
        base = dict(role="jecc", arch="small_cnn", seed=0,
                    model=SmallCNNConfig(widths=[16, 32, 64, 128, 160], norm="group").to_dict())
        base.update(overrides)
        return cls(**base)

    @classmethod
    def evaluation(cls, **overrides: Any) -> "PredictorTrainConfig":
        """The evaluation predictor: another SmallCNN shape (widths 12, 32, 64, 128, 192 — about the JECC
        predictor's compute — BatchNorm instead of GroupNorm, dropout 0.1), rounded labels with smoothing 0.05
        instead of soft labels, another initialisation seed and another training stream."""
        base = dict(role="eval", arch="small_cnn", seed=1, label="round", label_smoothing=0.05,
                    model=SmallCNNConfig(widths=[12, 32, 64, 128, 192], norm="batch", dropout=0.1).to_dict())
        base.update(overrides)
        return cls(**base)


def degree_targets(degrees: Tensor, num_degrees: int, mode: str = "soft", smoothing: float = 0.0) -> Tensor:
    """Target distributions for (possibly fractional) degrees.

    Input: degrees (B, m) float in [0, num_degrees − 1]. Output: (B, m, num_degrees), rows sum to 1.
    """
    u = num_degrees - 1
    d = degrees.clamp(0.0, float(u))
    if mode == "round":
        t = F.one_hot(torch.floor(d + 0.5).long().clamp(0, u), num_degrees).to(d.dtype)
    elif mode == "soft":
        lo = d.floor().clamp(max=u - 1)
        f = (d - lo).unsqueeze(-1)
        lo = lo.long()
        t = F.one_hot(lo, num_degrees).to(d.dtype) * (1.0 - f) + F.one_hot(lo + 1, num_degrees).to(d.dtype) * f
    else:
        raise InvalidArgumentError(f"unknown label mode {mode!r}")
    if smoothing > 0:
        t = t * (1.0 - smoothing) + smoothing / num_degrees
    return t


def _accuracy(pred: Tensor, target: Tensor, attributes: list[str]) -> dict[str, Any]:
    """pred, target: (N, m) long → per-attribute exact / within-1 and their minima / means."""
    exact = (pred == target).float().mean(0)
    within = ((pred - target).abs() <= 1).float().mean(0)
    return {
        "exact": {a: round(float(exact[i]), 4) for i, a in enumerate(attributes)},
        "within1": {a: round(float(within[i]), 4) for i, a in enumerate(attributes)},
        "exact_min": round(float(exact.min()), 4),
        "exact_mean": round(float(exact.mean()), 4),
        "within1_min": round(float(within.min()), 4),
        "n": int(pred.shape[0]),
    }


def _predict(model: AttributePredictor, images: Tensor, batch: int = 128) -> Tensor:
    out = [model.predict(images[i:i + batch]).degree for i in range(0, images.shape[0], batch)]
    return torch.cat(out) if out else torch.empty(0, len(model.attributes), dtype=torch.long)


def evaluate_predictor(model: AttributePredictor, n: int = 500, seed: int = 0, size: int = 128,
                       degraded: bool = True, fractional: bool = True) -> dict[str, Any]:
    """Held-out accuracy of a predictor on SynthFace renders (never training faces, see the module docstring).

    Output: ``{"clean": {...}, "degraded": {...}, "fractional": {...}}`` with per-attribute ``exact`` and
    ``within1`` accuracies (``fractional``: against the rounded degree, boundary cases excluded).
    """
    device = next(model.parameters()).device
    images, _, degrees = heldout_faces("predictor-int", seed, n, size=size)
    target = degrees.round().long().to(device)
    out: dict[str, Any] = {"clean": _accuracy(_predict(model, images.to(device)), target, model.attributes)}
    if degraded:
        g = make_generator("heldout/predictor-degrade", seed)
        worse = augment(images, AugmentConfig.generator_like(), g)
        out["degraded"] = _accuracy(_predict(model, worse.to(device)), target, model.attributes)
    if fractional:
        images, _, degrees = heldout_faces("predictor-frac", seed, n, size=size, frac_prob=1.0)
        pred = _predict(model, images.to(device)).cpu()
        rounded = torch.floor(degrees + 0.5).long()
        keep = ((degrees - degrees.floor()) - 0.5).abs() > 0.1  # (n, m): away from a rounding boundary
        exact = {}
        within = {}
        for i, a in enumerate(model.attributes):
            k = keep[:, i]
            exact[a] = round(float((pred[k, i] == rounded[k, i]).float().mean()), 4)
            within[a] = round(float(((pred[k, i] - rounded[k, i]).abs() <= 1).float().mean()), 4)
        out["fractional"] = {"exact": exact, "within1": within, "exact_min": min(exact.values()),
                             "exact_mean": round(sum(exact.values()) / len(exact), 4), "n": int(n)}
    return out


def train_predictor(config: PredictorTrainConfig | None = None, run_dir: str | Path | None = None,
                    resume: bool = True, progress: bool = True, device: torch.device | str = "cpu",
                    time_limit: float | None = None) -> tuple[AttributePredictor, dict[str, Any]]:
    """Trains an attribute predictor on SynthFace renders.

    Parameters
    ----------
    config : PredictorTrainConfig (default: :meth:`PredictorTrainConfig.jecc`)
    run_dir : where checkpoints, logs, metrics and the final weights go; ``None``: nothing is written
        (no checkpoints, nothing to resume)
    resume : continue from the newest checkpoint in ``run_dir`` (same config required)
    progress : tqdm bar on stderr
    device : training device
    time_limit : wall-clock seconds for this call; when reached, a checkpoint is written and the call returns
        early with ``metrics["complete"] = False`` (no held-out evaluation): call again to resume. Not part of
        the config, so a run can be split into several calls.

    Output
    ------
    (model in eval mode, metrics dict: ``complete``, held-out ``evaluate_predictor`` results, final loss,
    seconds, ...)
    """
    cfg = config or PredictorTrainConfig.jecc()
    device = torch.device(device)
    t0 = time.perf_counter()
    torch.manual_seed(stable_seed("predictor-init", cfg.role, cfg.seed))
    model = build_predictor(cfg.arch, cfg.model).to(device)
    model_cfg = model.config() if hasattr(model, "config") else dict(cfg.model)
    opt = adamw(model, cfg.lr, cfg.weight_decay)
    run = RunDir(run_dir, cfg, resume=resume) if run_dir is not None else None
    start = resume_from(run, model, opt, device) if resume else 0
    loop = FitConfig(steps=cfg.steps, lr=cfg.lr, warmup=cfg.warmup, checkpoint_every=cfg.checkpoint_every,
                     log_every=cfg.log_every, log_fields=["step", "lr", "loss", "train_exact", "heldout_exact_min",
                                                          "faces_rendered", "seconds"])
    log = open_log(run, loop, start)

    stream = FaceStream("train", stable_seed("predictor-data", cfg.role, cfg.seed), chunk=cfg.chunk,
                        size=cfg.size, frac_prob=cfg.frac_prob)
    pool = FacePool(stream, cfg.batch_size, cfg.fresh_per_step, cfg.window)
    during = None
    if log is not None and cfg.eval_during > 0:
        imgs, _, degs = heldout_faces("predictor-int", cfg.eval_seed, cfg.eval_during, size=cfg.size)
        during = (imgs.to(device), degs.round().long().to(device))

    bar = tqdm(total=cfg.steps, initial=start, desc=f"predictor[{cfg.role}]", file=sys.stderr,
               disable=not progress, leave=False, dynamic_ncols=True)
    model.train()
    avg: dict[str, float] = {}

    def step(s: int) -> dict[str, float]:
        images, _, degrees = pool.batch(s)
        g = make_generator("predictor-aug", cfg.role, cfg.seed, s)
        n_aug = int(round(cfg.aug_prob * images.shape[0]))
        if n_aug > 0:
            images = torch.cat([augment(images[:n_aug], cfg.augment, g), images[n_aug:]])
        images, degrees = images.to(device), degrees.to(device)
        target = degree_targets(degrees, model.num_degrees, cfg.label, cfg.label_smoothing)
        torch.manual_seed(stable_seed("predictor-step", cfg.role, cfg.seed, s))  # dropout
        logits = model(images)  # (B, m, u+1)
        loss = -(target * F.log_softmax(logits, dim=-1)).sum(-1).mean()
        optimizer_step(loss, opt, list(model.parameters()), cfg.grad_clip, f"predictor loss at step {s}")
        with torch.no_grad():
            acc = float((logits.argmax(-1) == torch.floor(degrees + 0.5).long()).float().mean())
        loss_v = float(loss.detach())
        avg["loss"] = loss_v if "loss" not in avg else 0.95 * avg["loss"] + 0.05 * loss_v
        avg["acc"] = acc if "acc" not in avg else 0.95 * avg["acc"] + 0.05 * acc
        bar.set_postfix(loss=f"{avg['loss']:.3f}", acc=f"{avg['acc']:.3f}")
        return {"loss": loss_v, "train_exact": acc}

    def evaluate(done: int, at_ckpt: bool) -> dict[str, Any]:
        held: float | str = ""
        if during is not None and at_ckpt:
            pred = _predict(model, during[0])
            held = float((pred == during[1]).float().mean(0).min())
            model.train()
        return {"heldout_exact_min": held, "faces_rendered": stream.rendered}

    stopped = fit(step, loop, run, evaluate, model=model, optimizer=opt, start=start, log=log, bar=bar, t0=t0,
                  time_limit=time_limit)
    if stopped is not None:
        return model, stopped
    loss_avg = avg.get("loss")
    metrics: dict[str, Any] = {
        "complete": True,
        "role": cfg.role,
        "arch": cfg.arch,
        "steps": cfg.steps,
        "resumed_from": start,
        "final_loss": loss_avg,
        "parameters": sum(p.numel() for p in model.parameters()),
        "faces_rendered": stream.rendered,
        "train_seconds": round(time.perf_counter() - t0, 1),
    }
    t1 = time.perf_counter()
    metrics["heldout"] = evaluate_predictor(model, cfg.eval_faces, cfg.eval_seed, cfg.size)
    metrics["eval_seconds"] = round(time.perf_counter() - t1, 1)
    if run is not None:
        run.write_metrics(metrics)
        save_safetensors_atomic(model.state_dict(), run.path / "predictor.safetensors")
        write_json_atomic(run.path / "predictor.json", {"arch": cfg.arch, "config": model_cfg,
                                                 "component": "predictor" if cfg.role == "jecc" else "eval_predictor"})
    return model, metrics


if __name__ == "__main__":  # pragma: no cover - manual runs: python -m edsc.train.predictor RUN_DIR [steps] [role] [seconds]
    import json

    torch.set_num_threads(1)
    out = sys.argv[1] if len(sys.argv) > 1 else "runs/predictor-jecc"
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    role = sys.argv[3] if len(sys.argv) > 3 else "jecc"
    make = PredictorTrainConfig.jecc if role == "jecc" else PredictorTrainConfig.evaluation
    limit = float(sys.argv[4]) if len(sys.argv) > 4 else None
    _, m = train_predictor(make(steps=steps), out, time_limit=limit)
    print(json.dumps(m, indent=2))
