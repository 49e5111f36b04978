"""Locust users of the load test: a gRPC client of the transmitter plus Locust's HTTP client of the receiver.

Imported only by the load-generator process (:mod:`edsc.loadtest.runner`): importing Locust monkey-patches the
process with gevent, and gRPC is switched to gevent (``grpc.experimental.gevent.init_gevent()``) before any
channel exists.

* :class:`SubmitInterceptor` times every unary gRPC call and fires Locust's ``events.request``
  (``request_type="grpc"``, the method as name, the gRPC error as exception, ``context={"request_id": ...}``), the
  way Locust's documentation builds a gRPC user.
* A request that meets ``UNAVAILABLE`` or ``RESOURCE_EXHAUSTED`` is sent again with the same request id after a
  jittered exponential back-off, until the plan's ``retry_for_s`` is used up; the image fetch repeats connection
  errors and HTTP 503 the same way (each retry is one line on stderr).
* Security and replicas: the bearer token comes from ``EDSC_TOKEN`` (never from the plan) and goes out as
  ``authorization: Bearer …`` on every Submit (metadata) and image fetch (header); with the plan's ``tls_ca`` the
  gRPC channel is TLS and the HTTPS receiver is verified against that CA. A transmitter address that lists
  replicas (or a ``dns:///`` name) gets a round-robin channel (:func:`shared.rpc.targets.balanced_target`).
  UNAUTHENTICATED, PERMISSION_DENIED, HTTP 401 and 403 are never retried.
* :class:`ClosedLoopUser` (fixed concurrency): each user submits, fetches the image, and takes the next request at
  once, until its stage hands out no more.
* :class:`ArrivalUser` (open loop): one user issues requests at scheduled arrival times (Poisson or constant at the
  stage's rate) in their own greenlets, whether or not earlier ones have answered.

A user class is bound to a stage by subclassing with ``stage_run`` set (:func:`bind`); the stage object hands out
:class:`~edsc.loadtest.plan.RequestSpec` s, builds the ``SubmitRequest`` s and owns the :class:`Recorder`.
"""

from __future__ import annotations

import os
import sys
import time

import locust  # noqa: F401  (first: gevent's monkey-patching)
import gevent
import gevent.pool
import grpc
import grpc.experimental.gevent as grpc_gevent
from locust import HttpUser, task
from locust.exception import StopUser
from urllib3 import PoolManager

grpc_gevent.init_gevent()

from edsc.client import (RETRYABLE_CODES, RETRYABLE_HTTP, TOKEN_ENV, Backoff,  # noqa: E402
                         describe_grpc_failure)
from edsc.loadtest.plan import tls_channel_options  # noqa: E402
from shared.rpc.editdsc.v1 import transmitter_pb2_grpc  # noqa: E402
from shared.rpc.serving import channel_options  # noqa: E402
from shared.rpc.status import REQUEST_ID_KEY  # noqa: E402
from shared.rpc.targets import balanced_target  # noqa: E402

MAX_MESSAGE_BYTES = 16 * 1024 * 1024
IMAGE_ROUTE_NAME = "/v1/results/{id}/image.png"


class SubmitInterceptor(grpc.UnaryUnaryClientInterceptor):
    """Fires ``events.request`` for every unary call (response_time in ms, like Locust's own clients)."""

    def __init__(self, events):
        self.events = events

    def intercept_unary_unary(self, continuation, client_call_details, request):
        start_unix, t0 = time.time(), time.perf_counter()
        call = continuation(client_call_details, request)
        exception = call.exception()            # waits for the answer; None when it succeeded
        elapsed_ms = (time.perf_counter() - t0) * 1000.0
        response = call.result() if exception is None else None
        method = client_call_details.method
        self.events.request.fire(
            request_type="grpc", name=method.decode() if isinstance(method, bytes) else method,
            response_time=elapsed_ms, response_length=response.ByteSize() if response is not None else 0,
            response=response, exception=exception, start_time=start_unix,
            context={"request_id": getattr(request, "request_id", "")})
        return call


class _EditUser(HttpUser):
    """Submit one edit over gRPC, then fetch the edited PNG from the receiver (both recorded)."""

    abstract = True
    stage_run = None                 # the stage this class is bound to (see bind())

    def on_start(self) -> None:
        plan = self.stage_run.plan
        target, balance = balanced_target(plan.transmitter)
        options = channel_options(MAX_MESSAGE_BYTES) + balance
        if plan.tls_ca:
            from shared.tls import client_credentials

            channel = grpc.secure_channel(target, client_credentials(plan.tls_ca),
                                          options=options + tls_channel_options(plan.transmitter))
            self.client.verify = plan.tls_ca            # the HTTPS receiver: verified against the same CA
        else:
            channel = grpc.insecure_channel(target, options=options)
        token = os.environ.get(TOKEN_ENV, "").strip()
        self._auth = (("authorization", f"Bearer {token}"),) if token else ()
        if token:
            self.client.headers["Authorization"] = f"Bearer {token}"
        self._channel = channel
        self.stub = transmitter_pb2_grpc.TransmitterServiceStub(
            grpc.intercept_channel(channel, SubmitInterceptor(self.environment.events)))

    def on_stop(self) -> None:
        self._channel.close()

    def one_request(self, spec) -> None:
        """Send ``spec``; the recorder gets the row whatever happens (also when the greenlet is killed)."""
        run = self.stage_run
        rid = spec.request_id
        run.begin(spec)
        error = ""
        try:
            if self.submit_with_retries(run.request_for(spec)):
                self.fetch_with_retries(rid)
        except Exception as exc:  # noqa: BLE001 - recorded in the row; Locust would only log it
            error = f"{type(exc).__name__}: {exc}"
        finally:
            run.end(spec, error)

    def submit_with_retries(self, request) -> bool:
        """Submit, retrying UNAVAILABLE / RESOURCE_EXHAUSTED with the same request id inside the plan's retry
        window; True when it succeeded (the interceptor records every attempt)."""
        plan, rid = self.stage_run.plan, request.request_id
        backoff = Backoff(plan.retry_for_s)
        while True:
            try:
                self.stub.Submit(request, timeout=plan.timeout_s, metadata=((REQUEST_ID_KEY, rid),) + self._auth)
                return True
            except grpc.RpcError as exc:
                code, details = exc.code(), exc.details() or ""
            delay = backoff.next_delay() if code in RETRYABLE_CODES else None
            if delay is None:
                return False
            note(f"{rid}: " + backoff.retry_message(describe_grpc_failure("transmitter", code, details), delay))
            gevent.sleep(delay)

    def fetch_with_retries(self, rid: str) -> None:
        """GET the edited image, repeating connection errors (status 0) and HTTP 503 inside the retry window (never
        401 / 403: a refused token stays refused)."""
        plan = self.stage_run.plan
        backoff = Backoff(plan.retry_for_s)
        while True:
            r = self.client.get(f"/v1/results/{rid}/image.png", params={"wait": plan.fetch_wait_s},
                                name=IMAGE_ROUTE_NAME, context={"request_id": rid}, timeout=plan.fetch_wait_s + 30)
            if r.status_code not in RETRYABLE_HTTP and r.status_code != 0:
                return
            delay = backoff.next_delay()
            if delay is None:
                return
            what = (f"receiver busy (HTTP {r.status_code})" if r.status_code else
                    f"receiver unavailable ({type(r.error).__name__}: {str(r.error)[:160]})")
            note(f"{rid}: " + backoff.retry_message(what, delay))
            gevent.sleep(delay)


def note(message: str) -> None:
    print(f"edsc loadtest: {message}", file=sys.stderr, flush=True)


class ClosedLoopUser(_EditUser):
    """Fixed concurrency: one request after the other, no think time."""

    abstract = True

    @task
    def submit_and_fetch(self) -> None:
        spec = self.stage_run.take()
        if spec is None:
            raise StopUser()
        self.one_request(spec)


class ArrivalUser(_EditUser):
    """Open loop: issues requests at the stage's arrival times, each in its own greenlet."""

    abstract = True
    pool_manager = PoolManager(maxsize=256, block=False)     # concurrent image fetches share the session

    @task
    def arrive(self) -> None:
        run = self.stage_run
        next_t = time.monotonic()
        workers = gevent.pool.Group()
        while True:
            gevent.sleep(max(0.0, next_t - time.monotonic()))
            spec = run.take()
            if spec is None:
                workers.join()
                raise StopUser()
            workers.spawn(self.one_request, spec)
            next_t += run.interarrival()


def bind(user_cls: type, stage_run) -> type:
    """A concrete subclass of ``user_cls`` bound to ``stage_run``."""
    return type(f"{user_cls.__name__}Stage{stage_run.stage.index}", (user_cls,),
                {"stage_run": stage_run, "abstract": False})
