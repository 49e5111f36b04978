"""Overload behaviour of the running services (real processes on loopback, the built-in bundle unless --bundle).

Prints (and writes as JSON with --out):

* ``rss``: the transmitter's resident memory idle and at its peak while 12 clients each send a 40-Mpx JPEG at once
  (the peak is sampled from /proc every 20 ms);
* ``abandoned``: CPU seconds the transmitter spends after the deadline of its only client passed (a request with
  r_inv = 110 and a 3 s deadline), against the CPU seconds of one inversion step measured on the same run;
* ``long_polls``: while 50 long-polls (``?wait=20``) are parked, the latency of unrelated requests: a
  ``GET /v1/results/x?wait=1`` for a result that never comes (ideal: 1 s) and a plain ``GET /healthz``;
  ``long_polls_console``: the same through the web console's proxy (the public HTTP port of ``edsc up``).

    python benchmarks/bench_overload.py [--bundle DIR] [--out FILE] [--only long_polls,abandoned,rss]

Linux only (reads /proc). Run it from a checkout (it starts that checkout's services).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import httpx
import numpy as np
from PIL import Image

sys.path.insert(0, os.getcwd())

from edsc.launcher import Launcher, Ports, free_ports  # noqa: E402
from shared.rpc.editdsc.v1 import common_pb2, transmitter_pb2, transmitter_pb2_grpc  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")



def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK        # utime + stime


def big_jpeg(megapixels: float = 40.0) -> bytes:
    w = int((megapixels * 1e6 * 4 / 3) ** 0.5)
    h = int(megapixels * 1e6 / w)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    face = np.stack([128 + 100 * np.sin(xx / 700), 128 + 100 * np.cos(yy / 500), 128 + 60 * np.sin((xx + yy) / 900)],
                    -1).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(face).save(buf, format="JPEG", quality=80)
    return buf.getvalue()


def request(rid: str, image: bytes, steps: int = 0) -> transmitter_pb2.SubmitRequest:
    return transmitter_pb2.SubmitRequest(image=image, instruction="make the bangs longer", request_id=rid,
                                         inversion_steps=steps,
                                         channel=common_pb2.ChannelParams(model=common_pb2.CHANNEL_MODEL_AWGN,
                                                                          snr_db=6.0))


def measure_rss(stub, pid: int, jpeg: bytes) -> dict:
    idle = rss_mb(pid)
    peak = [idle]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], rss_mb(pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    codes = []

    def one(i):
        try:
            stub.Submit(request(f"rss-{i}-{time.time_ns()}", jpeg, steps=1), timeout=600)
            codes.append("OK")
        except grpc.RpcError as exc:
            codes.append(exc.code().name)

    with ThreadPoolExecutor(12) as pool:
        list(pool.map(one, range(12)))
    stop.set()
    sampler.join()
    return {"idle_mb": round(idle, 1), "peak_mb": round(peak[0], 1), "increase_mb": round(peak[0] - idle, 1),
            "jpeg_bytes": len(jpeg), "codes": {c: codes.count(c) for c in set(codes)}}


def measure_abandoned(stub, pid: int, png: bytes, deadline_s: float = 3.0) -> dict:
    # one inversion step's CPU cost: a request with 20 steps minus one with 2, over 18
    costs = []
    for steps in (2, 20):
        c0 = cpu_s(pid)
        stub.Submit(request(f"cal-{steps}-{time.time_ns()}", png, steps=steps), timeout=600)
        costs.append(cpu_s(pid) - c0)
    step_cpu = max(1e-6, (costs[1] - costs[0]) / 18)
    t_sent = time.monotonic()
    try:
        stub.Submit(request(f"slow-{time.time_ns()}", png, steps=110), timeout=deadline_s)
        code = "OK"
    except grpc.RpcError as exc:
        code = exc.code().name
    t_deadline = t_sent + deadline_s
    time.sleep(max(0.0, t_deadline - time.monotonic()))
    c_deadline = cpu_s(pid)
    # wait until the process is idle (CPU time stops growing for 1 s), at most 60 s
    last, still, t_end = c_deadline, 0.0, time.monotonic() + 60
    while still < 1.0 and time.monotonic() < t_end:
        time.sleep(0.25)
        now = cpu_s(pid)
        still = still + 0.25 if now - last < 0.02 else 0.0
        last = now
    after = last - c_deadline
    return {"code": code, "cpu_s_after_deadline": round(after, 3), "cpu_s_per_inversion_step": round(step_cpu, 3),
            "steps_worth": round(after / step_cpu, 2)}


def measure_long_polls(http: str, n: int = 50, wait_s: float = 20.0) -> dict:
    with ThreadPoolExecutor(n) as pool:
        parked = [pool.submit(httpx.get, f"{http}/v1/results/never-{i}", params={"wait": wait_s},
                              timeout=wait_s + 30) for i in range(n)]
        time.sleep(2.0)
        waits, health = [], []
        for i in range(3):
            for url, params, into in ((f"{http}/v1/results/unrelated-{i}", {"wait": 1}, waits),
                                      (f"{http}/healthz", {}, health)):
                t0 = time.perf_counter()
                try:
                    httpx.get(url, params=params, timeout=60)
                except httpx.TimeoutException:
                    pass                                 # counted as the 60 s it waited
                into.append(time.perf_counter() - t0)
        for f in parked:
            f.cancel()
    return {"parked": n, "wait_1s_latency_s": round(max(waits), 3),
            "wait_1s_excess_s": round(max(waits) - 1.0, 3), "healthz_latency_s": round(max(health), 3)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--only", default="long_polls,long_polls_console,abandoned,rss",
                    help="comma-separated parts to run")
    args = ap.parse_args()
    from shared.config import settings

    bundle = args.bundle or settings().bundle
    root = Path(tempfile.mkdtemp(prefix="edsc-overload-"))
    tx, ch, rx, http, console = free_ports(5)
    launcher = Launcher(ports=Ports(tx, ch, rx, http, 0, 0, console), bundle=bundle, store_dir=root / "store",
                        log_dir=root / "logs",
                        env={"EDSC_DEVICE": "cpu", "EDSC_TRANSMITTER_LOG_LEVEL": "warning",
                             "EDSC_RECEIVER_LOG_LEVEL": "warning", "EDSC_CHANNEL_LOG_LEVEL": "warning",
                             "EDSC_RECEIVER_MAX_WAIT_S": "60", "EDSC_TRANSMITTER_MAX_IN_FLIGHT": "32"})
    out = {"bundle": str(bundle), "cpus": os.cpu_count()}
    launcher.start_all()
    try:
        launcher.wait_healthy(300)
        pid = launcher.procs["transmitter"].pid
        channel = grpc.insecure_channel(launcher.addresses["transmitter"],
                                        options=[("grpc.max_send_message_length", 64 << 20)])
        stub = transmitter_pb2_grpc.TransmitterServiceStub(channel)
        small = io.BytesIO()
        Image.fromarray((np.random.default_rng(0).random((128, 128, 3)) * 255).astype(np.uint8)).save(small, "PNG")
        stub.Submit(request(f"warm-{time.time_ns()}", small.getvalue(), steps=1), timeout=600)
        parts = set(args.only.split(","))
        if "long_polls" in parts:
            out["long_polls"] = measure_long_polls(launcher.http_url)
            print("long polls", out["long_polls"], flush=True)
        if "long_polls_console" in parts:
            out["long_polls_console"] = measure_long_polls(launcher.console_url)
            print("long polls through the console", out["long_polls_console"], flush=True)
        if "abandoned" in parts:
            out["abandoned"] = measure_abandoned(stub, pid, small.getvalue())
            print("abandoned", out["abandoned"], flush=True)
        if "rss" in parts:
            out["rss"] = measure_rss(stub, pid, big_jpeg())
            print("rss", out["rss"], flush=True)
        channel.close()
    finally:
        launcher.stop_all()
    print(json.dumps(out, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
