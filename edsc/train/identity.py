"""Training stage (c): the identity encoder F (for L_id, eq. 13) on SynthFace renders.

F regresses the normalised identity vector a face was drawn with (:mod:`shared.models.identity`; hues as
cos / sin) from the image, with **every** attribute degree random and fractional (``frac_prob = 1``), so that
the features depend on the person and not on bangs, glasses, beard, smile or age. Loss: smooth-L1 between the
features and the encoded identity.

Augmentations are restricted to what does not change an identity parameter: slight shifts, blur, down-up
resampling, JPEG-like compression and noise; no colour jitter (skin tone, hair colour and background brightness
are identity parameters) and no scaling (face width / length are).

Held-out metrics (namespace ``heldout/identity``, never training faces): per-dimension R² and MAE in normalised
units (cyclic dimensions: R² over their cos / sin pair, MAE as the wrapped distance), their mean; and a
re-identification check that is what L_id relies on: ``reid`` renders ``reid_people`` held-out identities twice
with independent random degrees and reports the mean L1 feature distance between the two renders of the same
person, between different people, their ratio and the nearest-neighbour re-identification accuracy.

Run directory: ``config.json``, ``ckpt-<step>.pt``, ``log.csv``, ``metrics.json``, final
``identity_encoder.safetensors`` + ``identity_encoder.json`` (``{"arch": "identity_cnn", "config": ...}``).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm import tqdm

from edsc.train.augment import AugmentConfig, augment
from edsc.train.loop import FitConfig, adamw, fit, open_log, optimizer_step, resume_from
from edsc.train.rundir import RunDir
from edsc.world.faces import FacePool, FaceStream, heldout_faces
from edsc.world.seeds import make_generator, stable_seed
from shared.atomic_io import save_safetensors_atomic, write_json_atomic
from shared.errors import InvalidArgumentError
from shared.models.identity import IdentityEncoder, IdentityEncoderConfig

__all__ = ["IdentityTrainConfig", "train_identity", "evaluate_identity", "identity_augment"]


def identity_augment() -> AugmentConfig:
    """Augmentations that leave every identity parameter unchanged (see the module docstring)."""
    return AugmentConfig(p_affine=0.5, max_shift=0.02, max_scale=0.0, max_rotate=0.0, p_color=0.0,
                         p_blur=0.35, max_blur=1.0, p_resample=0.25, min_resample=0.6, p_jpeg=0.25,
                         p_noise=0.4, max_noise=0.03)


@dataclass
class IdentityTrainConfig:
    """Configuration of :func:`train_identity` (fields as in :class:`edsc.train.predictor.PredictorTrainConfig`).

    Parameters
    ----------
    model : IdentityEncoderConfig fields
    frac_prob : share of fractional attribute degrees in training faces (1: all fractional)
    beta : smooth-L1 transition point
    reid_people : identities of the re-identification check
    """

    model: dict[str, Any] = field(default_factory=lambda: IdentityEncoderConfig().to_dict())
    seed: int = 0
    steps: int = 3000
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    warmup: int = 100
    grad_clip: float = 5.0
    fresh_per_step: int = 24
    window: int = 24
    chunk: int = 64
    frac_prob: float = 1.0
    beta: float = 0.05
    aug_prob: float = 0.6
    augment: AugmentConfig = field(default_factory=identity_augment)
    checkpoint_every: int = 200
    log_every: int = 20
    eval_faces: int = 500
    eval_during: int = 128
    reid_people: int = 100
    eval_seed: int = 0
    size: int = 128

    def __post_init__(self) -> None:
        if isinstance(self.augment, dict):
            self.augment = AugmentConfig.from_dict(self.augment)
        if self.steps < 0 or self.batch_size < 1:
            raise InvalidArgumentError("steps must be >= 0 and batch_size >= 1")


def _features(model: IdentityEncoder, images: torch.Tensor, batch: int = 128) -> torch.Tensor:
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            return torch.cat([model(images[i:i + batch]) for i in range(0, images.shape[0], batch)])
    finally:
        model.train(was)


def _regression_metrics(model: IdentityEncoder, feats: torch.Tensor, identity: torch.Tensor) -> dict[str, Any]:
    target = model.encode_targets(identity)
    pred_id = model.decode(feats)
    r2, mae = {}, {}
    cyc = set(model.cfg.cyclic)
    k = 0
    for i, name in enumerate(model.cfg.dims):
        width = 2 if name in cyc else 1
        f, t = feats[:, k:k + width], target[:, k:k + width]
        sse = float((f - t).square().sum())
        sst = float((t - t.mean(0)).square().sum())
        r2[name] = round(1.0 - sse / max(sst, 1e-12), 4)
        err = (pred_id[:, i] - identity[:, i]).abs()
        if width == 2:
            err = torch.minimum(err, 2.0 - err)  # wrapped distance on [−1, 1)
        mae[name] = round(float(err.mean()), 4)
        k += width
    return {"r2": r2, "mae": mae, "r2_mean": round(sum(r2.values()) / len(r2), 4),
            "r2_median": round(sorted(r2.values())[len(r2) // 2], 4),
            "mae_mean": round(sum(mae.values()) / len(mae), 4), "n": int(identity.shape[0])}


def evaluate_identity(model: IdentityEncoder, n: int = 500, seed: int = 0, size: int = 128,
                      reid_people: int = 100) -> dict[str, Any]:
    """Held-out regression quality and re-identification (see the module docstring)."""
    device = next(model.parameters()).device
    images, identity, _ = heldout_faces("identity", seed, n, size=size, frac_prob=1.0)
    out = _regression_metrics(model, _features(model, images.to(device)).cpu(), identity)
    if reid_people > 1:
        from edsc.world.synthface import render, sample_identity

        g = make_generator("heldout/identity-reid", seed)
        ids = sample_identity(reid_people, g)
        d1 = torch.rand(reid_people, 5, generator=g) * 5.0
        d2 = torch.rand(reid_people, 5, generator=g) * 5.0
        f1 = _features(model, render(ids, d1, size).to(device)).cpu()
        f2 = _features(model, render(ids, d2, size).to(device)).cpu()
        dist = torch.cdist(f1, f2, p=1) / f1.shape[1]  # mean absolute difference per feature
        same = dist.diagonal()
        off = dist[~torch.eye(reid_people, dtype=torch.bool)]
        out["reid"] = {
            "same_l1": round(float(same.mean()), 4),
            "different_l1": round(float(off.mean()), 4),
            "ratio": round(float(same.mean() / off.mean()), 4),
            "top1": round(float((dist.argmin(1) == torch.arange(reid_people)).float().mean()), 4),
            "people": reid_people,
        }
    return out


def train_identity(config: IdentityTrainConfig | None = None, run_dir: str | Path | None = None,
                   resume: bool = True, progress: bool = True, device: torch.device | str = "cpu",
                   time_limit: float | None = None) -> tuple[IdentityEncoder, dict[str, Any]]:
    """Trains the identity encoder F.

    Parameters
    ----------
    config : IdentityTrainConfig
    run_dir : checkpoints, logs, metrics, final weights (``None``: nothing is written)
    resume : continue from the newest checkpoint in ``run_dir`` (same config required)
    progress : tqdm bar on stderr
    device : training device
    time_limit : wall-clock seconds for this call; when reached, a checkpoint is written and the call returns
        early with ``metrics["complete"] = False``: call again to resume (see :func:`train_predictor`)

    Output
    ------
    (encoder in eval mode, metrics: ``complete``, held-out :func:`evaluate_identity` results, final loss, ...)
    """
    cfg = config or IdentityTrainConfig()
    device = torch.device(device)
    t0 = time.perf_counter()
    torch.manual_seed(stable_seed("identity-init", cfg.seed))
    model = IdentityEncoder(IdentityEncoderConfig.from_dict(cfg.model)).to(device)
    opt = adamw(model, cfg.lr, cfg.weight_decay)
    run = RunDir(run_dir, cfg, resume=resume) if run_dir is not None else None
    start = resume_from(run, model, opt, device) if resume else 0
    loop = FitConfig(steps=cfg.steps, lr=cfg.lr, warmup=cfg.warmup, checkpoint_every=cfg.checkpoint_every,
                     log_every=cfg.log_every, log_at_checkpoint=True,
                     log_fields=["step", "lr", "loss", "heldout_r2_mean", "faces_rendered", "seconds"])
    log = open_log(run, loop, start)
    stream = FaceStream("train", stable_seed("identity-data", cfg.seed), chunk=cfg.chunk, size=cfg.size,
                        frac_prob=cfg.frac_prob)
    pool = FacePool(stream, cfg.batch_size, cfg.fresh_per_step, cfg.window)
    during = None
    if log is not None and cfg.eval_during > 0:
        imgs, ids, _ = heldout_faces("identity", cfg.eval_seed, cfg.eval_during, size=cfg.size, frac_prob=1.0)
        during = (imgs.to(device), ids)

    bar = tqdm(total=cfg.steps, initial=start, desc="identity", file=sys.stderr, disable=not progress,
               leave=False, dynamic_ncols=True)
    model.train()
    avg: dict[str, float] = {}

    def step(s: int) -> dict[str, float]:
        images, identity, _ = pool.batch(s)
        n_aug = int(round(cfg.aug_prob * images.shape[0]))
        if n_aug > 0:
            g = make_generator("identity-aug", cfg.seed, s)
            images = torch.cat([augment(images[:n_aug], cfg.augment, g), images[n_aug:]])
        images, identity = images.to(device), identity.to(device)
        feats = model(images)
        loss = F.smooth_l1_loss(feats, model.encode_targets(identity), beta=cfg.beta)
        optimizer_step(loss, opt, list(model.parameters()), cfg.grad_clip, f"identity loss at step {s}")
        lv = float(loss.detach())
        avg["loss"] = lv if "loss" not in avg else 0.95 * avg["loss"] + 0.05 * lv
        bar.set_postfix(loss=f"{avg['loss']:.4f}")
        return {"loss": lv}

    def evaluate(done: int, at_ckpt: bool) -> dict[str, Any]:
        held: float | str = ""
        if during is not None and at_ckpt:
            held = _regression_metrics(model, _features(model, during[0]).cpu(), during[1])["r2_mean"]
        return {"heldout_r2_mean": held, "faces_rendered": stream.rendered}

    stopped = fit(step, loop, run, evaluate, model=model, optimizer=opt, start=start, log=log, bar=bar, t0=t0,
                  time_limit=time_limit)
    if stopped is not None:
        return model, stopped
    loss_avg = avg.get("loss")
    metrics: dict[str, Any] = {
        "complete": True,
        "steps": cfg.steps,
        "resumed_from": start,
        "final_loss": loss_avg,
        "parameters": sum(p.numel() for p in model.parameters()),
        "faces_rendered": stream.rendered,
        "train_seconds": round(time.perf_counter() - t0, 1),
    }
    t1 = time.perf_counter()
    metrics["heldout"] = evaluate_identity(model, cfg.eval_faces, cfg.eval_seed, cfg.size, cfg.reid_people)
    metrics["eval_seconds"] = round(time.perf_counter() - t1, 1)
    if run is not None:
        run.write_metrics(metrics)
        save_safetensors_atomic(model.state_dict(), run.path / "identity_encoder.safetensors")
        write_json_atomic(run.path / "identity_encoder.json", {"arch": "identity_cnn", "config": model.config()})
    return model, metrics


if __name__ == "__main__":  # pragma: no cover - manual runs: python -m edsc.train.identity RUN_DIR [steps] [seconds]
    import json

    torch.set_num_threads(1)
    out = sys.argv[1] if len(sys.argv) > 1 else "runs/identity"
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
    limit = float(sys.argv[3]) if len(sys.argv) > 3 else None
    _, m = train_identity(IdentityTrainConfig(steps=steps), out, time_limit=limit)
    print(json.dumps(m, indent=2))
