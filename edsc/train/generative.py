"""Training stage ``generative``: the flow and the channel codec of the generative scheme (Han et al.).

Data: latents L drawn from the SynthFace prior (``world_params_from_z`` of a standard normal z), i.e. exactly the
distribution of the world's faces, so training runs in latent space with the generator frozen and never rendering
per step. The image enters through a fixed diagonal metric: ``weights[i]`` is the mean squared image change per
unit change of L_i, measured once on rendered faces by finite differences (:func:`image_metric`), so the weighted
latent MSE is a first-order estimate of the image MSE.

Per variant (k ∈ {16, 160}, with and without the flow):

* stage 1 (flow variants only): the flow alone, maximum likelihood (``−log p(L)`` under a standard normal base) on
  dequantised L (uniform noise of half the degree plateau's width added to the degree coordinates);
* stage 2: flow and codec together: ``Σ_i weights[i]·(L_i − L̂_i)² + α·MSE(N, N̂) + β·NLL``, the channel being
  the project's emulator (``edsc.link.estimate``: power normalisation, AWGN, MMSE estimate), the SNR ramped down
  from ``snr_start_db`` to uniform in ``[snr_low_db, snr_high_db]`` over the first ``ramp`` share of the steps
  (one SNR per step).

Run directory per variant ``<run>/<variant>/`` with ``config.json``, checkpoints, ``log.csv``; ``<run>/metrics.json``
and the component files ``generative.safetensors`` + ``generative.json`` once every variant is done; every step
is a function of (seed, step), so a resumed run is bit-identical.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from tqdm import tqdm

from edsc.train.loop import FitConfig, fit, open_log, resume_from
from edsc.train.rundir import RunDir
from edsc.world.seeds import make_generator, stable_seed
from shared.atomic_io import save_safetensors_atomic, write_bytes_atomic, write_json_atomic
from shared.errors import InvalidArgumentError
from shared.models import world_latent as WL
from shared.models.generative import (LATENT_DIM, SUPPORTED_K, CodecConfig, FlowConfig, GenerativeBank,
                                      GenerativeLink, LinkConfig, latent_from_params, render_latent, variant_name)

__all__ = ["GenerativeTrainConfig", "prior_latents", "image_metric", "train_variant", "train_generative",
           "install_component", "install_untrained"]


@dataclass
class GenerativeTrainConfig:
    """Configuration of :func:`train_generative`.

    Parameters
    ----------
    ks : the codec sizes (real channel values) to train.
    flows : train the variants with the flow (True) and / or without (False).
    flow, codec_hidden : model sizes (:class:`~shared.models.generative.FlowConfig`, codec width).
    flow_steps, steps : stage 1 and stage 2 optimiser steps; batch_size latents per step.
    lr, warmup : AdamW rate (cosine decay) and warm-up steps of both stages.
    snr_low_db, snr_high_db : training SNR range (uniform) after the ramp; snr_start_db: the SNR at step 0.
    ramp : share of stage 2 over which the SNR ramps down.
    alpha, beta : weights of MSE(N, N̂) and of the flow's NLL in stage 2.
    dequant : half-width of the uniform dequantisation noise on the degree coordinates (L units).
    metric_faces, metric_delta : faces and step of the finite-difference image metric (0 faces: unit weights).
    """

    ks: tuple[int, ...] = SUPPORTED_K
    flows: tuple[bool, ...] = (True, False)
    flow: dict[str, Any] = field(default_factory=lambda: asdict(FlowConfig()))
    codec_hidden: int = 256
    seed: int = 0
    flow_steps: int = 600
    steps: int = 1500
    batch_size: int = 256
    lr: float = 2e-3
    warmup: int = 100
    weight_decay: float = 1e-5
    grad_clip: float = 5.0
    snr_low_db: float = 5.0
    snr_high_db: float = 10.0
    snr_start_db: float = 30.0
    ramp: float = 0.3
    alpha: float = 0.1
    beta: float = 0.01
    dequant: float = 0.05
    metric_faces: int = 8
    metric_delta: float = 0.1
    checkpoint_every: int = 500
    log_every: int = 50

    def __post_init__(self) -> None:
        self.ks = tuple(int(k) for k in self.ks)
        self.flows = tuple(bool(f) for f in self.flows)
        if not self.ks or not self.flows:
            raise InvalidArgumentError("ks and flows must not be empty")
        for k in self.ks:
            CodecConfig(k=k, hidden=self.codec_hidden)
        FlowConfig(**self.flow)
        if self.steps < 0 or self.flow_steps < 0 or self.batch_size < 2:
            raise InvalidArgumentError("steps and flow_steps must be >= 0 and batch_size >= 2")
        if not self.snr_low_db <= self.snr_high_db:
            raise InvalidArgumentError("snr_low_db must not exceed snr_high_db")

    def link_config(self, k: int, flow: bool) -> LinkConfig:
        return LinkConfig(codec=CodecConfig(k=k, hidden=self.codec_hidden),
                          flow=FlowConfig(**self.flow) if flow else None)


def prior_latents(n: int, generator: torch.Generator) -> torch.Tensor:
    """n latents L (n, 30) from the SynthFace prior, drawn exactly as the layout defines faces."""
    z = torch.randn(n, WL.WORLD_DIMS + 2, generator=generator)                       # (n, 32)
    z = z / z.square().mean(1, keepdim=True).sqrt()       # what PixelNorm does; the head is then N(0,1)-like
    identity, degrees = WL.world_params_from_z(z)
    return latent_from_params(identity, degrees)                                      # (n, 30)


@torch.no_grad()
def image_metric(generator: torch.nn.Module, faces: int, delta: float, seed: int) -> torch.Tensor:
    """Mean squared image change (images in [−1, 1]) per squared unit change of each L coordinate: (30,).

    Central differences ``(G(L + δe_i) − G(L − δe_i)) / 2δ`` on ``faces`` prior latents, clamped to the box.
    """
    g = make_generator("generative-metric", seed)
    base = prior_latents(faces, g).clamp(-1 + delta, 1 - delta)                     # (F, 30)
    out = torch.zeros(LATENT_DIM)
    for i in range(LATENT_DIM):
        step = torch.zeros(LATENT_DIM)
        step[i] = delta
        diff = render_latent(generator, base + step) - render_latent(generator, base - step)   # (F, 3, R, R)
        out[i] = (diff / (2 * delta)).square().mean()
    return out


def _snr(cfg: GenerativeTrainConfig, s: int, g: torch.Generator) -> float:
    u = float(torch.rand((), generator=g))
    target = cfg.snr_low_db + u * (cfg.snr_high_db - cfg.snr_low_db)
    ramp_steps = max(1, int(cfg.ramp * cfg.steps))
    if s >= ramp_steps:
        return target
    return cfg.snr_start_db + (target - cfg.snr_start_db) * (s / ramp_steps)


def _dequantised(latent: torch.Tensor, width: float, g: torch.Generator) -> torch.Tensor:
    noise = (torch.rand(latent.shape, generator=g) * 2 - 1) * width
    noise[:, :WL.N_ID] = 0.0
    return (latent + noise).clamp(-1.0, 1.0)


def train_variant(cfg: GenerativeTrainConfig, k: int, flow: bool, weights: torch.Tensor,
                  run_dir: Path | None, progress: bool = True, time_limit: float | None = None,
                  t0: float | None = None) -> tuple[GenerativeLink, dict[str, Any]]:
    """Stage 1 (flow variants) and stage 2 of one variant; returns (link in eval mode, metrics)."""
    from edsc.link import estimate

    t0 = time.perf_counter() if t0 is None else t0
    name = variant_name(k, flow)
    torch.manual_seed(stable_seed("generative-init", cfg.seed, name))
    link = GenerativeLink(cfg.link_config(k, flow))
    metrics: dict[str, Any] = {"variant": name, "k": k, "flow": flow,
                               "parameters": sum(p.numel() for p in link.parameters())}
    w = weights / weights.mean()

    # stage 1: the flow alone, maximum likelihood
    if flow and cfg.flow_steps > 0:
        run1 = RunDir(run_dir / f"{name}-stage1", {"stage": 1, **asdict(cfg)}) if run_dir else None
        opt1 = torch.optim.AdamW(link.flow.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        start1 = resume_from(run1, link.flow, opt1, "cpu")
        loop1 = FitConfig(steps=cfg.flow_steps, lr=cfg.lr, warmup=cfg.warmup, checkpoint_every=cfg.checkpoint_every,
                          log_every=cfg.log_every, log_fields=["step", "lr", "nll", "seconds"])
        bar1 = tqdm(total=cfg.flow_steps, initial=start1, desc=f"{name} flow", file=sys.stderr,
                    disable=not progress, leave=False)
        link.flow.train()

        def step1(s: int) -> dict[str, float]:
            g = make_generator("generative-flow", cfg.seed, name, s)
            lat = _dequantised(prior_latents(cfg.batch_size, g), cfg.dequant, g)
            nll = -link.flow.log_prob(lat).mean() / LATENT_DIM
            opt1.zero_grad(set_to_none=True)
            nll.backward()
            torch.nn.utils.clip_grad_norm_(link.flow.parameters(), cfg.grad_clip)
            opt1.step()
            return {"nll": round(float(nll.detach()), 5)}

        stopped = fit(step1, loop1, run1, None, model=link.flow, optimizer=opt1, start=start1,
                      log=open_log(run1, loop1, start1), bar=bar1, t0=t0, time_limit=time_limit)
        if stopped is not None:
            return link, {**metrics, **stopped}
        g = make_generator("generative-flow-eval", cfg.seed)
        with torch.no_grad():
            lat = _dequantised(prior_latents(4096, g), cfg.dequant, g)
            n, _ = link.flow(lat)
            metrics["stage1"] = {"nll_per_dim": round(float(-link.flow.log_prob(lat).mean()) / LATENT_DIM, 4),
                                 "n_mean_abs": round(float(n.mean(0).abs().mean()), 4),
                                 "n_std_mean": round(float(n.std(0).mean()), 4)}

    # stage 2: everything together over the channel
    run2 = RunDir(run_dir / f"{name}-stage2", {"stage": 2, **asdict(cfg)}) if run_dir else None
    opt2 = torch.optim.AdamW(link.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    start2 = resume_from(run2, link, opt2, "cpu")
    loop2 = FitConfig(steps=cfg.steps, lr=cfg.lr, warmup=cfg.warmup, checkpoint_every=cfg.checkpoint_every,
                      log_every=cfg.log_every, log_fields=["step", "lr", "snr_db", "loss", "latent", "gauss",
                                                           "seconds"])
    bar2 = tqdm(total=cfg.steps, initial=start2, desc=f"{name} all", file=sys.stderr, disable=not progress,
                leave=False)
    link.train()

    def step2(s: int) -> dict[str, float]:
        g = make_generator("generative-joint", cfg.seed, name, s)
        lat = prior_latents(cfg.batch_size, g)                                        # (B, 30)
        snr = _snr(cfg, s, g)
        n = link.to_gauss(lat)
        x = link.codec.encode(n)                                                      # (B, k)
        y, _ = estimate(x, {"model": "awgn", "snr_db": snr}, seed=stable_seed("generative-ch", cfg.seed, name, s)
                        % (2 ** 62))
        n_hat = link.codec.decode(y)
        lat_hat = link.from_gauss(n_hat)
        latent_loss = ((lat_hat - lat).square() * w).mean()
        gauss_loss = (n_hat - n).square().mean()
        loss = latent_loss + cfg.alpha * gauss_loss
        if link.flow is not None and cfg.beta > 0:
            loss = loss - cfg.beta * link.flow.log_prob(_dequantised(lat, cfg.dequant, g)).mean() / LATENT_DIM
        opt2.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(link.parameters(), cfg.grad_clip)
        opt2.step()
        return {"snr_db": round(snr, 2), "loss": round(float(loss.detach()), 5),
                "latent": round(float(latent_loss.detach()), 5), "gauss": round(float(gauss_loss.detach()), 5)}

    stopped = fit(step2, loop2, run2, None, model=link, optimizer=opt2, start=start2,
                  log=open_log(run2, loop2, start2), bar=bar2, t0=t0, time_limit=time_limit)
    if stopped is not None:
        return link, {**metrics, **stopped}
    metrics["stage2"] = evaluate_variant(link, weights, cfg.seed)
    metrics["complete"] = True
    return link.eval(), metrics


@torch.no_grad()
def evaluate_variant(link: GenerativeLink, weights: torch.Tensor, seed: int,
                     snrs: tuple[float, ...] = (0.0, 5.0, 10.0, 20.0), n: int = 2048) -> dict[str, Any]:
    """Held-out latent error per SNR (weighted as in training, and plain): ``{snr: {...}}``."""
    from edsc.link import estimate

    link.eval()
    g = make_generator("generative-heldout", seed)
    lat = prior_latents(n, g)
    w = weights / weights.mean()
    out = {}
    for snr in snrs:
        y, _ = estimate(link.encode(lat), {"model": "awgn", "snr_db": snr}, seed=stable_seed("gen-eval", seed))
        lat_hat = link.decode(y).clamp(-1, 1)
        out[str(snr)] = {"weighted_mse": round(float(((lat_hat - lat).square() * w).mean()), 5),
                         "mse": round(float((lat_hat - lat).square().mean()), 5)}
    return out


def train_generative(config: GenerativeTrainConfig | None = None, run_dir: str | Path | None = None,
                     generator: torch.nn.Module | None = None, progress: bool = True,
                     time_limit: float | None = None) -> tuple[GenerativeBank, dict[str, Any]]:
    """Trains every variant of ``config``; writes the component into ``run_dir`` when all are done.

    Parameters
    ----------
    config : GenerativeTrainConfig
    run_dir : checkpoints, logs and the final ``generative.safetensors`` / ``generative.json`` (None: nothing
        written; the metric is then computed again each call)
    generator : the frozen generator for the image metric (None with ``metric_faces = 0``: unit weights)
    progress : tqdm bars
    time_limit : wall-clock seconds for this call; a timed stop checkpoints and returns ``complete = False``

    Output
    ------
    (the bank of trained variants, metrics)
    """
    cfg = config or GenerativeTrainConfig()
    t0 = time.perf_counter()
    run = Path(run_dir) if run_dir is not None else None
    if run is not None:
        run.mkdir(parents=True, exist_ok=True)
    metric_file = run / "image_metric.safetensors" if run is not None else None
    if metric_file is not None and metric_file.is_file():
        weights = load_file(str(metric_file))["weights"]
    elif cfg.metric_faces > 0:
        if generator is None:
            raise InvalidArgumentError("the image metric needs the generator (or metric_faces = 0)")
        t = time.perf_counter()
        weights = image_metric(generator, cfg.metric_faces, cfg.metric_delta, cfg.seed)
        metric_s = time.perf_counter() - t
        if metric_file is not None:
            save_safetensors_atomic({"weights": weights}, metric_file)
            write_json_atomic(run / "image_metric.json", {"seconds": round(metric_s, 1),
                                                          "weights": [round(float(v), 6) for v in weights]})
    else:
        weights = torch.ones(LATENT_DIM)
    links, metrics = {}, {"variants": {}}
    for k in cfg.ks:
        for flow in cfg.flows:
            left = None if time_limit is None else time_limit - (time.perf_counter() - t0)
            if left is not None and left <= 0:
                return GenerativeBank({"variants": {n: l.cfg.to_dict() for n, l in links.items()}}) if links \
                    else None, {"complete": False, **metrics}
            tv = time.perf_counter()
            link, m = train_variant(cfg, k, flow, weights, run, progress, left, time.perf_counter())
            m["seconds"] = round(time.perf_counter() - tv, 1)
            metrics["variants"][variant_name(k, flow)] = m
            if not m.get("complete"):
                return None, {"complete": False, **metrics}
            links[variant_name(k, flow)] = link
    bank = GenerativeBank({"variants": {n: l.cfg.to_dict() for n, l in links.items()}})
    for n, l in links.items():
        bank[n].load_state_dict(l.state_dict())
    bank.eval()
    metrics.update({"complete": True, "seconds": round(time.perf_counter() - t0, 1),
                    "image_metric": [round(float(v), 6) for v in weights],
                    "parameters": sum(p.numel() for p in bank.parameters())})
    if run is not None:
        save_safetensors_atomic(bank.state_dict(), run / "generative.safetensors")
        write_json_atomic(run / "generative.json", {"arch": "realnvp_fc", "config": bank.config()})
        write_json_atomic(run / "metrics.json", metrics)
    return bank, metrics


if __name__ == "__main__":  # pragma: no cover - manual runs: python -m edsc.train.generative RUN_DIR
    import json

    from shared.bundle import Bundle

    torch.set_num_threads(1)
    out = sys.argv[1] if len(sys.argv) > 1 else "runs/synthface-128/generative"
    _, m = train_generative(GenerativeTrainConfig(), out, Bundle("bundles/synthface-128").generator)
    print(json.dumps(m, indent=2))


def install_component(bundle_dir: str | Path, run_dir: str | Path, version: str | None = None) -> Path:
    """Copy a finished run's ``generative`` component into a bundle directory.

    Reads the manifest fresh, writes ``generative.safetensors``, sets the ``generative`` component entry and the
    file's sha256 (and ``version`` when given); nothing else in the manifest changes. Returns the manifest path.
    """
    import json

    from shared.atomic_io import write_json_atomic as _write
    from shared.bundle import sha256_file

    run, bundle = Path(run_dir), Path(bundle_dir)
    weights, meta = run / "generative.safetensors", run / "generative.json"
    if not weights.is_file() or not meta.is_file():
        raise InvalidArgumentError(f"{run} holds no finished generative component (train it first)")
    manifest_path = bundle / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    spec = json.loads(meta.read_text(encoding="utf-8"))
    write_bytes_atomic(bundle / "generative.safetensors", weights.read_bytes())
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))      # fresh again, just before writing
    manifest["components"]["generative"] = {"arch": spec["arch"], "file": "generative.safetensors",
                                            "config": spec["config"], "extra_files": []}
    manifest["files"]["generative.safetensors"] = sha256_file(bundle / "generative.safetensors")
    if version is not None:
        manifest["version"] = version
    _write(manifest_path, manifest)
    return manifest_path


def install_untrained(bundle_dir: str | Path, work_dir: str | Path, ks: tuple[int, ...] = (16,),
                      version: str | None = None, seed: int = 0) -> Path:
    """Install a small random-init ``generative`` component (each k with and without a 2-layer flow) into a bundle:
    the tiny random test bundles' counterpart of a trained one. Returns the manifest path."""
    torch.manual_seed(seed)
    variants = {}
    for k in ks:
        variants[variant_name(k, True)] = {"codec": {"k": k, "hidden": 16},
                                           "flow": {"layers": 2, "depth": 2, "hidden": 8}}
        variants[variant_name(k, False)] = {"codec": {"k": k, "hidden": 16}, "flow": None}
    bank = GenerativeBank({"variants": variants})
    run = Path(work_dir)
    run.mkdir(parents=True, exist_ok=True)
    save_safetensors_atomic(bank.state_dict(), run / "generative.safetensors")
    write_json_atomic(run / "generative.json", {"arch": "realnvp_fc", "config": bank.config()})
    return install_component(bundle_dir, run, version)
