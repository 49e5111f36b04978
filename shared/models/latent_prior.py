r"""The receiver's LMMSE front end of A_CD: a Gaussian prior of the sent latent, Wiener-filtered per SNR.

The receiver gets ``y``, its equaliser's scalar MMSE estimate of the message ``x`` (512 reals, gain header
undone). For AWGN at :math:`E_s/N_0 = P/N_0` that is

.. math:: y = \beta\,(x + g\,n),\quad n \sim \mathcal N(0, N_0/2)^k,\quad \beta = P/(P+N_0),

with ``g`` the message's gain header. The scalar :math:`\beta` treats every direction of the latent alike, but
the generator's latents are far from isotropic: the mapping network's covariance ``C`` spends most of its energy
in a few directions (the top eigenvalue of the normalised latent is ~90, the median ~0.002). Latents found by GAN
inversion also carry an almost isotropic part outside that span (variance ``floor`` per direction). The prior is

.. math:: x \sim \mathcal N(\mu,\; C + s\,I),\qquad C = U\,\mathrm{diag}(\lambda)\,U^\top,

and its LMMSE estimate, diagonal in the eigenbasis ``U``,

.. math:: \hat x = \mu + U\,\mathrm{diag}\!\Big(\frac{\lambda + s}{\lambda + s + \sigma^2}\Big)\,U^\top
          (y/\beta - \mu),\qquad \sigma^2 = g^2 N_0/2 .

The receiver does not see ``g`` in :meth:`LatentPrior.forward`; it estimates it from the message's own energy,
:math:`\mathrm E\lVert y/\beta\rVert^2 = \lVert x\rVert^2 (1 + N_0/P)` and :math:`g^2 = \lVert x\rVert^2/(Pk/2)`
(k = 512 makes the estimate tight). Under fading the equalised noise is not white; the front end then uses the
nominal SNR, an approximation.

Everything here comes from the generator (``C``, ``μ``: :meth:`LatentPrior.fit`, no images) except the scalar
``floor`` ``s``, which :meth:`LatentPrior.fit_floor` reads off inverted latents (the adapters' n_ft fine-tuning
items). Nothing is trained by gradient; the residual A_CD adapter that follows is.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from shared.errors import InvalidArgumentError

__all__ = ["LatentPrior"]


class LatentPrior(nn.Module):
    """Gaussian prior ``N(mean, basis·diag(eigvals)·basisᵀ + floor·I)`` of the message and its LMMSE estimate.

    Buffers: ``mean`` (D,), ``basis`` (D, D) orthonormal columns, ``eigvals`` (D,), ``floor`` (), ``power`` ().

    Parameters
    ----------
    dim : int
        Message size D (512 reals).

    Input (``forward``)
    -------------------
    y : torch.Tensor
        (B, D) the equaliser's scalar MMSE estimate of the message, gain header undone.
    snr_db : torch.Tensor or float
        (B,) or scalar Es/N0 in dB of each message.

    Output
    ------
    torch.Tensor
        (B, D) the LMMSE estimate of the message (differentiable w.r.t. ``y``).
    """

    def __init__(self, dim: int = 512):
        super().__init__()
        if dim < 1:
            raise InvalidArgumentError(f"prior dimension must be positive, got {dim}")
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("basis", torch.eye(dim))
        self.register_buffer("eigvals", torch.ones(dim))
        self.register_buffer("floor", torch.tensor(0.0))
        self.register_buffer("power", torch.tensor(1.0))

    @property
    def dim(self) -> int:
        return int(self.mean.shape[0])

    @torch.no_grad()
    def fit(self, messages: torch.Tensor, power: float = 1.0) -> None:
        """Mean and eigen-decomposition of the covariance of ``messages`` (N, D), e.g. the normalised latents of
        the mapping network (N ≫ D); ``power``: the channel's P."""
        if messages.ndim != 2 or messages.shape[1] != self.dim or messages.shape[0] <= self.dim:
            raise InvalidArgumentError(f"fit needs (N > {self.dim}, {self.dim}) messages, got {tuple(messages.shape)}")
        if not math.isfinite(power) or power <= 0:
            raise InvalidArgumentError(f"power must be positive, got {power}")
        m = messages.detach().double()
        mean = m.mean(0)
        cov = torch.cov(m.T)                                                       # (D, D)
        eigvals, basis = torch.linalg.eigh(cov)
        self.mean.copy_(mean.float())
        self.basis.copy_(basis.float())
        self.eigvals.copy_(eigvals.clamp_min(0).float())
        self.power.fill_(float(power))

    @torch.no_grad()
    def fit_floor(self, messages: torch.Tensor) -> float:
        """Set and return ``floor``: the mean excess variance ``max(0, p² − λ)`` of ``messages`` (N, D) (inverted
        latents, normalised like the fitted ones) over the lower half of the eigen-directions, where the mapping
        network puts almost nothing."""
        if messages.ndim != 2 or messages.shape[1] != self.dim or messages.shape[0] < 1:
            raise InvalidArgumentError(f"fit_floor needs (N >= 1, {self.dim}) messages, got {tuple(messages.shape)}")
        p = (messages.detach().float() - self.mean) @ self.basis                  # (N, D), eigvals ascending
        half = self.dim // 2
        excess = (p[:, :half].pow(2) - self.eigvals[:half]).clamp_min(0)
        floor = float(excess.mean())
        self.floor.fill_(floor)
        return floor

    def gains(self, noise_var: torch.Tensor) -> torch.Tensor:
        """Wiener gains (B, D) in the eigenbasis for per-message noise variances ``noise_var`` (B,)."""
        prior = self.eigvals + self.floor                                          # (D,)
        return prior / (prior + noise_var.reshape(-1, 1))

    def forward(self, y: torch.Tensor, snr_db: torch.Tensor | float) -> torch.Tensor:
        if y.ndim != 2 or y.shape[1] != self.dim:
            raise InvalidArgumentError(f"the prior expects (B, {self.dim}) messages, got {tuple(y.shape)}")
        snr = torch.as_tensor(snr_db, dtype=torch.float32, device=y.device).reshape(-1)
        if snr.numel() == 1:
            snr = snr.expand(y.shape[0])
        if snr.numel() != y.shape[0]:
            raise InvalidArgumentError(f"{snr.numel()} SNR values for a batch of {y.shape[0]}")
        if not torch.isfinite(snr).all():
            raise InvalidArgumentError("SNR values must be finite")
        power = self.power
        no = power * torch.pow(10.0, -snr / 10.0)                                  # (B,)
        beta = power / (power + no)                                                # (B,)
        x_noisy = y / beta.unsqueeze(1)                                            # (B, D) x + g·n
        k = self.dim
        norm2 = x_noisy.detach().pow(2).sum(1) / (1.0 + no / power)                # (B,) ≈ ‖x‖²
        gain2 = norm2 / (power * k / 2.0)                                          # (B,) ≈ g²
        noise_var = gain2 * no / 2.0                                               # (B,) σ² per real
        p = (x_noisy - self.mean) @ self.basis                                     # (B, D)
        return self.mean + (p * self.gains(noise_var)) @ self.basis.T              # (B, D)
