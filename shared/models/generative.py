"""The generative scheme's learned parts (Han et al.): a RealNVP flow and a two-layer FC channel codec.

The scheme sends a face as its part-disentangled latent L: the 30 SynthFace world parameters the built-in
generator's head stands for (:mod:`shared.models.world_latent`), in one box::

    L = [identity (25, in [−1, 1]), degrees / 2.5 − 1 (5, in [−1, 1])]                          (B, 30)

Under the SynthFace prior L is not Gaussian (identity uniform, degrees a staircase with atoms at the integers).
The flow f maps L to N ≈ N(0, I); the encoder maps N to k real channel values; the receiver's decoder maps the
k received values back to N̂ and ``f⁻¹`` gives L̂ (then the generator renders it). Without the flow the codec works
on ``L / L_SCALE`` (a fixed affine standardisation with the same per-dimension variance as N).

=========================  =====================================================================================
:class:`RealNVP`           8 affine coupling layers (each one MLP of ``depth`` FC layers giving log-scale and
                           shift), alternating masks; ``forward`` L → (N, log|det|), ``inverse`` N → L
:class:`ChannelCodec`      encoder FC(30→h)–GELU–FC(h→k) and decoder FC(k→h)–GELU–FC(h→30)
:class:`GenerativeLink`    one variant (k, with or without flow): flow + codec
:class:`GenerativeBank`    the bundle component ``generative``: every shipped variant by name (``k16-flow``, ...)
=========================  =====================================================================================

Power normalisation and noise are not here: both ends use the project's channel path (the channel emulator).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from shared.dataclass_config import checked_fields
from shared.errors import BundleError, InvalidArgumentError
from shared.models import world_latent as WL

__all__ = ["LATENT_DIM", "L_SCALE", "SUPPORTED_K", "FlowConfig", "CodecConfig", "LinkConfig", "RealNVP",
           "ChannelCodec", "GenerativeLink", "GenerativeBank", "variant_name", "latent_from_params",
           "params_from_latent", "build_generative", "load_generative", "cbr", "z_from_latent", "render_latent"]

LATENT_DIM = WL.WORLD_DIMS          # 30
#: The standard deviation of a U(−1, 1) coordinate: the no-flow path divides L by it.
L_SCALE = 1.0 / math.sqrt(3.0)
#: The k (real channel values) the built-in bundle ships: 1/3072 and 10/3072 of a 128×128×3 image.
SUPPORTED_K = (16, 160)


def variant_name(k: int, flow: bool) -> str:
    """The bank key of a variant: ``"k16-flow"``, ``"k160-noflow"``, ..."""
    return f"k{int(k)}-{'flow' if flow else 'noflow'}"


def cbr(k: int, resolution: int = 128) -> dict[str, float]:
    """Channel bandwidth ratio of ``k`` real values per ``resolution``² RGB image, both conventions.

    Returns ``{"k_real", "k_complex", "cbr_real", "cbr_complex"}``: ``cbr_real = k / (3 R²)`` (real values per
    real source value) and ``cbr_complex = (k / 2) / (3 R²)`` (complex channel uses per real source value).
    """
    n = 3 * int(resolution) ** 2
    return {"k_real": int(k), "k_complex": int(k) // 2, "cbr_real": k / n, "cbr_complex": (k / 2) / n}


def latent_from_params(identity: Tensor, degrees: Tensor) -> Tensor:
    """L (B, 30) from identity (B, 25) in [−1, 1] and degrees (B, 5) in [0, 5]."""
    if identity.dim() != 2 or identity.shape[1] != WL.N_ID or degrees.shape != (identity.shape[0], WL.N_ATTR):
        raise InvalidArgumentError(f"identity must be (B, {WL.N_ID}) and degrees (B, {WL.N_ATTR}), got "
                                   f"{tuple(identity.shape)} and {tuple(degrees.shape)}")
    return torch.cat([identity.float(), degrees.float() / (WL.MAX_DEGREE / 2.0) - 1.0], 1)


def params_from_latent(latent: Tensor) -> tuple[Tensor, Tensor]:
    """(identity (B, 25), degrees (B, 5)) from L (B, 30), clamped into the world's box."""
    if latent.dim() != 2 or latent.shape[1] != LATENT_DIM:
        raise InvalidArgumentError(f"latent must have shape (B, {LATENT_DIM}), got {tuple(latent.shape)}")
    latent = latent.float().clamp(-1.0, 1.0)
    return latent[:, :WL.N_ID], (latent[:, WL.N_ID:] + 1.0) * (WL.MAX_DEGREE / 2.0)


@dataclass
class FlowConfig:
    """RealNVP: ``layers`` coupling layers, each an MLP of ``depth`` FC layers of width ``hidden``.

    ``scale_limit`` bounds each layer's log-scale (``scale_limit · tanh``), which keeps the inverse well conditioned.
    """

    layers: int = 8
    depth: int = 6
    hidden: int = 64
    scale_limit: float = 2.0

    def __post_init__(self) -> None:
        if self.layers < 1 or self.depth < 2 or self.hidden < 1 or not self.scale_limit > 0:
            raise InvalidArgumentError(f"bad flow config {dataclasses.asdict(self)}")


@dataclass
class CodecConfig:
    """The two-layer FC codec: ``k`` real channel values, hidden width ``hidden``."""

    k: int = 16
    hidden: int = 256

    def __post_init__(self) -> None:
        if not (isinstance(self.k, int) and self.k >= 2 and self.k % 2 == 0):
            raise InvalidArgumentError(f"k must be an even integer >= 2 (pairs of reals form complex channel "
                                       f"uses), got {self.k!r}")
        if self.hidden < 1:
            raise InvalidArgumentError(f"codec hidden width must be positive, got {self.hidden!r}")


@dataclass
class LinkConfig:
    """One variant: the codec, and the flow or none."""

    codec: CodecConfig = field(default_factory=CodecConfig)
    flow: FlowConfig | None = field(default_factory=FlowConfig)

    def __post_init__(self) -> None:
        if isinstance(self.codec, Mapping):
            self.codec = CodecConfig(**checked_fields(CodecConfig, self.codec))
        if isinstance(self.flow, Mapping):
            self.flow = FlowConfig(**checked_fields(FlowConfig, self.flow))

    def to_dict(self) -> dict[str, Any]:
        return {"codec": dataclasses.asdict(self.codec),
                "flow": dataclasses.asdict(self.flow) if self.flow is not None else None}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "LinkConfig":
        return cls(**checked_fields(cls, d))


def _mlp(n_in: int, hidden: int, n_out: int, depth: int) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Linear(n_in, hidden), nn.GELU()]
    for _ in range(depth - 2):
        layers += [nn.Linear(hidden, hidden), nn.GELU()]
    last = nn.Linear(hidden, n_out)
    nn.init.zeros_(last.weight)          # every coupling starts as the identity
    nn.init.zeros_(last.bias)
    return nn.Sequential(*layers, last)


class RealNVP(nn.Module):
    """Affine coupling flow on R^dim (Dinh et al.'s RealNVP with fully connected coupling networks).

    Layer i keeps the coordinates where ``mask_i = 1`` and transforms the others::

        y = m ⊙ x + (1 − m) ⊙ (x · exp(s(m ⊙ x)) + t(m ⊙ x)),      log|det| = Σ (1 − m) ⊙ s

    Masks alternate between even/odd coordinates and the first/second half, so every coordinate is transformed
    by several layers and conditioned on every other. The input is first divided by :data:`L_SCALE` (a fixed
    standardisation), so an untrained flow equals the no-flow path.

    Input: L (B, dim). ``forward`` gives (N (B, dim), log|det ∂N/∂L| (B,)); ``inverse`` maps N back to L.
    """

    def __init__(self, dim: int, config: FlowConfig):
        super().__init__()
        self.dim, self.cfg = int(dim), config
        idx = torch.arange(self.dim)
        masks = []
        for i in range(config.layers):
            if (i // 2) % 2 == 0:
                m = (idx % 2 == i % 2)
            else:
                m = (idx < self.dim // 2) if i % 2 == 0 else (idx >= self.dim // 2)
            masks.append(m.float())
        self.register_buffer("masks", torch.stack(masks), persistent=False)          # (layers, dim)
        self.nets = nn.ModuleList(_mlp(self.dim, config.hidden, 2 * self.dim, config.depth)
                                  for _ in range(config.layers))

    def _st(self, i: int, x_kept: Tensor) -> tuple[Tensor, Tensor]:
        s, t = self.nets[i](x_kept).chunk(2, dim=1)                                   # (B, dim) each
        keep = self.masks[i]
        return self.cfg.scale_limit * torch.tanh(s) * (1 - keep), t * (1 - keep)

    def forward(self, latent: Tensor) -> tuple[Tensor, Tensor]:
        x = latent / L_SCALE                                                          # (B, dim)
        logdet = torch.full((x.shape[0],), -self.dim * math.log(L_SCALE), device=x.device, dtype=x.dtype)
        for i in range(self.cfg.layers):
            keep = self.masks[i]
            s, t = self._st(i, x * keep)
            x = x * keep + (1 - keep) * (x * torch.exp(s) + t)
            logdet = logdet + s.sum(1)
        return x, logdet

    def inverse(self, n: Tensor) -> Tensor:
        y = n
        for i in reversed(range(self.cfg.layers)):
            keep = self.masks[i]
            s, t = self._st(i, y * keep)
            y = y * keep + (1 - keep) * ((y - t) * torch.exp(-s))
        return y * L_SCALE

    def log_prob(self, latent: Tensor) -> Tensor:
        """log p(L) under the flow with a standard normal base: (B,)."""
        n, logdet = self(latent)
        return -0.5 * (n.square().sum(1) + self.dim * math.log(2 * math.pi)) + logdet


class ChannelCodec(nn.Module):
    """Encoder FC(dim→hidden)–GELU–FC(hidden→k) and decoder FC(k→hidden)–GELU–FC(hidden→dim) (the paper's two
    FC layers per side). The encoder's output goes to the channel emulator, which normalises its power."""

    def __init__(self, dim: int, config: CodecConfig):
        super().__init__()
        self.cfg = config
        self.encoder = nn.Sequential(nn.Linear(dim, config.hidden), nn.GELU(), nn.Linear(config.hidden, config.k))
        self.decoder = nn.Sequential(nn.Linear(config.k, config.hidden), nn.GELU(), nn.Linear(config.hidden, dim))

    def encode(self, n: Tensor) -> Tensor:
        return self.encoder(n)                                                        # (B, k)

    def decode(self, y: Tensor) -> Tensor:
        if y.dim() != 2 or y.shape[1] != self.cfg.k:
            raise InvalidArgumentError(f"the decoder takes (B, {self.cfg.k}) received values, got "
                                       f"{tuple(y.shape)}")
        return self.decoder(y)                                                        # (B, dim)


class GenerativeLink(nn.Module):
    """One variant of the scheme: flow (or the fixed standardisation) and codec.

    ``to_gauss`` L → N, ``from_gauss`` N → L, ``encode`` L → x (B, k), ``decode`` y (B, k) → L̂ (B, 30).
    """

    def __init__(self, config: LinkConfig):
        super().__init__()
        self.cfg = config
        self.flow = RealNVP(LATENT_DIM, config.flow) if config.flow is not None else None
        self.codec = ChannelCodec(LATENT_DIM, config.codec)

    @property
    def k(self) -> int:
        return self.cfg.codec.k

    @property
    def has_flow(self) -> bool:
        return self.flow is not None

    def to_gauss(self, latent: Tensor) -> Tensor:
        return self.flow(latent)[0] if self.flow is not None else latent / L_SCALE    # (B, 30)

    def from_gauss(self, n: Tensor) -> Tensor:
        return self.flow.inverse(n) if self.flow is not None else n * L_SCALE        # (B, 30)

    def encode(self, latent: Tensor) -> Tensor:
        if latent.dim() != 2 or latent.shape[1] != LATENT_DIM:
            raise InvalidArgumentError(f"latent must have shape (B, {LATENT_DIM}), got {tuple(latent.shape)}")
        return self.codec.encode(self.to_gauss(latent))                               # (B, k)

    def decode(self, received: Tensor) -> Tensor:
        return self.from_gauss(self.codec.decode(received))                          # (B, 30)


class GenerativeBank(nn.ModuleDict):
    """The ``generative`` bundle component: ``{variant name: GenerativeLink}``.

    Config: ``{"variants": {name: LinkConfig dict}}``; each name must be :func:`variant_name` of its own k and flow.
    """

    def __init__(self, config: Mapping[str, Any]):
        variants = config.get("variants") if isinstance(config, Mapping) else None
        if not isinstance(variants, Mapping) or not variants:
            raise InvalidArgumentError("the generative config needs a non-empty 'variants' mapping")
        links = {}
        for name, cfg in variants.items():
            lc = LinkConfig.from_dict(cfg)
            if name != variant_name(lc.codec.k, lc.flow is not None):
                raise InvalidArgumentError(f"generative variant {name!r} does not match its config "
                                           f"({variant_name(lc.codec.k, lc.flow is not None)!r})")
            links[name] = GenerativeLink(lc)
        super().__init__(links)

    def config(self) -> dict[str, Any]:
        return {"variants": {name: link.cfg.to_dict() for name, link in self.items()}}

    def available_k(self) -> list[int]:
        return sorted({link.k for link in self.values()})

    def variant(self, k: int, flow: bool) -> GenerativeLink:
        """The link for ``k`` with or without the flow; unknown ones raise :class:`InvalidArgumentError`."""
        name = variant_name(k, flow)
        if name not in self:
            raise InvalidArgumentError(f"the generative scheme has no variant k={k} "
                                       f"{'with' if flow else 'without'} flow; it has {sorted(self.keys())}")
        return self[name]


def build_generative(arch: str, config: dict) -> GenerativeBank:
    """The bundle builder of the ``generative`` component (architecture ``"realnvp_fc"``)."""
    if arch != "realnvp_fc":
        raise BundleError(f"unknown generative architecture {arch!r} (expected 'realnvp_fc')")
    try:
        return GenerativeBank(config)
    except InvalidArgumentError as exc:
        raise BundleError(f"bad generative config: {exc}") from exc


def load_generative(bundle) -> GenerativeBank:
    """The bundle's ``generative`` component (registers its builder first); :class:`BundleError` when absent."""
    from shared.bundle import register_builder

    register_builder("generative", build_generative)
    if not bundle.has("generative"):
        raise BundleError(f"bundle {bundle.path} has no 'generative' component (train it with "
                          "`edsc train generative`)")
    return bundle.load("generative")


def z_from_latent(latent: Tensor, style_dim: int, integer_fraction: float = 0.7) -> Tensor:
    """The generator input z (B, style_dim) of L (B, 30): :func:`~shared.models.world_latent.z_from_world_params`
    with the same nuisance draw for every row (seed 0, as the transmitter's encoder start uses), so a face's z
    does not depend on the rest of its batch."""
    identity, degrees = params_from_latent(latent)
    return torch.cat([WL.z_from_world_params(identity[i:i + 1], degrees[i:i + 1], style_dim,
                                             torch.Generator(device="cpu").manual_seed(0), integer_fraction)
                      for i in range(latent.shape[0])])                                # (B, style_dim)


def render_latent(generator: nn.Module, latent: Tensor, integer_fraction: float = 0.7) -> Tensor:
    """Images (B, 3, R, R) in about [−1, 1] that the layout generator draws for L (B, 30) (stored noise)."""
    param = next(generator.parameters())
    z = z_from_latent(latent.to(param.device), generator.style_dim, integer_fraction)
    return generator.synthesis(generator.mapping(z.to(dtype=param.dtype)), noise_mode="const")
