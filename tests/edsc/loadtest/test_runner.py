"""edsc.loadtest.runner, the load-generator process, run as ``python -m edsc.loadtest.runner PLAN.json`` against
fake transmitter replicas (gRPC) and a fake receiver (HTTP) in this process: stages, the schedule it sends, the rows
and stages.json it writes, retries, duration bounds, SIGTERM, bearer tokens, TLS and ``served_by``; and ``edsc
loadtest`` itself against the same fakes (pre-flight token check, no token in any written file, per-replica counts).
(The runner is gevent-patched, so it is never imported here.)"""

from __future__ import annotations

import csv
import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health, health_pb2_grpc

from edsc.loadtest.plan import Plan, Schedule, Stage, Template, distinct_image, encode_request
from shared.config import REPO_ROOT
from shared.rpc.editdsc.v1 import common_pb2, transmitter_pb2, transmitter_pb2_grpc
from shared.rpc.status import REQUEST_ID_KEY


TOKEN = "lt-secret-Zq8v3K1mW0pX7rT2"


class FakeTransmitter:
    """What the replicas share: the calls seen, failures to inject, the token they require (None: no auth)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.seen: list[dict] = []
        self.fail_first: set[str] = set()        # ids whose first attempt answers UNAVAILABLE
        self.delay_s = 0.0
        self.token = None
        self.addresses: list[str] = []           # HOST:PORT of each replica

    def submit(self, request, context, served_by: str):
        meta = dict(context.invocation_metadata())
        if self.token is not None and meta.get("authorization") != f"Bearer {self.token}":
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "the token is not valid")
        if not request.instruction:              # the pre-flight probe of an authenticated caller
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the request has no channel parameters")
        rid = request.request_id
        with self.lock:
            first = not any(s["id"] == rid for s in self.seen)
            self.seen.append({"id": rid, "meta": meta.get(REQUEST_ID_KEY), "auth": meta.get("authorization"),
                              "snr_db": request.channel.snr_db, "seed": request.seed,
                              "instruction": request.instruction, "served_by": served_by,
                              "image": request.image})
        if first and rid in self.fail_first:
            context.abort(grpc.StatusCode.UNAVAILABLE, "restarting")
        time.sleep(self.delay_s)
        return transmitter_pb2.SubmitResponse(
            request_id=rid, outcome=common_pb2.EditOutcome(status="reached", attribute="eyeglasses", iterations=2),
            batch_size=1, k=512, channel_uses=256, timings={"total_s": 0.01}, served_by=served_by)


class Replica(transmitter_pb2_grpc.TransmitterServiceServicer):
    def __init__(self, state: FakeTransmitter):
        self.state, self.served_by = state, ""

    def Submit(self, request, context):
        return self.state.submit(request, context, self.served_by)


class FakeReceiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        self.busy_first: set[str] = set()        # ids whose first fetch answers 503
        self.fetches: list[str] = []
        self.auth: list = []                     # the Authorization header of every image fetch
        self.token = None
        super().__init__(("127.0.0.1", 0), ReceiverHandler)


class ReceiverHandler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        if self.path == "/readyz":
            return self.answer(200, b"{}")
        if self.server.token is not None and self.headers.get("Authorization") != f"Bearer {self.server.token}":
            return self.answer(401, b'{"detail": "the token is not valid"}')
        if not self.path.startswith("/v1/results/"):             # the listing (pre-flight)
            return self.answer(200, b'{"results": []}')
        rid = self.path.split("/")[3]
        first = rid not in self.server.fetches
        self.server.fetches.append(rid)
        self.server.auth.append(self.headers.get("Authorization"))
        status, body = (503, b"loading") if first and rid in self.server.busy_first else (200, f"PNG-{rid}".encode())
        self.answer(status, body)

    def answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def start_fakes(tls=None):
    """Two transmitter replicas (with grpc.health.v1) and a receiver; ``tls``: the (CA, cert, key) to serve with."""
    tx = FakeTransmitter()
    servers = []
    for _ in range(2):
        replica = Replica(tx)
        server = grpc.server(futures.ThreadPoolExecutor(16))
        transmitter_pb2_grpc.add_TransmitterServiceServicer_to_server(replica, server)
        health_pb2_grpc.add_HealthServicer_to_server(health.HealthServicer(), server)
        if tls:
            creds = grpc.ssl_server_credentials([(tls[2].read_bytes(), tls[1].read_bytes())])
            port = server.add_secure_port("127.0.0.1:0", creds)
        else:
            port = server.add_insecure_port("127.0.0.1:0")
        replica.served_by = f"127.0.0.1:{port}"
        tx.addresses.append(replica.served_by)
        server.start()
        servers.append(server)
    rx = FakeReceiver()
    scheme = "http"
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(tls[1], tls[2])
        rx.socket = ctx.wrap_socket(rx.socket, server_side=True)
        scheme = "https"
    threading.Thread(target=rx.serve_forever, daemon=True).start()

    def stop():
        rx.shutdown()
        for server in servers:
            server.stop(0)
    return tx, rx, tx.addresses[0], f"{scheme}://127.0.0.1:{rx.server_address[1]}", stop


@pytest.fixture
def fakes():
    *out, stop = start_fakes()
    yield tuple(out)
    stop()


TINY_PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde"
            b"\x00\x00\x00\x0cIDATx\x9cc\xf8\xcf\xc0\x00\x00\x03\x01\x01\x00\xc9\xfe\x92\xef"
            b"\x00\x00\x00\x00IEND\xaeB`\x82")


def make_plan(tmp_path: Path, transmitter: str, receiver: str, stages: list[Stage], **kw) -> Path:
    req = transmitter_pb2.SubmitRequest(image=TINY_PNG, instruction="add glasses", inversion_steps=3, edit_steps=3,
                                        channel=common_pb2.ChannelParams(model=common_pb2.CHANNEL_MODEL_AWGN))
    templates = [Template(image="a", instruction="add glasses", request_b64=encode_request(req)),
                 Template(image="b", instruction="add glasses", request_b64=encode_request(req))]
    raw = tmp_path / "raw"
    raw.mkdir(parents=True)
    plan = Plan(transmitter=transmitter, receiver=receiver, run_id="ltrun", snrs=[-6.0, 6.0, 18.0], snr_mode="sweep",
                channel="awgn", stages=stages, templates=templates, raw_path=str(raw / "requests.jsonl"),
                images_dir=str(tmp_path / "images"), seed=11, timeout_s=10.0, fetch_wait_s=2.0,
                **{"requests": 6, **kw})
    return plan.save(raw / "plan.json")


def runner(plan_path: Path, token: str = "") -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    env.pop("EDSC_TOKEN", None)
    if token:
        env["EDSC_TOKEN"] = token
    return subprocess.Popen([sys.executable, "-m", "edsc.loadtest.runner", str(plan_path)], env=env, cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, timeout_s: float = 120) -> tuple[int, str]:
    _, err = proc.communicate(timeout=timeout_s)
    return proc.returncode, err


def rows_of(plan_path: Path) -> list[dict]:
    return [json.loads(x) for x in (plan_path.parent / "requests.jsonl").read_text().splitlines()]


def test_closed_and_open_stages_send_the_schedule_and_record_every_request(fakes, tmp_path):
    tx, rx, t_addr, r_url = fakes
    plan_path = make_plan(tmp_path, t_addr, r_url, [Stage(0, concurrency=2), Stage(1, rate=40.0, arrivals="constant")])
    tx.fail_first = {"ltrun-s0-00001", "ltrun-s1-00004"}
    rx.busy_first = {"ltrun-s0-00002"}
    code, err = finish(runner(plan_path))
    assert code == 0, err
    rows = rows_of(plan_path)
    plan = Plan.load(plan_path)
    expected = [Schedule(plan, s).spec(t) for s in (0, 1) for t in range(6)]
    assert sorted(r["request_id"] for r in rows) == [e.request_id for e in expected]
    by_id = {r["request_id"]: r for r in rows}
    for spec in expected:                  # what went out is what the schedule says, and so is the row
        row = by_id[spec.request_id]
        sent = [s for s in tx.seen if s["id"] == spec.request_id]
        assert sent and all(s["meta"] == spec.request_id and s["snr_db"] == spec.snr_db and s["seed"] == spec.seed
                            for s in sent)
        # every request's image carries its id (same pixels, new bytes: no inversion-cache hits in a load test)
        assert all(s["image"] == distinct_image(TINY_PNG, spec.request_id) for s in sent)
        assert row["snr_db"] == spec.snr_db and row["stage"] == spec.stage and row["ticket"] == spec.ticket
        assert row["status"] == "OK" and row["http_status"] == 200 and row["jecc_status"] == "reached"
        assert row["mode"] == ("closed" if spec.stage == 0 else "open") and row["e2e_s"] > 0
        assert Path(row["image_path"]).read_bytes() == f"PNG-{spec.request_id}".encode()
        retried = spec.request_id in tx.fail_first
        assert row["attempts"] == (2 if retried else 1) and len(sent) == row["attempts"]
        assert row["fetch_attempts"] == (2 if spec.request_id in rx.busy_first else 1)
    assert "edsc loadtest: ltrun-s0-00001: transmitter unavailable (UNAVAILABLE: restarting); retrying in" in err
    assert "edsc loadtest: ltrun-s0-00002: receiver busy (HTTP 503); retrying in" in err
    stages = json.loads((plan_path.parent / "stages.json").read_text())
    assert [(s["index"], s["mode"], s["issued"], s["completed"], s["stop_reason"]) for s in stages] == \
        [(0, "closed", 6, 6, "requests"), (1, "open", 6, 6, "requests")]
    assert stages[1]["rate"] == 40.0 and stages[1]["arrivals"] == "constant" and stages[0]["concurrency"] == 2
    assert stages[0]["locust"]["grpc /editdsc.v1.TransmitterService/Submit"]["requests"] == 7
    assert "stage 1/2: concurrency 2" in err and "stage 2/2: rate 40/s (constant)" in err


def test_without_retries_a_failure_is_a_row_and_duration_ends_the_stage(fakes, tmp_path):
    tx, rx, t_addr, r_url = fakes
    tx.delay_s = 0.2
    tx.fail_first = {"ltrun-s0-00000"}
    plan_path = make_plan(tmp_path, t_addr, r_url, [Stage(0, concurrency=1)], requests=None, duration_s=1.5,
                          retry_for_s=0.0)
    code, err = finish(runner(plan_path))
    assert code == 0, err
    rows = rows_of(plan_path)
    stage = json.loads((plan_path.parent / "stages.json").read_text())[0]
    assert stage["stop_reason"] == "duration" and stage["issued"] == stage["completed"] == len(rows) >= 2
    first = next(r for r in rows if r["ticket"] == 0)
    assert first["status"] == "UNAVAILABLE" and first["error"] == "restarting" and first["attempts"] == 1
    assert first["http_status"] is None and "retrying" not in err
    assert all(r["status"] == "OK" for r in rows if r["ticket"] > 0)


def test_sigterm_stops_gracefully_and_keeps_what_was_recorded(fakes, tmp_path):
    tx, rx, t_addr, r_url = fakes
    tx.delay_s = 0.3
    plan_path = make_plan(tmp_path, t_addr, r_url, [Stage(0, concurrency=2), Stage(1, concurrency=1)],
                          requests=1000)
    proc = runner(plan_path)
    raw = plan_path.parent / "requests.jsonl"
    deadline = time.monotonic() + 60
    while (not raw.is_file() or not raw.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    code, err = finish(proc, 60)
    assert code == 130, err
    stages = json.loads((plan_path.parent / "stages.json").read_text())
    assert len(stages) == 1 and stages[0]["stop_reason"] == "interrupted"
    assert stages[0]["completed"] == stages[0]["issued"] == len(rows_of(plan_path)) < 1000


def test_usage_error_without_a_plan():
    proc = subprocess.run([sys.executable, "-m", "edsc.loadtest.runner"],
                          env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)), cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.strip() == "usage: python -m edsc.loadtest.runner PLAN.json"


# ============================================================================================ auth, TLS, replicas

@pytest.fixture
def tls_fakes(tmp_path_factory):
    from shared.tls import make_ca, make_leaf

    d = tmp_path_factory.mktemp("tls")
    ca, ca_key = make_ca(d)
    cert, key = make_leaf(d, "transmitter", ca, ca_key)
    *out, stop = start_fakes((ca, cert, key))
    yield (*out, ca)
    stop()


def files_under(*roots: Path) -> list[Path]:
    return [f for root in roots for f in Path(root).rglob("*") if f.is_file()]


def test_token_tls_and_replicas(tls_fakes, tmp_path):
    tx, rx, _, r_url, ca = tls_fakes
    tx.token = rx.token = TOKEN
    plan_path = make_plan(tmp_path, ",".join(tx.addresses), r_url,
                          [Stage(0, concurrency=2), Stage(1, rate=40.0, arrivals="constant")], tls_ca=str(ca),
                          requests=8)
    code, err = finish(runner(plan_path, TOKEN))
    assert code == 0, err
    rows = rows_of(plan_path)
    assert len(rows) == 16 and {(r["status"], r["http_status"]) for r in rows} == {("OK", 200)}
    served = {s["id"]: s["served_by"] for s in tx.seen}
    assert all(r["served_by"] == served[r["request_id"]] for r in rows)
    assert {r["served_by"] for r in rows} == set(tx.addresses)           # round robin over both replicas
    assert {s["auth"] for s in tx.seen} == {f"Bearer {TOKEN}"} and set(rx.auth) == {f"Bearer {TOKEN}"}
    assert TOKEN not in err and "token" not in json.loads(plan_path.read_text())
    assert all(TOKEN.encode() not in f.read_bytes() for f in files_under(tmp_path))


def test_a_refused_token_is_an_error_with_its_code_and_not_retried(fakes, tmp_path):
    tx, rx, t_addr, r_url = fakes
    tx.token = TOKEN
    plan_path = make_plan(tmp_path / "grpc", t_addr, r_url, [Stage(0, concurrency=1)], requests=3)
    code, err = finish(runner(plan_path, "wrong-token-0123456789"))
    assert code == 0, err
    rows = rows_of(plan_path)
    assert len(rows) == 3 and "retrying" not in err and not rx.fetches
    assert all(r["status"] == "UNAUTHENTICATED" and r["attempts"] == 1 and r["fetch_attempts"] == 0 for r in rows)
    tx.token, rx.token = None, TOKEN                   # the receiver refuses it, the transmitter has no auth
    plan_path = make_plan(tmp_path / "http", t_addr, r_url, [Stage(0, concurrency=1)], requests=3)
    code, err = finish(runner(plan_path, "wrong-token-0123456789"))
    assert code == 0, err
    rows = rows_of(plan_path)
    assert all(r["status"] == "OK" and r["http_status"] == 401 and r["fetch_attempts"] == 1 for r in rows)
    assert "retrying" not in err and not rx.fetches


# ------------------------------------------------------------------------------ `edsc loadtest` against the fakes

def png_file(tmp_path: Path) -> Path:
    from PIL import Image

    path = tmp_path / "face.png"
    Image.new("RGB", (32, 32), (120, 80, 60)).save(path)
    return path


def loadtest(tmp_path: Path, transmitter: str, receiver: str, *flags: str) -> int:
    from edsc.cli.main import main

    return main(["loadtest", "--transmitter", transmitter, "--receiver", receiver, "--no-lpips",
                 "--image", str(png_file(tmp_path)), "--instruction", "add glasses", "--snr=-6,6",
                 "--out", str(tmp_path / "out"), *flags])


@pytest.fixture
def no_env(monkeypatch):
    monkeypatch.delenv("EDSC_TOKEN", raising=False)
    monkeypatch.delenv("EDSC_TLS_CA", raising=False)
    return monkeypatch


def test_cli_token_from_env_and_replicas(fakes, tmp_path, no_env, capfd):
    tx, rx, _, r_url = fakes
    tx.token = rx.token = TOKEN
    no_env.setenv("EDSC_TOKEN", TOKEN)
    code = loadtest(tmp_path, ",".join(tx.addresses), r_url, "--requests", "6", "--concurrency", "2")
    out, err = capfd.readouterr()
    assert code == 0, err
    outdir = tmp_path / "out"
    with open(outdir / "requests.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6 and {r["outcome"] for r in rows} == {"OK"}
    assert {r["served_by"] for r in rows} <= set(tx.addresses)
    summary = json.loads((outdir / "summary.json").read_text())
    per = summary["per_replica"]
    assert set(per) <= set(tx.addresses) and sum(g["count"] for g in per.values()) == 6
    assert all(per[a]["count"] == sum(r["served_by"] == a for r in rows) for a in per)
    assert summary["settings"]["auth"] == "bearer token" and summary["settings"]["replicas"] == tx.addresses
    assert "## Per transmitter replica" in (outdir / "report.md").read_text()
    assert "replica   127.0.0.1:" in out
    assert TOKEN not in out + err
    assert all(TOKEN.encode() not in f.read_bytes() for f in files_under(outdir))


def test_cli_refused_or_missing_token_stops_before_the_load(fakes, tmp_path, no_env, capfd):
    tx, rx, t_addr, r_url = fakes
    tx.token = TOKEN
    wrong = "wrong-token-0123456789"
    assert loadtest(tmp_path, t_addr, r_url, "--token", wrong) == 2
    err = capfd.readouterr().err
    assert err.startswith(f"edsc: error: the transmitter at {t_addr} refused the token (UNAUTHENTICATED: "), err
    assert wrong not in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert loadtest(tmp_path, t_addr, r_url) == 2
    err = capfd.readouterr().err
    assert err.startswith(f"edsc: error: the transmitter at {t_addr} needs a bearer token (UNAUTHENTICATED"), err
    assert "--token TOKEN or set EDSC_TOKEN" in err
    tx.token, rx.token = None, TOKEN
    assert loadtest(tmp_path, t_addr, r_url, "--token", wrong) == 2
    err = capfd.readouterr().err
    assert err.startswith(f"edsc: error: the receiver at {r_url} refused the token (HTTP 401: the token is not "
                          "valid)"), err
    assert not (tmp_path / "out" / "requests.csv").exists() and tx.seen == [] and rx.fetches == []


def test_cli_over_tls(tls_fakes, tmp_path, no_env, capfd):
    tx, rx, t_addr, r_url, ca = tls_fakes
    tx.token = rx.token = TOKEN
    assert r_url.startswith("https://")
    assert loadtest(tmp_path, t_addr, r_url, "--token", TOKEN) == 2          # no CA: the TLS port is not reachable
    err = capfd.readouterr().err
    assert "is not reachable" in err and "give --ca" in err, err
    no_env.setenv("EDSC_TLS_CA", str(ca))                                   # the default of --ca
    code = loadtest(tmp_path, t_addr, r_url, "--token", TOKEN, "--requests", "2")
    out, err = capfd.readouterr()
    assert code == 0, err
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["overall"]["ok"] == 2 and summary["settings"]["tls_ca"] == str(Path(ca).resolve())
    assert "per_replica" not in summary and TOKEN not in out + err
