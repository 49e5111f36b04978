"""The console's HTTP layer against the real services (built-in bundle, auth on): parse, submit (Server-Sent
Events), samples, history, comparison, the results proxy, and the transmitter's Parse / return_ideal / inversion
cache / ledger replay underneath."""

from __future__ import annotations

import io
import json

import grpc
import httpx
import numpy as np
import pytest
from PIL import Image

from shared.rpc.editdsc.v1 import transmitter_pb2, transmitter_pb2_grpc

TOKENS = {"alice": "alice-token-0123456789abcdef", "bob": "bob-token-0123456789abcdef"}   # as in conftest.py


def png_bytes(seed: int = 0) -> bytes:
    buf = io.BytesIO()
    Image.fromarray((np.random.default_rng(seed).random((64, 64, 3)) * 255).astype(np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def events(text: str) -> list[tuple[str, dict]]:
    """Server-Sent Events of a finished stream: [(event, data)]."""
    out = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        out.append((lines["event"], json.loads(lines["data"])))
    return out


@pytest.fixture(scope="module")
def stack(console_services):
    launcher = console_services
    with httpx.Client(base_url=launcher.console_url, timeout=120,
                      headers={"Authorization": f"Bearer {TOKENS['alice']}"}) as client:
        yield {"launcher": launcher, "http": client}


def submit(http: httpx.Client, **fields) -> list[tuple[str, dict]]:
    files = {"image": ("face.png", fields.pop("image"), "image/png")} if "image" in fields else None
    r = http.post("/console/api/submit", data={"snr_db": "6", **fields}, files=files)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/event-stream")
    return events(r.text)


def test_page_config_and_samples(stack):
    http = stack["http"]
    page = httpx.get(stack["launcher"].console_url + "/")            # the page itself needs no token
    assert page.status_code == 200
    for testid in ("image-input", "instruction-input", "snr-input", "channel-select", "submit-button", "progress"):
        assert f'data-testid="{testid}"' in page.text
    for option in ("awgn", "rayleigh", "rician", "tdl"):
        assert f'<option value="{option}">' in page.text
    assert "http://" not in page.text and "https://" not in page.text     # nothing loaded from elsewhere
    assert http.get("/static/console.js").status_code == 200
    config = http.get("/console/api/config").json()
    assert config["auth"] is True and config["sweep_db"] == [-6.0, 0.0, 6.0, 12.0, 18.0]
    items = http.get("/console/api/samples").json()["items"]
    png = http.get(items[0]["url"])
    assert png.headers["content-type"] == "image/png" and Image.open(io.BytesIO(png.content)).size == (128, 128)
    assert png.content == http.get(items[0]["url"]).content                 # deterministic: the cache sees it
    missing = http.get(f"/console/api/samples/{len(items)}.png")
    assert missing.status_code == 400 and "does not exist" in missing.json()["detail"]


def test_auth_is_the_callers(stack):
    url = stack["launcher"].console_url
    no_token = httpx.post(url + "/console/api/parse", json={"instruction": "more bangs"})
    assert no_token.status_code == 401 and "Bearer" in no_token.json()["detail"]
    bad = httpx.post(url + "/console/api/parse", json={"instruction": "more bangs"},
                     headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401 and "not valid" in bad.json()["detail"]
    assert httpx.get(url + "/v1/results").status_code == 401                # the receivers' own 401, proxied
    assert httpx.get(url + "/console/api/history").status_code == 401


def test_parse(stack):
    http = stack["http"]
    r = http.post("/console/api/parse", json={"instruction": "make the bangs longer"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["edit"]["attribute"] in body["attributes"] and body["bundle_version"]
    empty = http.post("/console/api/parse", json={"instruction": "   "})
    assert empty.status_code == 400 and empty.json()["detail"] == "the instruction is empty"
    long = http.post("/console/api/parse", json={"instruction": "a" * 600})
    assert long.status_code == 400 and "limit is 512" in long.json()["detail"]


def test_submit_streams_progress_then_result_and_the_cache_skips_the_second_inversion(stack):
    http = stack["http"]
    image = png_bytes(1)
    first = submit(http, image=image, instruction="make the bangs longer")
    kinds = [e for e, _ in first]
    assert kinds[0] == "progress" and kinds[-1] == "result" and kinds.count("result") == 1
    stages = [d["stage"] for e, d in first if e == "progress"]
    assert stages[0] == "queued" and "inversion" in stages and stages[-1] == "channel"
    result = first[-1][1]
    assert result["inverted"] and result["timings"]["inversion_cache_hit"] == 0.0
    assert result["ideal"].startswith("data:image/png;base64,")
    received = http.get(result["image_url"], params={"wait": 10})           # through the proxy, with the token
    assert received.status_code == 200 and received.headers["content-type"] == "image/png"
    again = submit(http, image=image, instruction="make the bangs longer", snr_db="18")
    assert "inversion" not in [d["stage"] for e, d in again if e == "progress"]
    assert again[-1][1]["timings"]["inversion_cache_hit"] == 1.0
    assert again[-1][1]["session_id"] != result["session_id"]              # a new conversation all the same
    follow = submit(http, session_id=result["session_id"], instruction="a bigger smile")
    assert follow[-1][1]["session_turn"] == 2 and not follow[-1][1]["inverted"]
    listing = http.get("/console/api/history", params={"limit": 5}).json()
    assert follow[-1][1]["request_id"] in [item["id"] for item in listing["items"]]
    bob = httpx.get(stack["launcher"].console_url + "/console/api/history",
                    headers={"Authorization": f"Bearer {TOKENS['bob']}"}).json()
    assert bob["items"] == []                                                # alice's results are hers


def test_submit_refusals_are_4xx_json(stack):
    http = stack["http"]
    cases = [
        ({"instruction": "more bangs"}, None, 400, "exactly one of"),
        ({"instruction": "more bangs", "sample": "0", "session_id": "abc"}, None, 400, "exactly one of"),
        ({"instruction": "more bangs", "sample": "0", "channel": "fog"}, None, 400, "unknown channel 'fog'"),
        ({"instruction": "more bangs", "sample": "0", "snr_db": "99"}, None, 400, "SNR"),
        ({"instruction": "more bangs", "sample": "0", "snr_db": "loud"}, None, 422, "snr_db"),
        ({"instruction": "more bangs"}, ("notes.txt", b"hello, not a photo", "text/plain"), 400,
         "'notes.txt' is not a photo"),
        ({"instruction": "more bangs", "session_id": "no-such-session"}, None, 404, "unknown or expired"),
    ]
    for data, upload, status, needle in cases:
        r = http.post("/console/api/submit", data={"snr_db": "6", **data},
                      files={"image": upload} if upload else None)
        assert r.status_code == status, (data, r.text)
        assert needle in r.json()["detail"], (data, r.json())


def test_compare_runs_the_classic_links(stack):
    r = stack["http"].post("/console/api/compare", data={"sample": "0", "instruction": "make the bangs longer",
                                                         "snr_db": "12", "channel": "awgn"})
    assert r.status_code == 200, r.text
    body = r.json()
    links = {row["name"]: row for row in body["links"]}
    assert set(links) == {"Editable-DeepSC", "JPEG + LDPC", "DeepJSCC"}
    ours = links["Editable-DeepSC"]
    assert ours["cbr"] == pytest.approx(512 / (128 * 128 * 3)) and 0 <= ours["lpips"] < 1.5
    for name, cbr in (("JPEG + LDPC", 0.467), ("DeepJSCC", 1 / 12)):
        row = links[name]
        assert row["image"].startswith("data:image/png") and row["lpips"] >= 0
        assert row["cbr"] == pytest.approx(cbr, rel=0.01)
    assert body["ideal"].startswith("data:image/png")


def test_compare_says_why_a_link_cannot_run():
    """The shipped DeepJSCC is for 128 x 128 images: on a 64 x 64 edit its row says so instead of an image."""
    from edsc.web.compare import compare_links
    from edsc.web.samples import sample_png

    png = sample_png(0, 1, 64)
    rows = {r["name"]: r for r in compare_links(png, png, 12.0, {"model": "awgn", "csi": "perfect"}, 1, 0.04,
                                                 links=("DeepJSCC",))}
    assert set(rows) == {"Editable-DeepSC", "DeepJSCC"}
    assert rows["Editable-DeepSC"]["lpips"] == pytest.approx(0.0, abs=1e-6)     # received == ideal here
    deep = rows["DeepJSCC"]
    assert deep["image"] is None and deep["lpips"] is None and "128 × 128" in deep["note"]


def test_results_proxy_long_polls_and_round_trips(stack):
    http = stack["http"]
    missing = http.get("/v1/results/not-there", params={"wait": 0.3})
    assert missing.status_code == 404 and "no result" in missing.json()["detail"]
    assert http.get("/docs").headers["content-type"].startswith("text/html")
    assert "/v1/results" in http.get("/openapi.json").json()["paths"]
    bad = http.get("/v1/results", params={"limit": 0})
    assert bad.status_code == 422                                          # the receiver's own validation


def test_transmitter_parse_ideal_and_replay(stack):
    launcher = stack["launcher"]
    md = (("authorization", f"Bearer {TOKENS['alice']}"),)
    with grpc.insecure_channel(launcher.addresses["transmitter"]) as channel:
        tx = transmitter_pb2_grpc.TransmitterServiceStub(channel)
        with pytest.raises(grpc.RpcError) as err:
            tx.Parse(transmitter_pb2.ParseRequest(instruction="more bangs"), timeout=10)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED            # Parse is a client RPC
        with pytest.raises(grpc.RpcError) as err:
            tx.Parse(transmitter_pb2.ParseRequest(instruction=""), timeout=10, metadata=md)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        from edsc.client import EditDSCClient
        req = EditDSCClient.build_request(png_bytes(7), "make the bangs longer", 6.0, request_id="console-replay-1")
        req.return_ideal = True
        first = tx.Submit(req, timeout=120, metadata=md)
        assert Image.open(io.BytesIO(first.ideal_png)).size == (128, 128)
        replay = tx.Submit(req, timeout=120, metadata=md)
        assert replay.replayed and replay.ideal_png == first.ideal_png
        plain = EditDSCClient.build_request(png_bytes(7), "make the bangs longer", 6.0)
        assert tx.Submit(plain, timeout=120, metadata=md).ideal_png == b""
