"""Replicas on one machine (real processes on loopback): 2 transmitters + 2 receivers sharing PostgreSQL, clients
balancing round robin. A follow-up served by the other transmitter continues the session; a result stored by one
receiver is served (and wakes long-polls) on the other; SIGKILL of one transmitter under load loses and duplicates
nothing."""

from __future__ import annotations

import io
import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from PIL import Image

from edsc.client import EditDSCClient
from edsc.launcher import Launcher, Ports, RestartPolicy, consecutive_free_ports as consecutive_free
from edsc.random_bundle import make_random_bundle

pytestmark = pytest.mark.slow



def png_bytes(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray((np.random.default_rng(seed).random((64, 64, 3)) * 255).astype(np.uint8)).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def replicas(tmp_path_factory, postgres_url):
    root = tmp_path_factory.mktemp("replicas")
    bundle = make_random_bundle(root / "bundle", size=64)
    base = consecutive_free(8)          # tx, tx, channel, rx, rx, http, http, (spare)
    launcher = Launcher(ports=Ports(base, base + 2, base + 3, base + 5, 0, 0), bundle=bundle,
                        store_dir=root / "store", log_dir=root / "logs", transmitter_replicas=2,
                        receiver_replicas=2, database_url=postgres_url,
                        env={"EDSC_DEVICE": "cpu", "EDSC_TRANSMITTER_INVERSION_STEPS": "2",
                             "EDSC_TRANSMITTER_EDIT_STEPS": "2", "EDSC_TRANSMITTER_TORCH_THREADS": "1"})
    launcher.start_all()
    try:
        launcher.wait_healthy(240)
        launcher.supervise(RestartPolicy(initial_s=0.2), notify=lambda m: None)
        yield launcher
    finally:
        launcher.stop_all()


def test_follow_up_on_the_other_replica_and_shared_results(replicas):
    target = replicas.target("transmitter")
    rx0, rx1 = replicas.http_urls
    with EditDSCClient(target, rx0, timeout_s=60, retry_for_s=30) as client:
        first = client.submit(png_bytes(0), "make the bangs longer", 6.0, stream=False)
        served = {first["served_by"]}
        session, turn = first["session_id"], 1
        for i in range(3):                       # round robin: the next calls reach the other replica
            r = client.submit(None, "a bit more", 6.0, session_id=session, stream=False)
            turn += 1
            assert r["session_turn"] == turn and not r["inverted"]
            served.add(r["served_by"])
        assert served == set(replicas.target("transmitter").split(","))
        # the result is on both receivers (one store)
        for url in (rx0, rx1):
            assert httpx.get(f"{url}/v1/results/{first['request_id']}", timeout=10).status_code == 200
        # a long-poll on receiver 1 wakes when the result arrives, whichever receiver stores it
        rid = f"poll-{time.time_ns()}"
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(httpx.get, f"{rx1}/v1/results/{rid}", params={"wait": 30}, timeout=60)
            time.sleep(0.5)
            client.submit(png_bytes(1), "add glasses", 6.0, request_id=rid, stream=False)
            got = waiting.result()
        assert got.status_code == 200           # woken by the result (a poll that timed out would answer 404)


def test_kill_a_transmitter_under_load(replicas):
    target = replicas.target("transmitter")
    rx0 = replicas.http_urls[0]
    ids = [f"kill-{time.time_ns()}-{i}" for i in range(12)]
    done: dict[str, dict] = {}
    notes: list[str] = []

    def work(chunk):
        with EditDSCClient(target, rx0, timeout_s=60, retry_for_s=120, on_retry=notes.append) as client:
            for i, rid in chunk:
                done[rid] = client.submit(png_bytes(i), "make her smile", 6.0, request_id=rid, stream=False)

    chunks = [list(enumerate(ids))[k::3] for k in range(3)]
    threads = [threading.Thread(target=work, args=(c,)) for c in chunks]
    for t in threads:
        t.start()
    time.sleep(1.5)
    victim = replicas.procs["transmitter-0"]
    victim.kill()
    for t in threads:
        t.join(240)
    assert sorted(done) == sorted(ids), f"lost: {set(ids) - set(done)}"
    listed = []
    cursor = None
    while True:
        page = httpx.get(f"{rx0}/v1/results", params={"limit": 100, **({"cursor": cursor} if cursor else {})},
                         timeout=10).json()
        listed += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    dup = [rid for rid in ids if listed.count(rid) != 1]
    assert not dup, f"not stored exactly once: {dup}"
    pngs = {rid: httpx.get(f"{rx0}/v1/results/{rid}/image.png", timeout=10).content for rid in ids}
    with EditDSCClient(target, rx0, timeout_s=60, retry_for_s=60) as client:
        for i, rid in enumerate(ids):
            again = client.submit(png_bytes(i), "make her smile", 6.0, request_id=rid, stream=False)
            assert again["replayed"] and again["session_id"] == done[rid]["session_id"]
            assert httpx.get(f"{rx0}/v1/results/{rid}/image.png", timeout=10).content == pngs[rid]
    print("REPLICAS " + json.dumps({"requests": len(ids), "kills": 1, "lost": len(set(ids) - set(done)),
                                    "duplicated": len(dup), "retries": len(notes),
                                    "served_by": sorted({d["served_by"] for d in done.values()})}))
