"""Sessions and micro-batching of the transmitter service (no network)."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from transmitter.batcher import Job, MicroBatcher
from transmitter.sessions import SessionConflict, SessionWrite, SQLiteStateStore


def write(sid, value, turn, edit=None, owner=""):
    return SessionWrite(sid, torch.full((4,), float(value)), turn, edit or {"e": value}, owner)


def test_sessions_bounded_expiring_and_durable(tmp_path):
    now = [1000.0]
    path = tmp_path / "state.sqlite3"
    store = SQLiteStateStore(path, max_sessions=2, session_ttl_s=10, clock=lambda: now[0])
    store.commit("r1", "f1", b"one", write("a", 0, 1))
    now[0] += 1
    store.commit("r2", "f2", b"two", write("b", 1, 1))
    now[0] += 1
    store.commit("r3", "f3", b"three", write("a", 2, 2))
    a = store.session("", "a")
    assert a.turn == 2 and torch.equal(a.w, torch.full((4,), 2.0)) and a.history == [{"e": 0}, {"e": 2}]
    now[0] += 1
    store.commit("r4", "f4", b"four", write("c", 3, 1))           # drops the least recently used ("b")
    assert store.session("", "b") is None and len(store) == 2
    store.close()
    again = SQLiteStateStore(path, max_sessions=2, session_ttl_s=10, clock=lambda: now[0])   # a restart
    assert again.session("", "a").turn == 2 and again.finished("", "r3").response == b"three"
    now[0] += 11
    assert again.session("", "a") is None and len(again) == 0


def test_first_answer_wins_and_turns_advance_once(tmp_path):
    store = SQLiteStateStore(tmp_path / "s.sqlite3")
    store.commit("r1", "f1", b"first", write("s", 0, 1))
    again = store.commit("r1", "f1", b"second", write("s", 9, 1))
    assert again.response == b"first" and store.session("", "s").turn == 1
    assert torch.equal(store.session("", "s").w, torch.zeros(4))
    store.commit("r2", "f2", b"turn2", write("s", 1, 2))
    with pytest.raises(SessionConflict):                          # a stale writer of turn 2
        store.commit("r3", "f3", b"stale", write("s", 5, 2))
    assert store.finished("", "r3") is None and store.session("", "s").turn == 2


class FakePipeline:
    """Records batch sizes; mimics TransmitterPipeline.run's contract."""

    def __init__(self, delay=0.05, steps=1):
        from transmitter.inversion import InversionConfig
        from transmitter.jecc import JECCConfig
        self.inversion_config, self.jecc_config = InversionConfig(steps=2), JECCConfig(max_steps=2)
        self.calls = []
        self.delay = delay
        self.steps = steps

    def run(self, edits, snr_db, *, images=None, w_start=None, inversion_steps=None, edit_steps=None,
            progress=None):
        n = len(edits)
        self.calls.append((n, images is None, inversion_steps))
        for step in range(self.steps):
            if progress:
                progress("inversion", step + 1, self.steps)
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


def test_abandoned_group_stops_within_a_step():
    pipe = FakePipeline(delay=0.05, steps=200)                  # 10 s of "work" if nobody stopped it
    cancelled = []
    b = MicroBatcher(pipe, max_batch=2, max_wait_s=0.0, on_cancel=cancelled.append)
    j1, j2 = job(1.0), job(2.0)
    j2.deadline = time.monotonic() + 0.3
    f1, f2 = b.submit(j1), b.submit(j2)
    time.sleep(0.2)
    j1.cancelled.set()                                          # one left: the other still waits
    time.sleep(0.05)
    assert not f2.done()
    with pytest.raises(Exception, match="abandoned"):
        f2.result(5)                                            # its deadline passes: nobody is left
    assert cancelled == [2]
    assert "abandoned" in str(f1.exception())
    b.close()


def test_owners_have_their_own_namespaces(tmp_path):
    store = SQLiteStateStore(tmp_path / "s.sqlite3")
    store.commit("r1", "f1", b"alice's", write("s", 1, 1, owner="alice"))
    assert store.session("bob", "s") is None and store.finished("bob", "r1") is None
    store.commit("r1", "f9", b"bob's", write("s", 2, 1, owner="bob"))       # same ids, another namespace
    assert store.finished("alice", "r1").response == b"alice's"
    assert torch.equal(store.session("alice", "s").w, torch.full((4,), 1.0))
    assert torch.equal(store.session("bob", "s").w, torch.full((4,), 2.0))
