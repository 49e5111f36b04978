"""Limits of the channel parameters that both ends accept.

The SNR is the ratio :math:`E_s/N_0` of the average energy per transmitted complex symbol to the noise power
spectral density (noise :math:`\\mathcal{CN}(0, N_0)` per complex channel use), in dB.
"""

from __future__ import annotations

import math

from shared.channel.errors import ChannelParameterError
from shared.errors import quote

__all__ = ["SNR_RANGE_DB", "K_FACTOR_RANGE_DB", "check_snr_db", "check_k_factor_db", "check_range"]

#: Accepted range of the requested SNR :math:`E_s/N_0` in dB (inclusive).
SNR_RANGE_DB: tuple[float, float] = (-30.0, 40.0)

#: Accepted range of the Rician K-factor in dB (inclusive).
K_FACTOR_RANGE_DB: tuple[float, float] = (-30.0, 40.0)


def _fmt(v: float) -> str:
    return f"{v:g}"


def check_range(value: object, name: str, lo: float, hi: float, unit: str = "") -> float:
    """Return ``value`` as a float if it is a finite number within ``[lo, hi]``; raise otherwise.

    Parameters
    ----------
    value : object
        The number to check (bool is rejected).
    name : str
        How the message names the quantity, e.g. ``"SNR"``.
    lo, hi : float
        Inclusive bounds.
    unit : str
        Unit appended to the numbers in the message, e.g. ``" dB"``.

    Raises
    ------
    ChannelParameterError
        ``value`` is not a real number, is NaN/Inf, or lies outside ``[lo, hi]``.
    """
    if isinstance(value, bool):
        raise ChannelParameterError(f"{name} must be a number, got {quote(value, 40)}")
    if not isinstance(value, (int, float)):
        try:
            import numpy as np  # numpy scalars / 0-d arrays / 0-d tensors

            arr = np.asarray(value, dtype=float)
            if arr.ndim != 0 or isinstance(value, (str, bytes)):
                raise TypeError("not a scalar")
            value = float(arr.item())
        except Exception as exc:  # noqa: BLE001 - anything non-numeric is a user error here
            raise ChannelParameterError(f"{name} must be a number, got {quote(value, 40)}") from exc
    value = float(value)
    if not math.isfinite(value):
        raise ChannelParameterError(f"{name} {value} is not finite; it must lie in [{_fmt(lo)}, {_fmt(hi)}]{unit}")
    if not lo <= value <= hi:
        raise ChannelParameterError(f"{name} {value:g}{unit} is outside [{_fmt(lo)}, {_fmt(hi)}]{unit}")
    return value


def check_snr_db(snr_db: object) -> float:
    """Validate a requested SNR (:math:`E_s/N_0` in dB) and return it as a float.

    Raises
    ------
    ChannelParameterError
        NaN, Inf, a non-number, or a value outside :data:`SNR_RANGE_DB`
        (message e.g. ``"SNR 55 dB is outside [-30, 40] dB"``).
    """
    return check_range(snr_db, "SNR", *SNR_RANGE_DB, unit=" dB")


def check_k_factor_db(k_factor_db: object) -> float:
    """Validate a Rician K-factor in dB and return it as a float (range :data:`K_FACTOR_RANGE_DB`)."""
    return check_range(k_factor_db, "K-factor", *K_FACTOR_RANGE_DB, unit=" dB")
