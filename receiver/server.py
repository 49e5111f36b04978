"""The receiver service: ``ReceiverService.Deliver`` (gRPC) equalises, picks A_CD for the reported SNR, runs G,
stores the PNG + metadata durably; the FastAPI app (:mod:`receiver.http`) serves the results.

Two schemes are decoded, by ``RequestInfo.scheme``: ``editdsc`` (or empty; equaliser → A_CD → G) and
``generative`` (Han et al.: equaliser → codec decoder → flow inverse → head → G, :mod:`receiver.generative`), the
latter with the k and flow variant named in ``RequestInfo.generative``.

Deliver is idempotent per request id: a result already stored is kept and answered again (``replayed``), nothing
is decoded twice and nothing is replaced.

Run with ``python -m receiver.server`` (settings: :class:`receiver.settings.ReceiverServiceSettings`).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import grpc
import torch

from receiver.decoder import ReceiverPipeline
from receiver.equalization import RECOVER_EQUALIZERS, recover
from receiver.generative import GenerativeDecoder
from receiver.settings import ReceiverServiceSettings
from receiver.store import ResultStore, open_result_store
from shared.bundle import Bundle
from shared.config import load_settings, pick_device, settings as common_settings
from shared.errors import EditDSCError, InvalidArgumentError
from shared.image_io import encode_png
from shared.rpc.convert import channel_params_to_dict, edit_to_dict, generative_to_dict, outcome_to_dict, \
    report_to_dict, side_info_from_proto
from shared.rpc.editdsc.v1 import receiver_pb2, receiver_pb2_grpc
from shared.limits import MAX_INSTRUCTION_CHARS
from shared.rpc.serving import Handler, Limiter, Security, Server, ServiceMetrics, add_servicer, check_deadline, \
    setup_logging
from shared.rpc.status import ServiceError, quote, valid_id, valid_request_id
from shared.rpc.tensors import tensor_from_proto

log = logging.getLogger("editdsc.receiver")
SERVICE = "editdsc.v1.ReceiverService"
INTERNAL_METHODS = (f"/{SERVICE}/Deliver",)
MAX_TIMINGS = 64                 # entries of a timings map that are stored
MAX_SHORT_TEXT = 128             # bundle versions, edit fields, statuses
SCHEMES = ("editdsc", "generative")


def check_info(info) -> None:
    """Bounds on what the transmitter's RequestInfo brings into the stored metadata."""
    if info.session_id:
        valid_id(info.session_id, "session id")
    if len(info.instruction) > MAX_INSTRUCTION_CHARS:
        raise InvalidArgumentError(f"the instruction has {len(info.instruction)} characters; the limit is "
                                   f"{MAX_INSTRUCTION_CHARS}")
    if len(info.timings) > MAX_TIMINGS:
        raise InvalidArgumentError(f"info has {len(info.timings)} timings; the limit is {MAX_TIMINGS}")
    for text in (info.bundle_version, info.edit.attribute, info.edit.mode, info.outcome.status,
                 info.outcome.attribute, *info.timings.keys()):
        if len(text) > MAX_SHORT_TEXT:
            raise InvalidArgumentError(f"info field {quote(text, 40)} is longer than {MAX_SHORT_TEXT} characters")
    if len(info.outcome.degrees_before) > 64 or len(info.outcome.degrees_after) > 64:
        raise InvalidArgumentError("info: an outcome has at most 64 degrees")


def info_to_dict(info) -> dict[str, Any]:
    """The transmitter's RequestInfo as stored JSON."""
    return {
        "request_id": info.request_id, "principal": info.principal, "session_id": info.session_id,
        "session_turn": info.session_turn,
        "instruction": info.instruction,
        "edit": edit_to_dict(info.edit) if info.HasField("edit") else None,
        "outcome": outcome_to_dict(info.outcome) if info.HasField("outcome") else None,
        "channel": channel_params_to_dict(info.channel) if info.HasField("channel") else None,
        "k": info.k, "cbr": info.cbr, "resolution": info.resolution, "bundle_version": info.bundle_version,
        "transmitter_timings": dict(info.timings),
        "inversion_lpips": info.inversion_lpips if info.inversion_lpips >= 0 else None,
        "submitted_unix": info.submitted_unix,
        "scheme": info.scheme or "editdsc",
        "generative": generative_to_dict(info.generative) if info.scheme == "generative" else None,
    }


class ReceiverServicer(receiver_pb2_grpc.ReceiverServiceServicer):
    def __init__(self, settings: ReceiverServiceSettings, metrics: ServiceMetrics, store: ResultStore):
        self.generative: GenerativeDecoder | None = None
        self.s = settings
        self.metrics = metrics
        self.store = store
        self.handler = Handler(metrics, log)
        self.limiter = Limiter(settings.max_in_flight, "receiver")
        self.pipeline: ReceiverPipeline | None = None
        self.bundle: Bundle | None = None
        self._compute = threading.Lock()     # one decode at a time on the model (others queue: queue time)

    @property
    def ready(self) -> bool:
        return self.pipeline is not None

    def load(self) -> None:
        if self.s.load_delay_s:
            time.sleep(self.s.load_delay_s)
        common = common_settings()
        device = pick_device(self.s.device or common.device)
        self.bundle = Bundle(self.s.bundle or common.bundle, device)
        pipeline = ReceiverPipeline(self.bundle)
        with torch.no_grad():
            pipeline.render(torch.zeros(1, self.bundle.manifest.latent_dim))   # builds the generator
        self.generative = GenerativeDecoder(self.bundle)
        self.pipeline = pipeline

    def _decode(self, request, received, info, equalizer: str):
        """Images (1, 3, R, R) and timings of one message, by the scheme its RequestInfo names."""
        scheme = request.info.scheme or "editdsc"
        if scheme == "editdsc":
            latent_dim = self.bundle.manifest.latent_dim
            if info.k != latent_dim:
                raise InvalidArgumentError(f"side info k={info.k}; this receiver's bundle decodes k={latent_dim}")
            return self.pipeline.receive(received, info, equalizer=equalizer)
        gen = request.info.generative
        if info.k != gen.k:
            raise InvalidArgumentError(f"side info k={info.k} but the generative parameters say k={gen.k}")
        self.generative.bank.variant(gen.k, not gen.no_flow)          # unknown variants: INVALID_ARGUMENT
        t0 = time.perf_counter()
        y = recover(received.to(self.bundle.device), info, equalizer)                   # (1, k)
        images, timings = self.generative.decode(y, gen.k, not gen.no_flow)
        return images, {"equalize_s": time.perf_counter() - t0 - sum(timings.values()), **timings}

    def Deliver(self, request, context):
        t_start = time.perf_counter()
        with self.handler.call("Deliver", context, request.request_id) as st, self.limiter.slot():
            rid = valid_request_id(st["request_id"])
            if self.pipeline is None:
                raise ServiceError(grpc.StatusCode.UNAVAILABLE, "the receiver is still loading its weights")
            owner = request.info.principal
            if owner:
                valid_id(owner, "principal")
            stored = self.store.get(rid, owner)
            if stored is not None:                      # a retry: the first stored result stands
                return receiver_pb2.DeliverResponse(
                    request_id=rid, result_path=f"/v1/results/{rid}", replayed=True,
                    received_snr_db=float((stored.metadata.get("channel_report") or {}).get(
                        "received_snr_db", stored.metadata.get("receiver", {}).get("snr_db", 0.0)) or 0.0))
            equalizer = request.equalizer or self.s.equalizer
            if equalizer not in RECOVER_EQUALIZERS:
                raise InvalidArgumentError(f"unknown equalizer {quote(equalizer, 40)}; use one of "
                                           f"{', '.join(RECOVER_EQUALIZERS)}")
            check_info(request.info)
            received = tensor_from_proto(request.received, "received symbols")
            if not received.is_complex() or received.dim() != 2 or received.shape[0] != 1:
                raise InvalidArgumentError("received symbols must be complex64 of shape (1, n_uses)")
            if not bool(torch.isfinite(torch.view_as_real(received)).all()):
                raise InvalidArgumentError("received symbols hold NaN or infinite values")
            info = side_info_from_proto(request.side_info)
            if received.shape[1] != info.layout.n_uses:
                raise InvalidArgumentError(f"received symbols have {received.shape[1]} channel uses; the side "
                                           f"info's frame has {info.layout.n_uses}")
            scheme = request.info.scheme or "editdsc"
            if scheme not in SCHEMES:
                raise InvalidArgumentError(f"unknown scheme {quote(scheme, 40)}; use one of {', '.join(SCHEMES)}")
            report = report_to_dict(request.channel_report)
            if len(request.channel_report.report_json) > 16384:
                raise InvalidArgumentError("the channel report is longer than 16384 bytes")
            with self._compute:
                t0 = time.perf_counter()
                self.metrics.observe_queue("Deliver", t0 - t_start)
                check_deadline(context, "before decoding")
                images, rx_t = self._decode(request, received, info, equalizer)
                png = encode_png(images[0])
                t2 = time.perf_counter()
                self.metrics.observe_compute("Deliver", t2 - t0)
            timings = {**rx_t, "encode_png_s": t2 - t0 - sum(rx_t.values())}
            meta = {**info_to_dict(request.info), "request_id": rid,
                    "channel_report": report,
                    "receiver": {"snr_db": info.snr_db, "adapter_snr_db": info.snr_db, "equalizer": equalizer,
                                 "csi": info.csi, "timings": timings,
                                 "bundle_version": self.bundle.version if self.bundle else ""},
                    "image": {"format": "png", "width": int(images.shape[-1]), "height": int(images.shape[-2])}}
            _, new = self.store.put(rid, png, meta, session_id=request.info.session_id, owner=owner)
            t3 = time.perf_counter()
            timings["store_s"] = t3 - t2
            return receiver_pb2.DeliverResponse(request_id=rid, result_path=f"/v1/results/{rid}", timings=timings,
                                                received_snr_db=float(report.get("received_snr_db", info.snr_db)),
                                                replayed=not new)


def build(settings: ReceiverServiceSettings | None = None):
    s = settings or ReceiverServiceSettings()
    torch.set_num_threads(max(1, s.torch_threads))
    metrics = ServiceMetrics("receiver")
    security = Security(s, internal_methods=INTERNAL_METHODS)
    security.check_bind(s.host)
    store = open_result_store(s.store_dir, s.database_url_value(), max_metadata_bytes=s.max_metadata_kb * 1024)
    server = Server(s.host, s.port, [SERVICE], max_workers=s.max_in_flight + 8,
                    max_message_bytes=s.max_message_bytes, credentials=security.server_credentials(),
                    interceptors=security.interceptors(metrics), max_connection_age_s=s.max_connection_age_s)
    servicer = ReceiverServicer(s, metrics, store)
    servicer.security = security
    add_servicer(server.grpc, servicer, receiver_pb2.DESCRIPTOR.services_by_name["ReceiverService"])
    if security.reflection:
        server.add_reflection()
    metrics.serve(s.metrics_port, s.metrics_host)
    return server, servicer, store, metrics


def main() -> int:
    import uvicorn

    from receiver.http import create_app

    s = load_settings(ReceiverServiceSettings)
    setup_logging(s.log_level, s.log_format)
    try:
        server, servicer, store, metrics = build(s)
    except EditDSCError as exc:
        raise SystemExit(f"receiver: {exc}") from None
    security = servicer.security
    security.reload_on_sighup()
    app = create_app(store, lambda: servicer.ready, metrics.registry, s.max_wait_s, s.page_size_max, s.max_waiters,
                     tokens=security.tokens)
    tls = {"ssl_certfile": str(security.tls.cert), "ssl_keyfile": str(security.tls.key)} if security.tls else {}
    http = uvicorn.Server(uvicorn.Config(app, host=s.host, port=s.http_port, log_level="warning",
                                         access_log=False, **tls))
    http_thread = threading.Thread(target=http.run, name="http", daemon=True)
    http_thread.start()
    server.start()
    log.info("receiver loading weights", extra={"address": server.address, "http_port": s.http_port})
    servicer.load()
    server.set_serving()
    log.info("receiver ready", extra={"address": server.address, "http_port": s.http_port,
                                      "bundle": str(servicer.bundle.path), "store": str(s.store_dir)})

    def stop_http():
        http.should_exit = True
        http_thread.join(5)
        store.close()

    server.run_until_signal(s.grace_s, on_stop=stop_http)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
