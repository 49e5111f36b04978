r"""Power normalisation per message (eq. 4 of the paper).

For a message of ``n`` complex symbols :math:`z` the average energy per complex symbol is
:math:`\bar E = \lVert z\rVert^2 / n`. Mode ``"equal"`` scales to :math:`\bar E = P` exactly,
:math:`z' = z\sqrt{P n}/\lVert z\rVert` (DeepJSCC's normalisation); mode ``"max"`` enforces
:math:`\bar E \le P`, scaling only messages above the budget. With ``k = 2n`` real values this is
:math:`\frac{1}{k}\lVert x\rVert^2 = P/2` per real value.

The receiver is not told the scale (it is per message and data dependent); the model's channel adapters absorb it.
"""

from __future__ import annotations

import math

import torch

from shared.channel.errors import ChannelParameterError
from shared.errors import quote

__all__ = ["normalize_power", "normalize_power_real", "average_energy"]


def average_energy(z: torch.Tensor) -> torch.Tensor:
    """Average energy per complex symbol of each message: ``mean(|z|^2, -1)`` (shape ``z.shape[:-1]``)."""
    return (z.real.square() + z.imag.square()).mean(dim=-1)


def normalize_power(z: torch.Tensor, power: float = 1.0, mode: str = "equal") -> tuple[torch.Tensor, torch.Tensor]:
    """Scale every message to (``"equal"``) or below (``"max"``) an average energy ``power`` per complex symbol.

    Input
    -----
    z : [..., n], complex
        Messages of ``n`` complex symbols each.
    power : float
        Target average energy P per complex symbol (> 0).
    mode : "equal" | "max"

    Output
    ------
    z_scaled : [..., n], complex
        Scaled messages.
    scale : [...], real
        The factor applied to each message.

    Raises
    ------
    ChannelParameterError
        Unknown mode, or (``"equal"``) a message with zero energy, which cannot be scaled to P.
    """
    if mode not in ("equal", "max"):
        raise ChannelParameterError(f"unknown power_mode {quote(mode, 40)}; use 'equal' or 'max'")
    energy = average_energy(z)  # (...,)
    if mode == "equal":
        if bool((energy <= 0).any()):
            raise ChannelParameterError("a message has zero energy and cannot be normalised to the power budget")
        scale = torch.sqrt(power / energy)
    else:
        scale = torch.where(energy > power, torch.sqrt(power / energy.clamp_min(torch.finfo(energy.dtype).tiny)),
                            torch.ones_like(energy))
    return z * scale.unsqueeze(-1).to(z.dtype), scale


def normalize_power_real(x: torch.Tensor, power: float = 1.0, mode: str = "equal"
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`normalize_power` on real messages before pairing (same result, fewer passes over the data).

    ``k`` real values make ``k/2`` complex symbols, so the energy per complex symbol is ``2 |x|^2 / k`` and the
    ``"equal"`` scale is ``sqrt(P k / 2) / |x|``.

    Input
    -----
    x : [B, k], float32
    power, mode : as :func:`normalize_power`

    Output
    ------
    x_scaled : [B, k], float32
    scale : [B], float32
        Factor applied to each message; not finite when a message holds NaN/Inf or (``"equal"``) has zero energy
        -- the caller checks it.
    """
    if mode not in ("equal", "max"):
        raise ChannelParameterError(f"unknown power_mode {quote(mode, 40)}; use 'equal' or 'max'")
    target = math.sqrt(power * x.shape[-1] / 2.0)  # norm of a message at exactly P per complex symbol
    norm = torch.linalg.vector_norm(x, dim=-1)  # (B,)
    if mode == "equal":
        scale = target / norm                       # out of place: gradients flow (training uses this path)
    else:
        scale = torch.where(norm > target, target / norm, torch.ones_like(norm))
        scale = torch.where(torch.isfinite(norm), scale, norm)  # keep NaN/Inf visible to the caller
    return x * scale.unsqueeze(-1), scale
