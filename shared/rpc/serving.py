"""What every editdsc gRPC server shares: options, health, reflection, Prometheus metrics, bounded concurrency,
request ids, structured logs, error mapping, deadlines and graceful shutdown."""

from __future__ import annotations

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
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

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


class Server:
    """A gRPC server with health (NOT_SERVING until :meth:`set_serving`) and reflection."""

    def __init__(self, host: str, port: int, service_names: Iterable[str], max_workers: int,
                 max_message_bytes: int):
        self.grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers),
                                options=server_options(max_message_bytes))
        self.service_names = list(service_names)
        self.health = health.HealthServicer(experimental_non_blocking=True)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.grpc)
        self.address = f"{host}:{port}"
        self.port = self.grpc.add_insecure_port(self.address)
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
