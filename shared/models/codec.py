"""The link codec both ends hold: latent normaliser + the SNR-keyed A_CE / A_CD bank (paper eq. 16–17).

    transmitter:  w (B, 512) ──normalise──▶ z ──A_CE(SNR)──▶ X (B, 512 reals)   → power normalisation → channel
    receiver:     Ŷ (B, 512 reals) ──A_CD(SNR)──▶ ẑ ──denormalise──▶ ŵ (B, 512)  → G

The normaliser ((w − w̄)/(√2·r) with the generator's mean latent w̄ and the median per-latent RMS r of centred
latents) puts a typical latent at unit average energy per complex channel use (RMS 1/√2 per real value), the scale the channel's
power normalisation (P = 1) produces, so an untrained (identity) adapter pair decodes a clean channel to the
right latent for a latent of typical norm.

The channel's power normalisation rescales every message to power P. With ``rescale`` (bundles trained since the
gain header exists) the receiver multiplies each message by the gain header the transmitter sends
(``side_info.tx_gain``, 16 bits per message; ``recover(..., rescale=True)``), so an edited latent far from the
typical norm arrives with its own norm. Without it (older bundles) such a latent arrives rescaled to the typical
norm and decodes to a different face.

With ``prior`` (bundles since 20261202) A_CD starts with an LMMSE front end, :class:`~shared.models.latent_prior.
LatentPrior`: a Gaussian prior of the normalised latent (the mapping network's covariance plus an isotropic floor
read off inverted latents) and the Wiener filter for each message's SNR, before the residual adapter:

    receiver:     Ŷ ──LMMSE(prior, SNR)──▶ ──A_CD(SNR)──▶ ẑ ──denormalise──▶ ŵ
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

import torch
from torch import nn

from shared.dataclass_config import checked_fields
from shared.errors import InvalidArgumentError
from shared.models.adapter import AdapterBank, AdapterConfig, LatentNormalizer
from shared.models.latent_prior import LatentPrior


@dataclasses.dataclass
class LinkCodecConfig:
    """snr_levels: adapter levels in dB; adapter: :class:`AdapterConfig` as a dict; dim: latent size; rescale: the
    receiver undoes the power normalisation with the gain header before A_CD (see the module docstring); prior: A_CD
    starts with the LMMSE front end (needs ``rescale``)."""

    snr_levels: list[float] = dataclasses.field(default_factory=lambda: [-6.0, 0.0, 6.0, 12.0, 18.0])
    adapter: dict[str, Any] = dataclasses.field(default_factory=lambda: AdapterConfig.paper().to_dict())
    dim: int = 512
    rescale: bool = False
    prior: bool = False

    def __post_init__(self) -> None:
        if self.prior and not self.rescale:
            raise InvalidArgumentError("the codec's LMMSE prior needs rescale: true (messages at their own norm)")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "LinkCodecConfig":
        return cls(**checked_fields(cls, d))


class LinkCodec(nn.Module):
    """Normaliser + adapter bank (+ LMMSE prior). State-dict keys: ``normalizer.*``, ``bank.encoders.snr_*``,
    ``bank.decoders.snr_*`` and, with ``prior``, ``prior.*``.

    Input (``encode``): w (B, dim), snr_db (B,) or scalar. Output: X (B, dim).
    Input (``decode``): y (B, dim), snr_db (B,) or scalar. Output: ŵ (B, dim).
    Each item uses the adapter of the level nearest its own SNR.
    """

    def __init__(self, config: LinkCodecConfig | Mapping[str, Any] | None = None):
        super().__init__()
        if config is None:
            config = LinkCodecConfig()
        elif not isinstance(config, LinkCodecConfig):
            config = LinkCodecConfig.from_dict(config)
        self.cfg = config
        self.normalizer = LatentNormalizer(dim=config.dim)
        self.bank = AdapterBank(config.snr_levels, AdapterConfig.from_dict({**config.adapter, "dim": config.dim}))
        self.prior = LatentPrior(config.dim) if config.prior else None

    @property
    def snr_levels(self) -> list[float]:
        return self.bank.snr_levels

    def _per_level(self, x: torch.Tensor, snr_db, which: str) -> torch.Tensor:
        snr = torch.as_tensor(snr_db, dtype=torch.float32).reshape(-1).tolist()
        if len(snr) == 1:
            snr = snr * x.shape[0]
        if len(snr) != x.shape[0]:
            raise InvalidArgumentError(f"{len(snr)} SNR values for a batch of {x.shape[0]}")
        levels = [self.bank.nearest_level(s) for s in snr]
        out = torch.empty_like(x)
        for level in sorted(set(levels)):
            idx = torch.tensor([i for i, lv in enumerate(levels) if lv == level], device=x.device)
            module = self.bank.encoder(level) if which == "encoder" else self.bank.decoder(level)
            out[idx] = module(x[idx])
        return out

    def encode(self, w: torch.Tensor, snr_db) -> torch.Tensor:
        """A_CE(normalise(w)) with the level nearest each item's SNR."""
        return self._per_level(self.normalizer.encode(w), snr_db, "encoder")                # (B, dim)

    def decode(self, y: torch.Tensor, snr_db) -> torch.Tensor:
        """denormalise(A_CD(LMMSE(y))) with the level nearest each item's SNR (the LMMSE front end, when the codec
        has a prior, at each item's own SNR)."""
        if self.prior is not None:
            y = self.prior(y, snr_db)                                                       # (B, dim)
        return self.normalizer.decode(self._per_level(y, snr_db, "decoder"))                # (B, dim)

    @torch.no_grad()
    def fit_normalizer(self, generator: nn.Module, n: int = 8192, seed: int = 0, power: float = 1.0) -> None:
        """Set w̄ (mean of ``n`` mapped latents, deterministic for a seed) and the scale √(2/P)·r, r the median
        per-latent RMS of the centred latents, so the median latent carries energy P per complex channel use."""
        z = torch.randn(n, generator.style_dim, generator=torch.Generator().manual_seed(seed))
        p = next(generator.parameters())
        latents = generator.mapping(z.to(p.device, p.dtype)).float().cpu()                    # (n, D)
        mean = latents.mean(0)
        rms = (latents - mean).pow(2).mean(1).sqrt()                                          # (n,)
        self.normalizer.mean.copy_(mean.to(self.normalizer.mean.device))
        self.normalizer.scale.fill_(float(rms.median()) * math.sqrt(2.0 / power))

    @torch.no_grad()
    def fit_prior(self, generator: nn.Module, n: int = 20000, seed: int = 0, power: float = 1.0) -> None:
        """Fit the prior's mean and covariance to ``n`` normalised mapped latents (after :meth:`fit_normalizer`)."""
        if self.prior is None:
            raise InvalidArgumentError("this codec has no prior (LinkCodecConfig.prior is false)")
        z = torch.randn(n, generator.style_dim, generator=torch.Generator().manual_seed(seed))
        p = next(generator.parameters())
        latents = torch.cat([generator.mapping(z[i:i + 2048].to(p.device, p.dtype)).float()
                             for i in range(0, n, 2048)])                                   # (n, D)
        self.prior.fit(self.normalizer.encode(latents.to(self.normalizer.mean.device)).cpu(), power=power)

    @torch.no_grad()
    def fit_prior_floor(self, w: torch.Tensor) -> float:
        """Set the prior's isotropic floor from inverted latents ``w`` (N, D); returns it."""
        if self.prior is None:
            raise InvalidArgumentError("this codec has no prior (LinkCodecConfig.prior is false)")
        return self.prior.fit_floor(self.normalizer.encode(w.to(self.normalizer.mean.device)))
