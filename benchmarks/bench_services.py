"""Service overhead and throughput of the three services (real processes on loopback, tiny random bundle).

Prints
* overhead: end-to-end latency at the client minus the pipeline's own compute (transmitter inversion + JECC +
  A_CE, channel, receiver equalisation + A_CD + G + PNG), as a share of that compute (target <= 5 %);
* throughput (requests / s) at concurrency 1, 4 and 8 with micro-batching on (max batch 8) and off (batch 1),
  and the speed-up at concurrency 8 (target >= 2x on CPU).

    python benchmarks/bench_services.py [--size 64] [--inversion-steps 20] [--edit-steps 5] [--rounds 2]
    python benchmarks/bench_services.py --secure     # one request with TLS + tokens against plain
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edsc.client import EditDSCClient  # noqa: E402
from edsc.launcher import Launcher, Ports, free_ports  # noqa: E402
from edsc.random_bundle import make_random_bundle  # noqa: E402

COMPUTE_KEYS = ("inversion_s", "jecc_s", "adapter_s", "parse_s", "channel.channel_s", "receiver.equalize_s",
                "receiver.adapter_s", "receiver.generator_s", "receiver.encode_png_s")



def image(seed: int) -> bytes:
    arr = (np.random.default_rng(seed).random((128, 128, 3)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def run_config(bundle: Path, root: Path, max_batch: int, args) -> dict:
    ports = Ports(*free_ports(4), 0, 0)
    env = {"EDSC_DEVICE": "cpu", "EDSC_TRANSMITTER_INVERSION_STEPS": str(args.inversion_steps),
           "EDSC_TRANSMITTER_EDIT_STEPS": str(args.edit_steps), "EDSC_TRANSMITTER_MAX_BATCH_SIZE": str(max_batch),
           "EDSC_TRANSMITTER_MAX_BATCH_WAIT_MS": str(args.wait_ms), "EDSC_TRANSMITTER_MAX_IN_FLIGHT": "64",
           "EDSC_TRANSMITTER_LOG_LEVEL": "warning", "EDSC_CHANNEL_LOG_LEVEL": "warning",
           "EDSC_RECEIVER_LOG_LEVEL": "warning"}
    out: dict = {"max_batch": max_batch, "throughput": {}, "overhead": None}
    with Launcher(ports=ports, bundle=bundle, store_dir=root / f"store-{max_batch}", log_dir=root / "logs",
                  env=env) as launcher:
        launcher.wait_healthy(300)
        client = EditDSCClient(launcher.addresses["transmitter"], launcher.http_url)
        imgs = [image(i) for i in range(16)]
        client.submit(imgs[0], "add glasses", 6.0, stream=False)     # warm-up
        # overhead at concurrency 1
        shares, e2es, computes = [], [], []
        for i in range(args.rounds * 3):
            t0 = time.perf_counter()
            r = client.submit(imgs[i % 16], "make the person smile", 6.0, {"model": "rayleigh", "csi": "ls"},
                              stream=False)
            client.result(r["request_id"], wait_s=5)       # the HTTP fetch is part of end to end
            e2e = time.perf_counter() - t0
            compute = sum(r["timings"].get(k, 0.0) for k in COMPUTE_KEYS)
            e2es.append(e2e)
            computes.append(compute)
            shares.append((e2e - compute) / compute)
        out["overhead"] = {"e2e_s": statistics.median(e2es), "compute_s": statistics.median(computes),
                           "share": statistics.median(shares)}
        for conc in (1, 4, 8):
            n = conc * args.rounds
            t0 = time.perf_counter()
            with ThreadPoolExecutor(conc) as pool:
                results = list(pool.map(lambda i: client.submit(imgs[i % 16], "add bangs", 12.0, stream=False),
                                        range(n)))
            dt = time.perf_counter() - t0
            out["throughput"][conc] = {"rps": n / dt, "requests": n, "seconds": dt,
                                       "mean_batch": statistics.mean(r["batch_size"] for r in results)}
        client.close()
    return out


def latency(bundle: Path, root: Path, secure: bool, args) -> dict:
    """Median end-to-end latency of one request at concurrency 1 (submit + HTTP fetch), plain or with TLS
    (mutual between the services) and bearer tokens."""
    ports = Ports(*free_ports(4), 0, 0)
    env = {"EDSC_DEVICE": "cpu", "EDSC_TRANSMITTER_INVERSION_STEPS": str(args.inversion_steps),
           "EDSC_TRANSMITTER_EDIT_STEPS": str(args.edit_steps), "EDSC_TRANSMITTER_LOG_LEVEL": "warning",
           "EDSC_CHANNEL_LOG_LEVEL": "warning", "EDSC_RECEIVER_LOG_LEVEL": "warning"}
    token = None
    if secure:
        token = "bench-token-" + "0" * 24
        (root / "tokens.txt").write_text(f"bench {token}\n")
        env["EDSC_AUTH_TOKENS_FILE"] = str(root / "tokens.txt")
    name = "secure" if secure else "plain"
    with Launcher(ports=ports, bundle=bundle, store_dir=root / f"store-{name}", log_dir=root / f"logs-{name}",
                  env=env, tls_dir=root / "tls" if secure else None) as launcher:
        launcher.wait_healthy(300)
        with EditDSCClient(launcher.addresses["transmitter"], launcher.http_url, token=token or "",
                           ca=str(launcher.ca) if launcher.ca else "") as client:
            imgs = [image(i) for i in range(4)]
            client.submit(imgs[0], "add glasses", 6.0, stream=False)     # warm-up
            e2es, overheads = [], []
            for i in range(args.rounds * 5):
                t0 = time.perf_counter()
                r = client.submit(imgs[i % 4], "make the person smile", 6.0, stream=False)
                client.result(r["request_id"], wait_s=5)
                e2e = time.perf_counter() - t0
                e2es.append(e2e)
                overheads.append(e2e - sum(r["timings"].get(k, 0.0) for k in COMPUTE_KEYS))
    return {"e2e_s": statistics.median(e2es), "overhead_s": statistics.median(overheads), "requests": len(e2es)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--inversion-steps", type=int, default=20)
    ap.add_argument("--edit-steps", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2, help="requests per concurrent client")
    ap.add_argument("--wait-ms", type=float, default=20.0)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--secure", action="store_true",
                    help="instead: one request's latency with TLS + tokens against plain, in the same run")
    args = ap.parse_args()
    if args.secure:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            bundle = make_random_bundle(root / "bundle", size=args.size)
            plain, secure = latency(bundle, root, False, args), latency(bundle, root, True, args)
        ratio = secure["e2e_s"] / plain["e2e_s"]
        print(f"bundle: random-init {args.size}px, r_inv={args.inversion_steps}, r_edit<={args.edit_steps}, CPU")
        print(f"end to end   plain {plain['e2e_s'] * 1000:7.1f} ms   TLS + auth {secure['e2e_s'] * 1000:7.1f} ms   "
              f"ratio {ratio:.3f}")
        print(f"overhead     plain {plain['overhead_s'] * 1000:7.1f} ms   TLS + auth {secure['overhead_s'] * 1000:7.1f} "
              f"ms   (end to end minus the model's compute; median of {plain['requests']} requests each)")
        if args.json:
            args.json.write_text(json.dumps({"plain": plain, "secure": secure, "ratio": ratio,
                                             "overhead_added_s": secure["overhead_s"] - plain["overhead_s"]},
                                            indent=2))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        bundle = make_random_bundle(root / "bundle", size=args.size)
        on = run_config(bundle, root, 8, args)
        off = run_config(bundle, root, 1, args)
    print(f"bundle: random-init {args.size}px, r_inv={args.inversion_steps}, r_edit<={args.edit_steps}, CPU")
    for name, res in (("batching on ", on), ("batching off", off)):
        o = res["overhead"]
        print(f"{name}: overhead {o['share'] * 100:5.1f} % of compute (e2e {o['e2e_s'] * 1000:.0f} ms, "
              f"compute {o['compute_s'] * 1000:.0f} ms, target <= 5 %)")
    print("concurrency   on (req/s, mean batch)   off (req/s)   speed-up")
    for c in (1, 4, 8):
        a, b = on["throughput"][c], off["throughput"][c]
        print(f"{c:>11d}   {a['rps']:8.2f}  ({a['mean_batch']:.1f})         {b['rps']:8.2f}     {a['rps'] / b['rps']:5.2f}x")
    print(f"speed-up at concurrency 8: {on['throughput'][8]['rps'] / off['throughput'][8]['rps']:.2f}x (target >= 2x)")
    if args.json:
        args.json.write_text(json.dumps({"on": on, "off": off}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
