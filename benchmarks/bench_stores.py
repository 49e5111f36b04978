"""Per-result latency of the receiver's result store and the transmitter's session/ledger store, SQLite against
PostgreSQL, in the same run on this machine (a throw-away PostgreSQL on loopback, fsync on for both).

Prints median and 95th-percentile milliseconds of ``put`` + ``get`` of a result (a 20 KB PNG + 2 KB of metadata)
and of a ledger ``commit`` (answer + session turn), per backend.

    python benchmarks/bench_stores.py [--n 300] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import torch

sys.path.insert(0, os.getcwd())

from edsc.pgserver import TempPostgres  # noqa: E402
from receiver.store import SQLiteResultStore  # noqa: E402
from receiver.store_pg import PostgresResultStore  # noqa: E402
from transmitter.sessions import SessionWrite, SQLiteStateStore  # noqa: E402
from transmitter.sessions_pg import PostgresStateStore  # noqa: E402


def stats(samples: list[float]) -> dict:
    ms = sorted(s * 1000 for s in samples)
    return {"median_ms": round(statistics.median(ms), 3), "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 3)}


def bench_results(store, n: int) -> dict:
    png = os.urandom(20_000)
    meta = {"pad": "x" * 2000, "snr_db": 6.0}
    puts, gets = [], []
    for _ in range(n):
        rid = uuid.uuid4().hex
        t0 = time.perf_counter()
        store.put(rid, png, meta, owner="bench")
        t1 = time.perf_counter()
        store.get(rid, "bench").read_image()
        t2 = time.perf_counter()
        puts.append(t1 - t0)
        gets.append(t2 - t1)
    return {"put": stats(puts), "get": stats(gets)}


def bench_ledger(store, n: int) -> dict:
    w = torch.randn(512)
    out = []
    for _ in range(n):
        sid = uuid.uuid4().hex
        t0 = time.perf_counter()
        store.commit(uuid.uuid4().hex, "fp", b"r" * 600, SessionWrite(sid, w, 1, {"attribute": "bangs"}, "bench"))
        out.append(time.perf_counter() - t0)
    return {"commit": stats(out)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    out: dict = {"n": args.n, "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp, TempPostgres(fsync=True) as url:
        sq, pg = SQLiteResultStore(Path(tmp) / "results"), PostgresResultStore(url)
        out["results"] = {"sqlite": bench_results(sq, args.n), "postgres": bench_results(pg, args.n)}
        sq.close(), pg.close()
        ls, lp = SQLiteStateStore(Path(tmp) / "state.sqlite3"), PostgresStateStore(url)
        out["ledger"] = {"sqlite": bench_ledger(ls, args.n), "postgres": bench_ledger(lp, args.n)}
        ls.close(), lp.close()
    print(json.dumps(out, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
