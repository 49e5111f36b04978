from __future__ import annotations

import threading

from fastapi.testclient import TestClient

from receiver.http import create_app
from receiver.store import SQLiteResultStore as ResultStore


def make(tmp_path, ready=True):
    store = ResultStore(tmp_path)
    return store, TestClient(create_app(store, lambda: ready, max_wait_s=5))


def test_result_image_list(tmp_path):
    store, client = make(tmp_path)
    store.put("abc", b"\x89PNGdata", {"snr_db": 6.0}, session_id="s1")
    r = client.get("/v1/results/abc")
    assert r.status_code == 200 and r.json()["metadata"]["snr_db"] == 6.0
    assert r.json()["image_url"] == "/v1/results/abc/image.png"
    img = client.get("/v1/results/abc/image.png")
    assert img.status_code == 200 and img.headers["content-type"] == "image/png" and img.content == b"\x89PNGdata"
    assert client.get("/v1/results/nope").status_code == 404
    page = client.get("/v1/results", params={"limit": 1}).json()
    assert [i["id"] for i in page["items"]] == ["abc"] and page["next_cursor"] is None
    assert client.get("/v1/results", params={"limit": 100000}).status_code == 422


def test_long_poll(tmp_path):
    store, client = make(tmp_path)
    threading.Timer(0.3, lambda: store.put("later", b"x", {})).start()
    assert client.get("/v1/results/later", params={"wait": 3}).status_code == 200
    assert client.get("/v1/results/x", params={"wait": -1}).status_code == 422


def test_health_ready_metrics_openapi(tmp_path):
    _, client = make(tmp_path, ready=False)
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 503
    assert client.get("/metrics").status_code == 200
    assert "/v1/results" in client.get("/openapi.json").json()["paths"]
