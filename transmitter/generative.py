"""The generative scheme's transmitter (Han et al.): head inversion, privacy filter, knowledge base, encoding.

    image ──invert_head──▶ L (B, 30) ──privacy_filter (4′) + knowledge_base (5′)──▶ P ──flow, encoder──▶ x (B, k)

**Inversion.** The part-disentangled latent is the built-in generator's SynthFace head: 25 identity values and 5
attribute degrees (:mod:`shared.models.world_latent`). :func:`invert_head` starts from the image's reading by the
bundle's identity encoder and attribute predictor and refines the 30 head coordinates through the frozen generator
with image MSE + LPIPS (AlexNet), Adam, cosine-decayed rate; the nuisance coordinates of z stay at the fixed draw
the receiver also uses. The plain-w inversion (all 512 values of w, the non-disentangled variant) is
:func:`transmitter.inversion.invert` from the same start (:func:`invert_w`).

**Privacy filter and knowledge base.** Both act on the private part of the latent in the Gaussian head space
``g = Φ⁻¹(u)`` (u: the layout's uniform coordinate of each world parameter), where the SynthFace prior is exactly
N(0, I) and the knowledge base's mean latent L_m is 0. Let π be the private coordinates (:data:`PRIVATE_PARTS`),
p = |π|, ``D̄ = √(2p)`` the expected distance between the private parts of two independent faces, r a pseudonym
drawn from the prior (seeded) and ``e = (r_π − g_π)/‖r_π − g_π‖``::

    (4′)  L′_π = g_π + b·e,     b = Δ, 2Δ, ... (Δ = 0.05·√p)  until  ‖P_π − g_π‖ > λ₁·D̄
    (5′)  P_π  = L′_π + c·(L_m − L′_π),   c = 0, δ, 2δ, ... (δ = 0.01) while  ‖P_π − L′_π‖ < λ₂·‖P_π − L_m‖

(5′) is evaluated inside every step of (4′), so the privacy condition holds for the latent that is sent. The
non-private coordinates are untouched. Defaults λ₁ = 0.8, λ₂ = 0.5 (then c is the largest grid point below
λ₂ / (1 + λ₂) = 1/3). docs/GENERATIVE.md explains how these differ from the printed (4) and (5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from shared.errors import InvalidArgumentError, quote
from shared.models import world_latent as WL
from shared.models.generative import LATENT_DIM, latent_from_params, params_from_latent, z_from_latent

__all__ = ["PRIVACY_MODES", "PRIVATE_PARTS", "HeadInversionConfig", "PrivacyConfig", "PrivacyOutcome",
           "read_latent", "invert_head", "invert_w", "gauss_from_latent", "latent_from_gauss", "private_index",
           "privacy_filter", "GenerativeOutput", "GenerativeTransmitter"]

#: The private parts a request may name; "none" sends the inverted latent as it is.
PRIVACY_MODES = ("none", "identity", "eyes")
#: Which SynthFace identity parameters each mode hides. ``identity``: everything that says who the person is
#: (face shape, skin, hair, eyes, brows, nose, lips, mouth); kept: background, lighting, clothes and the five
#: attribute degrees. ``eyes``: iris colour, eye size and eye spacing.
PRIVATE_PARTS: dict[str, tuple[str, ...]] = {
    "none": (),
    "identity": tuple(d for d in WL.SYNTHFACE_IDENTITY_DIMS
                      if d not in ("bg_hue", "bg_brightness", "light_dir", "light_strength", "clothes_hue")),
    "eyes": ("eye_hue", "eye_size", "eye_spacing"),
}
_EPS = 1e-6


def private_index(mode: str) -> list[int]:
    """Coordinates of L (and of the Gaussian head) that ``mode`` hides."""
    if mode not in PRIVACY_MODES:
        raise InvalidArgumentError(f"privacy must be one of {list(PRIVACY_MODES)}, got {quote(mode)}")
    return [WL.SYNTHFACE_IDENTITY_DIMS.index(d) for d in PRIVATE_PARTS[mode]]


def gauss_from_latent(latent: Tensor, integer_fraction: float = 0.7) -> Tensor:
    """The Gaussian head g = Φ⁻¹(u) (B, 30) of L (B, 30): N(0, I) under the SynthFace prior."""
    identity, degrees = params_from_latent(latent)
    u = torch.cat([(identity + 1) * 0.5, WL.uniform_from_degree(degrees, integer_fraction)], 1)
    return math.sqrt(2.0) * torch.erfinv(2.0 * u.clamp(_EPS, 1 - _EPS) - 1.0)


def latent_from_gauss(g: Tensor, integer_fraction: float = 0.7) -> Tensor:
    """L (B, 30) of a Gaussian head g (B, 30) (the layout's own transform)."""
    u = 0.5 * (1.0 + torch.erf(g / math.sqrt(2.0)))
    identity = 2.0 * u[:, :WL.N_ID] - 1.0
    degrees = WL.degree_from_uniform(u[:, WL.N_ID:], integer_fraction)
    return latent_from_params(identity, degrees)


# --- inversion ------------------------------------------------------------------------------------------------

@dataclass
class HeadInversionConfig:
    """Head inversion: ``steps`` Adam steps at rate ``lr`` (cosine decay to 0) on image MSE + ``lpips``·LPIPS."""

    steps: int = 20
    lr: float = 0.08
    lpips: float = 1.0

    def __post_init__(self) -> None:
        if not (isinstance(self.steps, int) and 0 <= self.steps <= 10_000):
            raise InvalidArgumentError(f"inversion steps must be an integer in [0, 10000], got {self.steps!r}")
        if not (math.isfinite(self.lr) and self.lr > 0) or self.lpips < 0:
            raise InvalidArgumentError("inversion lr must be positive and the LPIPS weight >= 0")


@torch.no_grad()
def read_latent(images: Tensor, identity_encoder: torch.nn.Module, predictor: torch.nn.Module) -> Tensor:
    """L (B, 30) as the identity encoder and the attribute predictor read the images (B, 3, R, R)."""
    if images.dim() != 4 or images.shape[1] != 3:
        raise InvalidArgumentError(f"images must have shape (B, 3, H, W), got {tuple(images.shape)}")
    identity = identity_encoder.decode(identity_encoder(images)).clamp(-1.0, 1.0)        # (B, 25)
    columns = [list(predictor.attributes).index(a) for a in WL.ATTRIBUTES]
    degrees = predictor.predict(images).degree[:, columns].float()                        # (B, 5)
    return latent_from_params(identity.cpu(), degrees.cpu())


def _rest(style_dim: int) -> Tensor:
    """The fixed nuisance direction of :func:`shared.models.generative.z_from_latent`: (1, style_dim − 30)."""
    return torch.randn(1, style_dim - LATENT_DIM, generator=torch.Generator(device="cpu").manual_seed(0))


def _z_of_head(g: Tensor, rest: Tensor, style_dim: int) -> Tensor:
    room = (style_dim - g.square().sum(1, keepdim=True)).clamp(min=1e-3)
    return torch.cat([g, rest * (room.sqrt() / rest.norm(dim=1, keepdim=True))], 1)       # (B, style_dim)


def invert_head(generator: torch.nn.Module, images: Tensor, start: Tensor, config: HeadInversionConfig | None = None,
                lpips_fn: torch.nn.Module | None = None) -> Tensor:
    """Refine L (B, 30) from ``start`` so that the generator redraws ``images`` (B, 3, R, R) in [−1, 1].

    The optimised variables are the Gaussian head g (B, 30); z = [g, fixed nuisance with rms(z) = 1], so the
    generator's PixelNorm leaves z unchanged and the face the receiver draws for the returned L is the one that was
    optimised. Returns L (B, 30), detached, on the CPU.
    """
    cfg = config or HeadInversionConfig()
    if images.dim() != 4 or images.shape[0] != start.shape[0]:
        raise InvalidArgumentError(f"images (B, 3, R, R) and start (B, {LATENT_DIM}) must agree, got "
                                   f"{tuple(images.shape)} and {tuple(start.shape)}")
    param = next(generator.parameters())
    for p in generator.parameters():
        p.requires_grad_(False)
    style_dim = generator.style_dim
    target = images.to(param.device, param.dtype)
    rest = _rest(style_dim).to(param.device)
    g = gauss_from_latent(start).to(param.device).clone().requires_grad_(True)          # (B, 30)
    if cfg.steps == 0:
        return start.detach().cpu()
    opt = torch.optim.Adam([g], lr=cfg.lr)
    best = (torch.full((g.shape[0],), float("inf"), device=param.device), g.detach().clone())
    for s in range(cfg.steps + 1):
        image = generator.synthesis(generator.mapping(_z_of_head(g, rest, style_dim)), noise_mode="const")
        loss = (image - target).square().flatten(1).mean(1)                              # (B,)
        if lpips_fn is not None and cfg.lpips > 0:
            loss = loss + cfg.lpips * lpips_fn(image, target).reshape(-1)
        with torch.no_grad():
            better = loss < best[0]
            best = (torch.where(better, loss, best[0]), torch.where(better[:, None], g, best[1]))
        if s == cfg.steps:
            break
        for group in opt.param_groups:
            group["lr"] = cfg.lr * 0.5 * (1 + math.cos(math.pi * s / cfg.steps))
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        opt.step()
    z = _z_of_head(best[1].detach(), rest, style_dim)
    identity, degrees = WL.world_params_from_z(z.cpu())
    return latent_from_params(identity, degrees)


def invert_w(generator: torch.nn.Module, images: Tensor, start: Tensor, lpips_fn: torch.nn.Module,
             steps: int = 40) -> Tensor:
    """The plain-w variant: all 512 values of w refined from the same start (``start``: L (B, 30)) with the
    project's inversion (:func:`transmitter.inversion.invert`). Returns w (B, 512)."""
    from transmitter.inversion import InversionConfig, invert

    param = next(generator.parameters())
    with torch.no_grad():
        w0 = generator.mapping(z_from_latent(start, generator.style_dim).to(param.device, param.dtype))
    res = invert(generator, images, lpips_fn, InversionConfig(steps=steps, lr=0.02, keep_degrees=False,
                                                               init="mean"), w_init=w0)
    return res.w.detach()


# --- privacy filter and knowledge base -------------------------------------------------------------------------

@dataclass
class PrivacyConfig:
    """λ₁ of (4′), λ₂ of (5′) and the grids of their biases (module docstring)."""

    lambda1: float = 0.8
    lambda2: float = 0.5
    bias_step: float = 0.05
    pull_step: float = 0.01
    max_steps: int = 400

    def __post_init__(self) -> None:
        if not self.lambda1 > 0 or not 0 < self.lambda2 < 1:
            raise InvalidArgumentError("privacy needs lambda1 > 0 and 0 < lambda2 < 1")
        if not (self.bias_step > 0 and self.pull_step > 0 and self.max_steps >= 1):
            raise InvalidArgumentError("privacy grid steps must be positive")


@dataclass
class PrivacyOutcome:
    """What the filter did, per image: ``latent`` P (B, 30); ``bias`` b and ``pull`` c (B,); ``distance``
    ‖P_π − g_π‖ and ``threshold`` λ₁·D̄; ``satisfied`` (B,) bool (4′ met within ``max_steps``)."""

    latent: Tensor
    bias: Tensor
    pull: Tensor
    distance: Tensor
    threshold: float
    satisfied: Tensor


def _pull(lp: Tensor, cfg: PrivacyConfig) -> tuple[Tensor, Tensor]:
    """(5′) towards L_m = 0: the largest c on the grid with ‖P − L′‖ < λ₂‖P − L_m‖ (c = 0 always qualifies)."""
    c = torch.zeros(lp.shape[0])
    for _ in range(int(1 / cfg.pull_step)):
        nxt = c + cfg.pull_step
        p = lp * (1 - nxt[:, None])
        ok = (p - lp).norm(dim=1) < cfg.lambda2 * p.norm(dim=1)
        if not bool(ok.any()):
            break
        c = torch.where(ok, nxt, c)
    return lp * (1 - c[:, None]), c


def privacy_filter(latent: Tensor, mode: str, seeds: list[int], config: PrivacyConfig | None = None
                   ) -> PrivacyOutcome:
    """(4′) and (5′) on L (B, 30) for ``mode``; ``seeds`` (one per image) draw each image's pseudonym r.

    ``mode = "none"`` returns the latent unchanged (bias 0, satisfied).
    """
    cfg = config or PrivacyConfig()
    idx = private_index(mode)
    b = latent.shape[0]
    if len(seeds) != b:
        raise InvalidArgumentError(f"privacy_filter needs one seed per image ({b}), got {len(seeds)}")
    if not idx:
        zeros = torch.zeros(b)
        return PrivacyOutcome(latent.clone(), zeros, zeros, zeros, 0.0, torch.ones(b, dtype=torch.bool))
    g = gauss_from_latent(latent.detach().cpu())                                         # (B, 30)
    gp = g[:, idx]                                                                       # (B, p)
    p = len(idx)
    r = torch.stack([torch.randn(p, generator=torch.Generator().manual_seed(int(s) % (2 ** 63))) for s in seeds])
    e = r - gp
    e = e / e.norm(dim=1, keepdim=True).clamp(min=1e-8)
    threshold = cfg.lambda1 * math.sqrt(2.0 * p)
    step = cfg.bias_step * math.sqrt(p)
    bias, pull = torch.zeros(b), torch.zeros(b)
    out, done = gp.clone(), torch.zeros(b, dtype=torch.bool)
    for j in range(1, cfg.max_steps + 1):
        lp = gp + (j * step) * e
        pp, c = _pull(lp, cfg)
        hit = (~done) & ((pp - gp).norm(dim=1) > threshold)
        out[hit], bias[hit], pull[hit] = pp[hit], j * step, c[hit]
        done |= hit
        if bool(done.all()):
            break
        if j == cfg.max_steps:
            out[~done], bias[~done], pull[~done] = pp[~done], j * step, c[~done]
    g2 = g.clone()
    g2[:, idx] = out
    res = latent_from_gauss(g2)
    res[:, WL.N_ID:] = latent[:, WL.N_ID:].detach().cpu()     # degrees are never private: keep them exactly
    keep = [i for i in range(WL.N_ID) if i not in idx]
    res[:, keep] = latent[:, keep].detach().cpu()
    return PrivacyOutcome(res, bias, pull, (out - gp).norm(dim=1), threshold, done)


# --- the service's unit of work --------------------------------------------------------------------------------

@dataclass
class GenerativeOutput:
    """One image through the generative transmitter.

    Attributes
    ----------
    x : (k,) the real values handed to the channel.
    latent : (30,) L as inverted; ``sent`` (30,) P after the privacy filter and knowledge base.
    w_sent : (D,) the generator's w of the sent face (what a session continues from).
    privacy : the :class:`PrivacyOutcome` (bias, pull, distance, threshold, satisfied) of this image.
    timings : seconds: ``read_s``, ``inversion_s``, ``privacy_s``, ``encode_s``.
    """

    x: Tensor
    latent: Tensor
    sent: Tensor
    w_sent: Tensor
    privacy: PrivacyOutcome
    timings: dict


class GenerativeTransmitter:
    """The generative scheme on one bundle: read → head inversion → (4′)/(5′) → flow → encoder.

    Parameters
    ----------
    bundle : the :class:`shared.bundle.Bundle` (generator, identity encoder, predictor, ``generative``).
    """

    def __init__(self, bundle):
        from shared.lpips import get_lpips
        from shared.models.generative import load_generative

        self.bundle = bundle
        self.bank = load_generative(bundle)
        self.identity_encoder = bundle.load("identity_encoder")
        self.lpips = get_lpips("alex", bundle.device)

    def check(self, privacy: str, k: int, flow: bool) -> None:
        """Raises :class:`InvalidArgumentError` for an unknown privacy mode or an unshipped (k, flow)."""
        private_index(privacy)
        if k not in self.bank.available_k():
            raise InvalidArgumentError(f"generative k must be one of {self.bank.available_k()} (real values), "
                                       f"got {k}")
        self.bank.variant(k, flow)

    def run(self, image: Tensor, privacy: str, k: int, flow: bool, steps: int, seed: int) -> GenerativeOutput:
        """One image (3, R, R) in [−1, 1]; ``seed`` draws the privacy filter's pseudonym."""
        import time

        self.check(privacy, k, flow)
        t0 = time.perf_counter()
        images = image.unsqueeze(0).to(self.bundle.device)                                 # (1, 3, R, R)
        start = read_latent(images, self.identity_encoder, self.bundle.predictor)
        t1 = time.perf_counter()
        latent = invert_head(self.bundle.generator, images, start, HeadInversionConfig(steps=steps), self.lpips)
        t2 = time.perf_counter()
        filt = privacy_filter(latent, privacy, [seed])
        t3 = time.perf_counter()
        link = self.bank.variant(k, flow)
        with torch.no_grad():
            x = link.encode(filt.latent.to(next(link.parameters()).device))                # (1, k)
            g = self.bundle.generator
            param = next(g.parameters())
            w = g.mapping(z_from_latent(filt.latent, g.style_dim).to(param.device, param.dtype))
        t4 = time.perf_counter()
        return GenerativeOutput(x[0].float().cpu(), latent[0], filt.latent[0], w[0].cpu(), filt,
                                {"read_s": t1 - t0, "inversion_s": t2 - t1, "privacy_s": t3 - t2,
                                 "encode_s": t4 - t3})
