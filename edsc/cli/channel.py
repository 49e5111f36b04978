"""`edsc channel probe`: send random unit-power QPSK through the channel emulator and compare with theory.

Example::

    edsc channel probe --model rayleigh --snr 6 --symbols 1000000 --json

prints the measured Es/N0, the mean |h|^2, the uncoded QPSK BER and the closed-form BER for that channel
(``ber_theory``; null where no closed form is implemented, e.g. LS with time-varying channels). The symbols are sent
as messages of ``--message-symbols`` symbols (256 = Editable-DeepSC's 512 real values), so block fading over a whole
message gets one realisation per message. Detection is coherent with the receiver's channel knowledge (``--csi``)
through ``receiver.equalization.equalize``.
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any, Optional

import torch

from channel_emulator.config import ChannelConfig
from channel_emulator.link import transmit_symbols
from channel_emulator.rng import STREAM_PROBE, derive_seed, make_generator
from channel_emulator.theory import ber_qpsk_theory
from receiver.equalization import equalize
from shared.channel.errors import ChannelParameterError
from shared.config import pick_device

__all__ = ["register", "run_probe", "probe_command"]

MAX_PROBE_SYMBOLS = 100_000_000
_CHUNK_USES = 1 << 20


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``channel`` command group (``probe``)."""
    group = subparsers.add_parser("channel", help="channel emulator tools")
    sub = group.add_subparsers(dest="channel_command", metavar="COMMAND")
    sub.required = True
    p = sub.add_parser("probe", help="send random QPSK through the emulator; print measured vs theoretical stats",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="awgn | rayleigh | rician | tdl")
    p.add_argument("--snr", type=float, required=True, metavar="DB", help="Es/N0 in dB, within [-30, 40]")
    p.add_argument("--k-factor", type=float, default=None, metavar="DB", help="Rician K-factor in dB")
    p.add_argument("--coherence", type=int, default=None, metavar="N",
                   help="block fading: new channel every N uses (default: one per message; 1 = fast fading)")
    p.add_argument("--doppler", type=float, default=None, metavar="HZ", help="time-correlated fading: max Doppler")
    p.add_argument("--speed", type=float, default=None, metavar="KMH", help="time-correlated fading: speed in km/h")
    p.add_argument("--tdl-profile", default=None, help="TDL profile for --model tdl (default A)")
    p.add_argument("--csi", default="perfect", help="perfect | ls | none (default perfect)")
    p.add_argument("--pilots", type=int, default=None, metavar="N", help="pilot symbols per group (csi ls)")
    p.add_argument("--pilot-spacing", type=int, default=None, metavar="N",
                   help="slots per pilot period for time-varying channels (csi ls)")
    p.add_argument("--symbols", type=int, default=1_000_000, metavar="N", help="QPSK data symbols (default 1e6)")
    p.add_argument("--message-symbols", type=int, default=256, metavar="N",
                   help="symbols per message (default 256 = 512 real values)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="seed (default 0)")
    p.add_argument("--device", default="cpu", help="cpu (default, bit-reproducible), cuda, auto")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=probe_command)


def _config_from_args(args: argparse.Namespace) -> ChannelConfig:
    d: dict[str, Any] = {"model": args.model, "snr_db": args.snr, "csi": args.csi}
    for key, val in (("k_factor_db", args.k_factor), ("coherence", args.coherence), ("doppler_hz", args.doppler),
                     ("speed_kmh", args.speed), ("tdl_profile", args.tdl_profile), ("pilots", args.pilots),
                     ("pilot_spacing", args.pilot_spacing)):
        if val is not None:
            d[key] = val
    return ChannelConfig.from_dict(d)


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
    h_samples: list[torch.Tensor] = []
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
        gamma = var / mean_h2 ** 2
        k_lin = 0.0 if gamma >= 1.0 else math.sqrt(1.0 - gamma) / (1.0 - math.sqrt(1.0 - gamma))
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


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def probe_command(args: argparse.Namespace) -> int:
    """Handler of ``edsc channel probe``."""
    config = _config_from_args(args)
    device = pick_device(args.device)
    result = run_probe(config, symbols=args.symbols, message_symbols=args.message_symbols, seed=args.seed,
                       device=device)
    if args.json:
        print(json.dumps(result))
        return 0
    rows = [("model", result["model"]), ("csi", result["csi"]), ("requested Es/N0 [dB]", result["snr_db"]),
            ("measured Es/N0 [dB]", result["measured_es_n0_db"]), ("mean |h|^2", result["mean_h2"]),
            ("K-factor estimate [dB]", result["k_factor_est_db"]), ("QPSK BER", result["ber"]),
            ("theoretical BER", result["ber_theory"]), ("relative BER error", result["ber_rel_error"]),
            ("bit errors / bits", f"{result['bit_errors']} / {result['bits']}"),
            ("channel uses per message (pilots)",
             f"{result['channel_uses_per_message']} ({result['pilot_uses_per_message']})")]
    width = max(len(r[0]) for r in rows)
    for name, val in rows:
        print(f"{name:<{width}}  {_fmt(val)}")
    return 0
