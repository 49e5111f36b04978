"""PSNR / LPIPS vs SNR of the baseline links on held-out SynthFace renders (the numbers the report quotes).

Command line (1 CPU thread)::

    python -m edsc.baselines.measure [--n 32] [--links jpeg,deepjscc] [--snrs -6,0,6,12,18]
                                     [--channel awgn] [--bpp 0.7] [--weights DIR] [--out FILE]

Faces: ``heldout/deepjscc`` renders (seed 0, 128 px), the held-out set of :mod:`edsc.train.deepjscc`, never
training faces. Prints one JSON object: per link its CBR and, per SNR, mean PSNR (dB, [0, 1] scale), mean
LPIPS-alex, and for JPEG + LDPC the decode / fallback rates and the code-block error rate.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import torch

from edsc.baselines.common import evaluate_link, psnr
from edsc.baselines.deepjscc import DeepJSCCLink, load_deepjscc
from edsc.baselines.jpeg_ldpc import JpegLdpcLink
from edsc.world.faces import heldout_faces
from edsc.world.seeds import stable_seed


def measure(n: int = 32, links: tuple[str, ...] = ("jpeg", "deepjscc"), snrs: tuple[float, ...] = (
        -6.0, 0.0, 6.0, 12.0, 18.0), channel: dict[str, Any] | None = None, bpp: float = 0.7,
            weights: str | None = None, seed: int = 0) -> dict[str, Any]:
    """Runs :func:`evaluate_link` for each link on ``n`` held-out renders; returns a JSON-ready dict."""
    images = heldout_faces("deepjscc", seed, n, size=128)[0]  # (n, 3, 128, 128)
    ch_seed = stable_seed("deepjscc-eval-channel", seed) % (2 ** 62)
    out: dict[str, Any] = {"faces": n, "channel": channel or {"model": "awgn"}, "snrs_db": list(snrs)}
    for name in links:
        t0 = time.perf_counter()
        if name == "jpeg":
            link = JpegLdpcLink(bpp=bpp)
            rows = evaluate_link(link, images, snrs, channel, seed=ch_seed)
            ref = link.jpeg_only(images)
            from shared.lpips import get_lpips

            with torch.no_grad():
                lp = float(get_lpips("alex")(ref, images).mean())
            extra = {"bpp": bpp, "budget": link.budget(128, 128),
                     "jpeg_without_channel": {"psnr": float(psnr(ref, images).mean()), "lpips": lp},
                     "quality_mean": sum(link.compress(images)[1]) / n}
        elif name == "deepjscc":
            model = load_deepjscc(weights)
            link = DeepJSCCLink(model)
            rows = evaluate_link(link, images, snrs, channel, seed=ch_seed)
            extra = {"k_real": model.k, "parameters": sum(p.numel() for p in model.parameters())}
        else:
            raise SystemExit(f"unknown link {name!r}; use jpeg, deepjscc")
        out[link.name] = {"cbr": rows[0]["cbr"], **extra, "seconds": round(time.perf_counter() - t0, 1),
                          "rows": [{k: v for k, v in r.items() if not k.endswith("_all")} for r in rows]}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m edsc.baselines.measure", description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--links", default="jpeg,deepjscc")
    ap.add_argument("--snrs", default="-6,0,6,12,18")
    ap.add_argument("--channel", default="awgn", help="awgn | rayleigh | rician (K = 6 dB)")
    ap.add_argument("--bpp", type=float, default=0.7)
    ap.add_argument("--weights", default=None, help="DeepJSCC directory (default: the shipped one)")
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    channel = {"model": a.channel}
    if a.channel == "rician":
        channel["k_factor_db"] = 6.0
    res = measure(a.n, tuple(a.links.split(",")), tuple(float(s) for s in a.snrs.split(",")), channel, a.bpp,
                  a.weights)
    text = json.dumps(res, indent=2)
    if a.out:
        with open(a.out, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
