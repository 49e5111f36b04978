"""One conformance suite for both backends of the two stores: the receiver's results (SQLite + files, PostgreSQL)
and the transmitter's sessions + ledger (SQLite, PostgreSQL)."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from receiver.store import SQLiteResultStore
from transmitter.sessions import SessionConflict, SessionWrite, SQLiteStateStore


@pytest.fixture(params=["sqlite", "postgres"])
def results(request, tmp_path):
    if request.param == "sqlite":
        store = SQLiteResultStore(tmp_path / "results")
    else:
        from receiver.store_pg import PostgresResultStore
        store = PostgresResultStore(request.getfixturevalue("postgres_url"))
    yield store
    store.close()


@pytest.fixture(params=["sqlite", "postgres"])
def states(request, tmp_path):
    now = [time.time()]
    if request.param == "sqlite":
        make = lambda **kw: SQLiteStateStore(tmp_path / "state.sqlite3", clock=lambda: now[0], **kw)  # noqa: E731
    else:
        from transmitter.sessions_pg import PostgresStateStore
        url = request.getfixturevalue("postgres_url")
        make = lambda **kw: PostgresStateStore(url, clock=lambda: now[0], **kw)  # noqa: E731
    yield make, now


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def test_results_first_write_wins_and_namespaces(results):
    rid = uid("r")
    stored, new = results.put(rid, b"\x89PNG first", {"x": 1.0, "nan": float("nan")}, session_id="s1", owner="alice")
    assert new and stored.read_image() == b"\x89PNG first" and stored.metadata == {"x": 1.0, "nan": None}
    again, new = results.put(rid, b"\x89PNG second", {"x": 2.0}, owner="alice")
    assert not new and again.read_image() == b"\x89PNG first" and again.metadata["x"] == 1.0
    assert results.get(rid, "bob") is None and results.get(rid, None).owner == "alice"
    results.put(rid, b"bob's", {"x": 3.0}, owner="bob")
    assert results.get(rid, "alice").read_image() == b"\x89PNG first"
    assert results.get(rid, "bob").read_image() == b"bob's"


def test_results_pagination_and_listing_scope(results):
    owner = uid("o")
    ids = [uid("p") for _ in range(7)]
    for i, rid in enumerate(ids):
        results.put(rid, b"x", {"i": i}, session_id="a" if i % 2 else "b", owner=owner)
        time.sleep(0.002)
    seen, cursor = [], None
    while True:
        items, cursor = results.list(limit=3, after=cursor, owner=owner)
        seen += [r.id for r in items]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    items, _ = results.list(limit=10, session_id="a", owner=owner)
    assert {r.id for r in items} == {ids[1], ids[3], ids[5]}
    assert all(r.owner != owner for r in results.list(limit=50, owner=uid("nobody"))[0])
    with pytest.raises(ValueError, match="bad cursor"):
        results.list(after="not-a-cursor", owner=owner)


def test_results_concurrent_puts_store_once(results):
    rid = uid("c")
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(lambda i: results.put(rid, f"png {i}".encode(), {"i": i}, owner="o")[1], range(8)))
    assert outcomes.count(True) == 1
    winner = results.get(rid, "o")
    assert winner.read_image() == f"png {winner.metadata['i']}".encode()


def test_results_listeners_wake(results):
    rid, heard = uid("w"), []
    results.add_listener(heard.append)
    results.put(rid, b"png", {}, owner="o")
    assert heard and set(heard) == {rid}                             # called by put: what wakes a waiting reader
    late = uid("late")
    threading.Timer(0.3, lambda: results.put(late, b"late", {}, owner="o")).start()
    assert results.wait(late, 30, "o").id == late
    assert results.wait(uid("never"), 0.2, "o") is None


def test_postgres_wakes_other_replicas(postgres_url):
    from receiver.store_pg import PostgresResultStore

    a, b = PostgresResultStore(postgres_url), PostgresResultStore(postgres_url)
    try:
        rid, heard = uid("x"), threading.Event()
        b.add_listener(lambda r: heard.set() if r == rid else None)
        a.put(rid, b"png", {}, owner="o")
        assert heard.wait(30)                                          # replica b hears replica a's result
    finally:
        a.close()
        b.close()


def w(v: float) -> torch.Tensor:
    return torch.full((8,), float(v))


def test_state_ledger_sessions_and_turns(states):
    make, now = states
    store = make(max_sessions=1000, session_ttl_s=60)
    sid, o = uid("s"), uid("owner")
    r1, r2, r3 = uid("r"), uid("r"), uid("r")
    store.commit(r1, "f1", b"one", SessionWrite(sid, w(1), 1, {"e": 1}, o))
    assert store.commit(r1, "f1", b"other", SessionWrite(sid, w(9), 1, {"e": 9}, o)).response == b"one"
    assert store.session(o, sid).turn == 1 and torch.equal(store.session(o, sid).w, w(1))
    store.commit(r2, "f2", b"two", SessionWrite(sid, w(2), 2, {"e": 2}, o))
    with pytest.raises(SessionConflict):
        store.commit(r3, "f3", b"stale", SessionWrite(sid, w(3), 2, {"e": 3}, o))
    assert store.finished(o, r3) is None                     # the conflict rolled the answer back
    s = store.session(o, sid)
    assert s.turn == 2 and s.history == [{"e": 1}, {"e": 2}] and torch.equal(s.w, w(2))
    assert store.session(uid("intruder"), sid) is None and store.finished(uid("intruder"), r1) is None
    now[0] += 61
    assert store.session(o, sid) is None                      # expired
    store.close()


def test_state_survives_reopen_and_bounds(states):
    make, now = states
    store = make(max_sessions=2, session_ttl_s=600)
    o = uid("owner")
    sids = [uid("s") for _ in range(3)]
    for i, sid in enumerate(sids):
        now[0] += 1
        store.commit(uid("r"), "f", b"x", SessionWrite(sid, w(i), 1, {}, o))
    store.close()
    again = make(max_sessions=2, session_ttl_s=600)
    assert again.session(o, sids[0]) is None                   # the least recently used was dropped
    assert again.session(o, sids[2]).turn == 1
    again.close()


def test_state_concurrent_turns_apply_once(states):
    make, _ = states
    store = make()
    sid, o = uid("s"), uid("owner")
    store.commit(uid("r"), "f", b"x", SessionWrite(sid, w(0), 1, {}, o))

    def advance(i):
        try:
            store.commit(uid("r"), "f", b"x", SessionWrite(sid, w(i), 2, {"i": i}, o))
            return "ok"
        except SessionConflict:
            return "conflict"

    with ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(advance, range(6)))
    assert outcomes.count("ok") == 1 and store.session(o, sid).turn == 2
    store.close()
