"""The trust boundary with the services as real processes on loopback: tokens, TLS with mutual TLS between the
services, ownership of results and sessions, internal RPCs, safe defaults, token reload, offline API docs."""

from __future__ import annotations

import datetime as dt
import json
import io
import os
import signal
import ssl
import subprocess
import sys
import time

import grpc
import httpx
import numpy as np
import pytest
from PIL import Image

from edsc.launcher import Launcher, Ports, free_ports
from edsc.random_bundle import make_random_bundle
from shared.config import REPO_ROOT
from shared.rpc.editdsc.v1 import (channel_pb2, channel_pb2_grpc, common_pb2, receiver_pb2, receiver_pb2_grpc,
                                   transmitter_pb2, transmitter_pb2_grpc)
from shared.rpc.healthcheck import health_status
from shared.tls import client_credentials, ensure_local_ca, make_ca, make_leaf

TOKENS = {"alice": "alice-token-0123456789abcdef", "bob": "bob-token-0123456789abcdef",
          "root": "root-token-0123456789abcdef", "carol": "carol-token-0123456789abcdef"}
SERVICE_TOKEN = "service-token-0123456789abcdef"


def png_bytes(seed: int = 0) -> bytes:
    buf = io.BytesIO()
    Image.fromarray((np.random.default_rng(seed).random((64, 64, 3)) * 255).astype(np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def write_tokens(path, names):
    lines = ["# principal token [role]"]
    for n in names:
        lines.append(f"{n} {TOKENS[n]}" + (" admin" if n == "root" else ""))
    path.write_text("\n".join(lines) + "\n")


def start(root, bundle, tls: bool):
    tokens = root / "tokens.txt"
    write_tokens(tokens, ["alice", "bob", "root"])
    env = {"EDSC_DEVICE": "cpu", "EDSC_TRANSMITTER_INVERSION_STEPS": "2", "EDSC_TRANSMITTER_EDIT_STEPS": "2",
           "EDSC_TRANSMITTER_TORCH_THREADS": "1", "EDSC_AUTH_TOKENS_FILE": str(tokens)}
    certs = None
    if tls:
        certs = ensure_local_ca(root / "tls")
        for svc in ("transmitter", "channel", "receiver"):
            p = f"EDSC_{svc.upper()}_"
            env.update({p + "TLS_CERT": str(certs[f"{svc}_cert"]), p + "TLS_KEY": str(certs[f"{svc}_key"]),
                        p + "TLS_CA": str(certs["ca"])})
    else:
        env["EDSC_SERVICE_TOKEN"] = SERVICE_TOKEN
    tx, ch, rx, http = free_ports(4)
    launcher = Launcher(ports=Ports(tx, ch, rx, http, 0, 0), bundle=bundle, store_dir=root / "store",
                        log_dir=root / "logs", env=env)
    launcher.start_all()
    scheme = "https" if tls else "http"
    deadline = time.monotonic() + 180
    svc_creds = (lambda: grpc.ssl_channel_credentials(certs["ca"].read_bytes(), certs["transmitter_key"].read_bytes(),
                                                      certs["transmitter_cert"].read_bytes())) if tls else (lambda: None)
    while True:
        states = [health_status(launcher.addresses[n], timeout=1, credentials=svc_creds()) for n in
                  ("transmitter", "channel", "receiver")]
        try:
            ready = httpx.get(f"{scheme}://127.0.0.1:{http}/readyz", timeout=1,
                              verify=ssl.create_default_context(cafile=str(certs["ca"])) if tls else True
                              ).status_code == 200
        except httpx.HTTPError:
            ready = False
        if all(s == "SERVING" for s in states) and ready:
            break
        assert launcher.dead() is None, f"{launcher.dead()} exited: {(root / 'logs').iterdir()}"
        assert time.monotonic() < deadline, states
        time.sleep(0.2)
    return launcher, tokens, certs, f"{scheme}://127.0.0.1:{http}"


@pytest.fixture(scope="module")
def secure(tmp_path_factory):
    root = tmp_path_factory.mktemp("secure")
    bundle = make_random_bundle(root / "bundle", size=64)
    launcher, tokens, certs, url = start(root, bundle, tls=True)
    channel = grpc.secure_channel(launcher.addresses["transmitter"], client_credentials(certs["ca"]))
    yield {"launcher": launcher, "tokens": tokens, "certs": certs, "url": url, "root": root, "bundle": bundle,
           "tx": transmitter_pb2_grpc.TransmitterServiceStub(channel),
           "verify": ssl.create_default_context(cafile=str(certs["ca"]))}
    channel.close()
    launcher.stop_all()


def auth(name):
    return (("authorization", f"Bearer {TOKENS[name]}"),)


def submit(s, who, rid, image=True, session="", instruction="make the bangs longer"):
    return s["tx"].Submit(transmitter_pb2.SubmitRequest(
        image=png_bytes() if image else b"", instruction=instruction, request_id=rid, session_id=session,
        channel=common_pb2.ChannelParams(model=common_pb2.CHANNEL_MODEL_AWGN, snr_db=6.0)),
        timeout=60, metadata=auth(who) if who else None)


def get(s, path, who=None, headers=None):
    headers = headers or ({"Authorization": f"Bearer {TOKENS[who]}"} if who else {})
    return httpx.get(s["url"] + path, headers=headers, verify=s["verify"], timeout=20)


def test_tokens_are_required(secure):
    for meta in (None, (("authorization", "Bearer not-a-token-at-all-xxxx"),), (("authorization", "Basic eA=="),)):
        with pytest.raises(grpc.RpcError) as err:
            secure["tx"].Submit(transmitter_pb2.SubmitRequest(instruction="x"), timeout=10, metadata=meta)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "not-a-token" not in err.value.details()
    for path in ("/v1/results", "/v1/results/x", "/v1/results/x/image.png", "/metrics", "/openapi.json", "/docs"):
        r = get(secure, path)
        assert r.status_code == 401 and "detail" in r.json(), path
        assert get(secure, path, headers={"Authorization": "Bearer wrong-token-xxxxxxxxxx"}).status_code == 401
    assert get(secure, "/healthz").status_code == 200 and get(secure, "/readyz").status_code == 200


def test_ownership(secure):
    a = submit(secure, "alice", "own-1")
    png = get(secure, "/v1/results/own-1/image.png", "alice").content
    assert get(secure, "/v1/results/own-1", "alice").json()["metadata"]["principal"] == "alice"
    # bob: existence not revealed, not listed, no follow-up, and his own id namespace
    assert get(secure, "/v1/results/own-1", "bob").status_code == 404
    assert get(secure, "/v1/results/own-1/image.png", "bob").status_code == 404
    assert "own-1" not in [i["id"] for i in get(secure, "/v1/results", "bob").json()["items"]]
    with pytest.raises(grpc.RpcError) as err:
        submit(secure, "bob", "own-2", image=False, session=a.session_id, instruction="a bit more")
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    b = submit(secure, "bob", "own-1", instruction="add glasses")              # the same id, his namespace
    assert not b.replayed and b.session_id != a.session_id
    assert get(secure, "/v1/results/own-1/image.png", "alice").content == png   # alice's result untouched
    assert get(secure, "/v1/results/own-1", "alice").json()["metadata"]["instruction"] == "make the bangs longer"
    # the session goes on for its owner
    assert submit(secure, "alice", "own-3", image=False, session=a.session_id, instruction="a bit more"
                  ).session_turn == 2
    # an administrator sees both principals' results
    owners = {i["metadata"]["principal"] for i in get(secure, "/v1/results", "root").json()["items"]}
    assert {"alice", "bob"} <= owners


def test_internal_rpcs_need_a_service_certificate(secure):
    certs, addrs = secure["certs"], secure["launcher"].addresses
    req = receiver_pb2.DeliverRequest(request_id="x")
    # a client (CA only, no certificate) cannot even complete the handshake with the internal ports
    for name in ("channel", "receiver"):
        with grpc.secure_channel(addrs[name], client_credentials(certs["ca"])) as ch:
            stub = receiver_pb2_grpc.ReceiverServiceStub(ch)
            with pytest.raises(grpc.RpcError) as err:
                stub.Deliver(req, timeout=5, metadata=auth("alice"))
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    # a certificate from another CA, and an expired one from the right CA, are refused too
    other = secure["root"] / "other-ca"
    other_ca, other_key = make_ca(other, "someone else")
    stranger, stranger_key = make_leaf(other, "transmitter", other_ca, other_key)
    expired, expired_key = make_leaf(secure["root"] / "tls", "expired", certs["ca"], secure["root"] / "tls" / "ca.key",
                                     days=1, not_before=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=10))
    for cert, key in ((stranger, stranger_key), (expired, expired_key)):
        creds = grpc.ssl_channel_credentials(certs["ca"].read_bytes(), key.read_bytes(), cert.read_bytes())
        with grpc.secure_channel(addrs["receiver"], creds) as ch:
            with pytest.raises(grpc.RpcError) as err:
                receiver_pb2_grpc.ReceiverServiceStub(ch).Deliver(req, timeout=5)
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    # the services' own certificate gets through authentication (the request itself is then judged)
    creds = grpc.ssl_channel_credentials(certs["ca"].read_bytes(), certs["transmitter_key"].read_bytes(),
                                         certs["transmitter_cert"].read_bytes())
    with grpc.secure_channel(addrs["channel"], creds) as ch:
        with pytest.raises(grpc.RpcError) as err:
            channel_pb2_grpc.ChannelServiceStub(ch).ValidateChannel(channel_pb2.ValidateChannelRequest(), timeout=5)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_plain_text_against_tls_fails(secure):
    addrs = secure["launcher"].addresses
    with grpc.insecure_channel(addrs["transmitter"]) as ch:
        with pytest.raises(grpc.RpcError) as err:
            transmitter_pb2_grpc.TransmitterServiceStub(ch).Submit(transmitter_pb2.SubmitRequest(), timeout=5,
                                                                   metadata=auth("alice"))
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    with pytest.raises(httpx.HTTPError):
        httpx.get(secure["url"].replace("https", "http") + "/healthz", timeout=5)
    with pytest.raises(httpx.HTTPError):            # and the server's certificate is checked
        httpx.get(secure["url"] + "/healthz", timeout=5, verify=True)


def test_reflection_off_and_offline_docs(secure):
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    with grpc.secure_channel(secure["launcher"].addresses["transmitter"], client_credentials(secure["certs"]["ca"])) as ch:
        stub = reflection_pb2_grpc.ServerReflectionStub(ch)
        with pytest.raises(grpc.RpcError) as err:
            list(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
                                           timeout=5))
        assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
    page = get(secure, "/docs", "alice")
    assert page.status_code == 200 and "/v1/results/{result_id}" in page.text
    assert "<script" not in page.text and "cdn" not in page.text.lower() and "http://" not in page.text


def test_token_file_reload(secure):
    with pytest.raises(grpc.RpcError):
        submit(secure, "carol", "carol-1")
    write_tokens(secure["tokens"], ["alice", "root", "carol"])          # carol in, bob out
    for name in ("transmitter", "receiver"):
        secure["launcher"].procs[name].send_signal(signal.SIGHUP)
    time.sleep(1.0)
    assert submit(secure, "carol", "carol-1").request_id == "carol-1"
    assert get(secure, "/v1/results/carol-1", "carol").status_code == 200
    with pytest.raises(grpc.RpcError) as err:
        submit(secure, "bob", "bob-late")
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert get(secure, "/v1/results", "bob").status_code == 401
    secure["tokens"].write_text("this line is not a token entry\n")     # a broken file keeps the table
    secure["launcher"].procs["transmitter"].send_signal(signal.SIGHUP)
    time.sleep(0.5)
    assert submit(secure, "carol", "carol-2").request_id == "carol-2"


def test_service_token_without_tls(tmp_path_factory, secure):
    root = tmp_path_factory.mktemp("plain-auth")
    launcher, _, _, url = start(root, secure["bundle"], tls=False)
    try:
        req = receiver_pb2.DeliverRequest(request_id="x")
        with grpc.insecure_channel(launcher.addresses["receiver"]) as ch:
            stub = receiver_pb2_grpc.ReceiverServiceStub(ch)
            with pytest.raises(grpc.RpcError) as err:
                stub.Deliver(req, timeout=5, metadata=auth("alice"))            # a client token: refused
            assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
            with pytest.raises(grpc.RpcError) as err:
                stub.Deliver(req, timeout=5)
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
            with pytest.raises(grpc.RpcError) as err:                          # the service credential passes
                stub.Deliver(req, timeout=5, metadata=(("authorization", f"Bearer {SERVICE_TOKEN}"),))
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with grpc.insecure_channel(launcher.addresses["transmitter"]) as ch:
            out = transmitter_pb2_grpc.TransmitterServiceStub(ch).Submit(transmitter_pb2.SubmitRequest(
                image=png_bytes(), instruction="add glasses", request_id="plain-1",
                channel=common_pb2.ChannelParams(model=common_pb2.CHANNEL_MODEL_AWGN, snr_db=6.0)),
                timeout=60, metadata=auth("alice"))
        assert out.request_id == "plain-1"
        assert httpx.get(f"{url}/v1/results/plain-1", timeout=10,
                         headers={"Authorization": f"Bearer {TOKENS['alice']}"}).status_code == 200
    finally:
        launcher.stop_all()


@pytest.mark.parametrize("env,allowed", [({}, False), ({"EDSC_ALLOW_INSECURE": "1"}, True)])
def test_non_loopback_needs_auth_and_tls(env, allowed, tmp_path):
    run_env = {**os.environ, "EDSC_TRANSMITTER_HOST": "0.0.0.0", "EDSC_TRANSMITTER_PORT": str(free_ports(1)[0]),
               "EDSC_TRANSMITTER_METRICS_PORT": "0", "EDSC_TRANSMITTER_DATA_DIR": str(tmp_path),
               "EDSC_BUNDLE": str(tmp_path / "no-bundle"), **env}
    if not allowed:
        r = subprocess.run([sys.executable, "-m", "transmitter.server"], env=run_env, cwd=REPO_ROOT,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 1 and "refusing to listen on 0.0.0.0" in r.stderr
        return
    from shared.rpc.serving import Security
    from transmitter.settings import TransmitterServiceSettings

    os.environ.update(env)
    try:
        Security(TransmitterServiceSettings()).check_bind("0.0.0.0")          # allowed, with a warning
    finally:
        for k in env:
            os.environ.pop(k)


def test_edsc_up_tls_dir_and_send_with_token(tmp_path, secure):
    tokens = tmp_path / "tokens.txt"
    write_tokens(tokens, ["alice"])
    tx, ch, rx, http = free_ports(4)
    tls = tmp_path / "tls"
    env = {**os.environ, "EDSC_DEVICE": "cpu", "EDSC_TRANSMITTER_INVERSION_STEPS": "2",
           "EDSC_TRANSMITTER_EDIT_STEPS": "2", "EDSC_TRANSMITTER_TORCH_THREADS": "1"}
    env.pop("EDSC_AUTH_TOKENS_FILE", None)
    up = subprocess.Popen([sys.executable, "-m", "edsc.cli.main", "up", "--bundle", str(secure["bundle"]),
                           "--transmitter-port", str(tx), "--channel-port", str(ch), "--receiver-port", str(rx),
                           "--http-port", str(http), "--transmitter-metrics-port", "0", "--channel-metrics-port", "0",
                           "--store", str(tmp_path / "store"), "--logs", str(tmp_path / "logs"),
                           "--tls-dir", str(tls), "--tokens", str(tokens)],
                          cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            line = up.stdout.readline()
            lines.append(line)
            if "all services healthy" in line or up.poll() is not None:
                break
        assert "all services healthy" in lines[-1], lines
        assert (tls / "ca.pem").is_file() and any("--ca" in l and "--token TOKEN" in l for l in lines), lines
        img = tmp_path / "face.png"
        img.write_bytes(png_bytes(3))
        send = [sys.executable, "-m", "edsc.cli.main", "send", str(img), "add glasses", "--transmitter",
                f"127.0.0.1:{tx}", "--receiver", f"https://127.0.0.1:{http}", "--ca", str(tls / "ca.pem"),
                "--request-id", "cli-1", "--json", "--out", str(tmp_path / "out.png")]
        r = subprocess.run(send + ["--token", TOKENS["alice"]], cwd=REPO_ROOT, capture_output=True, text=True,
                           timeout=180, env=env)
        assert r.returncode == 0, r.stderr[-2000:]
        summary = json.loads(r.stdout)
        assert summary["request_id"] == "cli-1" and summary["session_id"] and summary["served_by"]
        r = subprocess.run(send + ["--retry-for", "0"], cwd=REPO_ROOT, capture_output=True, text=True,
                           timeout=120, env={**env, "EDSC_TOKEN": "wrong-token-0123456789"})
        assert r.returncode == 2 and "UNAUTHENTICATED" in r.stderr and "Traceback" not in r.stderr
        write_tokens(tokens, ["alice", "carol"])
        up.send_signal(signal.SIGHUP)                         # edsc up passes it on: carol gets in
        time.sleep(1.5)
        r = subprocess.run(send[:-5] + ["--request-id", "cli-2", "--json", "--out", str(tmp_path / "o2.png"),
                                        "--token", TOKENS["carol"]], cwd=REPO_ROOT, capture_output=True,
                           text=True, timeout=180, env=env)
        assert r.returncode == 0, r.stderr[-2000:]
    finally:
        up.send_signal(signal.SIGTERM)
        up.wait(60)
