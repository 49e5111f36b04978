"""Training of the DeepJSCC baseline (:mod:`edsc.baselines.deepjscc`) on SynthFace renders.

* **Data.** Faces stream from :class:`edsc.world.faces.FacePool` (namespace ``"train"``, data seed
  ``stable_seed("deepjscc-data", seed)``); a deterministic horizontal flip doubles the variety for free.
* **Channel.** The project's emulator in the loop (:func:`edsc.baselines.deepjscc.channel_pass`:
  :func:`channel_emulator.link.apply_channel` + :func:`receiver.equalization.recover`, differentiable), with the
  channel parameters of ``channel`` (default AWGN, perfect CSI) and an SNR drawn **uniformly from
  [snr_min, snr_max] = [-6, 18] dB per image**: one model serves every SNR. Bourtsoulatze et al. (and the
  Editable-DeepSC paper's baseline) train one model per SNR; ours does not know the SNR, so at a given SNR it is
  somewhat worse than a model trained for that SNR alone.
* **Loss.** MSE on the [0, 1] pixel scale (Bourtsoulatze), plus ``lpips_weight`` times LPIPS-alex (0 by default:
  the perceptual term doubles the cost of a step on a CPU).
* **Determinism.** Initialisation, batches, flips, SNRs and channel seeds are functions of ``(seed, step)``; a
  checkpoint holds the model, the optimizer and the step, and a resumed run is bit-identical to an uninterrupted one.

Run directory (:class:`edsc.train.rundir.RunDir`): ``config.json``, ``ckpt-<step>.pt``, ``log.csv`` (step, lr,
loss, PSNR of the batch, held-out PSNR at 6 dB at checkpoints, seconds), ``metrics.json`` (held-out PSNR / LPIPS
per SNR on ``eval_faces`` renders of ``heldout/deepjscc``) and the exported model ``final/`` (``model.safetensors``
+ ``config.json``, loadable with :func:`edsc.baselines.deepjscc.load_deepjscc`).

Command line (``seconds``: the ``max_seconds`` budget; ``export_dir``: :func:`export_run` afterwards, e.g.
``bundles/baselines/deepjscc-128``)::

    python -m edsc.train.deepjscc RUN_DIR [steps] [seconds] [export_dir]
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from tqdm import tqdm

from edsc.baselines.common import evaluate_link, psnr
from edsc.baselines.deepjscc import DeepJSCC, DeepJSCCConfig, DeepJSCCLink, save_deepjscc
from edsc.train.loop import FitConfig, fit, open_log, resume_from
from edsc.train.rundir import RunDir
from edsc.world.faces import FacePool, FaceStream, heldout_faces
from edsc.world.seeds import make_generator, stable_seed
from shared.dataclass_config import checked_fields
from shared.errors import InvalidArgumentError

__all__ = ["DeepJSCCTrainConfig", "train_deepjscc", "evaluate_deepjscc", "export_run", "EVAL_SNRS"]

#: The paper's SNR points.
EVAL_SNRS = (-6.0, 0.0, 6.0, 12.0, 18.0)


@dataclass
class DeepJSCCTrainConfig:
    """Configuration of :func:`train_deepjscc`.

    Parameters
    ----------
    model : DeepJSCCConfig fields (default: 128 px, CBR 1/12, widths 32/64/64/64, GDN)
    seed : initialisation / data / channel seed
    steps, batch_size, lr, weight_decay, warmup, grad_clip : optimisation (AdamW, warm-up + cosine)
    snr_min, snr_max : the per-image SNR range (uniform, dB)
    channel : channel parameters besides the SNR (a ChannelConfig mapping; default AWGN, perfect CSI)
    equalizer : the receiver's estimator in the loop (``"mmse"``)
    lpips_weight : weight of the LPIPS-alex term (0: pure MSE)
    hflip : random horizontal flips
    fresh_per_step, window, chunk : rendering budget of the face pool (see :class:`FacePool`)
    checkpoint_every, log_every : steps between checkpoints / log rows
    eval_faces, eval_seed, eval_snrs : final held-out evaluation (``heldout/deepjscc`` renders, AWGN)
    eval_during : held-out faces scored (PSNR at 6 dB) at each checkpoint (0: none)
    eval_lpips : LPIPS backbone of the final evaluation (``"alex"``), or None for PSNR only
    """

    model: dict[str, Any] = field(default_factory=lambda: DeepJSCCConfig().to_dict())
    seed: int = 0
    steps: int = 1800
    batch_size: int = 8
    lr: float = 2e-3
    weight_decay: float = 0.0
    warmup: int = 50
    grad_clip: float = 1.0
    snr_min: float = -6.0
    snr_max: float = 18.0
    channel: dict[str, Any] = field(default_factory=lambda: {"model": "awgn"})
    equalizer: str = "mmse"
    lpips_weight: float = 0.0
    hflip: bool = True
    fresh_per_step: int = 4
    window: int = 32
    chunk: int = 64
    checkpoint_every: int = 100
    log_every: int = 10
    eval_faces: int = 32
    eval_seed: int = 0
    eval_snrs: list[float] = field(default_factory=lambda: list(EVAL_SNRS))
    eval_during: int = 8
    eval_lpips: str | None = "alex"

    def __post_init__(self) -> None:
        self.model = DeepJSCCConfig.from_dict(self.model).to_dict()  # validates, fills defaults
        if self.steps < 0 or self.batch_size < 1:
            raise InvalidArgumentError("steps must be >= 0 and batch_size >= 1")
        if not self.snr_min <= self.snr_max:
            raise InvalidArgumentError(f"need snr_min <= snr_max, got {self.snr_min}, {self.snr_max}")
        if "snr_db" in self.channel:
            raise InvalidArgumentError("channel must not fix snr_db: the SNR is drawn per image")
        if self.lpips_weight < 0:
            raise InvalidArgumentError("lpips_weight must be >= 0")
        self.eval_snrs = [float(s) for s in self.eval_snrs]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DeepJSCCTrainConfig":
        return cls(**checked_fields(cls, d))


def evaluate_deepjscc(model: DeepJSCC, n: int = 32, seed: int = 0, snrs: list[float] | tuple[float, ...] = EVAL_SNRS,
                      channel: dict[str, Any] | None = None, lpips_net: str | None = "alex",
                      equalizer: str = "mmse") -> list[dict[str, Any]]:
    """PSNR / LPIPS per SNR of ``model`` on ``n`` held-out renders (namespace ``heldout/deepjscc``, never training
    faces), through :class:`DeepJSCCLink` (channel seed ``seed``, the same at every SNR).

    Output: :func:`edsc.baselines.common.evaluate_link` rows.
    """
    device = next(model.parameters()).device
    images, _, _ = heldout_faces("deepjscc", seed, n, size=model.cfg.image_size)
    model.eval()
    return evaluate_link(DeepJSCCLink(model, equalizer), images.to(device), list(snrs), channel=channel,
                         seed=stable_seed("deepjscc-eval-channel", seed) % (2 ** 62), lpips_net=lpips_net)


def _batch(pool: FacePool, cfg: DeepJSCCTrainConfig, step: int, device: torch.device) -> tuple[Tensor, Tensor, int]:
    """Images (B, 3, S, S), SNRs (B,) and the channel seed of step ``step`` (pure functions of (seed, step))."""
    images, _, _ = pool.batch(step)
    g = make_generator("deepjscc-step", cfg.seed, step)
    flip = torch.rand(images.shape[0], generator=g) < (0.5 if cfg.hflip else 0.0)  # (B,)
    snr = cfg.snr_min + (cfg.snr_max - cfg.snr_min) * torch.rand(images.shape[0], generator=g, dtype=torch.float64)
    images = torch.where(flip.view(-1, 1, 1, 1), images.flip(-1), images)
    return images.to(device), snr, stable_seed("deepjscc-train-channel", cfg.seed, step) % (2 ** 62)


def train_deepjscc(config: DeepJSCCTrainConfig | None = None, run_dir: str | Path | None = None,
                   resume: bool = True, progress: bool = True, device: torch.device | str = "cpu",
                   max_seconds: float | None = None) -> tuple[DeepJSCC, dict[str, Any]]:
    """Trains DeepJSCC on SynthFace renders through the emulator's channel.

    Parameters
    ----------
    config : DeepJSCCTrainConfig (default settings when None)
    run_dir : checkpoints, log, metrics and ``final/`` go here; None writes nothing (nothing to resume)
    resume : continue from the newest checkpoint in ``run_dir`` (same config required)
    progress : tqdm bar on stderr
    device : training device
    max_seconds : wall-clock budget of this call; when reached a checkpoint is written and the call returns with
        ``metrics["complete"] = False`` (call again to resume). Not part of the config.

    Output
    ------
    (model in eval mode, metrics: ``complete``, ``final_loss``, ``train_seconds``, ``heldout`` rows per SNR, ...)
    """
    cfg = config or DeepJSCCTrainConfig()
    device = torch.device(device)
    t0 = time.perf_counter()
    torch.manual_seed(stable_seed("deepjscc-init", cfg.seed))
    model = DeepJSCC(DeepJSCCConfig.from_dict(cfg.model)).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    run = RunDir(run_dir, cfg, resume=resume) if run_dir is not None else None
    start = resume_from(run, model, opt, device) if resume else 0
    loop = FitConfig(steps=cfg.steps, lr=cfg.lr, warmup=cfg.warmup, checkpoint_every=cfg.checkpoint_every,
                     log_every=cfg.log_every, log_fields=["step", "lr", "loss", "mse", "lpips", "batch_psnr",
                                                          "heldout_psnr_6db", "seconds"])
    log = open_log(run, loop, start)
    lp_metric = None
    if cfg.lpips_weight > 0:
        from shared.lpips import get_lpips

        lp_metric = get_lpips("alex", device)

    size = int(cfg.model["image_size"])
    stream = FaceStream("train", stable_seed("deepjscc-data", cfg.seed), chunk=cfg.chunk, size=size)
    pool = FacePool(stream, cfg.batch_size, cfg.fresh_per_step, cfg.window)
    during = None
    if log is not None and cfg.eval_during > 0:
        during = heldout_faces("deepjscc-during", cfg.eval_seed, cfg.eval_during, size=size)[0].to(device)

    bar = tqdm(total=cfg.steps, initial=start, desc="deepjscc", file=sys.stderr, disable=not progress, leave=False,
               dynamic_ncols=True)
    model.train()
    avg: dict[str, float] = {}

    def step(s: int) -> dict[str, Any]:
        images, snr, ch_seed = _batch(pool, cfg, s, device)
        rec = model(images, snr.tolist(), cfg.channel, ch_seed, cfg.equalizer)  # (B, 3, S, S)
        mse = ((rec - images) * 0.5).square().mean()  # [0, 1] scale
        loss = mse
        lp_v: float | str = ""
        if lp_metric is not None:
            lp = lp_metric(rec, images).mean()
            loss = loss + cfg.lpips_weight * lp
            lp_v = float(lp.detach())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        loss_v = float(loss.detach())
        avg["loss"] = loss_v if "loss" not in avg else 0.95 * avg["loss"] + 0.05 * loss_v
        bar.set_postfix(loss=f"{avg['loss']:.5f}")
        return {"loss": loss_v, "mse": float(mse.detach()), "lpips": lp_v,
                "batch_psnr": float(psnr(rec.detach(), images).mean())}

    def evaluate(done: int, at_ckpt: bool) -> dict[str, Any]:
        held: float | str = ""
        if during is not None and at_ckpt:
            model.eval()
            with torch.no_grad():
                out = model(during, 6.0, cfg.channel, stable_seed("deepjscc-during-channel", cfg.eval_seed) % (
                    2 ** 62), cfg.equalizer)
            held = float(psnr(out, during).mean())
            model.train()
        return {"heldout_psnr_6db": held}

    stopped = fit(step, loop, run, evaluate, model=model, optimizer=opt, start=start, log=log, bar=bar, t0=t0,
                  time_limit=max_seconds)
    if stopped is not None:
        return model, stopped
    loss_avg = avg.get("loss")
    metrics: dict[str, Any] = {
        "complete": True,
        "steps": cfg.steps,
        "resumed_from": start,
        "final_loss": loss_avg,
        "parameters": sum(p.numel() for p in model.parameters()),
        "k_real": model.k,
        "cbr": model.cfg.cbr,
        "faces_rendered": stream.rendered,
        "train_seconds": round(time.perf_counter() - t0, 1),
        "torch_threads": torch.get_num_threads(),
        "snr_range_db": [cfg.snr_min, cfg.snr_max],
        "channel": dict(cfg.channel),
    }
    t1 = time.perf_counter()
    if cfg.eval_faces > 0:
        rows = evaluate_deepjscc(model, cfg.eval_faces, cfg.eval_seed, cfg.eval_snrs, cfg.channel, cfg.eval_lpips,
                                 cfg.equalizer)
        metrics["heldout"] = [{k: v for k, v in r.items() if not k.endswith("_all")} for r in rows]
    metrics["eval_seconds"] = round(time.perf_counter() - t1, 1)
    if run is not None:
        run.write_metrics(metrics)
        note = {k: metrics[k] for k in ("steps", "train_seconds", "final_loss", "snr_range_db", "channel")}
        note["heldout"] = metrics.get("heldout")
        note["trainer"] = "edsc.train.deepjscc"
        note["batch_size"] = cfg.batch_size
        save_deepjscc(model, run.path / "final", training=note)
    return model, metrics


def export_run(run_dir: str | Path, dest: str | Path, evaluate: bool = True) -> dict[str, Any]:
    """Exports a run's model to ``dest`` (``model.safetensors`` + ``config.json``).

    A complete run exports its ``final/`` model (already evaluated). A run stopped by ``max_seconds`` exports its
    newest checkpoint instead, evaluated here on the config's held-out set, and says so in the training notes
    (``complete: false``, the step reached out of ``steps``): a resumed call finishes the schedule later.

    Output: the training notes written into ``dest/config.json``.
    """
    import shutil

    from edsc.baselines.deepjscc import CONFIG_FILE, WEIGHTS_FILE
    from edsc.train.rundir import read_json

    run_dir, dest = Path(run_dir), Path(dest)
    final = run_dir / "final"
    if (final / WEIGHTS_FILE).is_file() and (run_dir / "metrics.json").is_file():
        dest.mkdir(parents=True, exist_ok=True)
        for name in (WEIGHTS_FILE, CONFIG_FILE):
            shutil.copyfile(final / name, dest / name)
        return read_json(dest / CONFIG_FILE)["training"]
    cfg = DeepJSCCTrainConfig.from_dict(read_json(run_dir / "config.json"))
    ckpts = sorted(run_dir.glob("ckpt-*.pt"))
    if not ckpts:
        raise InvalidArgumentError(f"{run_dir} holds neither final/ nor a checkpoint")
    ck = torch.load(ckpts[-1], map_location="cpu", weights_only=True)
    model = DeepJSCC(DeepJSCCConfig.from_dict(cfg.model))
    model.load_state_dict(ck["model"])
    model.eval()
    note: dict[str, Any] = {"complete": False, "step": int(ck["step"]), "steps": cfg.steps,
                            "snr_range_db": [cfg.snr_min, cfg.snr_max], "channel": dict(cfg.channel),
                            "trainer": "edsc.train.deepjscc", "checkpoint": ckpts[-1].name,
                            "batch_size": cfg.batch_size}
    if evaluate and cfg.eval_faces > 0:
        rows = evaluate_deepjscc(model, cfg.eval_faces, cfg.eval_seed, cfg.eval_snrs, cfg.channel, cfg.eval_lpips,
                                 cfg.equalizer)
        note["heldout"] = [{k: v for k, v in r.items() if not k.endswith("_all")} for r in rows]
    save_deepjscc(model, dest, training=note)
    return note


if __name__ == "__main__":  # pragma: no cover - manual runs
    import json

    torch.set_num_threads(1)
    out = sys.argv[1] if len(sys.argv) > 1 else "runs/deepjscc"
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 1800
    limit = float(sys.argv[3]) if len(sys.argv) > 3 else None
    export = sys.argv[4] if len(sys.argv) > 4 else None
    _, m = train_deepjscc(DeepJSCCTrainConfig(steps=steps), out, max_seconds=limit)
    print(json.dumps(m, indent=2))
    if export:
        notes = export_run(out, export)
        print(f"exported to {export} (complete: {notes.get('complete', m.get('complete'))})")
