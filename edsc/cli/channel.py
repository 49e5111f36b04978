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
from typing import Any


__all__ = ["register", "probe_command"]


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


def _config_from_args(args: argparse.Namespace):
    from channel_emulator.config import ChannelConfig

    d: dict[str, Any] = {"model": args.model, "snr_db": args.snr, "csi": args.csi}
    for key, val in (("k_factor_db", args.k_factor), ("coherence", args.coherence), ("doppler_hz", args.doppler),
                     ("speed_kmh", args.speed), ("tdl_profile", args.tdl_profile), ("pilots", args.pilots),
                     ("pilot_spacing", args.pilot_spacing)):
        if val is not None:
            d[key] = val
    return ChannelConfig.from_dict(d)


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def probe_command(args: argparse.Namespace) -> int:
    """Handler of ``edsc channel probe``."""
    from edsc.channel_probe import run_probe
    from shared.config import pick_device

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
