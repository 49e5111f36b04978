"""Python client of the editdsc services: submit to the transmitter (gRPC, with progress), fetch results from
the receiver (HTTP), check health. Used by ``edsc send``, ``edsc demo``, the benchmark and the tests."""

from __future__ import annotations

import time
from typing import Any, Callable, Mapping, Optional

import grpc
import httpx

from shared.errors import EditDSCError
from shared.rpc.convert import channel_params_from_dict, edit_to_dict, outcome_to_dict, report_to_dict
from shared.rpc.editdsc.v1 import transmitter_pb2, transmitter_pb2_grpc
from shared.rpc.healthcheck import health_status
from shared.rpc.serving import channel_options
from shared.rpc.status import REQUEST_ID_KEY

MAX_MESSAGE_BYTES = 16 * 1024 * 1024
ProgressFn = Callable[[str, int, int], None]


class ServiceCallError(EditDSCError):
    """A service answered with an error status (``code`` is the grpc.StatusCode)."""

    def __init__(self, code: grpc.StatusCode, details: str):
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details


def response_to_dict(r: transmitter_pb2.SubmitResponse) -> dict[str, Any]:
    return {
        "request_id": r.request_id, "session_id": r.session_id, "session_turn": r.session_turn,
        "edit": edit_to_dict(r.edit), "outcome": outcome_to_dict(r.outcome), "k": r.k,
        "channel_uses": r.channel_uses, "cbr": r.cbr, "timings": dict(r.timings), "bundle_version": r.bundle_version,
        "channel_report": report_to_dict(r.channel_report), "result_path": r.result_path, "batch_size": r.batch_size,
        "inverted": r.inverted,
    }


class EditDSCClient:
    """Talks to a transmitter (gRPC) and a receiver (HTTP)."""

    def __init__(self, transmitter: str = "127.0.0.1:50051", receiver_url: str = "http://127.0.0.1:8080",
                 timeout_s: float = 600.0):
        self.transmitter = transmitter
        self.receiver_url = receiver_url.rstrip("/")
        self.timeout_s = timeout_s
        self._channel = grpc.insecure_channel(transmitter, options=channel_options(MAX_MESSAGE_BYTES))
        self.stub = transmitter_pb2_grpc.TransmitterServiceStub(self._channel)
        self.http = httpx.Client(base_url=self.receiver_url, timeout=httpx.Timeout(timeout_s, connect=5.0))

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
                      edit_steps: int = 0) -> transmitter_pb2.SubmitRequest:
        params = channel_params_from_dict({"snr_db": snr_db, **dict(channel or {})})
        req = transmitter_pb2.SubmitRequest(image=image or b"", instruction=instruction, channel=params,
                                            session_id=session_id, request_id=request_id,
                                            inversion_steps=inversion_steps, edit_steps=edit_steps)
        if seed is not None:
            req.seed = seed
        return req

    def submit(self, image: Optional[bytes], instruction: str, snr_db: float,
               channel: Optional[Mapping[str, Any]] = None, *, seed: Optional[int] = None, session_id: str = "",
               request_id: str = "", inversion_steps: int = 0, edit_steps: int = 0,
               on_progress: Optional[ProgressFn] = None, timeout_s: Optional[float] = None,
               stream: bool = True) -> dict[str, Any]:
        """Submit one edit; returns the transmitter's answer as a dict (raises :class:`ServiceCallError`)."""
        req = self.build_request(image, instruction, snr_db, channel, seed, session_id, request_id,
                                 inversion_steps, edit_steps)
        metadata = ((REQUEST_ID_KEY, request_id),) if request_id else None
        timeout = timeout_s or self.timeout_s
        try:
            if not stream:
                return response_to_dict(self.stub.Submit(req, timeout=timeout, metadata=metadata))
            result = None
            for event in self.stub.SubmitStream(transmitter_pb2.SubmitStreamRequest(submit=req), timeout=timeout,
                                                metadata=metadata):
                if event.HasField("progress"):
                    if on_progress:
                        on_progress(event.progress.stage, event.progress.step, event.progress.total)
                else:
                    result = event.result
            if result is None:
                raise ServiceCallError(grpc.StatusCode.INTERNAL, "the stream ended without a result")
            return response_to_dict(result)
        except grpc.RpcError as exc:
            raise ServiceCallError(exc.code(), exc.details() or "") from None

    def result(self, result_id: str, wait_s: float = 30.0) -> dict[str, Any]:
        r = self.http.get(f"/v1/results/{result_id}", params={"wait": wait_s})
        self._check(r, result_id)
        return r.json()

    def image(self, result_id: str, wait_s: float = 30.0) -> bytes:
        r = self.http.get(f"/v1/results/{result_id}/image.png", params={"wait": wait_s})
        self._check(r, result_id)
        return r.content

    def results(self, limit: int = 50, cursor: Optional[str] = None) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        r = self.http.get("/v1/results", params=params)
        self._check(r, "results")
        return r.json()

    @staticmethod
    def _check(r: httpx.Response, what: str) -> None:
        if r.status_code != 200:
            raise EditDSCError(f"receiver answered HTTP {r.status_code} for {what}: {r.text[:300]}")


def wait_until_serving(addresses: Mapping[str, str], http_ready: Optional[str] = None, timeout_s: float = 120.0,
                       alive: Optional[Callable[[], Optional[str]]] = None) -> None:
    """Block until every gRPC address reports SERVING (and ``http_ready`` answers 200); ``alive`` may return the
    name of a process that died (then this fails at once)."""
    deadline = time.monotonic() + timeout_s
    pending = dict(addresses)
    while True:
        for name, addr in list(pending.items()):
            if health_status(addr, timeout=1.0) == "SERVING":
                del pending[name]
        http_ok = True
        if http_ready:
            try:
                http_ok = httpx.get(http_ready, timeout=1.0).status_code == 200
            except httpx.HTTPError:
                http_ok = False
        if not pending and http_ok:
            return
        if alive is not None:
            dead = alive()
            if dead:
                raise EditDSCError(f"the {dead} service exited during start-up (see its log)")
        if time.monotonic() > deadline:
            waiting = list(pending) + ([] if http_ok else ["receiver HTTP"])
            raise EditDSCError(f"services not healthy after {timeout_s:g} s: {', '.join(waiting)}")
        time.sleep(0.2)
