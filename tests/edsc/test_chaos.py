"""Chaos: the three services as real processes under the supervising launcher, a closed-loop load of retrying
clients, and each service SIGKILLed in turn (and restarted by the supervisor) while requests are in flight.

Every request must end done, be stored exactly once (the receiver's listing names each id once) and come back
byte-identical when sent again with the same id, answered from the transmitter's record (``replayed``) even for
requests finished before its restart; a session continues after the transmitter's restart. The counts
are printed as one JSON line starting with ``CHAOS`` (run with ``-s`` to see it).
"""

from __future__ import annotations

import io
import json
import os
import signal
import threading
import time
from collections import Counter

import numpy as np
from PIL import Image

from edsc.client import EditDSCClient
from edsc.launcher import Launcher, Ports, RestartPolicy, free_ports

CLIENTS = 3
STEPS = {"inversion_steps": 3, "edit_steps": 3}
INSTRUCTIONS = ("add glasses", "make the person smile a lot more", "make the bangs a bit longer", "make her older")
KILL_ORDER = ("transmitter", "channel", "receiver")
LOAD_LIMIT_S = 300.0          # the whole load phase, kills included, must end within this
RETRY_FOR_S = 150.0



def png_bytes(seed: int, size: int = 72) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray((rng.random((size, size, 3)) * 255).astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


class Load:
    """Closed-loop clients: each sends a request, fetches its image, and goes on until told to stop."""

    def __init__(self, launcher: Launcher):
        self.launcher = launcher
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.done: list[dict] = []            # {"id", "kwargs", "answer", "png"}
        self.failed: list[tuple[str, str]] = []
        self.retry_notes: list[str] = []
        self.in_flight = 0

    def note(self, message: str) -> None:
        with self.lock:
            self.retry_notes.append(message)

    def client(self) -> EditDSCClient:
        return EditDSCClient(self.launcher.addresses["transmitter"], self.launcher.http_url, timeout_s=60,
                             retry_for_s=RETRY_FOR_S, on_retry=self.note)

    def worker(self, k: int) -> None:
        with self.client() as client:
            i = 0
            while not self.stop.is_set():
                rid = f"chaos-{k}-{i:03d}"
                kwargs = dict(image=png_bytes(100 * k + i % 5), instruction=INSTRUCTIONS[(k + i) % len(INSTRUCTIONS)],
                              snr_db=float((-6, 6, 18)[i % 3]), channel={"model": "awgn"} if i % 2 else
                              {"model": "rayleigh", "csi": "ls"}, **STEPS)
                with self.lock:
                    self.in_flight += 1
                try:
                    answer = client.submit(kwargs["image"], kwargs["instruction"], kwargs["snr_db"],
                                           kwargs["channel"], request_id=rid, stream=(k + i) % 2 == 0,
                                           inversion_steps=STEPS["inversion_steps"], edit_steps=STEPS["edit_steps"])
                    png = client.image(rid, wait_s=10)
                    with self.lock:
                        self.done.append({"id": rid, "kwargs": kwargs, "answer": answer, "png": png})
                except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
                    with self.lock:
                        self.failed.append((rid, f"{type(exc).__name__}: {exc}"))
                finally:
                    with self.lock:
                        self.in_flight -= 1
                i += 1

    def completed(self) -> int:
        with self.lock:
            return len(self.done) + len(self.failed)

    def wait_for(self, count: int, until: float) -> None:
        while self.completed() < count and time.monotonic() < until:
            time.sleep(0.1)


def _wait_serving(supervisor, name: str, restarts_before: int, until: float) -> bool:
    while time.monotonic() < until:
        if sum(1 for e in supervisor.events if e["service"] == name and e["event"] == "serving") > restarts_before:
            return True
        time.sleep(0.1)
    return False


def _listing(client: EditDSCClient) -> list[str]:
    ids, cursor = [], None
    while True:
        page = client.results(limit=100, cursor=cursor)
        ids += [item["id"] for item in page["items"]]
        cursor = page.get("next_cursor")
        if not cursor:
            return ids


def test_services_survive_sigkill_of_each_under_load(tiny_bundle, tmp_path):
    tx, ch, rx, http = free_ports(4)
    launcher = Launcher(ports=Ports(tx, ch, rx, http, 0, 0), bundle=tiny_bundle, store_dir=tmp_path / "store",
                        data_dir=tmp_path / "transmitter-data", log_dir=tmp_path / "logs",
                        env={"EDSC_DEVICE": "cpu", "EDSC_TRANSMITTER_TORCH_THREADS": "1",
                             "EDSC_TRANSMITTER_MAX_BATCH_SIZE": "4", "EDSC_TRANSMITTER_MAX_BATCH_WAIT_MS": "20",
                             "EDSC_RECEIVER_MAX_WAIT_S": "10", "EDSC_TRANSMITTER_GRACE_S": "2",
                             "EDSC_CHANNEL_GRACE_S": "2", "EDSC_RECEIVER_GRACE_S": "2"})
    notices: list[str] = []
    counts = {"requests": 0, "kills": 0, "lost": None, "duplicated": None, "resend_changes": None}
    t0 = time.monotonic()
    try:
        launcher.start_all()
        launcher.wait_healthy(240)
        supervisor = launcher.supervise(RestartPolicy(initial_s=0.5, max_s=2.0, reset_after_s=5.0),
                                        notify=notices.append)
        load = Load(launcher)
        session = load.client()
        first_turn = session.submit(png_bytes(7), "add glasses", 6.0, session_id="chaos-session",
                                    request_id="chaos-session-1", **STEPS)
        assert first_turn["session_turn"] == 1 and first_turn["inverted"]

        threads = [threading.Thread(target=load.worker, args=(k,), daemon=True) for k in range(CLIENTS)]
        for t in threads:
            t.start()
        until = time.monotonic() + LOAD_LIMIT_S
        load.wait_for(3, until)
        for name in KILL_ORDER:
            while load.in_flight == 0 and time.monotonic() < until:      # kill with work in flight
                time.sleep(0.02)
            restarts_before = supervisor.restarts.get(name, 0)
            os.kill(launcher.procs[name].pid, signal.SIGKILL)
            counts["kills"] += 1
            assert _wait_serving(supervisor, name, restarts_before, until), (name, notices)
            if name == "transmitter":          # the session lives in the transmitter's SQLite file
                second_turn = session.submit(None, "a bit more", 6.0, session_id="chaos-session",
                                             request_id="chaos-session-2", **STEPS)
            load.wait_for(load.completed() + 3, until)
        load.stop.set()
        for t in threads:
            t.join(max(1.0, until - time.monotonic()))
        assert not any(t.is_alive() for t in threads), "a client is still running at the load's time limit"

        counts["requests"] = len(load.done) + len(load.failed)
        counts["lost"] = len(load.failed)
        ids = _listing(session)
        ours = [i for i in ids if i.startswith("chaos-")]
        dupes = {i: n for i, n in Counter(ours).items() if n > 1}
        counts["duplicated"] = len(dupes)
        expected = {d["id"] for d in load.done} | {"chaos-session-1", "chaos-session-2"}
        missing = expected - set(ours)

        changes, answer_changes, recomputed = [], [], []
        for d in load.done:                    # resend with the same id: nothing may change
            kw = d["kwargs"]
            again = session.submit(kw["image"], kw["instruction"], kw["snr_db"], kw["channel"], request_id=d["id"],
                                   stream=False, **STEPS)
            if not again["replayed"]:
                recomputed.append(d["id"])
            if session.image(d["id"], wait_s=5) != d["png"]:
                changes.append(d["id"])
            strip = ("replayed", "timings", "batch_size")
            if {k: v for k, v in again.items() if k not in strip} != \
                    {k: v for k, v in d["answer"].items() if k not in strip}:
                answer_changes.append(d["id"])
        counts["resend_changes"] = len(changes)
        notes = load.retry_notes
        counts.update(retries=len(notes), retries_mid_stream=sum("stream broke off" in n for n in notes),
                      retries_fetch=sum(n.startswith("receiver") for n in notes), restarts=dict(supervisor.restarts),
                      resend_answer_changes=len(answer_changes), resend_recomputed=len(recomputed),
                      missing_from_listing=len(missing),
                      seconds=round(time.monotonic() - t0, 1))
        print("CHAOS " + json.dumps(counts), flush=True)

        assert not load.failed, load.failed[:5]
        assert not dupes, dupes
        assert not missing, sorted(missing)[:10]
        assert not changes, changes[:10]
        assert not answer_changes, answer_changes[:10]
        assert not recomputed, recomputed[:10]          # answered from the transmitter's record, restart or not
        assert second_turn["session_id"] == "chaos-session" and second_turn["session_turn"] == 2
        assert not second_turn["inverted"]
        assert supervisor.restarts == {name: 1 for name in KILL_ORDER}, (supervisor.restarts, notices)
        assert any(n.startswith("the transmitter service exited (code -9); restarting in") for n in notices)
        session.close()
    finally:
        if counts["lost"] is None:
            print("CHAOS " + json.dumps(counts), flush=True)
        launcher.stop_all()
