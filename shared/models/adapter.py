"""SNR-specific channel adapters A_CE / A_CD (eqs. 16–17) and the latent normaliser both ends hold.

* :class:`ResidualAdapter` — shape-preserving residual FC blocks ``x ← x + W2·act(W1·x)``; the last layer of
  every block is zero-initialised, so a fresh adapter is exactly the identity.
* :class:`AdapterBank` — for every SNR level one encoder adapter (A_CE, transmitter) and one decoder adapter
  (A_CD, receiver); the module used at an SNR is the one of the nearest level (a tie goes to the **lower**
  level: the more pessimistic adapter). State-dict keys ``encoders.snr_m6.*``, ``decoders.snr_18.*``
  (``m`` = minus, ``p`` = decimal point, e.g. ``snr_2p5``).
* :class:`LatentNormalizer` — ``z = (w − mean)/scale`` before the power normalisation of the channel and
  ``w = z·scale + mean`` after; the channel normalises each message to unit power per complex symbol and the
  receiver does not learn the per-message scale, so both ends fix the latent's scale with the same buffers.

Parameter count: with ``hidden=512, blocks=2`` one level's pair (A_CE + A_CD) has 8 Linear(512, 512) layers =
2,101,248 parameters, the paper's "0.21e7 tuned parameters" (2.65 % of 7.91e7);
``AdapterConfig.paper()`` gives that configuration.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from shared.dataclass_config import checked_fields
from shared.errors import InvalidArgumentError

__all__ = [
    "AdapterConfig",
    "ResidualAdapter",
    "AdapterBank",
    "LatentNormalizer",
    "snr_key",
    "DEFAULT_SNR_LEVELS",
]

DEFAULT_SNR_LEVELS: tuple[float, ...] = (-6.0, 0.0, 6.0, 12.0, 18.0)

_ACTIVATIONS = {"gelu": F.gelu, "relu": F.relu, "silu": F.silu,
                "leaky_relu": lambda x: F.leaky_relu(x, 0.2)}


@dataclass
class AdapterConfig:
    """Configuration of :class:`ResidualAdapter`.

    Parameters
    ----------
    dim : int
        Feature size (512 real values).
    hidden : int
        Hidden width of each block.
    blocks : int
        Number of residual blocks.
    activation : str
        ``gelu`` | ``relu`` | ``silu`` | ``leaky_relu``.
    """

    dim: int = 512
    hidden: int = 512
    blocks: int = 1
    activation: str = "gelu"

    def __post_init__(self) -> None:
        if self.dim < 1 or self.hidden < 1 or self.blocks < 1:
            raise InvalidArgumentError(f"invalid AdapterConfig sizes: {self}")
        if self.activation not in _ACTIVATIONS:
            raise InvalidArgumentError(
                f"unknown activation {self.activation!r}; known: {', '.join(sorted(_ACTIVATIONS))}")

    @classmethod
    def paper(cls, dim: int = 512) -> "AdapterConfig":
        """hidden 512, 2 blocks: 2,101,248 parameters per SNR level (A_CE + A_CD), the paper's 0.21e7."""
        return cls(dim=dim, hidden=512, blocks=2)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "AdapterConfig":
        return cls(**checked_fields(cls, d))


def _resolve_config(config: AdapterConfig | Mapping[str, Any] | None, dim: int | None, hidden: int | None,
                    blocks: int | None) -> AdapterConfig:
    if config is None:
        config = AdapterConfig()
    elif not isinstance(config, AdapterConfig):
        config = AdapterConfig.from_dict(config)
    overrides = {k: v for k, v in (("dim", dim), ("hidden", hidden), ("blocks", blocks)) if v is not None}
    return dataclasses.replace(config, **overrides) if overrides else config


class _AdapterBlock(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        nn.init.zeros_(self.fc2.weight)
        nn.init.zeros_(self.fc2.bias)


class ResidualAdapter(nn.Module):
    """Shape-preserving residual FC adapter (identity at initialisation).

    Parameters
    ----------
    config : AdapterConfig or dict, optional
    dim, hidden, blocks : int, optional
        Shortcuts overriding the config fields.

    Input
    -----
    x : torch.Tensor
        (..., dim) real.

    Output
    ------
    torch.Tensor
        (..., dim), ``x`` plus the residual of every block.
    """

    def __init__(self, config: AdapterConfig | Mapping[str, Any] | None = None, *, dim: int | None = None,
                 hidden: int | None = None, blocks: int | None = None):
        super().__init__()
        config = _resolve_config(config, dim, hidden, blocks)
        self.cfg = config
        self.blocks = nn.ModuleList(_AdapterBlock(config.dim, config.hidden) for _ in range(config.blocks))
        self._act = _ACTIVATIONS[config.activation]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.cfg.dim:
            raise InvalidArgumentError(f"adapter expects (..., {self.cfg.dim}), got {tuple(x.shape)}")
        for blk in self.blocks:
            x = x + blk.fc2(self._act(blk.fc1(x)))
        return x

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())


def snr_key(level: float) -> str:
    """ModuleDict key of an SNR level: −6 → ``snr_m6``, 18 → ``snr_18``, 2.5 → ``snr_2p5``."""
    level = float(level)
    text = f"{abs(level):.6f}".rstrip("0").rstrip(".").replace(".", "p")
    return f"snr_{'m' if level < 0 else ''}{text}"


class AdapterBank(nn.Module):
    """One A_CE and one A_CD per SNR level.

    Parameters
    ----------
    snr_levels : sequence of float
        Default −6, 0, 6, 12, 18 dB (the paper's levels).
    config : AdapterConfig or dict, optional
        Adapter configuration (shared by all levels).
    dim, hidden, blocks : int, optional
        Shortcuts overriding the config fields.
    """

    def __init__(self, snr_levels: Sequence[float] = DEFAULT_SNR_LEVELS,
                 config: AdapterConfig | Mapping[str, Any] | None = None, *, dim: int | None = None,
                 hidden: int | None = None, blocks: int | None = None):
        super().__init__()
        levels = sorted(float(s) for s in snr_levels)
        if not levels:
            raise InvalidArgumentError("an AdapterBank needs at least one SNR level")
        if any(not math.isfinite(s) for s in levels):
            raise InvalidArgumentError(f"SNR levels must be finite, got {levels}")
        keys = [snr_key(s) for s in levels]
        if len(set(keys)) != len(keys):
            raise InvalidArgumentError(f"SNR levels must be distinct, got {levels}")
        self.snr_levels: list[float] = levels
        self.cfg: AdapterConfig = _resolve_config(config, dim, hidden, blocks)
        self.encoders = nn.ModuleDict({k: ResidualAdapter(self.cfg) for k in keys})
        self.decoders = nn.ModuleDict({k: ResidualAdapter(self.cfg) for k in keys})

    def nearest_level(self, snr_db: float) -> float:
        """The configured level nearest to ``snr_db``; ties go to the lower level."""
        snr = float(snr_db)
        if not math.isfinite(snr):
            raise InvalidArgumentError(f"SNR {snr_db} dB is not a finite number")
        # levels are sorted ascending: min() keeps the first (lower) level on a tie
        return min(self.snr_levels, key=lambda s: abs(s - snr))

    def encoder(self, snr_db: float) -> ResidualAdapter:
        """A_CE for the level nearest to ``snr_db``."""
        return self.encoders[snr_key(self.nearest_level(snr_db))]

    def decoder(self, snr_db: float) -> ResidualAdapter:
        """A_CD for the level nearest to ``snr_db``."""
        return self.decoders[snr_key(self.nearest_level(snr_db))]

    def level_parameters(self, snr_db: float) -> list[nn.Parameter]:
        """Parameters fine-tuned at one level (its A_CE and A_CD)."""
        return list(self.encoder(snr_db).parameters()) + list(self.decoder(snr_db).parameters())

    def parameter_count(self, snr_db: float | None = None) -> int:
        """All parameters, or those of one level's pair when ``snr_db`` is given."""
        if snr_db is None:
            return sum(p.numel() for p in self.parameters())
        return sum(p.numel() for p in self.level_parameters(snr_db))

    def tuned_share(self, total_params: int, snr_db: float | None = None) -> float:
        """Fraction of ``total_params`` that fine-tuning trains (one level's pair when ``snr_db`` is given;
        the paper: 0.21e7 / 7.91e7 = 2.65 %)."""
        if total_params <= 0:
            raise InvalidArgumentError(f"total_params must be positive, got {total_params}")
        return self.parameter_count(snr_db) / float(total_params)


class LatentNormalizer(nn.Module):
    """``encode(w) = (w − mean)/scale``, ``decode(z) = z·scale + mean`` (buffers ``mean`` (dim,), ``scale`` ()).

    Parameters
    ----------
    mean : torch.Tensor, optional
        (dim,) latent mean (default zeros).
    scale : float
        Positive scalar (default 1).
    dim : int
        Used when ``mean`` is not given.
    """

    def __init__(self, mean: torch.Tensor | None = None, scale: float = 1.0, dim: int = 512):
        super().__init__()
        mean_t = torch.zeros(dim) if mean is None else torch.as_tensor(mean, dtype=torch.float32).reshape(-1)
        scale_f = float(scale)
        if not math.isfinite(scale_f) or scale_f <= 0:
            raise InvalidArgumentError(f"latent scale must be a positive number, got {scale}")
        self.register_buffer("mean", mean_t.clone())
        self.register_buffer("scale", torch.tensor(scale_f))

    @classmethod
    def fit(cls, latents: torch.Tensor) -> "LatentNormalizer":
        """mean = per-dimension mean of ``latents`` (N, dim); scale = RMS of the centred values."""
        if latents.ndim != 2 or latents.shape[0] < 2:
            raise InvalidArgumentError(f"fit needs latents of shape (N>=2, dim), got {tuple(latents.shape)}")
        lat = latents.detach().float()
        mean = lat.mean(0)
        scale = float((lat - mean).pow(2).mean().sqrt())
        return cls(mean, max(scale, 1e-8))

    @property
    def dim(self) -> int:
        return int(self.mean.shape[0])

    def encode(self, w: torch.Tensor) -> torch.Tensor:
        """(…, dim) → (…, dim)."""
        return (w - self.mean) / self.scale

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(…, dim) → (…, dim)."""
        return z * self.scale + self.mean

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return self.encode(w)
