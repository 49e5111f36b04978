"""The three services as real processes on free loopback ports, end to end (tiny random bundle, few steps)."""

from __future__ import annotations

import io
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import httpx
import numpy as np
import pytest
from PIL import Image

from edsc.client import EditDSCClient, ServiceCallError
from shared.rpc.healthcheck import health_status
from edsc.launcher import Launcher, Ports, free_ports
from edsc.random_bundle import make_random_bundle



def png_bytes(seed: int = 0, size: int = 96) -> bytes:
    rng = np.random.default_rng(seed)
    arr = (rng.random((size, size, 3)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    root = tmp_path_factory.mktemp("services")
    bundle = make_random_bundle(root / "bundle", size=64)
    tx, ch, rx, http = free_ports(4)
    launcher = Launcher(ports=Ports(tx, ch, rx, http, 0, 0), bundle=bundle, store_dir=root / "store",
                        log_dir=root / "logs",
                        env={"EDSC_DEVICE": "cpu", "EDSC_TRANSMITTER_INVERSION_STEPS": "3",
                             "EDSC_TRANSMITTER_EDIT_STEPS": "3", "EDSC_TRANSMITTER_LOAD_DELAY_S": "2",
                             "EDSC_TRANSMITTER_MAX_IN_FLIGHT": "3", "EDSC_TRANSMITTER_MAX_BATCH_SIZE": "4",
                             "EDSC_TRANSMITTER_MAX_BATCH_WAIT_MS": "20", "EDSC_RECEIVER_MAX_WAIT_S": "10"})
    seen: list[str] = []
    stop = threading.Event()

    def watch():   # the transmitter's health from start-up on
        while not stop.is_set():
            status = health_status(launcher.addresses["transmitter"], timeout=0.5)
            if not seen or seen[-1] != status:
                seen.append(status)
            if status == "SERVING":
                return
            time.sleep(0.05)

    launcher.start_all()
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        launcher.wait_healthy(180)
        watcher.join(10)
        client = EditDSCClient(launcher.addresses["transmitter"], launcher.http_url, timeout_s=120, retry_for_s=0)
        yield {"launcher": launcher, "client": client, "health_seen": seen, "root": root}
        client.close()
    finally:
        stop.set()
        codes = launcher.stop_all()
        print("exit codes", codes)


def test_health_goes_from_not_serving_to_serving(services):
    seen = [s for s in services["health_seen"] if s != "UNREACHABLE"]
    assert seen[0] == "NOT_SERVING" and seen[-1] == "SERVING", services["health_seen"]


@pytest.mark.parametrize("model", ["awgn", "rayleigh"])
def test_end_to_end_three_snrs(services, model):
    client: EditDSCClient = services["client"]
    image = png_bytes(1 if model == "awgn" else 2)
    for snr in (-6.0, 6.0, 18.0):
        channel = {"model": model} if model == "awgn" else {"model": model, "csi": "ls"}
        progress = []
        r = client.submit(image, "make the person smile a lot more", snr, channel, seed=7,
                          on_progress=lambda *a: progress.append(a))
        assert r["k"] == 512 and r["cbr"] == pytest.approx(512 / (64 * 64 * 3))
        assert r["bundle_version"] and r["inverted"] and r["session_turn"] == 1
        assert r["channel_report"]["model"] == model and r["channel_report"]["snr_db"] == snr
        assert {"inversion_s", "jecc_s", "adapter_s", "queue_s", "total_s"} <= set(r["timings"])
        # the photo is inverted once; the other SNRs start JECC from the transmitter's stored inversion
        first = snr == -6.0
        assert any(p[0] == "inversion" for p in progress) == first and any(p[0] == "editing" for p in progress)
        assert r["timings"]["inversion_cache_hit"] == (0.0 if first else 1.0)
        meta = client.result(r["request_id"], wait_s=5)
        m = meta["metadata"]
        assert meta["id"] == r["request_id"] and meta["session_id"] == r["session_id"]
        assert m["channel"]["model"] == model and m["channel"]["snr_db"] == snr and m["channel"]["seed"] == 7
        assert m["receiver"]["snr_db"] == snr and m["edit"] == r["edit"] and m["outcome"] == r["outcome"]
        assert m["instruction"] == "make the person smile a lot more"
        png = client.image(r["request_id"])
        img = Image.open(io.BytesIO(png))
        assert img.format == "PNG" and img.size == (64, 64)


def test_session_follow_up_skips_inversion(services):
    client: EditDSCClient = services["client"]
    first = client.submit(png_bytes(2), "add glasses", 12.0, session_id="conv-1", stream=False)
    assert first["session_id"] == "conv-1" and first["session_turn"] == 1
    second = client.submit(None, "a bit more", 12.0, session_id="conv-1")
    assert second["session_turn"] == 2 and not second["inverted"]
    assert second["timings"]["inversion_s"] < 0.05
    page = client.results(limit=50)
    ids = {item["id"] for item in page["items"] if item["session_id"] == "conv-1"}
    assert {first["request_id"], second["request_id"]} <= ids


def test_request_id_from_metadata_and_long_poll(services):
    client: EditDSCClient = services["client"]
    rid = "my-request-42"
    with ThreadPoolExecutor(1) as pool:
        poll = pool.submit(lambda: httpx.get(f"{client.receiver_url}/v1/results/{rid}", params={"wait": 8},
                                             timeout=20))
        time.sleep(0.2)
        r = client.submit(png_bytes(3), "make her older", 0.0, request_id=rid, stream=False)
        answer = poll.result()
    assert r["request_id"] == rid
    assert answer.status_code == 200 and answer.json()["id"] == rid
    assert httpx.get(f"{client.receiver_url}/v1/results/nope", params={"wait": 0.3}).status_code == 404


@pytest.mark.parametrize("kwargs, code", [
    (dict(image=b"not an image", instruction="add glasses", snr_db=6.0), grpc.StatusCode.INVALID_ARGUMENT),
    (dict(image=None, instruction="add glasses", snr_db=6.0), grpc.StatusCode.INVALID_ARGUMENT),
    (dict(image="png", instruction="   ", snr_db=6.0), grpc.StatusCode.INVALID_ARGUMENT),
    (dict(image="png", instruction="add glasses", snr_db=55.0), grpc.StatusCode.INVALID_ARGUMENT),
    (dict(image="png", instruction="add glasses", snr_db=6.0, channel={"model": "rician"}),
     grpc.StatusCode.INVALID_ARGUMENT),
    (dict(image="png", instruction="add glasses", snr_db=6.0, channel={"model": "awgn", "coherence": 4}),
     grpc.StatusCode.INVALID_ARGUMENT),
    (dict(image=None, instruction="a bit more", snr_db=6.0, session_id="never-seen"), grpc.StatusCode.NOT_FOUND),
    (dict(image="png", instruction="add glasses", snr_db=6.0, request_id="bad id/with slash"),
     grpc.StatusCode.INVALID_ARGUMENT),
])
def test_bad_inputs(services, kwargs, code):
    client: EditDSCClient = services["client"]
    kwargs = dict(kwargs)
    if kwargs["image"] == "png":
        kwargs["image"] = png_bytes(4)
    with pytest.raises(ServiceCallError) as err:
        client.submit(kwargs.pop("image"), kwargs.pop("instruction"), kwargs.pop("snr_db"), kwargs.pop("channel", None),
                      stream=False, **kwargs)
    assert err.value.code == code, err.value


def test_full_queue_answers_resource_exhausted(services):
    client: EditDSCClient = services["client"]
    image = png_bytes(5)

    def one(i):
        try:
            client.submit(image, "add bangs", 6.0, inversion_steps=40, stream=False)
            return "OK"
        except ServiceCallError as exc:
            return exc.code.name

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(one, range(8)))
    assert "RESOURCE_EXHAUSTED" in codes and "OK" in codes, codes
    assert set(codes) <= {"OK", "RESOURCE_EXHAUSTED"}, codes


def test_retrying_client_rides_out_a_full_queue(services):
    notes: list[str] = []
    image = png_bytes(5)
    with EditDSCClient(services["client"].transmitter, services["client"].receiver_url, timeout_s=120,
                       retry_for_s=90, on_retry=notes.append) as client:
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda i: client.submit(image, "add bangs", 6.0, inversion_steps=40,
                                                            stream=False), range(8)))
    assert len({a["request_id"] for a in answers}) == 8 and not any(a["replayed"] for a in answers)
    busy = [n for n in notes if n.startswith("transmitter busy (RESOURCE_EXHAUSTED")]
    assert busy and all("; retrying in " in n and "(attempt " in n for n in busy), notes


def test_send_cli_retries_by_itself_and_replays_by_request_id(services, tmp_path, capsys):
    from edsc.cli.main import main

    client: EditDSCClient = services["client"]
    image = tmp_path / "face.png"
    image.write_bytes(png_bytes(8))
    base = ["send", str(image), "add glasses", "--snr", "6", "--transmitter", client.transmitter, "--receiver",
            client.receiver_url, "--request-id", "cli-replay-1", "--json", "--retry-for", "30"]
    assert main(base + ["--out", str(tmp_path / "a.png")]) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(base + ["--out", str(tmp_path / "b.png")]) == 0
    second = json.loads(capsys.readouterr().out)
    assert first["request_id"] == second["request_id"] == "cli-replay-1"
    assert not first["replayed"] and second["replayed"]
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    for flag in (["--retry-for", "-1"], ["--retry-for", "nan"]):
        assert main(base + flag) == 2
        err = capsys.readouterr().err
        assert err.startswith("edsc: error: --retry-for") and err.count("\n") == 1, err


def test_metrics_and_openapi(services):
    url = services["client"].receiver_url
    metrics = httpx.get(f"{url}/metrics").text
    assert "edsc_requests_total" in metrics and "edsc_request_queue_seconds" in metrics
    assert httpx.get(f"{url}/openapi.json").json()["paths"]["/v1/results/{result_id}"]
    assert httpx.get(f"{url}/healthz").status_code == 200 and httpx.get(f"{url}/readyz").status_code == 200


def test_receiver_killed_then_restarted(services):
    launcher: Launcher = services["launcher"]
    client: EditDSCClient = services["client"]
    before = client.submit(png_bytes(6), "remove the beard", 6.0, stream=False)
    launcher.stop("receiver", kill=True)
    with pytest.raises(ServiceCallError) as err:          # retries off: the first UNAVAILABLE is the answer
        client.submit(png_bytes(6), "remove the beard", 6.0, stream=False)
    assert err.value.code == grpc.StatusCode.UNAVAILABLE
    notes: list[str] = []
    with EditDSCClient(client.transmitter, client.receiver_url, timeout_s=60, retry_for_s=120,
                       on_retry=notes.append) as retrying:
        starter = threading.Timer(1.0, launcher.start, args=("receiver",))
        starter.start()
        after = retrying.submit(png_bytes(6), "remove the beard", 6.0, request_id="after-receiver-restart",
                                stream=False)
        starter.join()
        assert notes and notes[0].startswith("transmitter unavailable (UNAVAILABLE") and "(attempt 2, " in notes[0]
        meta = retrying.result(before["request_id"], wait_s=0)
        assert meta["metadata"]["request_id"] == before["request_id"]
        assert Image.open(io.BytesIO(retrying.image(before["request_id"]))).size == (64, 64)
        assert retrying.result(after["request_id"], wait_s=5)["id"] == after["request_id"] == "after-receiver-restart"
        again = retrying.submit(png_bytes(6), "remove the beard", 6.0, request_id="after-receiver-restart",
                                stream=False)
        png = retrying.image(after["request_id"])
        launcher.stop("receiver", kill=True)               # the HTTP fetch rides out a restart as well
        notes.clear()
        starter = threading.Timer(1.0, launcher.start, args=("receiver",))
        starter.start()
        assert retrying.image(after["request_id"], wait_s=0) == png
        starter.join()
        assert notes and notes[0].startswith("receiver unavailable (ConnectError"), notes
    assert again["replayed"] and {**again, "replayed": False} == {**after, "replayed": False}
