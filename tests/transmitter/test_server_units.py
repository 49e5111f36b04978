"""Sessions and micro-batching of the transmitter service (no network)."""

from __future__ import annotations

import threading
import time

import torch

from transmitter.batcher import Job, MicroBatcher
from transmitter.sessions import SessionStore


def test_sessions_bounded_and_expiring():
    now = [0.0]
    store = SessionStore(max_sessions=2, ttl_s=10, clock=lambda: now[0])
    store.update("a", torch.zeros(4), {"e": 1}, reset=True)
    store.update("b", torch.ones(4), {"e": 2}, reset=True)
    store.update("a", torch.full((4,), 2.0), {"e": 3}, reset=False)
    assert store.get("a").turn == 2 and torch.equal(store.get("a").w, torch.full((4,), 2.0))
    store.update("c", torch.zeros(4), {}, reset=True)           # evicts the least recently used ("b")
    assert store.get("b") is None and len(store) == 2
    now[0] = 11.0
    assert store.get("a") is None and len(store) == 0


class FakePipeline:
    """Records batch sizes; mimics TransmitterPipeline.run's contract."""

    def __init__(self, delay=0.05):
        from transmitter.inversion import InversionConfig
        from transmitter.jecc import JECCConfig
        self.inversion_config, self.jecc_config = InversionConfig(steps=2), JECCConfig(max_steps=2)
        self.calls = []
        self.delay = delay

    def run(self, instructions, snr_db, images=None, w_start=None, edits=None, progress=None):
        n = len(edits)
        self.calls.append((n, images is None, self.inversion_config.steps))
        if progress:
            progress("inversion", 1, 1)
        time.sleep(self.delay)
        return [f"out{i}-{snr_db[i]}" for i in range(n)]


def job(snr, image=True, steps=2):
    return Job(edit=None, snr_db=snr, image=torch.zeros(3, 8, 8) if image else None,
               w_start=None if image else torch.zeros(4), inversion_steps=steps, edit_steps=2)


def test_concurrent_jobs_share_a_batch():
    pipe = FakePipeline()
    b = MicroBatcher(pipe, max_batch=4, max_wait_s=0.1)
    jobs = [job(float(i)) for i in range(4)]
    futures = [b.submit(j) for j in jobs]
    assert [f.result(5) for f in futures] == [f"out{i}-{float(i)}" for i in range(4)]
    assert pipe.calls == [(4, False, 2)] and all(j.batch_size == 4 for j in jobs)
    b.close()


def test_batch_size_one_turns_it_off_and_groups_split():
    pipe = FakePipeline(delay=0.0)
    b = MicroBatcher(pipe, max_batch=1, max_wait_s=0.1)
    fs = [b.submit(job(1.0)) for _ in range(3)]
    [f.result(5) for f in fs]
    assert [c[0] for c in pipe.calls] == [1, 1, 1]
    b.close()
    pipe = FakePipeline(delay=0.0)
    b = MicroBatcher(pipe, max_batch=8, max_wait_s=0.1)
    fs = [b.submit(job(1.0)), b.submit(job(1.0, image=False)), b.submit(job(1.0, steps=5))]
    [f.result(5) for f in fs]
    assert sorted(pipe.calls) == sorted([(1, False, 2), (1, True, 2), (1, False, 5)])
    b.close()


def test_expired_and_failing_jobs():
    pipe = FakePipeline(delay=0.0)
    b = MicroBatcher(pipe, max_batch=2, max_wait_s=0.0)
    late = job(1.0)
    late.deadline = time.monotonic() - 1
    try:
        b.submit(late).result(5)
        raise AssertionError("expected a deadline error")
    except Exception as exc:  # noqa: BLE001
        assert "deadline" in str(exc)
    pipe.run = lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom"))
    try:
        b.submit(job(1.0)).result(5)
        raise AssertionError("expected the pipeline's error")
    except RuntimeError as exc:
        assert "boom" in str(exc)
    b.close()
