"""Throughput with 1 and 2 transmitter replicas on this machine (real processes on loopback, sharing a
throw-away PostgreSQL; clients balance round robin).

Prints requests per second at a fixed concurrency for each replica count, and how the requests spread over the
replicas (``served_by``). On a machine with few cores the replicas compete for the same cores, so little or no
gain is expected there; on a machine with a GPU per replica the gain is what scale-out buys.

    python benchmarks/bench_replicas.py [--bundle DIR] [--requests 16] [--concurrency 4] [--inversion-steps 20]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, os.getcwd())

from edsc.client import EditDSCClient  # noqa: E402
from edsc.launcher import Launcher, Ports, consecutive_free_ports  # noqa: E402
from edsc.pgserver import TempPostgres  # noqa: E402



def image(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray((np.random.default_rng(seed).random((128, 128, 3)) * 255).astype(np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def run(replicas: int, url: str, bundle: Path, args) -> dict:
    base = consecutive_free_ports(8)
    root = Path(tempfile.mkdtemp(prefix="edsc-replicas-"))
    launcher = Launcher(ports=Ports(base, base + 3, base + 4, base + 5, 0, 0), bundle=bundle, store_dir=root / "s",
                        log_dir=root / "logs", transmitter_replicas=replicas, database_url=url,
                        env={"EDSC_DEVICE": "cpu", "EDSC_TRANSMITTER_INVERSION_STEPS": str(args.inversion_steps),
                             "EDSC_TRANSMITTER_EDIT_STEPS": str(args.edit_steps),
                             "EDSC_TRANSMITTER_LOG_LEVEL": "warning"})
    launcher.start_all()
    try:
        launcher.wait_healthy(300)
        with EditDSCClient(launcher.target("transmitter"), launcher.http_url, timeout_s=600, retry_for_s=60) as c:
            c.submit(image(999), "add glasses", 6.0, stream=False)                 # warm every path once
            c.submit(image(998), "add glasses", 6.0, stream=False)
            t0 = time.perf_counter()
            with ThreadPoolExecutor(args.concurrency) as pool:
                answers = list(pool.map(lambda i: c.submit(image(i), "make the bangs longer", 6.0, stream=False),
                                        range(args.requests)))
            wall = time.perf_counter() - t0
    finally:
        launcher.stop_all()
    return {"replicas": replicas, "requests": args.requests, "wall_s": round(wall, 2),
            "requests_per_s": round(args.requests / wall, 4),
            "served_by": dict(Counter(a["served_by"] for a in answers))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", type=Path, default=None)
    ap.add_argument("--requests", type=int, default=16)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--inversion-steps", type=int, default=20)
    ap.add_argument("--edit-steps", type=int, default=20)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    from shared.config import settings

    bundle = args.bundle or settings().bundle
    out = {"cpus": os.cpu_count(), "bundle": str(bundle), "concurrency": args.concurrency,
           "inversion_steps": args.inversion_steps, "runs": []}
    with TempPostgres() as url:
        for replicas in (1, 2):
            out["runs"].append(run(replicas, url, Path(bundle), args))
            print(json.dumps(out["runs"][-1]), flush=True)
    print(json.dumps(out, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
