"""Python client of the editdsc services: submit to the transmitter (gRPC, with progress), fetch results from
the receiver (HTTP), check health. Used by ``edsc send``, ``edsc demo``, ``edsc loadtest``, the benchmark and the
tests.

Retries: a Submit / SubmitStream that ends in ``UNAVAILABLE`` or ``RESOURCE_EXHAUSTED`` (also a stream that breaks
off mid-way) is sent again with the same request id, after a jittered exponential back-off, until a time window
(``retry_for_s``; default :data:`DEFAULT_RETRY_FOR_S`, or the ``EDSC_CLIENT_RETRY_FOR_S`` environment variable;
0: no retries) is used up. The request id is the services' idempotency key, so a retry returns the first attempt's
answer instead of computing the edit twice; the client picks a random 128-bit id when the caller gives none. HTTP
fetches from the receiver retry connection errors and ``503`` within the same window. Each retry is announced
through ``on_retry`` (default: one line on stderr).

Security and replicas: ``token`` (default: ``EDSC_TOKEN``) is sent as ``authorization: Bearer …`` on every call;
``ca`` (default: ``EDSC_TLS_CA``) turns on TLS to the transmitter and verifies an ``https://`` receiver with that
CA. ``transmitter`` may list replicas (``ip:port,ip:port``) or name them (``dns:///name:port``): calls are spread
round robin and a call that finds a replica down goes to another; each answer's ``served_by`` names the replica.
"""

from __future__ import annotations

import math
import os
import random
import ssl
import sys
import time
import uuid
from typing import Any, Callable, Mapping, Optional

import grpc
import httpx

from shared.errors import EditDSCError, InvalidArgumentError
from shared.rpc.editdsc.v1 import transmitter_pb2, transmitter_pb2_grpc
from shared.rpc.healthcheck import health_status
from shared.rpc.serving import channel_options
from shared.rpc.status import REQUEST_ID_KEY
from shared.rpc.targets import balanced_target

MAX_MESSAGE_BYTES = 16 * 1024 * 1024
ProgressFn = Callable[[str, int, int], None]
RetryFn = Callable[[str], None]

RETRY_FOR_ENV = "EDSC_CLIENT_RETRY_FOR_S"
DEFAULT_RETRY_FOR_S = 60.0
#: gRPC codes after which the same request (same id) is sent again.
RETRYABLE_CODES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED})
#: HTTP statuses of the receiver after which a fetch is repeated (connection errors are repeated as well).
RETRYABLE_HTTP = frozenset({503})
TOKEN_ENV = "EDSC_TOKEN"
CA_ENV = "EDSC_TLS_CA"


class ServiceCallError(EditDSCError):
    """A service answered with an error status (``code`` is the grpc.StatusCode)."""

    def __init__(self, code: grpc.StatusCode, details: str):
        super().__init__(f"{code.name}: {' '.join(details.split())}")
        self.code = code
        self.details = details


def new_request_id() -> str:
    """A random 128-bit request id (32 hex digits)."""
    return uuid.uuid4().hex


def check_retry_for(value: float, name: str = "--retry-for") -> float:
    """A retry window in seconds: finite and >= 0 (0: no retries), else :class:`InvalidArgumentError`."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"{name} {value}: give a number of seconds (0: no retries)") from None
    if not math.isfinite(v) or v < 0:
        raise InvalidArgumentError(f"{name} {value}: must be a finite number of seconds >= 0 (0: no retries)")
    return v


def retry_for_from_env(default: float = DEFAULT_RETRY_FOR_S) -> float:
    """The retry window set by ``EDSC_CLIENT_RETRY_FOR_S`` (``default`` when unset or empty)."""
    text = os.environ.get(RETRY_FOR_ENV, "").strip()
    return check_retry_for(text, RETRY_FOR_ENV) if text else default


def print_retry(message: str) -> None:
    """The default ``on_retry``: one line on stderr."""
    print(f"edsc: {message}", file=sys.stderr, flush=True)


class Backoff:
    """Jittered exponential back-off inside a time window, for one request.

    The n-th pause is drawn uniformly from [c/2, c] with c = min(``max_s``, ``initial_s`` · ``multiplier``^(n−1))
    and never reaches past the window's end. :meth:`next_delay` gives None once the window is used up.

    Parameters
    ----------
    window_s : how long, from now, retries may go on (0: none)
    initial_s, max_s, multiplier : the pause's growth; rng : the jitter's source; clock : monotonic seconds
    """

    def __init__(self, window_s: float, initial_s: float = 0.5, max_s: float = 10.0, multiplier: float = 2.0,
                 rng: Optional[random.Random] = None, clock: Callable[[], float] = time.monotonic):
        self.window_s, self.initial_s, self.max_s, self.multiplier = float(window_s), initial_s, max_s, multiplier
        self.rng = rng or random.Random()
        self.clock = clock
        self.started = clock()
        self.attempt = 1              # the attempt about to be made (or being made)

    def remaining(self) -> float:
        return max(0.0, self.started + self.window_s - self.clock())

    def elapsed(self) -> float:
        return self.clock() - self.started

    def next_delay(self) -> Optional[float]:
        """The pause before the next attempt (and count it), or None when no time is left."""
        left = self.remaining()
        if left <= 0.0:
            return None
        cap = min(self.max_s, self.initial_s * self.multiplier ** (self.attempt - 1))
        self.attempt += 1
        return min(left, cap * self.rng.uniform(0.5, 1.0))

    def retry_message(self, what: str, delay: float) -> str:
        """``"<what>; retrying in 1.3 s (attempt 2, 58 s left)"`` (after :meth:`next_delay`)."""
        return (f"{what}; retrying in {delay:.1f} s (attempt {self.attempt}, "
                f"{max(0.0, self.remaining() - delay):.0f} s left)")

    def gave_up(self) -> str:
        return f"gave up after {self.attempt} attempt{'s' if self.attempt != 1 else ''} in {self.elapsed():.0f} s"


def describe_grpc_failure(service: str, code: grpc.StatusCode, details: str) -> str:
    state = "busy" if code == grpc.StatusCode.RESOURCE_EXHAUSTED else "unavailable"
    text = " ".join((details or code.name).split())
    return f"{service} {state} ({code.name}: {text[:160]})"


def response_to_dict(r: transmitter_pb2.SubmitResponse) -> dict[str, Any]:
    from shared.rpc.convert import edit_to_dict, outcome_to_dict, report_to_dict

    return {
        "request_id": r.request_id, "session_id": r.session_id, "session_turn": r.session_turn,
        "edit": edit_to_dict(r.edit), "outcome": outcome_to_dict(r.outcome), "k": r.k,
        "channel_uses": r.channel_uses, "cbr": r.cbr, "timings": dict(r.timings), "bundle_version": r.bundle_version,
        "channel_report": report_to_dict(r.channel_report), "result_path": r.result_path, "batch_size": r.batch_size,
        "inverted": r.inverted, "replayed": r.replayed, "served_by": r.served_by,
        "scheme": r.scheme or "editdsc",
        "generative": _generative_dict(r) if r.scheme == "generative" else None,
    }


def _generative_dict(r: transmitter_pb2.SubmitResponse) -> dict[str, Any]:
    """The generative scheme's parameters in force, with k and the CBR in both conventions."""
    from shared.rpc.convert import generative_to_dict

    d = generative_to_dict(r.generative)
    # r.cbr counts real values (k / 3R²); complex channel uses are half as many
    d.update({"k_real": r.k, "k_complex": r.k // 2, "cbr_real": r.cbr, "cbr_complex": r.cbr / 2})
    return d


class _StreamBrokeOff(Exception):
    """A SubmitStream ended without its result."""

    def __init__(self, code: grpc.StatusCode, details: str, events: int):
        super().__init__(details)
        self.code, self.details, self.events = code, details, events


class EditDSCClient:
    """Talks to a transmitter (gRPC) and a receiver (HTTP), retrying what may be retried (module docstring).

    Parameters
    ----------
    transmitter : gRPC HOST:PORT; receiver_url : the receiver's HTTP base URL
    timeout_s : deadline of one attempt (gRPC) and the HTTP read timeout
    retry_for_s : retry window of one call in seconds (None: ``EDSC_CLIENT_RETRY_FOR_S``, else 60; 0: off)
    on_retry : told one line per retry (default: :func:`print_retry`, stderr)
    token : bearer token (None: ``EDSC_TOKEN``; empty: none)
    ca : PEM CA file for TLS (None: ``EDSC_TLS_CA``; empty: plain text)
    """

    def __init__(self, transmitter: str = "127.0.0.1:50051", receiver_url: str = "http://127.0.0.1:8080",
                 timeout_s: float = 600.0, retry_for_s: Optional[float] = None, on_retry: Optional[RetryFn] = None,
                 token: Optional[str] = None, ca: Optional[str] = None):
        self.transmitter = transmitter
        self.receiver_url = receiver_url.rstrip("/")
        self.timeout_s = timeout_s
        self.retry_for_s = retry_for_from_env() if retry_for_s is None else check_retry_for(retry_for_s, "retry_for_s")
        self.on_retry = on_retry or print_retry
        self.token = (os.environ.get(TOKEN_ENV, "") if token is None else token).strip()
        ca = os.environ.get(CA_ENV, "") if ca is None else ca
        if ca and not os.path.isfile(ca):
            raise InvalidArgumentError(f"CA file {ca} does not exist")
        target, balance = balanced_target(transmitter)
        options = channel_options(MAX_MESSAGE_BYTES) + balance
        if ca:
            from shared.tls import client_credentials
            self._channel = grpc.secure_channel(target, client_credentials(ca), options=options)
        else:
            self._channel = grpc.insecure_channel(target, options=options)
        self.stub = transmitter_pb2_grpc.TransmitterServiceStub(self._channel)
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        self.http = httpx.Client(base_url=self.receiver_url, timeout=httpx.Timeout(timeout_s, connect=5.0),
                                 headers=headers, verify=ssl.create_default_context(cafile=ca) if ca else True)

    def metadata(self, request_id: str) -> tuple[tuple[str, str], ...]:
        md = [(REQUEST_ID_KEY, request_id)]
        if self.token:
            md.append(("authorization", f"Bearer {self.token}"))
        return tuple(md)

    def close(self) -> None:
        self._channel.close()
        self.http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @staticmethod
    def build_request(image: Optional[bytes], instruction: str, snr_db: float,
                      channel: Optional[Mapping[str, Any]] = None, seed: Optional[int] = None,
                      session_id: str = "", request_id: str = "", inversion_steps: int = 0,
                      edit_steps: int = 0, scheme: str = "",
                      generative: Optional[Mapping[str, Any]] = None) -> transmitter_pb2.SubmitRequest:
        from shared.rpc.convert import channel_params_from_dict

        params = channel_params_from_dict({"snr_db": snr_db, **dict(channel or {})})
        req = transmitter_pb2.SubmitRequest(image=image or b"", instruction=instruction, channel=params,
                                            session_id=session_id, request_id=request_id,
                                            inversion_steps=inversion_steps, edit_steps=edit_steps, scheme=scheme)
        if generative is not None:      # {"privacy": str, "k": int, "no_flow": bool, "edit": bool}
            for name, value in dict(generative).items():
                setattr(req.generative, name, value)
        if seed is not None:
            req.seed = seed
        return req

    def submit(self, image: Optional[bytes], instruction: str, snr_db: float,
               channel: Optional[Mapping[str, Any]] = None, *, seed: Optional[int] = None, session_id: str = "",
               request_id: str = "", inversion_steps: int = 0, edit_steps: int = 0,
               on_progress: Optional[ProgressFn] = None, timeout_s: Optional[float] = None,
               stream: bool = True, scheme: str = "", generative: Optional[Mapping[str, Any]] = None
               ) -> dict[str, Any]:
        """Submit one edit (or, with ``scheme="generative"``, one image through the generative scheme); returns the transmitter's answer as a dict (raises :class:`ServiceCallError`).

        Without ``request_id`` a random one is chosen, so that every retry carries the same id.
        """
        request_id = request_id or new_request_id()
        req = self.build_request(image, instruction, snr_db, channel, seed, session_id, request_id,
                                 inversion_steps, edit_steps, scheme, generative)
        metadata = self.metadata(request_id)
        timeout = timeout_s or self.timeout_s
        backoff = Backoff(self.retry_for_s)
        while True:
            try:
                if not stream:
                    return response_to_dict(self.stub.Submit(req, timeout=timeout, metadata=metadata))
                return response_to_dict(self._stream_once(req, timeout, metadata, on_progress))
            except grpc.RpcError as exc:
                code, details, what = exc.code(), exc.details() or "", None
            except _StreamBrokeOff as exc:
                code, details = exc.code, exc.details
                what = f"transmitter stream broke off after {exc.events} event{'s' if exc.events != 1 else ''}"
            if code not in RETRYABLE_CODES:
                raise ServiceCallError(code, details)
            delay = backoff.next_delay()
            if delay is None:
                suffix = f" ({backoff.gave_up()})" if self.retry_for_s > 0 else ""
                raise ServiceCallError(code, details + suffix)
            reason = describe_grpc_failure("transmitter", code, details)
            if what:
                reason = f"{what}: {reason}"
            self.on_retry(backoff.retry_message(reason, delay))
            time.sleep(delay)

    def _stream_once(self, req, timeout: float, metadata, on_progress: Optional[ProgressFn]):
        """One SubmitStream attempt: its result, or :class:`_StreamBrokeOff` when it broke off after events."""
        events = 0
        try:
            for event in self.stub.SubmitStream(transmitter_pb2.SubmitStreamRequest(submit=req), timeout=timeout,
                                                metadata=metadata):
                events += 1
                if event.HasField("progress"):
                    if on_progress:
                        on_progress(event.progress.stage, event.progress.step, event.progress.total)
                else:
                    return event.result
        except grpc.RpcError as exc:
            if events == 0:
                raise
            raise _StreamBrokeOff(exc.code(), exc.details() or "", events) from None
        raise _StreamBrokeOff(grpc.StatusCode.UNAVAILABLE, "the stream ended without a result", events)

    # ------------------------------------------------------------------ the receiver (HTTP)
    def _get(self, path: str, params: Mapping[str, Any], what: str) -> httpx.Response:
        """GET with retries of connection errors and 503 inside the retry window; checks for 200."""
        backoff = Backoff(self.retry_for_s)
        while True:
            try:
                r = self.http.get(path, params=dict(params))
                if r.status_code not in RETRYABLE_HTTP:
                    self._check(r, what)
                    return r
                reason, failure = f"receiver busy (HTTP {r.status_code})", None
            except httpx.TransportError as exc:
                reason, failure = f"receiver unavailable ({type(exc).__name__}: {str(exc)[:160]})", exc
            delay = backoff.next_delay()
            if delay is None:
                suffix = f" ({backoff.gave_up()})" if self.retry_for_s > 0 else ""
                if failure is not None:
                    raise EditDSCError(f"the receiver at {self.receiver_url} is not reachable "
                                       f"({type(failure).__name__}: {failure}){suffix}") from None
                self._check(r, what, suffix)
            self.on_retry(backoff.retry_message(reason, delay))
            time.sleep(delay)

    def result(self, result_id: str, wait_s: float = 30.0) -> dict[str, Any]:
        return self._get(f"/v1/results/{result_id}", {"wait": wait_s}, result_id).json()

    def image(self, result_id: str, wait_s: float = 30.0) -> bytes:
        return self._get(f"/v1/results/{result_id}/image.png", {"wait": wait_s}, result_id).content

    def results(self, limit: int = 50, cursor: Optional[str] = None, session_id: Optional[str] = None
                ) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        if session_id:
            params["session_id"] = session_id
        return self._get("/v1/results", params, "results").json()

    @staticmethod
    def _check(r: httpx.Response, what: str, suffix: str = "") -> None:
        if r.status_code != 200:
            text = " ".join(r.text[:300].split())
            raise EditDSCError(f"receiver answered HTTP {r.status_code} for {what}: {text}{suffix}")


def wait_until_serving(addresses: Mapping[str, str], http_ready=None, timeout_s: float = 120.0,
                       alive: Optional[Callable[[], Optional[str]]] = None, credentials=None, verify=True) -> None:
    """Block until every gRPC address reports SERVING (and every URL of ``http_ready``, one or a list, answers
    200); ``alive`` may return the name of a process that died (then this fails at once). ``credentials`` (gRPC
    channel credentials) and ``verify`` (an SSL context) are for services running with TLS."""
    deadline = time.monotonic() + timeout_s
    pending = dict(addresses)
    urls = [http_ready] if isinstance(http_ready, str) else list(http_ready or [])
    while True:
        for name, addr in list(pending.items()):
            if health_status(addr, timeout=1.0, credentials=credentials) == "SERVING":
                del pending[name]
        waiting_http = []
        for url in urls:
            try:
                if httpx.get(url, timeout=1.0, verify=verify).status_code != 200:
                    waiting_http.append(url)
            except httpx.HTTPError:
                waiting_http.append(url)
        if not pending and not waiting_http:
            return
        if alive is not None:
            dead = alive()
            if dead:
                raise EditDSCError(f"the {dead} service exited during start-up (see its log)")
        if time.monotonic() > deadline:
            waiting = list(pending) + [f"HTTP {u}" for u in waiting_http]
            raise EditDSCError(f"services not healthy after {timeout_s:g} s: {', '.join(waiting)}")
        time.sleep(0.2)
