r"""What the receiver estimates from one message sent over AWGN: the closed form either end can simulate.

A message ``x`` (B, k) is power-normalised (average energy ``P`` per complex use), sent over AWGN at
:math:`E_s/N_0` and estimated by the receiver's scalar MMSE equaliser with perfect CSI; with the gain header
(``rescale``) the estimate is brought back to the message's own norm. The complex pairing is a permutation and
cancels, so the receiver's estimate is exactly

.. math:: \hat x = g\,\beta\,(\alpha x + n),\quad \alpha = \sqrt{Pk/2}/\lVert x\rVert,\quad g = 1/\alpha,\quad
          n \sim \mathcal N(0, N_0/2)^k,\quad N_0 = P\,10^{-\mathrm{SNR}/10},\quad \beta = P/(P+N_0)

(``g = 1`` without ``rescale``). The channel emulator does this with Sionna and the receiver with its equaliser;
this module is for a side that must *anticipate* the link without running it, e.g. the transmitter's JECC
judging an edit as the receiver will see it, or a training loop drawing the link's noise with torch. The gain is
exact by default; the served header is rounded to float16 (a relative error below 5e-4), which ``header=True``
reproduces (:func:`header_gain`).
"""

from __future__ import annotations

import math

import torch

from shared.errors import InvalidArgumentError

__all__ = ["awgn_estimate", "awgn_mean", "header_gain"]


def header_gain(gain: torch.Tensor) -> torch.Tensor:
    """The gain as the 16-bit header carries it: clamped to float16's normal range and rounded to float16, as
    float32, detached (the header is a transmitted constant: no gradient flows through it).

    Input: gain (...,) positive. Output: the same shape, float32.
    """
    return gain.detach().float().clamp(6.2e-5, 65504.0).to(torch.float16).float()


def _terms(x: torch.Tensor, snr_db: torch.Tensor | float, power: float, rescale: bool, header: bool
           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The closed form's factors per message, each (B, 1) or (1, 1): gain g, beta, alpha and N0."""
    if x.ndim != 2 or x.shape[-1] % 2:
        raise InvalidArgumentError(f"the message batch must have shape (B, k) with k even, got {tuple(x.shape)}")
    if not (math.isfinite(power) and power > 0):
        raise InvalidArgumentError(f"power must be positive, got {power}")
    snr = torch.as_tensor(snr_db, dtype=x.dtype, device=x.device).reshape(-1, 1)    # (B, 1) or (1, 1)
    if snr.shape[0] not in (1, x.shape[0]) or not bool(torch.isfinite(snr).all()):
        raise InvalidArgumentError(f"need one finite SNR or one per message ({x.shape[0]}), got {snr.shape[0]}")
    k = x.shape[-1]
    no = power * torch.pow(10.0, -snr / 10.0)                                        # (B, 1)
    beta = power / (power + no)                                                      # (B, 1)
    norm = torch.linalg.vector_norm(x, dim=-1, keepdim=True).clamp_min(1e-12)            # (B, 1); 0 → tiny
    alpha = math.sqrt(power * k / 2.0) / norm                                        # (B, 1)
    if not rescale:
        gain = torch.ones_like(alpha)                                                # (B, 1)
    elif header:
        gain = header_gain(1.0 / alpha).to(x.dtype)                                  # (B, 1)
    else:
        gain = 1.0 / alpha                                                           # (B, 1)
    return gain, beta, alpha, no


def awgn_mean(x: torch.Tensor, snr_db: torch.Tensor | float, *, power: float = 1.0, rescale: bool = True,
              header: bool = False) -> torch.Tensor:
    r"""The expected value of the receiver's estimate, :math:`g\,\beta\,\alpha\,x` (the estimate without its
    noise term).

    Parameters
    ----------
    x, snr_db, power, rescale, header : as :func:`awgn_estimate`.

    Output
    ------
    torch.Tensor
        (B, k), differentiable w.r.t. ``x`` (the gradient a straight-through estimator of the real link uses).
    """
    gain, beta, alpha, _ = _terms(x, snr_db, power, rescale, header)
    return gain * beta * (alpha * x)                                                 # (B, k)


def awgn_estimate(x: torch.Tensor, snr_db: torch.Tensor | float, *, power: float = 1.0, rescale: bool = True,
                  generator: torch.Generator | None = None, header: bool = False) -> torch.Tensor:
    """One draw of the receiver's estimate of ``x`` over AWGN.

    Parameters
    ----------
    x : torch.Tensor
        (B, k) real messages, k even.
    snr_db : torch.Tensor or float
        (B,) or scalar Es/N0 in dB per message.
    power : float
        P, the average energy per complex symbol.
    rescale : bool
        Undo the power normalisation (the gain header), as ``recover(..., rescale=True)`` does.
    generator : torch.Generator, optional
        Source of the noise draw (on ``x``'s device or the CPU).
    header : bool
        With ``rescale``: use the gain as the served 16-bit header carries it (:func:`header_gain`, no gradient
        through it) instead of the exact ``1 / alpha``.

    Output
    ------
    torch.Tensor
        (B, k) the estimate, differentiable w.r.t. ``x``.
    """
    gain, beta, alpha, no = _terms(x, snr_db, power, rescale, header)
    noise = torch.randn(x.shape, generator=generator, dtype=x.dtype,
                        device=generator.device if generator is not None else x.device).to(x.device)
    return gain * beta * (alpha * x + torch.sqrt(no / 2.0) * noise)                  # (B, k)
