"""Tests of shared/rpc/serving.py: logging, metrics, the concurrency limit, deadlines, the handler wrapper,
tolerant request parsing, the server's health lifecycle and the bind / TLS checks of :class:`Security`."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2

from shared.errors import EditDSCError, InvalidArgumentError
from shared.rpc.serving import (DEFAULT_DOWNSTREAM_TIMEOUT_S, Handler, JsonFormatter, Limiter, Security, Server,
                                ServiceMetrics, add_servicer, channel_options, check_deadline, is_loopback,
                                remaining_s, request_id_of, server_options)
from shared.rpc.status import REQUEST_ID_KEY, ServiceError

HEALTH = health_pb2.DESCRIPTOR.services_by_name["Health"]


class Aborted(Exception):
    def __init__(self, code, details):
        super().__init__(details)
        self.code, self.details = code, details


class FakeContext:
    """The part of ``grpc.ServicerContext`` the serving helpers use."""

    def __init__(self, metadata=(), remaining=None):
        self.metadata = tuple(metadata)
        self.remaining = remaining
        self.trailing = ()

    def invocation_metadata(self):
        return self.metadata

    def time_remaining(self):
        return self.remaining

    def set_trailing_metadata(self, md):
        self.trailing = tuple(md)

    def abort(self, code, details):
        raise Aborted(code, details)


def sample(metrics: ServiceMetrics, name: str, **labels) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


# ---------------------------------------------------------------------------------------------- logging
def test_json_formatter_writes_one_object_with_extra_fields():
    record = logging.LogRecord("editdsc.test", logging.INFO, __file__, 1, "hello %s", ("there",), None)
    record.request_id = "r-1"
    out = json.loads(JsonFormatter().format(record))
    assert out["msg"] == "hello there" and out["level"] == "info" and out["logger"] == "editdsc.test"
    assert out["request_id"] == "r-1" and "args" not in out and "exc" not in out


def test_json_formatter_includes_the_exception():
    try:
        raise ValueError("boom")
    except ValueError:
        import sys
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    out = json.loads(JsonFormatter().format(record))
    assert "ValueError: boom" in out["exc"]


# ---------------------------------------------------------------------------------------------- concurrency
def test_limiter_refuses_beyond_capacity_and_frees_slots():
    limiter = Limiter(1, "transmitter")
    with limiter.slot():
        with pytest.raises(ServiceError) as err:
            with limiter.slot():
                pass
        assert err.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED and "transmitter is busy" in err.value.message
    with limiter.slot():                                  # released on exit
        pass
    with pytest.raises(RuntimeError):
        with limiter.slot():
            raise RuntimeError("inside")
    with limiter.slot():                                  # released on an error too
        pass


# ---------------------------------------------------------------------------------------------- deadlines and ids
def test_remaining_s_uses_the_default_without_a_deadline():
    assert remaining_s(FakeContext(remaining=None)) == DEFAULT_DOWNSTREAM_TIMEOUT_S
    assert remaining_s(FakeContext(remaining=1e9), default=7.0) == 7.0
    assert remaining_s(FakeContext(remaining=2.5)) == 2.5
    assert remaining_s(FakeContext(remaining=-1.0)) == 0.0


def test_check_deadline():
    check_deadline(FakeContext(remaining=None), "before inversion")
    check_deadline(FakeContext(remaining=0.1), "before inversion")
    with pytest.raises(ServiceError) as err:
        check_deadline(FakeContext(remaining=0.0), "before inversion")
    assert err.value.code == grpc.StatusCode.DEADLINE_EXCEEDED and "before inversion" in err.value.message


def test_request_id_from_metadata_then_message_then_new():
    assert request_id_of(FakeContext([(REQUEST_ID_KEY, "from-md")]), "from-msg") == "from-md"
    assert request_id_of(FakeContext(), "from-msg") == "from-msg"
    made = request_id_of(FakeContext())
    assert len(made) == 32 and int(made, 16) >= 0
    with pytest.raises(InvalidArgumentError):
        request_id_of(FakeContext([(REQUEST_ID_KEY, "../etc")]))


# ---------------------------------------------------------------------------------------------- handler
def test_handler_ok_counts_and_sets_the_trailing_request_id():
    metrics = ServiceMetrics("svc")
    handler = Handler(metrics, logging.getLogger("editdsc.test"))
    ctx = FakeContext([(REQUEST_ID_KEY, "abc")])
    with handler.call("Edit", ctx) as state:
        assert state["request_id"] == "abc"
        assert sample(metrics, "edsc_requests_in_flight", service="svc") == 1
    assert ctx.trailing == ((REQUEST_ID_KEY, "abc"),)
    assert sample(metrics, "edsc_requests_in_flight", service="svc") == 0
    assert sample(metrics, "edsc_requests_total", service="svc", method="Edit", code="OK") == 1
    assert sample(metrics, "edsc_request_latency_seconds_count", service="svc", method="Edit") == 1


@pytest.mark.parametrize("exc, code, shown", [
    (ServiceError(grpc.StatusCode.NOT_FOUND, "no such session"), grpc.StatusCode.NOT_FOUND, "no such session"),
    (InvalidArgumentError("bad snr"), grpc.StatusCode.INVALID_ARGUMENT, "bad snr"),
    (EditDSCError("no bundle"), grpc.StatusCode.FAILED_PRECONDITION, "no bundle"),
    (KeyError("secret internals"), grpc.StatusCode.INTERNAL, "internal error (KeyError)"),
])
def test_handler_maps_errors_to_statuses(exc, code, shown, caplog):
    metrics = ServiceMetrics("svc")
    handler = Handler(metrics, logging.getLogger("editdsc.test"))
    with caplog.at_level(logging.INFO, logger="editdsc.test"), pytest.raises(Aborted) as aborted:
        with handler.call("Edit", FakeContext(), "rid-1"):
            raise exc
    assert aborted.value.code == code and shown in aborted.value.details
    assert "secret internals" not in aborted.value.details or code != grpc.StatusCode.INTERNAL
    assert sample(metrics, "edsc_requests_total", service="svc", method="Edit", code=code.name) == 1
    assert sample(metrics, "edsc_requests_in_flight", service="svc") == 0
    failed = [r for r in caplog.records if r.getMessage() == "request failed"]
    assert failed and failed[0].request_id == "rid-1" and failed[0].code == code.name


def test_handler_refuses_an_invalid_request_id():
    metrics = ServiceMetrics("svc")
    handler = Handler(metrics, logging.getLogger("editdsc.test"))
    with pytest.raises(Aborted) as aborted:
        with handler.call("Edit", FakeContext([(REQUEST_ID_KEY, "bad id!")])):
            pytest.fail("the body must not run")
    assert aborted.value.code == grpc.StatusCode.INVALID_ARGUMENT


def test_metrics_observe_negative_durations_as_zero():
    metrics = ServiceMetrics("svc")
    metrics.observe_queue("Edit", -1.0)
    metrics.observe_compute("Edit", 0.5)
    assert sample(metrics, "edsc_request_queue_seconds_sum", service="svc", method="Edit") == 0.0
    assert sample(metrics, "edsc_request_compute_seconds_sum", service="svc", method="Edit") == 0.5


# ---------------------------------------------------------------------------------------------- options
def test_server_and_channel_options_carry_the_message_limit():
    assert dict(server_options(1234))["grpc.max_receive_message_length"] == 1234
    assert dict(server_options(1234))["grpc.max_send_message_length"] == 1234
    opts = dict(channel_options(99))
    assert opts["grpc.max_receive_message_length"] == 99 and opts["grpc.max_reconnect_backoff_ms"] == 1000


@pytest.mark.parametrize("host, loopback", [("localhost", True), ("127.0.0.1", True), ("[::1]", True),
                                            ("0.0.0.0", False), ("10.1.2.3", False), ("example.org", False)])
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


# ---------------------------------------------------------------------------------------------- registration
class HealthLike:
    """A servicer for the Health service descriptor, used to exercise :func:`add_servicer`."""

    def Check(self, request, context):
        return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)

    def List(self, request, context):
        return health_pb2.HealthListResponse()

    def Watch(self, request, context):
        for _ in range(2):
            yield health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)


@pytest.fixture()
def registered():
    from concurrent import futures

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    add_servicer(server, HealthLike(), HEALTH)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield channel
    channel.close()
    server.stop(0)


def test_add_servicer_serves_unary_and_streaming(registered):
    stub = health_pb2_grpc.HealthStub(registered)
    assert stub.Check(health_pb2.HealthCheckRequest(), timeout=10).status == health_pb2.HealthCheckResponse.SERVING
    assert len(list(stub.Watch(health_pb2.HealthCheckRequest(), timeout=10))) == 2


@pytest.mark.parametrize("method, streaming", [("Check", False), ("Watch", True)])
def test_add_servicer_answers_malformed_bytes_with_invalid_argument(registered, method, streaming):
    make = registered.unary_stream if streaming else registered.unary_unary
    call = make(f"/{HEALTH.full_name}/{method}", request_serializer=lambda b: b,
                response_deserializer=health_pb2.HealthCheckResponse.FromString)
    with pytest.raises(grpc.RpcError) as err:
        out = call(b"\xff\xff\xff", timeout=10)
        if streaming:
            list(out)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a valid grpc.health.v1.HealthCheckRequest" in err.value.details()


def test_add_servicer_refuses_client_streaming():
    from concurrent import futures

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    with pytest.raises(ValueError, match="client streaming"):
        add_servicer(server, object(), reflection_pb2.DESCRIPTOR.services_by_name["ServerReflection"])


# ---------------------------------------------------------------------------------------------- server
def test_server_health_goes_serving_then_not_serving():
    server = Server("127.0.0.1", 0, ["editdsc.v1.Test"], max_workers=2, max_message_bytes=1 << 20)
    server.add_reflection()
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    stub = health_pb2_grpc.HealthStub(channel)
    try:
        for name in ("", "editdsc.v1.Test"):
            got = stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=10).status
            assert got == health_pb2.HealthCheckResponse.NOT_SERVING
        server.set_serving()
        for name in ("", "editdsc.v1.Test"):
            got = stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=10).status
            assert got == health_pb2.HealthCheckResponse.SERVING
        server.set_not_serving()
        got = stub.Check(health_pb2.HealthCheckRequest(service="editdsc.v1.Test"), timeout=10).status
        assert got == health_pb2.HealthCheckResponse.NOT_SERVING
    finally:
        channel.close()
        server.stop(0)
    assert server._stopped.is_set()


# ---------------------------------------------------------------------------------------------- security
def settings(**over):
    base = dict(tls_cert=None, tls_key=None, tls_ca=None, auth_tokens_file=None, allow_insecure=False,
                reflection=None, service_token_value=lambda: None)
    base.update(over)
    return SimpleNamespace(**base)


def test_security_without_auth_or_tls():
    sec = Security(settings())
    assert not sec.auth_on and sec.reflection and sec.server_credentials() is None and sec.interceptors() == []
    assert sec.outgoing("r-1") == ((REQUEST_ID_KEY, "r-1"),)


def test_security_binds_loopback_and_refuses_open_addresses():
    sec = Security(settings())
    sec.check_bind("127.0.0.1")
    sec.check_bind("localhost")
    with pytest.raises(EditDSCError, match="refusing to listen on 0.0.0.0"):
        sec.check_bind("0.0.0.0")
    Security(settings(allow_insecure=True)).check_bind("0.0.0.0")


def test_security_sends_the_service_token_without_tls():
    sec = Security(settings(service_token_value=lambda: "s3cret"))
    assert sec.outgoing("r-2") == ((REQUEST_ID_KEY, "r-2"), ("authorization", "Bearer s3cret"))


def test_security_reflection_setting_wins():
    assert Security(settings(reflection=False)).reflection is False
