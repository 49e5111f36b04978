from __future__ import annotations

import threading
import time

import pytest

from receiver.store import SQLiteResultStore as ResultStore
from shared.errors import InvalidArgumentError


def test_put_get_survives_reopen(tmp_path):
    store = ResultStore(tmp_path)
    store.put("r1", b"\x89PNG fake", {"snr": 6.0}, session_id="s")
    store.close()
    again = ResultStore(tmp_path)
    got = again.get("r1")
    assert got.metadata == {"snr": 6.0} and got.session_id == "s" and got.image_path.read_bytes() == b"\x89PNG fake"
    assert again.get("missing") is None
    assert not list(tmp_path.glob("images/*.tmp"))


def test_pagination_newest_first(tmp_path):
    store = ResultStore(tmp_path)
    for i in range(7):
        store.put(f"r{i}", b"x", {"i": i}, session_id="a" if i % 2 else "b")
    seen, cursor = [], None
    while True:
        items, cursor = store.list(limit=3, after=cursor)
        seen += [r.id for r in items]
        if cursor is None:
            break
    assert seen == [f"r{i}" for i in reversed(range(7))]
    items, _ = store.list(limit=10, session_id="a")
    assert {r.id for r in items} == {"r1", "r3", "r5"}


def test_wait_wakes_on_put(tmp_path):
    store = ResultStore(tmp_path)
    threading.Timer(0.2, lambda: store.put("late", b"x", {})).start()
    t0 = time.monotonic()
    assert store.wait("late", 5).id == "late"
    assert time.monotonic() - t0 < 2
    assert store.wait("never", 0.1) is None


def test_rejects_path_like_ids(tmp_path):
    with pytest.raises(InvalidArgumentError):
        ResultStore(tmp_path).put("../evil", b"x", {})
