"""What every editdsc gRPC server shares: options, health, reflection, Prometheus metrics, bounded concurrency,
request ids, structured logs, error mapping, deadlines and graceful shutdown."""

from __future__ import annotations

import ipaddress
import json
import logging
import signal
import sys
import threading
import time
from concurrent import futures
from contextlib import contextmanager
from typing import Callable, Iterable

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from shared.auth import AuthInterceptor, AuthPolicy, TokenTable
from shared.errors import EditDSCError
from shared.tls import TLSFiles
from shared.rpc.targets import balanced_target
from shared.rpc.status import (REQUEST_ID_KEY, ServiceError, metadata_request_id, new_request_id, status_for,
                               valid_request_id)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 60, 120, 300)
DEFAULT_DOWNSTREAM_TIMEOUT_S = 300.0


# ---------------------------------------------------------------------------------------------- logging
class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any ``extra`` fields (request_id, ...)."""

    _SKIP = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": round(record.created, 3), "level": record.levelname.lower(), "logger": record.name,
               "msg": record.getMessage()}
        out.update({k: v for k, v in record.__dict__.items() if k not in self._SKIP})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def setup_logging(level: str = "info", fmt: str = "json") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


# ---------------------------------------------------------------------------------------------- metrics
class ServiceMetrics:
    """Prometheus metrics of one service (own registry, so several servers can live in one test process)."""

    def __init__(self, service: str):
        self.service = service
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("edsc_requests_total", "Requests by method and status code",
                                ["service", "method", "code"], registry=r)
        self.latency = Histogram("edsc_request_latency_seconds", "End-to-end handler latency",
                                 ["service", "method"], buckets=LATENCY_BUCKETS, registry=r)
        self.queue = Histogram("edsc_request_queue_seconds", "Time waiting for a worker / micro-batch",
                               ["service", "method"], buckets=LATENCY_BUCKETS, registry=r)
        self.compute = Histogram("edsc_request_compute_seconds", "Model / channel compute time",
                                 ["service", "method"], buckets=LATENCY_BUCKETS, registry=r)
        self.in_flight = Gauge("edsc_requests_in_flight", "Requests being handled", ["service"], registry=r)
        self.batch_size = Histogram("edsc_batch_size", "Micro-batch sizes", ["service"],
                                    buckets=(1, 2, 3, 4, 6, 8, 12, 16, 32), registry=r)
        self.queue_depth = Gauge("edsc_queue_depth", "Requests admitted and not yet answered (queued or computing)",
                                 ["service"], registry=r)
        self.refused = Counter("edsc_auth_refused_total", "Calls refused by authentication or authorisation",
                               ["service", "code"], registry=r)
        self.abandoned = Counter("edsc_abandoned_total", "Requests whose work stopped because every caller left",
                                 ["service"], registry=r)
        self.in_flight.labels(service).set(0)

    def observe_queue(self, method: str, seconds: float) -> None:
        self.queue.labels(self.service, method).observe(max(0.0, seconds))

    def observe_compute(self, method: str, seconds: float) -> None:
        self.compute.labels(self.service, method).observe(max(0.0, seconds))

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        """Expose ``/metrics`` on its own HTTP port (0: do not)."""
        if port:
            start_http_server(port, addr=host, registry=self.registry)


# ---------------------------------------------------------------------------------------------- concurrency
class Limiter:
    """At most ``capacity`` requests admitted at once; beyond that RESOURCE_EXHAUSTED (the client may retry)."""

    def __init__(self, capacity: int, what: str):
        self.capacity = capacity
        self.what = what
        self._sem = threading.BoundedSemaphore(capacity)

    @contextmanager
    def slot(self):
        if not self._sem.acquire(blocking=False):
            raise ServiceError(grpc.StatusCode.RESOURCE_EXHAUSTED,
                               f"the {self.what} is busy ({self.capacity} requests in flight); retry later")
        try:
            yield
        finally:
            self._sem.release()


# ---------------------------------------------------------------------------------------------- requests
def remaining_s(context: grpc.ServicerContext, default: float = DEFAULT_DOWNSTREAM_TIMEOUT_S) -> float:
    """Seconds left before the caller's deadline (``default`` when the caller set none)."""
    left = context.time_remaining()
    if left is None or left > 1e7:
        return default
    return max(0.0, float(left))


def check_deadline(context: grpc.ServicerContext, stage: str) -> None:
    if context.time_remaining() is not None and context.time_remaining() <= 0:
        raise ServiceError(grpc.StatusCode.DEADLINE_EXCEEDED, f"deadline exceeded {stage}")


def request_id_of(context: grpc.ServicerContext, from_message: str = "") -> str:
    rid = metadata_request_id(context) or from_message or new_request_id()
    return valid_request_id(rid)


class Handler:
    """Runs a handler body with request-id resolution, metrics, structured logs and error → status mapping."""

    def __init__(self, metrics: ServiceMetrics, logger: logging.Logger):
        self.metrics = metrics
        self.log = logger

    @contextmanager
    def call(self, method: str, context: grpc.ServicerContext, request_id: str = ""):
        t0 = time.perf_counter()
        svc = self.metrics.service
        gauge = self.metrics.in_flight.labels(svc)
        gauge.inc()
        state = {"request_id": request_id or "-"}
        code = grpc.StatusCode.OK
        try:
            try:
                state["request_id"] = request_id_of(context, request_id)
            except Exception:
                state["request_id"] = "-"
                raise
            context.set_trailing_metadata(((REQUEST_ID_KEY, state["request_id"]),))
            yield state
        except Exception as exc:  # noqa: BLE001 - every failure becomes a status
            code, message = status_for(exc)
            level = logging.ERROR if code == grpc.StatusCode.INTERNAL else logging.INFO
            self.log.log(level, "request failed", exc_info=code == grpc.StatusCode.INTERNAL,
                         extra={"request_id": state["request_id"], "method": method, "code": code.name,
                                "detail": message})
            context.abort(code, message)
        finally:
            dt = time.perf_counter() - t0
            gauge.dec()
            self.metrics.requests.labels(svc, method, code.name).inc()
            self.metrics.latency.labels(svc, method).observe(dt)
            if code == grpc.StatusCode.OK:
                self.log.info("request done", extra={"request_id": state["request_id"], "method": method,
                                                     "code": "OK", "seconds": round(dt, 4)})


# ---------------------------------------------------------------------------------------------- registration
class MalformedRequest:
    """Stands in for a request whose bytes did not parse; the handler answers INVALID_ARGUMENT."""

    def __init__(self, type_name: str, size: int):
        self.type_name = type_name
        self.size = size


def _tolerant_parser(cls):
    def parse(data: bytes):
        try:
            return cls.FromString(data)
        except Exception:  # noqa: BLE001 - DecodeError and friends: the caller sent bad bytes
            return MalformedRequest(cls.DESCRIPTOR.full_name, len(data))
    return parse


def _guarded(impl: Callable, streaming: bool) -> Callable:
    def refuse(request: MalformedRequest, context: grpc.ServicerContext):
        context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                      f"malformed request: {request.size} bytes that are not a valid {request.type_name} message")

    if streaming:
        def stream(request, context):
            if isinstance(request, MalformedRequest):
                refuse(request, context)
            yield from impl(request, context)
        return stream

    def unary(request, context):
        if isinstance(request, MalformedRequest):
            refuse(request, context)
        return impl(request, context)
    return unary


def add_servicer(server: grpc.Server, servicer: object, service: ServiceDescriptor) -> None:
    """Register ``servicer``'s methods for ``service`` (unary and server-streaming), with request parsing that
    turns undecodable bytes into INVALID_ARGUMENT instead of grpcio's INTERNAL."""
    handlers = {}
    for method in service.methods:
        if method.client_streaming:
            raise ValueError(f"{method.full_name}: client streaming is not supported here")
        request_cls = message_factory.GetMessageClass(method.input_type)
        response_cls = message_factory.GetMessageClass(method.output_type)
        make = grpc.unary_stream_rpc_method_handler if method.server_streaming else grpc.unary_unary_rpc_method_handler
        handlers[method.name] = make(_guarded(getattr(servicer, method.name), method.server_streaming),
                                     request_deserializer=_tolerant_parser(request_cls),
                                     response_serializer=response_cls.SerializeToString)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service.full_name, handlers),))


# ---------------------------------------------------------------------------------------------- server
def server_options(max_message_bytes: int) -> list[tuple[str, int]]:
    return [("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.so_reuseport", 0)]


def channel_options(max_message_bytes: int) -> list[tuple[str, int]]:
    """Client-channel options: message limits, and a short reconnect back-off so that a restarted downstream
    service is reached again within about a second."""
    return [("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.initial_reconnect_backoff_ms", 200),
            ("grpc.min_reconnect_backoff_ms", 200),
            ("grpc.max_reconnect_backoff_ms", 1000)]


# ---------------------------------------------------------------------------------------------- security
def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Security:
    """A service's TLS files and auth policy, from its settings.

    Parameters
    ----------
    settings : the service's :class:`~shared.config.ServiceSettings`.
    client_methods, internal_methods : full method names this service serves to clients / to services.
    """

    def __init__(self, settings, client_methods: Iterable[str] = (), internal_methods: Iterable[str] = ()):
        self.settings = settings
        self.tls = TLSFiles.from_settings(settings.tls_cert, settings.tls_key, settings.tls_ca)
        self.tokens = TokenTable(settings.auth_tokens_file) if settings.auth_tokens_file else None
        self.service_token = settings.service_token_value()
        self.internal_methods = frozenset(internal_methods)
        self.policy = AuthPolicy(tokens=self.tokens, service_token=None if self.tls else self.service_token,
                                 mtls=self.tls is not None and bool(self.internal_methods),
                                 client_methods=frozenset(client_methods), internal_methods=self.internal_methods)
        if self.tokens is not None and self.tls is None and self.service_token is None:
            raise EditDSCError("auth is on (EDSC_AUTH_TOKENS_FILE) but TLS is off and no service credential is set: "
                               "set EDSC_SERVICE_TOKEN (or EDSC_SERVICE_TOKEN_FILE) on every service, or use TLS")

    @property
    def auth_on(self) -> bool:
        return self.tokens is not None

    def check_bind(self, host: str) -> None:
        """Refuse a non-loopback address without auth and TLS unless EDSC_ALLOW_INSECURE=1 (then warn)."""
        if is_loopback(host) or (self.auth_on and self.tls is not None):
            return
        if not self.settings.allow_insecure:
            raise EditDSCError(f"refusing to listen on {host} without auth and TLS (set EDSC_AUTH_TOKENS_FILE and "
                               "the TLS_CERT / TLS_KEY / TLS_CA settings, or EDSC_ALLOW_INSECURE=1 to accept the risk)")
        logging.getLogger("editdsc").warning("listening on a non-loopback address without auth and TLS "
                                             "(EDSC_ALLOW_INSECURE=1)", extra={"host": host})

    @property
    def reflection(self) -> bool:
        r = self.settings.reflection
        return (not self.auth_on) if r is None else bool(r)

    def server_credentials(self) -> grpc.ServerCredentials | None:
        """TLS credentials (mutual TLS when this service serves internal RPCs only), or None."""
        if self.tls is None:
            return None
        return self.tls.server_credentials(require_client_auth=bool(self.internal_methods))

    def interceptors(self, metrics: "ServiceMetrics | None" = None) -> list[grpc.ServerInterceptor]:
        if not (self.policy.enabled or self.policy.mtls):
            return []
        on_refused = (lambda method, code: metrics.refused.labels(metrics.service, code.name).inc()) \
            if metrics is not None else None
        return [AuthInterceptor(self.policy, on_refused)]

    def channel(self, address: str, max_message_bytes: int) -> grpc.Channel:
        """A channel to another service (TLS with this service's certificate when TLS is on); a comma-separated
        list of replicas or a ``dns:///`` name is balanced round robin (:func:`balanced_target`)."""
        target, options = balanced_target(address)
        options = channel_options(max_message_bytes) + options
        if self.tls is not None:
            return grpc.secure_channel(target, self.tls.channel_credentials(), options=options)
        return grpc.insecure_channel(target, options=options)

    def outgoing(self, request_id: str) -> tuple[tuple[str, str], ...]:
        """Metadata of a call to another service: the request id and, with TLS off, the service credential."""
        md = [(REQUEST_ID_KEY, request_id)]
        if self.tls is None and self.service_token:
            md.append(("authorization", f"Bearer {self.service_token}"))
        return tuple(md)

    def reload_on_sighup(self) -> None:
        """Re-read the tokens file on SIGHUP (call from the main thread)."""
        if self.tokens is not None:
            signal.signal(signal.SIGHUP, lambda *_: self.tokens.reload())


class Server:
    """A gRPC server with health (NOT_SERVING until :meth:`set_serving`) and reflection."""

    def __init__(self, host: str, port: int, service_names: Iterable[str], max_workers: int,
                 max_message_bytes: int, credentials: grpc.ServerCredentials | None = None,
                 interceptors: Iterable[grpc.ServerInterceptor] = (), max_connection_age_s: float = 0.0):
        options = server_options(max_message_bytes)
        if max_connection_age_s > 0:
            options += [("grpc.max_connection_age_ms", int(max_connection_age_s * 1000)),
                        ("grpc.max_connection_age_grace_ms", 30_000)]
        self.grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers), options=options,
                                interceptors=list(interceptors))
        self.service_names = list(service_names)
        self.health = health.HealthServicer(experimental_non_blocking=True)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.grpc)
        self.address = f"{host}:{port}"
        self.port = (self.grpc.add_secure_port(self.address, credentials) if credentials is not None
                     else self.grpc.add_insecure_port(self.address))
        if self.port == 0:
            raise OSError(f"cannot bind {self.address}")
        self._set_all(health_pb2.HealthCheckResponse.NOT_SERVING)
        self._stopped = threading.Event()

    def add_reflection(self) -> None:
        reflection.enable_server_reflection(
            self.service_names + [health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                                  reflection.SERVICE_NAME], self.grpc)

    def _set_all(self, status) -> None:
        self.health.set("", status)
        for name in self.service_names:
            self.health.set(name, status)

    def set_serving(self) -> None:
        self._set_all(health_pb2.HealthCheckResponse.SERVING)

    def set_not_serving(self) -> None:
        self._set_all(health_pb2.HealthCheckResponse.NOT_SERVING)

    def start(self) -> None:
        self.grpc.start()

    def stop(self, grace_s: float) -> None:
        """Graceful: health goes NOT_SERVING, new calls are refused, running calls get ``grace_s``."""
        self.set_not_serving()
        self.grpc.stop(grace_s).wait(grace_s + 1)
        self._stopped.set()

    def run_until_signal(self, grace_s: float, on_stop: Callable[[], None] | None = None) -> None:
        """Block until SIGTERM / SIGINT, then stop gracefully (call from the main thread)."""
        stop = threading.Event()

        def handler(signum, frame):  # noqa: ARG001
            stop.set()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
        while not stop.wait(0.5):
            pass
        logging.getLogger("editdsc").info("shutting down", extra={"grace_s": grace_s})
        self.stop(grace_s)
        if on_stop:
            on_stop()
