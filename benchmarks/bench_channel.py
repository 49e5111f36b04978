"""Throughput of the channel emulator next to Sionna's raw AWGN block (prints numbers; not a test).

    .venv/bin/python benchmarks/bench_channel.py [--repeats 7] [--device cpu]

For one 512-value message and for a batch, it times

* ``sionna``: Sionna's ``AWGN()(z, no)`` on the same data already paired into 256 complex symbols (a global-RNG
  block, no validation, no bookkeeping) -- the floor;
* ``apply_channel``: the emulator (validation, pairing, per-message power normalisation, framing, seeded noise with
  Sionna's AWGN block, side information); the report is computed lazily, so it is timed separately
  (``+ report``);

and prints real values per second and the ratio emulator / Sionna (target: < 2x). Measurements alternate between the
two so that machine load affects both alike; each figure is the median over ``--repeats`` rounds.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sionna.phy.channel import AWGN  # noqa: E402

from channel_emulator.config import ChannelConfig  # noqa: E402
from channel_emulator.link import apply_channel  # noqa: E402
from shared.channel.pairing import real_to_complex  # noqa: E402


def _time(fn, number: int, cuda: bool = False) -> float:
    fn()  # warm-up
    if cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    if cuda:
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / number


def bench(batch: int, k: int, repeats: int, device: str, model: str = "awgn") -> dict[str, float]:
    g = torch.Generator(device=device).manual_seed(0)
    x = torch.randn(batch, k, generator=g, device=device)
    z = real_to_complex(x)
    cfg = ChannelConfig(model=model, snr_db=18.0)
    no = cfg.no
    awgn = AWGN(device=device if device == "cpu" else f"cuda:{torch.cuda.current_device()}")
    number = max(3, int(1e5 // (batch * k)) + 3)
    sionna_t, emu_t, rep_t = [], [], []
    cuda = device != "cpu"
    for _ in range(repeats * 3):
        sionna_t.append(_time(lambda: awgn(z, no), number, cuda))
        emu_t.append(_time(lambda: apply_channel(x, cfg, seed=1), number, cuda))
        rep_t.append(_time(lambda: apply_channel(x, cfg, seed=1).report, max(3, number // 4), cuda))
    s, e, r = (min(t) for t in (sionna_t, emu_t, rep_t))  # min: least disturbed by other load
    return {"batch": batch, "k": k, "model": model, "sionna_s": s, "emulator_s": e, "emulator_report_s": r,
            "sionna_vals_per_s": batch * k / s, "emulator_vals_per_s": batch * k / e,
            "ratio": e / s, "ratio_with_report": r / s}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {args.device}")
    print(f"{'case':<28}{'Sionna AWGN':>16}{'apply_channel':>16}{'ratio':>8}{'+report':>10}{'ratio':>8}")
    print(f"{'':<28}{'[real val/s]':>16}{'[real val/s]':>16}{'':>8}{'[s/call]':>10}{'':>8}")
    for batch, model in ((1, "awgn"), (args.batch, "awgn"), (args.batch, "rayleigh")):
        r = bench(batch, 512, args.repeats, args.device, model)
        name = f"{model} B={batch} k=512"
        print(f"{name:<28}{r['sionna_vals_per_s']:>16.3e}{r['emulator_vals_per_s']:>16.3e}{r['ratio']:>8.2f}"
              f"{r['emulator_report_s']:>10.2e}{r['ratio_with_report']:>8.2f}")
    print("ratio = apply_channel time / Sionna AWGN time on the same data (the Rayleigh row also draws the fading)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
