"""Stage (f): SNR-aware fine-tuning of the channel adapter bank A_CE / A_CD (paper eq. 16–18).

For every SNR level ``s`` of the codec (−6, 0, 6, 12, 18 dB) only that level's encoder adapter A_CE(s) and decoder
adapter A_CD(s) are trained; the generator, the normaliser and every other level stay frozen (bit-identical). The
loss is LPIPS between the received image and the original::

    I_rx = G( denormalise( A_CD(s)( link_s( A_CE(s)( normalise(w) ) ) ) ) )      L = LPIPS(I_rx, I_orig)

with ``link_s`` the emulator's AWGN link at ``s`` dB (power normalisation per message to P per complex symbol,
AWGN, the receiver's MMSE estimate), see :func:`awgn_link`.

**The original image.** The paper compares with the original photo. Here each fine-tuning item is a latent ``w``
and, optionally, the image it was inverted from: with images (``data=(latents, images)``) that image is the target
(``target="image"``, the paper's choice: the adapters may then also absorb part of the inversion error); with
latents alone the target is the clean render ``G(w)`` (``target="render"``: the adapters only undo the channel).

**Data split.** The first ``n_ft`` items (paper: 10) are fine-tuned on, the next ``n_eval`` are the held-out
evaluation items, and the ``n_val`` after them (default 0) the validation items; the three never overlap.

**Early stopping** (``n_val > 0``). With ten items the adapters overfit: at high SNR, where the channel leaves
little to correct, the tuned pair can end up worse than the identity on unseen faces. Every ``val_every`` steps
(and before the first step, i.e. the incoming bank) the level's validation LPIPS is measured on fixed noise
draws; when the level's steps are done, its parameters are set back to the best of these snapshots. The
paper tunes on n_ft images without a validation set; this is our addition, off by default. The chosen step
and the validation curve go into ``metrics.json``.

**Metrics** (``metrics.json``): per level the held-out LPIPS *without* the bank (identity adapters: normalise →
channel → denormalise), with the bank before this stage (when the codec came in with non-identity adapters), and
with the tuned bank, all on the same noise draws (common random numbers); the same on the fine-tuning items; the
clean LPIPS ``LPIPS(G(w), target)`` (the floor set by inversion); the tuned parameter count per level and its share
of ``total_params`` (paper: 0.21e7 of 7.91e7 = 2.65 %).

Resumable: ``ckpt-<step>.pt`` holds the whole bank, the optimizer of the level in progress and a global step
``level_index · steps + step``; every random draw (batch, channel noise) is a function of (seed, level, step), so a
resumed run is bit-identical to an uninterrupted one.

The channel helper :func:`awgn_link` is shared with stage (e) (:mod:`edsc.train.fields`).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from tqdm import tqdm

from edsc.train.loop import FitConfig, fit, optimizer_step
from edsc.train.rundir import RunDir
from edsc.world.seeds import make_generator, stable_seed
from shared.channel.awgn_estimate import awgn_estimate, awgn_mean
from shared.dataclass_config import checked_fields
from shared.errors import InvalidArgumentError

__all__ = ["AdapterTrainConfig", "awgn_link", "train_adapters", "received_images", "CHANNEL_MODES"]

#: ``"emulator"``: the noise of :func:`channel_emulator.link.apply_channel` + :func:`receiver.equalization.recover`
#: (bit-identical forward values to the serving path); ``"torch"``: the same distribution drawn with torch;
#: ``"none"``: no channel at all (normalise → adapters → denormalise).
CHANNEL_MODES = ("emulator", "torch", "none")


# ----------------------------------------------------------------------------------------------------------------
# The differentiable AWGN link
# ----------------------------------------------------------------------------------------------------------------

def awgn_link(x: Tensor, snr_db: float, *, seed: int | None = None, generator: torch.Generator | None = None,
              power: float = 1.0, mode: str = "emulator", rescale: bool = False) -> Tensor:
    r"""Power normalisation + AWGN + MMSE estimate, differentiable w.r.t. ``x``.

    The serving path sends ``x`` with :func:`channel_emulator.link.apply_channel` (``model="awgn"``, perfect CSI)
    and the receiver estimates it with :func:`receiver.equalization.recover` (``"mmse"``). That code is
    differentiable too (the baselines' DeepJSCC trains through it), but for AWGN with perfect CSI its output is
    exactly

    .. math:: \hat x = \beta\,(\alpha x + n),\quad \alpha = \sqrt{P k/2}/\lVert x\rVert,\quad
              n \sim \mathcal N(0, N_0/2)^k,\quad N_0 = P\,10^{-\mathrm{SNR}/10},\quad \beta = P/(P+N_0),

    (the complex pairing is a permutation and cancels; :mod:`shared.channel.awgn_estimate` holds this closed
    form). The modes:

    * ``mode="emulator"``: the values are the emulator's and the receiver's, ``recover(apply_channel(x, seed))``
      (:func:`edsc.link.estimate`), and the gradient is that of the closed form's mean
      (:func:`~shared.channel.awgn_estimate.awgn_mean`, straight through), so the forward values equal the serving
      path's for the same seed and train and serve share the channel code;
    * ``mode="torch"``: the closed form itself, :func:`shared.channel.awgn_estimate.awgn_estimate` with the
      header's gain, the noise drawn with ``torch.randn(generator=generator)`` (same distribution, about 2× faster,
      needs no Sionna);
    * ``mode="none"``: no channel (identity).

    With ``rescale`` the estimate is multiplied by the gain header :math:`g \approx 1/\alpha` (float16, no
    gradient; :func:`channel_emulator.link.gain_header`), as ``recover(..., rescale=True)`` does: the message keeps
    its norm.

    Input
    -----
    x : (B, k) real, k even.
    snr_db : float, Es/N0 in dB.
    seed : int, emulator mode (required there).
    generator : torch.Generator, torch mode (optional).
    power : P, average energy per complex symbol.
    rescale : undo the power normalisation with the gain header.

    Output
    ------
    (B, k) the receiver's estimate of the transmitted message (power-normalised unless ``rescale``).
    """
    if mode not in CHANNEL_MODES:
        raise InvalidArgumentError(f"unknown channel mode {mode!r}; use one of {', '.join(CHANNEL_MODES)}")
    if mode == "none":
        return x
    if x.ndim != 2 or x.shape[-1] % 2:
        raise InvalidArgumentError(f"the message batch must have shape (B, k) with k even, got {tuple(x.shape)}")
    if mode == "torch":
        return awgn_estimate(x, float(snr_db), power=float(power), rescale=rescale, generator=generator,
                             header=True)                                          # (B, k)
    if seed is None:
        raise InvalidArgumentError("awgn_link(mode='emulator') needs a seed")
    from channel_emulator.config import ChannelConfig
    from edsc.link import estimate

    y_ref, _ = estimate(x.detach().float(), ChannelConfig(model="awgn", snr_db=float(snr_db), power=float(power)),
                        seed=int(seed), rescale=rescale)
    # straight through: the emulator's values, the gradient of the closed form's mean g·β·α·x
    mean = awgn_mean(x, float(snr_db), power=float(power), rescale=rescale, header=True)          # (B, k)
    return y_ref.to(x.dtype) + (mean - mean.detach())


def _channel_seed(*parts: Any) -> int:
    return stable_seed(*parts) % (2 ** 62)


def received_images(generator: nn.Module, codec: nn.Module, w: Tensor, snr_db: float, *, seed: int,
                    mode: str = "emulator", use_adapters: bool = True, noise_mode: str = "const") -> Tensor:
    """``G(decode(link(encode(w))))`` at ``snr_db`` (B, 3, H, W); ``use_adapters=False`` skips A_CE/A_CD
    (normalise → link → denormalise). Differentiable w.r.t. ``w`` and the codec's level parameters."""
    if use_adapters:
        x = codec.encode(w, snr_db)                                                # (B, k)
    else:
        x = codec.normalizer.encode(w)
    g = make_generator("channel", seed) if mode == "torch" else None
    y = awgn_link(x, snr_db, seed=seed, generator=g, mode=mode, rescale=codec.cfg.rescale)  # (B, k)
    w_hat = codec.decode(y, snr_db) if use_adapters else codec.normalizer.decode(y)
    return generator.synthesis(w_hat, noise_mode=noise_mode)


# ----------------------------------------------------------------------------------------------------------------
# Config
# ----------------------------------------------------------------------------------------------------------------

@dataclass
class AdapterTrainConfig:
    """Configuration of :func:`train_adapters`.

    Parameters
    ----------
    snr_levels : levels to tune (None: all of the codec's levels); each must be one of the codec's levels
    steps : optimiser steps per level
    lr : Adam learning rate η_ft (paper 1e-4; larger rates converge much faster in few steps, see the report)
    warmup : linear warm-up steps of the per-level cosine schedule; ``final_frac`` its end fraction
    n_ft : fine-tuning items (paper 10, < 20)
    n_eval : held-out evaluation items (after the first ``n_ft``)
    batch_size : items per step (≤ n_ft; the paper's n_ft = 10 fits in one batch)
    n_val : validation items for early stopping (after the ``n_eval`` items; 0 = keep the last step)
    val_every : steps between validation measurements (with ``n_val``)
    target : ``"image"`` (the image each latent was inverted from; needs images) or ``"render"`` (G(w))
    channel : ``"emulator"`` | ``"torch"`` (see :data:`CHANNEL_MODES`)
    eval_draws : noise draws per held-out item in the metrics
    lpips_net : ``"alex"`` (the paper's metric) or ``"vgg"``
    noise_mode : the generator's noise inputs (``"const"``, as served)
    grad_clip : gradient-norm clip (0: off)
    seed : seed of every random draw
    log_every, ckpt_every : steps between log rows / checkpoints
    """

    snr_levels: list[float] | None = None
    steps: int = 200
    lr: float = 1e-4
    warmup: int = 0
    final_frac: float = 1.0
    n_ft: int = 10
    n_eval: int = 16
    batch_size: int = 10
    n_val: int = 0
    val_every: int = 10
    target: str = "image"
    channel: str = "emulator"
    eval_draws: int = 2
    lpips_net: str = "alex"
    noise_mode: str = "const"
    grad_clip: float = 0.0
    seed: int = 0
    log_every: int = 10
    ckpt_every: int = 50

    def __post_init__(self) -> None:
        if (self.steps < 0 or self.n_ft < 1 or self.n_eval < 0 or self.batch_size < 1 or self.eval_draws < 1
                or self.n_val < 0 or self.val_every < 1):
            raise InvalidArgumentError(f"invalid AdapterTrainConfig sizes: {self}")
        if not self.lr > 0:
            raise InvalidArgumentError(f"lr must be positive, got {self.lr}")
        if self.target not in ("image", "render"):
            raise InvalidArgumentError(f"target must be 'image' or 'render', got {self.target!r}")
        if self.channel not in ("emulator", "torch"):
            raise InvalidArgumentError(f"channel must be 'emulator' or 'torch', got {self.channel!r}")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "AdapterTrainConfig":
        return cls(**checked_fields(cls, d))


# ----------------------------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------------------------

def _split_data(data: Any) -> tuple[Tensor, Tensor | None]:
    if isinstance(data, Tensor):
        return data, None
    if isinstance(data, Mapping):
        return data["latents"], data.get("images")
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return data[0], data[1]
    raise InvalidArgumentError("images_or_latents must be latents (N, D), (latents, images) or "
                               "{'latents': ..., 'images': ...}")


def _count(modules: Sequence[nn.Module]) -> int:
    return sum(p.numel() for m in modules for p in m.parameters())


@torch.no_grad()
def _lpips_eval(lp, generator, codec, w, target, level, seeds, cfg, use_adapters=True) -> float:
    vals = []
    for s in seeds:
        img = received_images(generator, codec, w, level, seed=s, mode=cfg.channel, use_adapters=use_adapters,
                              noise_mode=cfg.noise_mode)
        vals.append(lp(img, target))
    return float(torch.cat(vals).mean())


def train_adapters(generator: nn.Module, codec: nn.Module, images_or_latents: Any,
                   config: AdapterTrainConfig | Mapping[str, Any], run_dir: str | Path, resume: bool = True,
                   progress: bool = True, *, total_params: int | None = None,
                   count_modules: Mapping[str, nn.Module] | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Fine-tune the codec's adapter bank level by level (in place) and evaluate it.

    Parameters
    ----------
    generator : the bundle's generator G (frozen)
    codec : :class:`shared.models.codec.LinkCodec` (its normaliser fitted); its bank is trained in place
    images_or_latents : latents (N, D); or ``(latents, images)`` / ``{"latents", "images"}`` with the images
        (N, 3, H, W) in [−1, 1] the latents were inverted from. Items ``[:n_ft]`` train, ``[n_ft:n_ft+n_eval]``
        evaluate, the ``n_val`` after them validate (early stopping).
    config : :class:`AdapterTrainConfig`
    run_dir : run directory (config.json, ckpt-*.pt, log.csv, metrics.json)
    resume, progress : continue from the newest checkpoint; tqdm bar on stderr
    total_params : denominator of the tuned share; default: parameters of G + codec + ``count_modules``
    count_modules : further modules counted in the total (e.g. ``{"predictor": P, "fields": fields}``)

    Output
    ------
    (codec, metrics)
    """
    cfg = config if isinstance(config, AdapterTrainConfig) else AdapterTrainConfig.from_dict(config)
    latents, images = _split_data(images_or_latents)
    if latents.ndim != 2:
        raise InvalidArgumentError(f"latents must have shape (N, D), got {tuple(latents.shape)}")
    if cfg.target == "image" and images is None:
        raise InvalidArgumentError("target='image' needs the images the latents were inverted from; "
                                   "pass (latents, images) or use target='render'")
    n = latents.shape[0]
    if n < cfg.n_ft + cfg.n_eval + cfg.n_val:
        raise InvalidArgumentError(f"{n} items are fewer than n_ft + n_eval + n_val = "
                                   f"{cfg.n_ft + cfg.n_eval + cfg.n_val}")
    if cfg.batch_size > cfg.n_ft:
        raise InvalidArgumentError(f"batch_size {cfg.batch_size} exceeds n_ft {cfg.n_ft}")
    levels = [float(s) for s in (cfg.snr_levels if cfg.snr_levels is not None else codec.snr_levels)]
    for s in levels:
        if codec.bank.nearest_level(s) != s:
            raise InvalidArgumentError(f"SNR level {s} dB is not one of the codec's levels {codec.snr_levels}")

    device = next(generator.parameters()).device
    latents = latents.detach().to(device, torch.float32)
    with torch.no_grad():
        if cfg.target == "image":
            targets = images.detach().to(device, torch.float32)
        else:
            targets = torch.cat([generator.synthesis(latents[i:i + 16], noise_mode=cfg.noise_mode)
                                 for i in range(0, n, 16)])
    w_ft, t_ft = latents[: cfg.n_ft], targets[: cfg.n_ft]
    w_ev, t_ev = latents[cfg.n_ft: cfg.n_ft + cfg.n_eval], targets[cfg.n_ft: cfg.n_ft + cfg.n_eval]
    val = slice(cfg.n_ft + cfg.n_eval, cfg.n_ft + cfg.n_eval + cfg.n_val)
    w_val, t_val = latents[val], targets[val]

    # freeze everything; only the current level's pair gets requires_grad
    was_training = (generator.training, codec.training)
    generator.eval()
    codec.eval()
    req = {id(p): p.requires_grad for p in list(generator.parameters()) + list(codec.parameters())}
    for p in list(generator.parameters()) + list(codec.parameters()):
        p.requires_grad_(False)

    from shared.lpips import get_lpips
    lp = get_lpips(cfg.lpips_net, device=device)

    run = RunDir(run_dir, cfg, resume=resume)
    ck = run.load_latest(map_location=device) if resume else None
    total_steps = len(levels) * cfg.steps
    gstep = 0
    opt_state = None
    if ck is not None:
        codec.bank.load_state_dict(ck["bank"])
        gstep = int(ck["step"])
        opt_state = ck.get("optimizer")
        before = ck["before"]
        best = ck.get("best", {})
    else:
        before, best = {}, {}
    log_fields = ["step", "snr_db", "level_step", "lr", "lpips", "seconds"]
    log = run.log(log_fields, resume_step=gstep if ck else None)

    # the "before" and "without bank" references are measured once, before any training, and checkpointed
    eval_seeds = {lv: [_channel_seed("heldout/adapters", cfg.seed, lv, j) for j in range(cfg.eval_draws)]
                  for lv in levels}
    val_seeds = {lv: [_channel_seed("val/adapters", cfg.seed, lv, j) for j in range(cfg.eval_draws)]
                 for lv in levels}

    def validate(level: float, step: int, params: list[Tensor]) -> None:
        """Measure the level's validation LPIPS; keep a snapshot of its parameters when it is the best."""
        value = _lpips_eval(lp, generator, codec, w_val, t_val, level, val_seeds[level], cfg, True)
        entry = best.setdefault(str(level), {"step": step, "lpips": value, "curve": [],
                                             "state": [p.detach().clone() for p in params]})
        entry["curve"].append([step, value])
        if value < entry["lpips"]:
            entry.update(step=step, lpips=value, state=[p.detach().clone() for p in params])
    if not before:
        for lv in levels:
            row = {"without": _lpips_eval(lp, generator, codec, w_ev, t_ev, lv, eval_seeds[lv], cfg, False)
                   if cfg.n_eval else float("nan"),
                   "incoming": _lpips_eval(lp, generator, codec, w_ev, t_ev, lv, eval_seeds[lv], cfg, True)
                   if cfg.n_eval else float("nan"),
                   "train_without": _lpips_eval(lp, generator, codec, w_ft, t_ft, lv, eval_seeds[lv], cfg, False)}
            before[str(lv)] = row

    bar = tqdm(total=total_steps, initial=gstep, file=sys.stderr, disable=not progress, desc="adapters",
               dynamic_ncols=True)
    loop = FitConfig(steps=cfg.steps, lr=cfg.lr, warmup=cfg.warmup, final_frac=cfg.final_frac,
                     checkpoint_every=cfg.ckpt_every, log_every=cfg.log_every, log_first=True,
                     log_fields=log_fields)
    t0 = time.perf_counter()
    try:
        for li in range(gstep // cfg.steps if cfg.steps else len(levels), len(levels)):
            level, s0 = levels[li], gstep - li * cfg.steps
            params = codec.bank.level_parameters(level)
            for p in codec.parameters():
                p.requires_grad_(False)
            for p in params:
                p.requires_grad_(True)
            opt = torch.optim.Adam(params, lr=cfg.lr)
            if opt_state is not None and s0 > 0:
                opt.load_state_dict(opt_state)
            opt_state = None
            if cfg.n_val and str(level) not in best:
                validate(level, 0, params)                         # the incoming bank is a candidate too

            def step(s: int, level: float = level, params: list[Tensor] = params,
                     opt: torch.optim.Optimizer = opt) -> dict[str, float]:
                g = make_generator("train/adapters", cfg.seed, level, s)
                idx = torch.randperm(cfg.n_ft, generator=g)[: cfg.batch_size].to(device)
                cseed = _channel_seed("train/adapters/channel", cfg.seed, level, s)
                img = received_images(generator, codec, w_ft[idx], level, seed=cseed, mode=cfg.channel,
                                      noise_mode=cfg.noise_mode)
                loss = lp(img, t_ft[idx]).mean()
                optimizer_step(loss, opt, params, cfg.grad_clip, f"LPIPS at level {level} dB, step {s}")
                if cfg.n_val and ((s + 1) % cfg.val_every == 0 or s == cfg.steps - 1):
                    validate(level, s + 1, params)
                    if s == cfg.steps - 1:                         # the level is done: keep its best snapshot
                        with torch.no_grad():
                            for p, q in zip(params, best[str(level)]["state"]):
                                p.copy_(q)
                bar.set_postfix(snr=level, lpips=f"{loss.item():.4f}")
                return {"snr_db": level, "level_step": s + 1, "lpips": float(loss.item())}

            def state(done: int, opt: torch.optim.Optimizer = opt) -> dict[str, Any]:
                return {"bank": codec.bank.state_dict(), "before": before, "best": best,
                        "optimizer": opt.state_dict() if done < cfg.steps else None}

            fit(step, loop, run, None, model=codec.bank, optimizer=opt, start=s0, log=log, bar=bar, t0=t0,
                time_limit=None, offset=li * cfg.steps, state=state, close=False)
            gstep = (li + 1) * cfg.steps
    finally:
        bar.close()
        for p in list(generator.parameters()) + list(codec.parameters()):
            p.requires_grad_(req[id(p)])
        generator.train(was_training[0])
        codec.train(was_training[1])

    # metrics
    generator.eval()
    codec.eval()
    if total_params is None:
        mods = {"generator": generator, "adapters": codec, **dict(count_modules or {})}
        total_params = _count(list(mods.values()))
        counted = list(mods)
    else:
        counted = ["given"]
    per_level: dict[str, Any] = {}
    for lv in levels:
        b = before[str(lv)]
        after = _lpips_eval(lp, generator, codec, w_ev, t_ev, lv, eval_seeds[lv], cfg, True) if cfg.n_eval \
            else float("nan")
        train_after = _lpips_eval(lp, generator, codec, w_ft, t_ft, lv, eval_seeds[lv], cfg, True)
        per_level[str(lv)] = {
            "lpips_without_bank": b["without"], "lpips_incoming_bank": b["incoming"], "lpips_with_bank": after,
            "train_lpips_without_bank": b["train_without"], "train_lpips_with_bank": train_after,
            "tuned_params": codec.bank.parameter_count(lv),
            "tuned_share": codec.bank.parameter_count(lv) / float(total_params),
        }
        if str(lv) in best:
            per_level[str(lv)]["selected_step"] = best[str(lv)]["step"]
            per_level[str(lv)]["val_lpips_curve"] = best[str(lv)]["curve"]
    with torch.no_grad():
        clean = float(lp(generator.synthesis(w_ev, noise_mode=cfg.noise_mode), t_ev).mean()) if cfg.n_eval \
            else float("nan")
    generator.train(was_training[0])
    codec.train(was_training[1])
    lv0 = levels[0]
    metrics = {
        "levels": per_level, "snr_levels": levels, "target": cfg.target, "channel": cfg.channel,
        "n_ft": cfg.n_ft, "n_eval": cfg.n_eval, "n_val": cfg.n_val, "eval_draws": cfg.eval_draws,
        "steps_per_level": cfg.steps,
        "lr": cfg.lr, "lpips_clean": clean, "total_params": int(total_params), "total_counted": counted,
        "tuned_params": codec.bank.parameter_count(lv0),
        "tuned_share": codec.bank.parameter_count(lv0) / float(total_params),
        "seconds": round(time.perf_counter() - t0, 2),
    }
    run.write_metrics(metrics)
    return codec, metrics
