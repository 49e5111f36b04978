"""edsc.client's retries: back-off inside a window, the same request id on every attempt, which codes are retried,
a SubmitStream that breaks off, HTTP fetches (connection errors, 503), and the window's configuration. Against an
in-process fake transmitter (gRPC on loopback) and a mock HTTP transport."""

from __future__ import annotations

import random
import re
import threading
from concurrent import futures

import grpc
import httpx
import pytest

from edsc.client import Backoff, EditDSCClient, ServiceCallError, check_retry_for, retry_for_from_env
from shared.errors import EditDSCError, InvalidArgumentError
from shared.rpc.editdsc.v1 import transmitter_pb2, transmitter_pb2_grpc
from shared.rpc.status import REQUEST_ID_KEY


# ------------------------------------------------------------------------------------------ Backoff

class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_backoff_grows_with_jitter_and_stops_at_the_window():
    clock = Clock()
    b = Backoff(20.0, initial_s=0.5, max_s=4.0, rng=random.Random(3), clock=clock)
    caps = [0.5, 1.0, 2.0, 4.0, 4.0]
    for cap in caps:
        d = b.next_delay()
        assert cap / 2 <= d <= cap
        clock.t += d
    assert b.attempt == 6
    clock.t = 100.0 + 19.9
    assert b.next_delay() == pytest.approx(0.1)          # never past the window's end
    clock.t = 100.0 + 20.0
    assert b.next_delay() is None
    assert Backoff(0.0, clock=clock).next_delay() is None


def test_backoff_message_names_the_next_attempt_and_the_time_left():
    clock = Clock()
    b = Backoff(60.0, rng=random.Random(0), clock=clock)
    clock.t += 0.7
    d = b.next_delay()
    msg = b.retry_message("transmitter unavailable (UNAVAILABLE: down)", d)
    assert msg == f"transmitter unavailable (UNAVAILABLE: down); retrying in {d:.1f} s (attempt 2, " \
                  f"{60 - 0.7 - d:.0f} s left)"


def test_retry_window_checks_and_environment(monkeypatch):
    assert check_retry_for("0") == 0.0 and check_retry_for(12.5) == 12.5
    for bad in ("-1", "nan", "inf", "soon"):
        with pytest.raises(InvalidArgumentError, match="--retry-for"):
            check_retry_for(bad)
    monkeypatch.delenv("EDSC_CLIENT_RETRY_FOR_S", raising=False)
    assert retry_for_from_env() == 60.0
    monkeypatch.setenv("EDSC_CLIENT_RETRY_FOR_S", "7")
    assert retry_for_from_env() == 7.0 and EditDSCClient("127.0.0.1:1").retry_for_s == 7.0
    monkeypatch.setenv("EDSC_CLIENT_RETRY_FOR_S", "-3")
    with pytest.raises(InvalidArgumentError, match="EDSC_CLIENT_RETRY_FOR_S"):
        retry_for_from_env()


# ------------------------------------------------------------------------------------------ a fake transmitter

class FakeTransmitter(transmitter_pb2_grpc.TransmitterServiceServicer):
    """Answers with the scripted codes first (None: succeed), then succeeds; records what each attempt carried."""

    def __init__(self):
        self.script: list = []
        self.seen: list[tuple[str, str]] = []        # (request_id field, x-request-id metadata)
        self.lock = threading.Lock()

    def _next(self, request, context):
        meta = dict(context.invocation_metadata())
        with self.lock:
            self.seen.append((request.request_id, meta.get(REQUEST_ID_KEY, "")))
            return self.script.pop(0) if self.script else None

    @staticmethod
    def _answer(request) -> transmitter_pb2.SubmitResponse:
        return transmitter_pb2.SubmitResponse(request_id=request.request_id, session_id="s1", session_turn=1, k=512)

    def Submit(self, request, context):
        code = self._next(request, context)
        if code is not None:
            context.abort(code, f"scripted {code.name}")
        return self._answer(request)

    def SubmitStream(self, request, context):
        code = self._next(request.submit, context)
        yield transmitter_pb2.SubmitStreamResponse(progress=transmitter_pb2.Progress(stage="queued", step=0, total=1))
        if code is not None:
            context.abort(code, f"scripted {code.name} mid-stream")
        yield transmitter_pb2.SubmitStreamResponse(result=self._answer(request.submit))


@pytest.fixture
def fake():
    servicer = FakeTransmitter()
    server = grpc.server(futures.ThreadPoolExecutor(4))
    transmitter_pb2_grpc.add_TransmitterServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield servicer, f"127.0.0.1:{port}"
    server.stop(0)


def _client(address, retry_for_s, notes):
    return EditDSCClient(address, "http://127.0.0.1:9", timeout_s=10, retry_for_s=retry_for_s, on_retry=notes.append)


@pytest.mark.parametrize("stream", [False, True])
def test_unavailable_and_busy_are_retried_with_one_request_id(fake, stream):
    servicer, address = fake
    servicer.script = [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED]
    notes: list[str] = []
    with _client(address, 30, notes) as client:
        answer = client.submit(b"png", "add glasses", 6.0, stream=stream)
    ids = {rid for pair in servicer.seen for rid in pair}
    assert len(servicer.seen) == 3 and len(ids) == 1 and re.fullmatch(r"[0-9a-f]{32}", ids.pop())
    assert answer["request_id"] == servicer.seen[0][0]
    assert len(notes) == 2 and "(attempt 2, " in notes[0] and "(attempt 3, " in notes[1]
    if stream:
        assert notes[0].startswith("transmitter stream broke off after 1 event: transmitter unavailable (UNAVAILABLE")
    else:
        assert notes[0].startswith("transmitter unavailable (UNAVAILABLE: scripted UNAVAILABLE); retrying in ")
        assert notes[1].startswith("transmitter busy (RESOURCE_EXHAUSTED: scripted RESOURCE_EXHAUSTED)")


def test_given_request_id_is_kept(fake):
    servicer, address = fake
    servicer.script = [grpc.StatusCode.UNAVAILABLE]
    with _client(address, 30, []) as client:
        client.submit(b"png", "add glasses", 6.0, request_id="mine-1", stream=False)
    assert servicer.seen == [("mine-1", "mine-1"), ("mine-1", "mine-1")]


@pytest.mark.parametrize("code", [grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.ALREADY_EXISTS,
                                  grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.NOT_FOUND])
def test_other_codes_are_not_retried(fake, code):
    servicer, address = fake
    servicer.script = [code]
    notes: list[str] = []
    with _client(address, 30, notes) as client, pytest.raises(ServiceCallError) as err:
        client.submit(b"png", "add glasses", 6.0, stream=False)
    assert err.value.code == code and len(servicer.seen) == 1 and not notes


def test_no_retries_with_a_zero_window(fake):
    servicer, address = fake
    servicer.script = [grpc.StatusCode.UNAVAILABLE]
    notes: list[str] = []
    with _client(address, 0, notes) as client, pytest.raises(ServiceCallError) as err:
        client.submit(b"png", "add glasses", 6.0)
    assert err.value.code == grpc.StatusCode.UNAVAILABLE and len(servicer.seen) == 1 and not notes
    assert "gave up" not in str(err.value)


def test_gives_up_when_the_window_is_used(fake):
    servicer, address = fake
    servicer.script = [grpc.StatusCode.UNAVAILABLE] * 100
    notes: list[str] = []
    with _client(address, 1.0, notes) as client, pytest.raises(ServiceCallError) as err:
        client.submit(b"png", "add glasses", 6.0, stream=False)
    assert err.value.code == grpc.StatusCode.UNAVAILABLE
    assert re.search(r"\(gave up after \d+ attempts in 1 s\)$", str(err.value)), str(err.value)
    assert len(servicer.seen) == len(notes) + 1 >= 2


def test_an_unreachable_transmitter_is_retried_until_the_window_ends():
    notes: list[str] = []
    with EditDSCClient("127.0.0.1:1", "http://127.0.0.1:9", timeout_s=5, retry_for_s=1.5,
                       on_retry=notes.append) as client, pytest.raises(ServiceCallError) as err:
        client.submit(b"png", "add glasses", 6.0, stream=False)          # nothing listens on port 1
    assert err.value.code == grpc.StatusCode.UNAVAILABLE and "gave up after" in str(err.value)
    assert notes and notes[0].startswith("transmitter unavailable (UNAVAILABLE")


# ------------------------------------------------------------------------------------------ HTTP fetches

def _http_client(handler, retry_for_s, notes) -> EditDSCClient:
    client = EditDSCClient("127.0.0.1:1", "http://receiver.test", timeout_s=5, retry_for_s=retry_for_s,
                           on_retry=notes.append)
    client.http.close()
    client.http = httpx.Client(base_url="http://receiver.test", transport=httpx.MockTransport(handler))
    return client


def test_fetch_retries_connection_errors_and_503():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        if len(calls) == 1:
            raise httpx.ConnectError("connection refused", request=request)
        if len(calls) == 2:
            return httpx.Response(503, text="loading")
        return httpx.Response(200, content=b"\x89PNG")

    notes: list[str] = []
    with _http_client(handler, 30, notes) as client:
        assert client.image("r1", wait_s=2) == b"\x89PNG"
    assert len(calls) == 3 and all(c.endswith("/v1/results/r1/image.png?wait=2") for c in calls)
    assert notes[0].startswith("receiver unavailable (ConnectError: connection refused); retrying in ")
    assert notes[1].startswith("receiver busy (HTTP 503); retrying in ") and "(attempt 3, " in notes[1]


def test_fetch_does_not_retry_404_and_gives_up_on_503():
    def not_found(request):
        return httpx.Response(404, json={"detail": "no result"})

    notes: list[str] = []
    with _http_client(not_found, 30, notes) as client, pytest.raises(EditDSCError, match="HTTP 404"):
        client.result("r2", wait_s=0)
    assert not notes

    def busy(request):
        return httpx.Response(503, text="busy")

    with _http_client(busy, 0.6, notes) as client, pytest.raises(EditDSCError) as err:
        client.results(limit=5)
    assert "HTTP 503" in str(err.value) and "gave up after" in str(err.value) and notes
