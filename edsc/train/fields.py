"""Stage (e): training the five field functions M (the JECC encoder, paper eq. 11–15).

One training step, for a batch of starting latents ``w`` (B, D)::

    a        = P(G(w))                                   degrees of the original (argmax, no gradient)
    i, d     : one attribute per item (uniform), d = ±1 where the degree has room (0 → +1, u → −1, else random)
    a_exp    = a with a_exp[i] = clamp(a[i] + d, 0, u)   (eq. 10 with Δ = 1; the other attributes unchanged)
    E        = w + d · M_i(w)                            one field step (eq. 11)
    I_after  = G(A_CD(link_18dB(A_CE(normalise(E)))))   through the frozen codec and the AWGN link at 18 dB
    L        = λ_pred·CE(P(I_after), a_exp) + λ_id·‖F(I_after) − F(G(w))‖₁ + λ_disc·(−D(I_after))   (eq. 12–15)

Only the fields are trained; G, P, F, D and the codec are frozen (P and F run with their straight-through
quantisation, ``differentiable=True``, so the gradient reaches the image). ``L_pred`` is the cross-entropy of the
target attribute plus ``other_weight`` times the mean cross-entropy of the other attributes. ``L_id`` is the mean
absolute difference of the identity features. ``L_disc`` is optional (``lambda_disc = 0`` or ``discriminator=None``:
a generator trained by distillation has no discriminator).

**Channel.** The link is :func:`edsc.train.adapters.awgn_link`: the power normalisation, AWGN and MMSE estimate of
the serving path (``channel="emulator"`` takes the noise from :func:`channel_emulator.link.apply_channel` itself),
at ``train_snr_db`` = 18 dB (the paper trains M at high SNR only). The codec's adapters at that level are used as
they are (identity before stage (f)); ``channel="none"`` trains without the link.

**Starting latents** (``latent_source``): ``"mapping"`` draws ``w = G.mapping(z)`` fresh every step (the generator
is trained so that its mapping covers the SynthFace world); ``"pool"`` draws from the ``latents`` tensor given to
:func:`train_fields` (e.g. inverted latents); ``"mixed"`` takes half of each.

**Metrics** (``metrics.json``) on held-out latents (``G.mapping`` of z from the namespace ``heldout/fields``, never
used in training): per attribute, the share of single steps whose predicted degree moves in the requested direction
(``moved``), the share that land exactly on the expected degree (``exact``), the share that leave every other
attribute's degree unchanged (``others_kept``), the mean signed degree change along ``d`` (``mean_change``); once
on clean renders ``G(E)`` vs ``G(w)`` (``clean``) and once through the training link, both images received at
``train_snr_db`` with the same noise (``channel``).

Resumable: ``ckpt-<step>.pt`` holds the fields and the optimizer; all random draws of step ``s`` come from
``make_generator("train/fields", seed, s)``, so a resumed run is bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from edsc.train.adapters import awgn_link, _channel_seed
from edsc.train.loop import FitConfig, fit, optimizer_step
from edsc.train.rundir import RunDir
from edsc.world.seeds import make_generator, stable_seed
from shared.dataclass_config import checked_fields
from shared.errors import InvalidArgumentError
from shared.models.field import FieldBank, FieldConfig

__all__ = ["FieldTrainConfig", "train_fields", "evaluate_fields", "choose_directions"]


@dataclass
class FieldTrainConfig:
    """Configuration of :func:`train_fields`.

    Parameters
    ----------
    steps, batch_size, lr, warmup, final_frac, weight_decay, grad_clip : optimisation (AdamW, cosine schedule)
    lambda_pred, lambda_id, lambda_disc : loss weights (eq. 12); ``lambda_disc = 0`` needs no discriminator
    other_weight : weight of the non-target attributes' mean cross-entropy inside L_pred
    train_snr_db : SNR of the training link (18 dB)
    channel : ``"emulator"`` | ``"torch"`` | ``"none"`` (see :func:`edsc.train.adapters.awgn_link`)
    latent_source : ``"mapping"`` | ``"pool"`` | ``"mixed"``
    field : :class:`FieldConfig` of freshly initialised fields (ignored when ``train_fields`` gets ``fields``)
    attributes : attributes to train (None: the predictor's)
    fixed_batch : reuse step 0's draws every step (for tests and over-fitting checks)
    eval_latents : held-out latents of the metrics; ``eval_every`` steps between evaluations (0: at the end only)
    noise_mode : the generator's noise inputs
    seed, log_every, ckpt_every
    """

    steps: int = 3000
    batch_size: int = 8
    lr: float = 1e-4
    warmup: int = 50
    final_frac: float = 0.05
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    lambda_pred: float = 1.0
    lambda_id: float = 1.0
    lambda_disc: float = 0.0
    other_weight: float = 1.0
    train_snr_db: float = 18.0
    channel: str = "emulator"
    latent_source: str = "mapping"
    field: dict[str, Any] = dataclasses.field(default_factory=lambda: FieldConfig().to_dict())
    attributes: list[str] | None = None
    fixed_batch: bool = False
    eval_latents: int = 64
    eval_every: int = 0
    noise_mode: str = "const"
    seed: int = 0
    log_every: int = 10
    ckpt_every: int = 100

    def __post_init__(self) -> None:
        if self.steps < 0 or self.batch_size < 1 or self.eval_latents < 0 or self.log_every < 1 \
                or self.ckpt_every < 1:
            raise InvalidArgumentError(f"invalid FieldTrainConfig sizes: {self}")
        if self.channel not in ("emulator", "torch", "none"):
            raise InvalidArgumentError(f"channel must be 'emulator', 'torch' or 'none', got {self.channel!r}")
        if self.latent_source not in ("mapping", "pool", "mixed"):
            raise InvalidArgumentError(f"latent_source must be 'mapping', 'pool' or 'mixed', got "
                                       f"{self.latent_source!r}")
        if min(self.lambda_pred, self.lambda_id, self.lambda_disc) < 0:
            raise InvalidArgumentError("loss weights must be >= 0")
        FieldConfig.from_dict(self.field)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "FieldTrainConfig":
        return cls(**checked_fields(cls, d))


# ----------------------------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------------------------

@contextmanager
def _differentiable(*modules: nn.Module | None) -> Iterator[None]:
    """Switch on the straight-through quantisation (``differentiable``) of P / F for the duration."""
    saved = []
    for m in modules:
        if m is not None and hasattr(m, "differentiable"):
            saved.append((m, m.differentiable))
            m.differentiable = True
    try:
        yield
    finally:
        for m, v in saved:
            m.differentiable = v


def choose_directions(degree: Tensor, max_degree: int, g: torch.Generator) -> Tensor:
    """d = ±1 (float, (B,)) where the degree has room: 0 → +1, u → −1, otherwise random."""
    rnd = torch.where(torch.rand(degree.shape[0], generator=g) < 0.5, -1.0, 1.0).to(degree.device)
    d = torch.where(degree <= 0, torch.ones_like(rnd), rnd)
    return torch.where(degree >= max_degree, -torch.ones_like(rnd), d)


def _apply_fields(fields: FieldBank, names: list[str], w: Tensor, attr: Tensor, d: Tensor) -> Tensor:
    """E = w + d·M_attr(w) per item; each field only sees (and gets gradient from) its own items."""
    out = w
    for k, name in enumerate(names):
        mask = attr == k
        if bool(mask.any()):
            idx = mask.nonzero().flatten()
            step = fields[name].step(w[idx], d[idx])                                # (b, D)
            out = out.index_put((idx,), step)
    return out


def _sample_latents(generator: nn.Module, cfg: FieldTrainConfig, pool: Tensor | None, g: torch.Generator,
                    device) -> Tensor:
    B = cfg.batch_size
    parts = []
    n_pool = {"mapping": 0, "pool": B, "mixed": B // 2}[cfg.latent_source]
    if n_pool:
        idx = torch.randint(0, pool.shape[0], (n_pool,), generator=g)
        parts.append(pool[idx].to(device))
    if B - n_pool:
        z = torch.randn(B - n_pool, generator.style_dim, generator=g).to(device)
        with torch.no_grad():
            parts.append(generator.mapping(z))
    return torch.cat(parts)


def _render_link(generator, codec, w, cfg, seed) -> Tensor:
    if cfg.channel == "none":
        return generator.synthesis(w, noise_mode=cfg.noise_mode)
    snr = cfg.train_snr_db
    x = codec.encode(w, snr)                                                          # (B, k)
    gen = make_generator("channel", seed) if cfg.channel == "torch" else None
    y = awgn_link(x, snr, seed=seed, generator=gen, mode=cfg.channel, rescale=codec.cfg.rescale)
    return generator.synthesis(codec.decode(y, snr), noise_mode=cfg.noise_mode)     # (B, 3, H, W)


# ----------------------------------------------------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------------------------------------------------

@torch.no_grad()
def evaluate_fields(fields: FieldBank, generator: nn.Module, predictor: nn.Module, codec: nn.Module | None,
                    cfg: FieldTrainConfig, n: int | None = None, chunk: int = 16) -> dict[str, Any]:
    """Single-step metrics on held-out latents (see the module docstring)."""
    n = cfg.eval_latents if n is None else n
    names = cfg.attributes or list(fields.attributes)
    device = next(generator.parameters()).device
    g = make_generator("heldout/fields", cfg.seed)
    z = torch.randn(n, generator.style_dim, generator=g).to(device)
    w = torch.cat([generator.mapping(z[i:i + chunk]) for i in range(0, n, chunk)])
    u = predictor.max_degree
    modes = ["clean"] + ([] if cfg.channel == "none" or codec is None else ["channel"])
    out: dict[str, Any] = {m: {} for m in modes}

    def degrees(lat: Tensor, mode: str, seeds: list[int]) -> Tensor:
        res = []
        for j, i in enumerate(range(0, lat.shape[0], chunk)):
            if mode == "clean":
                img = generator.synthesis(lat[i:i + chunk], noise_mode=cfg.noise_mode)
            else:
                img = _render_link(generator, codec, lat[i:i + chunk], cfg, seeds[j])
            res.append(predictor.predict(img).degree)
        return torch.cat(res)                                                           # (n, m)

    seeds = [_channel_seed("heldout/fields/channel", cfg.seed, j) for j in range((n + chunk - 1) // chunk)]
    before = {m: degrees(w, m, seeds) for m in modes}
    for name in names:
        k = predictor.attribute_index(name)
        d = choose_directions(before["clean"][:, k].float(), u, make_generator("heldout/fields/dir", cfg.seed, name))
        e = fields[name].step(w, d)
        for m in modes:
            a0 = before[m].cpu()                        # degrees are compared on the CPU (d is a CPU tensor)
            a1 = degrees(e, m, seeds).cpu()
            change = (a1[:, k] - a0[:, k]).float() * d.cpu()
            expected = (a0[:, k].float() + d.cpu()).clamp(0, u)
            others = torch.ones(a0.shape[1], dtype=torch.bool)
            others[k] = False
            out[m][name] = {
                "moved": float((change > 0).float().mean()),
                "exact": float((a1[:, k].float() == expected).float().mean()),
                "others_kept": float((a1[:, others] == a0[:, others]).all(1).float().mean()),
                "mean_change": float(change.mean()),
            }
    for m in modes:
        vals = list(out[m].values())
        out[m]["mean"] = {key: sum(v[key] for v in vals) / len(vals) for key in vals[0]} if vals else {}
    out["n"] = n
    return out


# ----------------------------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------------------------

def train_fields(generator: nn.Module, predictor: nn.Module, identity_encoder: nn.Module | None,
                 discriminator: nn.Module | None, codec: nn.Module | None,
                 config: FieldTrainConfig | Mapping[str, Any], run_dir: str | Path, resume: bool = True,
                 progress: bool = True, *, fields: FieldBank | None = None,
                 latents: Tensor | None = None) -> tuple[FieldBank, dict[str, Any]]:
    """Train (or resume) the field functions; see the module docstring.

    Parameters
    ----------
    generator, predictor : G and P (frozen)
    identity_encoder : F, any module images (B, 3, H, W) in [−1, 1] → (B, n); None only with ``lambda_id = 0``
    discriminator : D (images → (B, 1) logits) or None (then ``lambda_disc`` must be 0)
    codec : :class:`shared.models.codec.LinkCodec` of the link (frozen); None only with ``channel="none"``
    config : :class:`FieldTrainConfig`
    run_dir : run directory (config.json, ckpt-*.pt, log.csv, metrics.json)
    resume, progress : continue from the newest checkpoint; tqdm bar on stderr
    fields : starting bank (trained in place); default a fresh :class:`FieldBank.residual` seeded by ``seed``
    latents : the pool of starting latents for ``latent_source`` ``"pool"`` / ``"mixed"`` (e.g. inverted ones)

    Output
    ------
    (fields, metrics)
    """
    cfg = config if isinstance(config, FieldTrainConfig) else FieldTrainConfig.from_dict(config)
    if cfg.lambda_disc > 0 and discriminator is None:
        raise InvalidArgumentError("lambda_disc > 0 needs a discriminator; pass one or set lambda_disc = 0")
    if cfg.lambda_id > 0 and identity_encoder is None:
        raise InvalidArgumentError("lambda_id > 0 needs an identity encoder; pass one or set lambda_id = 0")
    if cfg.channel != "none" and codec is None:
        raise InvalidArgumentError(f"channel={cfg.channel!r} needs the codec; pass it or use channel='none'")
    if cfg.latent_source != "mapping" and (latents is None or latents.ndim != 2 or latents.shape[0] < 1):
        raise InvalidArgumentError(f"latent_source={cfg.latent_source!r} needs a latents tensor (N, D)")
    names = list(cfg.attributes or predictor.attributes)
    for a in names:
        predictor.attribute_index(a)
    device = next(generator.parameters()).device
    if fields is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(stable_seed("init/fields", cfg.seed))
            fields = FieldBank.residual(names, FieldConfig.from_dict(cfg.field))
    missing = [a for a in names if a not in fields]
    if missing:
        raise InvalidArgumentError(f"the field bank has no field for {', '.join(missing)}")
    fields = fields.to(device)
    attr_idx = torch.tensor([predictor.attribute_index(a) for a in names])
    u = predictor.max_degree

    frozen = [m for m in (generator, predictor, identity_encoder, discriminator, codec) if m is not None]
    saved = [(m, m.training, {id(p): p.requires_grad for p in m.parameters()}) for m in frozen]
    for m in frozen:
        m.eval()
        for p in m.parameters():
            p.requires_grad_(False)
    params = [p for a in names for p in fields[a].parameters()]
    for p in params:
        p.requires_grad_(True)
    fields.train()
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)

    run = RunDir(run_dir, cfg, resume=resume)
    ck = run.load_latest(map_location=device) if resume else None
    start = 0
    history: list[dict[str, Any]] = []
    if ck is not None:
        fields.load_state_dict(ck["fields"])
        opt.load_state_dict(ck["optimizer"])
        start = int(ck["step"])
        history = list(ck.get("history", []))
    loop = FitConfig(steps=cfg.steps, lr=cfg.lr, warmup=cfg.warmup, final_frac=cfg.final_frac,
                     checkpoint_every=cfg.ckpt_every, log_every=cfg.log_every, log_first=True,
                     log_fields=["step", "lr", "loss", "l_pred", "l_id", "l_disc", "target_acc", "seconds"])
    log = run.log(loop.log_fields, resume_step=start if ck is not None else None)

    bar = tqdm(total=cfg.steps, initial=start, file=sys.stderr, disable=not progress, desc="fields",
               dynamic_ncols=True)
    t0 = time.perf_counter()
    use_disc = cfg.lambda_disc > 0 and discriminator is not None
    use_id = cfg.lambda_id > 0 and identity_encoder is not None

    def step(s: int) -> dict[str, float]:
        g = make_generator("train/fields", cfg.seed, 0 if cfg.fixed_batch else s)
        w = _sample_latents(generator, cfg, latents, g, device)                       # (B, D)
        B = w.shape[0]
        with torch.no_grad():
            img0 = generator.synthesis(w, noise_mode=cfg.noise_mode)                  # (B, 3, H, W)
            a0 = predictor(img0).argmax(-1)                                            # (B, m)
            f0 = identity_encoder(img0) if use_id else None
        which = torch.randint(0, len(names), (B,), generator=g).to(device)           # index into names
        k = attr_idx.to(device)[which]                                                 # predictor index
        d = choose_directions(a0.gather(1, k.view(-1, 1)).squeeze(1).float(), u, g).to(device)
        a_exp = a0.clone()
        a_exp.scatter_(1, k.view(-1, 1), (a0.gather(1, k.view(-1, 1)) + d.view(-1, 1).long()).clamp(0, u))
        cseed = _channel_seed("train/fields/channel", cfg.seed, 0 if cfg.fixed_batch else s)

        e = _apply_fields(fields, names, w, which, d)                                 # (B, D)
        img1 = _render_link(generator, codec, e, cfg, cseed)                          # (B, 3, H, W)
        logits = predictor(img1)                                                       # (B, m, u+1)
        ce = F.cross_entropy(logits.flatten(0, 1), a_exp.flatten(), reduction="none").view(B, -1)
        tmask = F.one_hot(k, ce.shape[1]).bool()
        ce_t = ce[tmask]                                                               # (B,)
        ce_o = (ce * (~tmask)).sum(1) / max(1, ce.shape[1] - 1)
        l_pred = (ce_t + cfg.other_weight * ce_o).mean()
        l_id = (identity_encoder(img1) - f0).abs().mean() if use_id else torch.zeros((), device=device)
        l_disc = -discriminator(img1).mean() if use_disc else torch.zeros((), device=device)
        loss = cfg.lambda_pred * l_pred + cfg.lambda_id * l_id + cfg.lambda_disc * l_disc
        optimizer_step(loss, opt, params, cfg.grad_clip, f"field loss at step {s}")
        acc = float((logits.detach().argmax(-1).gather(1, k.view(-1, 1)).squeeze(1)
                     == a_exp.gather(1, k.view(-1, 1)).squeeze(1)).float().mean())
        bar.set_postfix(loss=f"{loss.item():.4f}", acc=f"{acc:.2f}")
        done = s + 1
        if cfg.eval_every and done % cfg.eval_every == 0 and done < cfg.steps:
            ev = evaluate_fields(fields, generator, predictor, codec, cfg)
            history.append({"step": done, **{m: ev[m]["mean"] for m in ev if m != "n"}})
        return {"loss": float(loss.item()), "l_pred": float(l_pred.item()), "l_id": float(l_id.item()),
                "l_disc": float(l_disc.item()), "target_acc": acc}

    def state(done: int) -> dict[str, Any]:
        return {"fields": fields.state_dict(), "optimizer": opt.state_dict(), "history": history}

    try:
        with _differentiable(predictor, identity_encoder):
            fit(step, loop, run, None, model=fields, optimizer=opt, start=start, log=log, bar=bar, t0=t0,
                time_limit=None, state=state)
    finally:
        bar.close()
        for m, training, req in saved:
            m.train(training)
            for p in m.parameters():
                p.requires_grad_(req[id(p)])

    fields.eval()
    for m in frozen:
        m.eval()
    ev = evaluate_fields(fields, generator, predictor, codec, cfg)
    for m, training, _ in saved:
        m.train(training)
    metrics = {"attributes": names, "steps": cfg.steps, "train_snr_db": cfg.train_snr_db, "channel": cfg.channel,
               "eval": ev, "history": history, "seconds": round(time.perf_counter() - t0, 2)}
    run.write_metrics(metrics)
    return fields, metrics


# ----------------------------------------------------------------------------------------------------------------
# Warm start: regression onto the world's exact one-degree moves
# ----------------------------------------------------------------------------------------------------------------

def pretrain_fields_on_world(fields: FieldBank, generator: nn.Module, names: list[str], steps: int = 1500,
                             batch_size: int = 256, lr: float = 1e-3, seed: int = 0,
                             progress: bool = True) -> dict[str, Any]:
    """Warm-start the fields by regression onto the exact one-degree moves of a distilled SynthFace generator.

    A generator trained by :mod:`edsc.train.generator` maps ``z_from_world_params(identity, degrees)`` to that
    face, so the latent of the same face one degree further along attribute ``i`` is known exactly::

        w   = G.mapping(z(identity, a))            w⁺ = G.mapping(z(identity, a + d·e_i))
        L   = ‖ (w + d·s·M_i(w)) − w⁺ ‖² / ‖ w⁺ − w ‖²      (mean over the batch; d = ±1 where there is room)

    This costs only the mapping network (no synthesis, no predictor), so it gives the fields a good start in a
    minute on a CPU; :func:`train_fields` then trains them with the paper's loss (eq. 12–15) through the link.
    Degrees are integers (the predictor's classes); identities come from the SynthFace prior.

    Output: ``{"steps", "final_loss", "first_loss", "seconds"}`` (relative squared error of a single step).
    """
    from edsc.train.generator import z_from_world_params
    from edsc.world.synthface import ATTRIBUTES, MAX_DEGREE, sample_degrees, sample_identity

    cols = torch.tensor([ATTRIBUTES.index(n) for n in names])                 # field k moves degrees[:, cols[k]]
    device = next(generator.parameters()).device
    attr_names = list(names)
    params = [p for n in attr_names for p in fields[n].parameters()]
    opt = torch.optim.Adam(params, lr=lr)
    t0 = time.perf_counter()
    losses: list[float] = []
    bar = tqdm(total=steps, file=sys.stderr, disable=not progress, desc="fields warm start", dynamic_ncols=True)

    def step(s: int) -> dict[str, float]:
        g = make_generator("train/fields/warm", seed, s)
        identity = sample_identity(batch_size, generator=g)                                   # (B, 25)
        degrees = sample_degrees(batch_size, generator=g)                                     # (B, 5) integers
        attr = torch.randint(len(attr_names), (batch_size,), generator=g)                    # (B,)
        rows, col = torch.arange(batch_size), cols[attr]
        d = choose_directions(degrees[rows, col], MAX_DEGREE, g)                              # (B,) ±1
        moved = degrees.clone()
        moved[rows, col] += d
        gz = torch.Generator().manual_seed(stable_seed("train/fields/warm/z", seed, s))
        z0 = z_from_world_params(identity, degrees, generator=gz)
        gz = torch.Generator().manual_seed(stable_seed("train/fields/warm/z", seed, s))     # same nuisance
        z1 = z_from_world_params(identity, moved, generator=gz)
        with torch.no_grad():
            w0 = generator.mapping(z0.to(device))                                             # (B, D)
            w1 = generator.mapping(z1.to(device))                                             # (B, D)
        out = _apply_fields(fields, attr_names, w0, attr.to(device), d.to(device))
        loss = ((out - w1).square().sum(1) / (w1 - w0).square().sum(1).clamp(min=1e-6)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        bar.set_postfix(loss=f"{losses[-1]:.4f}")
        return {}

    loop = FitConfig(steps=steps, lr=lr, warmup=0, final_frac=1.0, checkpoint_every=max(1, steps),   # constant rate
                     log_every=max(1, steps), log_fields=[])
    fit(step, loop, None, None, model=fields, optimizer=opt, start=0, log=None, bar=bar, t0=t0, time_limit=None,
        close=False)
    bar.close()
    first, last = (losses[0], losses[-1]) if losses else (float("nan"), float("nan"))
    return {"steps": steps, "first_loss": first, "final_loss": last, "seconds": round(time.perf_counter() - t0, 1)}
