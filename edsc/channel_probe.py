"""The channel probe: random unit-power QPSK through the emulator, measured statistics next to theory.

Used by ``edsc channel probe`` and the tests; detection is coherent with the receiver's channel knowledge through
``receiver.equalization.equalize``.
"""

from __future__ import annotations

import math
from typing import Any, Optional

import torch

from channel_emulator.config import ChannelConfig
from channel_emulator.link import transmit_symbols
from channel_emulator.rng import STREAM_PROBE, derive_seed, make_generator
from channel_emulator.theory import ber_qpsk_theory, k_factor_from_gamma
from receiver.equalization import equalize
from shared.channel.errors import ChannelParameterError

__all__ = ["run_probe", "MAX_PROBE_SYMBOLS"]

MAX_PROBE_SYMBOLS = 100_000_000
_CHUNK_USES = 1 << 20


def run_probe(config: ChannelConfig, *, symbols: int = 1_000_000, message_symbols: int = 256, seed: int = 0,
              device: torch.device | str = "cpu") -> dict[str, Any]:
    """Send ``symbols`` random Gray-QPSK symbols (unit energy, times ``sqrt(power)``) through the emulator.

    Output
    ------
    dict with ``measured_es_n0_db`` (transmitted energy over the measured noise power, pilots included),
    ``mean_h2``, ``ber`` (uncoded, coherent detection with the configured CSI), ``ber_theory`` (or None),
    ``ber_rel_error``, ``k_factor_est`` / ``k_factor_est_db`` (moment estimate from the true channel, fading
    models; the dB value is None when the estimate is 0), channel-use counts and the config. JSON-ready.
    """
    for name, v, hi in (("symbols", symbols, MAX_PROBE_SYMBOLS), ("message_symbols", message_symbols, 1 << 20)):
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= hi:
            raise ChannelParameterError(f"{name} must be an integer in [1, {hi}], got {v!r}")
    device = torch.device(device)
    n_msgs = math.ceil(symbols / message_symbols)
    per_chunk = max(1, _CHUNK_USES // message_symbols)
    sq = math.sqrt(config.power)
    acc = {"es": 0.0, "no": 0.0, "uses_e": 0, "h2": 0.0, "h4": 0.0, "uses_h": 0, "err": 0, "bits": 0}
    layout = None
    for chunk, start in enumerate(range(0, n_msgs, per_chunk)):
        b = min(per_chunk, n_msgs - start)
        g = make_generator(derive_seed(seed, STREAM_PROBE, chunk), device)
        bits = torch.randint(0, 2, (b, message_symbols, 2), generator=g, device=device)
        x = torch.complex(1.0 - 2.0 * bits[..., 0].float(), 1.0 - 2.0 * bits[..., 1].float()) / math.sqrt(2.0)
        out = transmit_symbols(x * sq, config, seed=derive_seed(seed, chunk))
        layout = out.side_info.layout
        s, n = out.transmitted, out.noise()
        acc["es"] += float((s.real.double().square() + s.imag.double().square()).sum())
        acc["no"] += float((n.real.double().square() + n.imag.double().square()).sum())
        acc["uses_e"] += b * (layout.n_uses - layout.n_pad)
        if out.channel is not None:
            h2 = out.channel.real.double().square() + out.channel.imag.double().square()
            acc["h2"] += float(h2.sum())
            acc["h4"] += float(h2.square().sum())
            acc["uses_h"] += h2.numel()
        x_hat, _ = equalize(out.received, out.side_info, "zf")
        bits_hat = torch.stack([x_hat.real < 0, x_hat.imag < 0], dim=-1)
        acc["err"] += int((bits_hat != bits.bool()).sum())
        acc["bits"] += bits.numel()
    assert layout is not None
    es, no = acc["es"] / acc["uses_e"], acc["no"] / acc["uses_e"]
    mean_h2 = acc["h2"] / acc["uses_h"] if acc["uses_h"] else 1.0
    k_lin: Optional[float] = None
    k_est_db: Optional[float] = None
    if acc["uses_h"] > 1 and config.model in ("rayleigh", "rician"):
        # moment estimate (see channel_emulator.theory.estimate_k_factor), from running sums over all chunks
        var = acc["h4"] / acc["uses_h"] - mean_h2 ** 2
        k_lin = k_factor_from_gamma(var / mean_h2 ** 2)
        k_est_db = 10.0 * math.log10(k_lin) if k_lin > 0 else None
    ber = acc["err"] / acc["bits"]
    theory = ber_qpsk_theory(config.model, config.snr_db, csi=config.csi, k_factor_db=config.k_factor_db,
                             pilots=config.resolved_pilots, block_fading=not config.time_varying)
    return {
        "model": config.model,
        "snr_db": config.snr_db,
        "csi": config.csi,
        "measured_es_n0_db": 10.0 * math.log10(es / no),
        "measured_no": no,
        "mean_h2": mean_h2,
        "k_factor_est": k_lin,
        "k_factor_est_db": k_est_db,
        "ber": ber,
        "ber_theory": theory,
        "ber_rel_error": None if not theory else (ber - theory) / theory,
        "bit_errors": acc["err"],
        "bits": acc["bits"],
        "symbols": n_msgs * message_symbols,
        "messages": n_msgs,
        "channel_uses_per_message": layout.n_uses,
        "pilot_uses_per_message": layout.n_pilot_uses,
        "seed": seed,
        "device": str(device),
        "config": config.to_dict(),
    }
