r"""Closed forms the emulator is checked against, and estimators of channel statistics.

All SNRs are :math:`\gamma = E_s/N_0` (linear) of Gray-mapped QPSK with coherent detection; every function returns
the bit error rate.

* AWGN: :math:`P_b = Q(\sqrt{\gamma})`.
* Rayleigh, perfect CSI: :math:`P_b = \tfrac12\left(1 - \sqrt{\gamma/(2+\gamma)}\right)`.
* Rician with factor K, perfect CSI: Craig's formula averaged with the moment generating function of :math:`|h|^2`,
  :math:`P_b = \frac1\pi\int_0^{\pi/2} M_{|h|^2}\!\left(-\frac{\gamma}{2\sin^2\theta}\right)d\theta`,
  :math:`M(s) = \frac{1+K}{1+K-s}\exp\frac{Ks}{1+K-s}`.
* Rayleigh with LS estimation from :math:`n_p` pilots (estimate error :math:`\mathcal{CN}(0, 1/(n_p\gamma))`,
  held over the block): with the correlation :math:`\mu = [(1+\frac{1}{n_p\gamma})(1+\frac1\gamma)]^{-1/2}` between
  the estimate and :math:`y/x`, :math:`P_b = \tfrac12\left(1 - \mu/\sqrt{2-\mu^2}\right)` (the QPSK case of the
  noisy-reference formula :math:`\tfrac12[1 - \mu\cos\phi/\sqrt{1-\mu^2\sin^2\phi}]`, :math:`\phi=\pi/4`).
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch
from scipy import integrate, special

__all__ = [
    "ber_qpsk_awgn",
    "ber_qpsk_rayleigh",
    "ber_qpsk_rayleigh_ls",
    "ber_qpsk_rician",
    "ber_qpsk_theory",
    "estimate_k_factor",
    "k_factor_from_gamma",
    "jakes_autocorrelation",
]


def _lin(snr_db: float) -> float:
    return 10.0 ** (snr_db / 10.0)


def ber_qpsk_awgn(snr_db: float) -> float:
    """QPSK bit error rate on AWGN: :math:`Q(\\sqrt{E_s/N_0})`."""
    return 0.5 * math.erfc(math.sqrt(_lin(snr_db) / 2.0))


def ber_qpsk_rayleigh(snr_db: float) -> float:
    """QPSK bit error rate on flat Rayleigh fading with perfect CSI (average :math:`E_s/N_0`)."""
    g = _lin(snr_db)
    return 0.5 * (1.0 - math.sqrt(g / (2.0 + g)))


def ber_qpsk_rayleigh_ls(snr_db: float, n_pilots: int) -> float:
    """QPSK bit error rate on block Rayleigh fading with an LS estimate averaged over ``n_pilots`` pilots."""
    g = _lin(snr_db)
    mu = 1.0 / math.sqrt((1.0 + 1.0 / (n_pilots * g)) * (1.0 + 1.0 / g))
    return 0.5 * (1.0 - mu / math.sqrt(2.0 - mu * mu))


def ber_qpsk_rician(snr_db: float, k_factor_db: float) -> float:
    """QPSK bit error rate on flat Rician fading (factor K, :math:`E|h|^2=1`) with perfect CSI."""
    g, k = _lin(snr_db), _lin(k_factor_db)

    def mgf(s: float) -> float:
        return (1.0 + k) / (1.0 + k - s) * math.exp(k * s / (1.0 + k - s))

    val, _ = integrate.quad(lambda th: mgf(-g / (2.0 * math.sin(th) ** 2)), 1e-12, math.pi / 2, limit=200,
                            epsabs=1e-14, epsrel=1e-10)
    return val / math.pi


def ber_qpsk_theory(model: str, snr_db: float, *, csi: str = "perfect", k_factor_db: Optional[float] = None,
                    pilots: Optional[int] = None, block_fading: bool = True) -> Optional[float]:
    """The closed-form QPSK BER for a probe configuration, or None where none is implemented.

    Covered: perfect CSI on AWGN, Rayleigh and Rician (any time variation: the marginal of :math:`h` is what
    counts); ``csi="none"`` on AWGN (the receiver's assumption h = 1 is right); LS on block Rayleigh fading.
    """
    if model == "awgn" and csi in ("perfect", "none"):
        return ber_qpsk_awgn(snr_db)
    if csi == "perfect":
        if model == "rayleigh":
            return ber_qpsk_rayleigh(snr_db)
        if model == "rician" and k_factor_db is not None:
            return ber_qpsk_rician(snr_db, k_factor_db)
        return None
    if csi == "ls" and model == "rayleigh" and block_fading and pilots:
        return ber_qpsk_rayleigh_ls(snr_db, pilots)
    return None


def estimate_k_factor(h: torch.Tensor) -> float:
    """Moment estimate of the Rician K-factor (linear) from channel samples.

    With :math:`\\gamma = \\mathrm{Var}(|h|^2)/E[|h|^2]^2` (1 for Rayleigh, :math:`(1+2K)/(1+K)^2` for Rician),
    :math:`\\hat K = \\sqrt{1-\\gamma}/(1-\\sqrt{1-\\gamma})` (0 when :math:`\\gamma \\ge 1`).
    """
    p = (h.real.double().square() + h.imag.double().square()).flatten()
    m = float(p.mean())
    return k_factor_from_gamma(float(p.var(unbiased=True)) / (m * m))


def k_factor_from_gamma(gamma: float) -> float:
    """K = sqrt(1 - γ) / (1 - sqrt(1 - γ)) for γ = Var(|h|²)/E[|h|²]² (0 when γ >= 1: Rayleigh or noisier)."""
    if gamma >= 1.0:
        return 0.0
    r = math.sqrt(1.0 - gamma)
    return r / (1.0 - r)


def jakes_autocorrelation(lag_s: np.ndarray | float, doppler_hz: float) -> np.ndarray:
    """Normalised autocorrelation :math:`J_0(2\\pi f_D \\tau)` of Clarke/Jakes fading."""
    return special.j0(2.0 * np.pi * doppler_hz * np.asarray(lag_s, dtype=float))
