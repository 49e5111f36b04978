"""The receiver service: ``ReceiverService.Deliver`` (gRPC) equalises, picks A_CD for the reported SNR, runs G,
stores the PNG + metadata durably; the FastAPI app (:mod:`receiver.http`) serves the results.

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
from receiver.settings import ReceiverServiceSettings
from receiver.store import ResultStore
from shared.bundle import Bundle
from shared.config import load_settings, pick_device, settings as common_settings
from shared.errors import InvalidArgumentError
from shared.image_io import encode_png
from shared.rpc.convert import channel_params_to_dict, edit_to_dict, outcome_to_dict, report_to_dict, \
    side_info_from_proto
from shared.rpc.editdsc.v1 import receiver_pb2, receiver_pb2_grpc
from shared.rpc.serving import Handler, Limiter, Server, ServiceMetrics, check_deadline, setup_logging
from shared.rpc.status import ServiceError, valid_request_id
from shared.rpc.tensors import tensor_from_proto

log = logging.getLogger("editdsc.receiver")
SERVICE = "editdsc.v1.ReceiverService"


def info_to_dict(info) -> dict[str, Any]:
    """The transmitter's RequestInfo as stored JSON."""
    return {
        "request_id": info.request_id, "session_id": info.session_id, "session_turn": info.session_turn,
        "instruction": info.instruction,
        "edit": edit_to_dict(info.edit) if info.HasField("edit") else None,
        "outcome": outcome_to_dict(info.outcome) if info.HasField("outcome") else None,
        "channel": channel_params_to_dict(info.channel) if info.HasField("channel") else None,
        "k": info.k, "cbr": info.cbr, "resolution": info.resolution, "bundle_version": info.bundle_version,
        "transmitter_timings": dict(info.timings),
        "inversion_lpips": info.inversion_lpips if info.inversion_lpips >= 0 else None,
        "submitted_unix": info.submitted_unix,
    }


class ReceiverServicer(receiver_pb2_grpc.ReceiverServiceServicer):
    def __init__(self, settings: ReceiverServiceSettings, metrics: ServiceMetrics, store: ResultStore):
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
        self.pipeline = pipeline

    def Deliver(self, request, context):
        t_start = time.perf_counter()
        with self.handler.call("Deliver", context, request.request_id) as st, self.limiter.slot():
            rid = valid_request_id(st["request_id"])
            if self.pipeline is None:
                raise ServiceError(grpc.StatusCode.UNAVAILABLE, "the receiver is still loading its weights")
            equalizer = request.equalizer or "mmse"
            if equalizer not in RECOVER_EQUALIZERS:
                raise InvalidArgumentError(f"unknown equalizer {equalizer!r}")
            received = tensor_from_proto(request.received, "received symbols")
            if not received.is_complex() or received.dim() != 2 or received.shape[0] != 1:
                raise InvalidArgumentError("received symbols must be complex64 of shape (1, n_uses)")
            info = side_info_from_proto(request.side_info)
            with self._compute:
                t0 = time.perf_counter()
                self.metrics.observe_queue("Deliver", t0 - t_start)
                check_deadline(context, "before decoding")
                y = recover(received.to(self.pipeline.device), info.to(self.pipeline.device), equalizer,
                            rescale=self.pipeline.rescale)
                t1 = time.perf_counter()
                images, dec_t = self.pipeline.decode(y, info.snr_db)
                png = encode_png(images[0])
                t2 = time.perf_counter()
                self.metrics.observe_compute("Deliver", t2 - t0)
            timings = {"equalize_s": t1 - t0, **dec_t, "encode_png_s": t2 - t1 - sum(dec_t.values())}
            report = report_to_dict(request.channel_report)
            meta = {**info_to_dict(request.info), "request_id": rid,
                    "channel_report": report,
                    "receiver": {"snr_db": info.snr_db, "adapter_snr_db": info.snr_db, "equalizer": equalizer,
                                 "csi": info.csi, "timings": timings,
                                 "bundle_version": self.bundle.version if self.bundle else ""},
                    "image": {"format": "png", "width": int(images.shape[-1]), "height": int(images.shape[-2])}}
            self.store.put(rid, png, meta, session_id=request.info.session_id)
            t3 = time.perf_counter()
            timings["store_s"] = t3 - t2
            return receiver_pb2.DeliverResponse(request_id=rid, result_path=f"/v1/results/{rid}", timings=timings,
                                                received_snr_db=float(report.get("received_snr_db", info.snr_db)))


def build(settings: ReceiverServiceSettings | None = None):
    s = settings or ReceiverServiceSettings()
    torch.set_num_threads(max(1, s.torch_threads))
    metrics = ServiceMetrics("receiver")
    store = ResultStore(s.store_dir)
    server = Server(s.host, s.port, [SERVICE], max_workers=s.max_in_flight + 8,
                    max_message_bytes=int(s.max_message_mb * 1024 * 1024))
    servicer = ReceiverServicer(s, metrics, store)
    receiver_pb2_grpc.add_ReceiverServiceServicer_to_server(servicer, server.grpc)
    server.add_reflection()
    metrics.serve(s.metrics_port, s.host)
    return server, servicer, store, metrics


def main() -> int:
    import uvicorn

    from receiver.http import create_app

    s = load_settings(ReceiverServiceSettings)
    setup_logging(s.log_level, s.log_format)
    server, servicer, store, metrics = build(s)
    app = create_app(store, lambda: servicer.ready, metrics.registry, s.max_wait_s, s.page_size_max)
    http = uvicorn.Server(uvicorn.Config(app, host=s.host, port=s.http_port, log_level="warning",
                                         access_log=False))
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
