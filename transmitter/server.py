"""The transmitter service: ``TransmitterService.Submit`` / ``SubmitStream``.

image + instruction → (micro-batched) inversion + JECC + A_CE → ``ChannelService.Transmit`` → the receiver stores
the result; the answer carries the parsed edit, the JECC outcome, k, CBR, per-stage timings and the bundle version.
Sessions let a follow-up instruction continue from the last sent latent without re-inverting.

Run with ``python -m transmitter.server`` (settings: :class:`transmitter.settings.TransmitterServiceSettings`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import TimeoutError as FutureTimeout

import grpc
import torch

from shared.bundle import Bundle
from shared.channel.limits import check_snr_db
from shared.config import load_settings, pick_device, settings as common_settings
from shared.errors import InvalidArgumentError
from shared.image_io import load_image_tensor
from shared.rpc.convert import edit_to_proto, outcome_to_proto
from shared.rpc.editdsc.v1 import channel_pb2, channel_pb2_grpc, common_pb2, transmitter_pb2, transmitter_pb2_grpc
from shared.rpc.serving import Handler, Limiter, Server, ServiceMetrics, channel_options, remaining_s, setup_logging
from shared.rpc.status import ServiceError, downstream_error, new_request_id, outgoing_metadata, valid_request_id
from shared.rpc.tensors import tensor_to_proto
from transmitter.batcher import Job, MicroBatcher
from transmitter.inversion import InversionConfig
from transmitter.jecc import JECCConfig
from transmitter.pipeline import TransmitterPipeline, channel_bandwidth_ratio
from transmitter.sessions import SessionStore
from transmitter.settings import TransmitterServiceSettings

log = logging.getLogger("editdsc.transmitter")
SERVICE = "editdsc.v1.TransmitterService"
MAX_INSTRUCTION_CHARS = 1000


class TransmitterServicer(transmitter_pb2_grpc.TransmitterServiceServicer):
    def __init__(self, settings: TransmitterServiceSettings, metrics: ServiceMetrics):
        self.s = settings
        self.metrics = metrics
        self.handler = Handler(metrics, log)
        self.limiter = Limiter(settings.max_in_flight, "transmitter")
        self.sessions = SessionStore(settings.max_sessions, settings.session_ttl_s)
        self.pipeline: TransmitterPipeline | None = None
        self.batcher: MicroBatcher | None = None
        self.bundle: Bundle | None = None
        self.k = 0
        max_bytes = int(settings.max_message_mb * 1024 * 1024)
        self._channel = grpc.insecure_channel(settings.channel_address, options=channel_options(max_bytes))
        self.channel = channel_pb2_grpc.ChannelServiceStub(self._channel)

    # ------------------------------------------------------------------ life cycle
    def load(self) -> None:
        if self.s.load_delay_s:
            time.sleep(self.s.load_delay_s)
        common = common_settings()
        device = pick_device(self.s.device or common.device)
        self.bundle = Bundle(self.s.bundle or common.bundle, device)
        pipeline = TransmitterPipeline(self.bundle, InversionConfig(steps=self.s.inversion_steps,
                                                                       init=self.s.inversion_init,
                                                                       keep_degrees=self.s.inversion_keep_degrees),
                                       JECCConfig(max_steps=self.s.edit_steps,
                                                  channel_draws=self.s.edit_channel_draws))
        self.batcher = MicroBatcher(pipeline, self.s.max_batch_size, self.s.max_batch_wait_ms / 1000.0,
                                    on_batch=lambda n: self.metrics.batch_size.labels("transmitter").observe(n))
        with torch.no_grad():
            self.k = int(pipeline.adapters.encode(torch.zeros(1, self.bundle.manifest.latent_dim, device=device),
                                                  torch.tensor([0.0])).shape[1])
        self.pipeline = pipeline

    def close(self) -> None:
        if self.batcher is not None:
            self.batcher.close()
        self._channel.close()

    # ------------------------------------------------------------------ RPCs
    def Submit(self, request, context):
        with self.handler.call("Submit", context, request.request_id) as st:
            return self._submit(request, context, st["request_id"], None)

    def SubmitStream(self, request, context):
        with self.handler.call("SubmitStream", context, request.submit.request_id) as st:
            events: "queue.Queue" = queue.Queue()
            done = object()
            last = {"stage": None, "t": 0.0}

            def progress(stage: str, step: int, total: int) -> None:
                events.put(transmitter_pb2.SubmitStreamResponse(
                    progress=transmitter_pb2.Progress(stage=stage, step=step, total=total)))

            def work():
                try:
                    events.put(transmitter_pb2.SubmitStreamResponse(
                        result=self._submit(request.submit, context, st["request_id"], progress)))
                except BaseException as exc:  # noqa: BLE001 - handed to the stream
                    events.put(exc)
                finally:
                    events.put(done)

            worker = threading.Thread(target=work, name=f"submit-{st['request_id'][:8]}", daemon=True)
            worker.start()
            while True:
                item = events.get()
                if item is done:
                    break
                if isinstance(item, BaseException):
                    raise item
                if item.HasField("progress"):   # at most ~20 events per second per stage
                    now = time.monotonic()
                    pr = item.progress
                    if pr.stage == last["stage"] and now - last["t"] < 0.05 and pr.step not in (pr.total, 0):
                        continue
                    last.update(stage=pr.stage, t=now)
                yield item

    # ------------------------------------------------------------------ the work
    def _submit(self, request, context, rid: str, progress):
        t_start = time.perf_counter()
        rid = valid_request_id(rid)
        if self.pipeline is None or self.batcher is None:
            raise ServiceError(grpc.StatusCode.UNAVAILABLE, "the transmitter is still loading its weights")
        with self.limiter.slot():
            pipeline = self.pipeline
            # ---- validate everything cheap first
            if not request.HasField("channel"):
                raise InvalidArgumentError("the request has no channel parameters (snr_db, model)")
            snr = check_snr_db(request.channel.snr_db)
            instruction = request.instruction.strip()
            if not instruction:
                raise InvalidArgumentError("the instruction is empty")
            if len(instruction) > MAX_INSTRUCTION_CHARS:
                raise InvalidArgumentError(f"the instruction is longer than {MAX_INSTRUCTION_CHARS} characters")
            inv_steps = request.inversion_steps or self.s.inversion_steps
            edit_steps = request.edit_steps or self.s.edit_steps
            if not 0 <= request.inversion_steps <= self.s.max_inversion_steps:
                raise InvalidArgumentError(f"inversion_steps must lie in [0, {self.s.max_inversion_steps}]")
            if not 0 <= request.edit_steps <= self.s.max_edit_steps:
                raise InvalidArgumentError(f"edit_steps must lie in [0, {self.s.max_edit_steps}]")
            channel = common_pb2.ChannelParams()
            channel.CopyFrom(request.channel)
            if request.HasField("seed"):
                channel.seed = request.seed
            k = self.k
            try:
                check = self.channel.ValidateChannel(channel_pb2.ValidateChannelRequest(channel=channel, k=k),
                                                     timeout=min(10.0, remaining_s(context, 10.0)),
                                                     metadata=outgoing_metadata(rid))
            except grpc.RpcError as exc:
                raise downstream_error(exc, "channel") from None

            # ---- session: a follow-up without an image continues from the last latent
            session_id = request.session_id
            image = w_start = None
            if session_id:
                valid_request_id(session_id)
            if request.image:
                image = load_image_tensor(bytes(request.image), pipeline.resolution)[0]   # (3, R, R)
                session_id = session_id or new_request_id()
                turn = 1
            else:
                if not session_id:
                    raise InvalidArgumentError("an image is needed (or a session id to continue a conversation)")
                session = self.sessions.get(session_id)
                if session is None:
                    raise ServiceError(grpc.StatusCode.NOT_FOUND,
                                       f"session {session_id!r} is unknown or expired; send the image again")
                w_start = session.w
                turn = session.turn + 1
            edit = pipeline.parse([instruction])[0]
            t_validated = time.perf_counter()

            # ---- the model (micro-batched)
            left = remaining_s(context, self.s.downstream_timeout_s)
            job = Job(edit=edit, snr_db=snr, image=image, w_start=w_start, inversion_steps=inv_steps,
                      edit_steps=edit_steps, progress=progress, deadline=time.monotonic() + left)
            context.add_callback(job.cancelled.set)
            if progress:
                progress("queued", 0, 1)
            future = self.batcher.submit(job)
            try:
                out = future.result(timeout=left)
            except FutureTimeout:
                job.cancelled.set()
                raise ServiceError(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline exceeded while editing") from None
            queue_s = job.started - job.enqueued
            compute_s = job.finished - job.started
            self.metrics.observe_queue("Submit", queue_s)
            self.metrics.observe_compute("Submit", compute_s)

            # ---- forward to the channel (and through it to the receiver)
            if progress:
                progress("channel", 0, 1)
            cbr = channel_bandwidth_ratio(out.k, pipeline.resolution)
            tx_timings = {**out.timings, "validate_s": t_validated - t_start, "queue_s": queue_s,
                          "compute_s": compute_s}
            info = common_pb2.RequestInfo(
                request_id=rid, session_id=session_id, session_turn=turn, instruction=instruction,
                edit=edit_to_proto(out.edit), outcome=outcome_to_proto(out.outcome), channel=channel, k=out.k,
                cbr=cbr, resolution=pipeline.resolution, bundle_version=self.bundle.version, timings=tx_timings,
                inversion_lpips=out.inversion_lpips if out.inversion_lpips is not None else -1.0,
                submitted_unix=time.time())
            left = remaining_s(context, self.s.downstream_timeout_s)
            if left <= 0:
                raise ServiceError(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline exceeded before the channel")
            t_ch = time.perf_counter()
            try:
                sent = self.channel.Transmit(
                    channel_pb2.TransmitRequest(request_id=rid, symbols=tensor_to_proto(out.x.reshape(1, -1).float()),
                                                channel=channel, info=info),
                    timeout=left, metadata=outgoing_metadata(rid))
            except grpc.RpcError as exc:
                raise downstream_error(exc, "channel") from None
            t_done = time.perf_counter()
            if progress:
                progress("channel", 1, 1)
            self.sessions.update(session_id, out.w_edited, out.edit.to_dict(), reset=image is not None)
            timings = dict(tx_timings)
            timings.update({f"channel.{k}": v for k, v in sent.timings.items()})
            timings.update({f"receiver.{k}": v for k, v in sent.delivery.timings.items()})
            timings["forward_s"] = t_done - t_ch
            timings["total_s"] = t_done - t_start
            return transmitter_pb2.SubmitResponse(
                request_id=rid, session_id=session_id, session_turn=turn, edit=info.edit, outcome=info.outcome,
                k=out.k, channel_uses=sent.report.channel_uses or check.channel_uses, cbr=cbr, timings=timings,
                bundle_version=self.bundle.version, channel_report=sent.report,
                result_path=sent.delivery.result_path, batch_size=job.batch_size, inverted=image is not None)


def build(settings: TransmitterServiceSettings | None = None):
    s = settings or TransmitterServiceSettings()
    if s.torch_threads > 0:
        torch.set_num_threads(s.torch_threads)
    metrics = ServiceMetrics("transmitter")
    server = Server(s.host, s.port, [SERVICE], max_workers=s.max_in_flight + 8,
                    max_message_bytes=int(s.max_message_mb * 1024 * 1024))
    servicer = TransmitterServicer(s, metrics)
    transmitter_pb2_grpc.add_TransmitterServiceServicer_to_server(servicer, server.grpc)
    server.add_reflection()
    metrics.serve(s.metrics_port, s.metrics_host)
    return server, servicer


def main() -> int:
    s = load_settings(TransmitterServiceSettings)
    setup_logging(s.log_level, s.log_format)
    server, servicer = build(s)
    server.start()
    log.info("transmitter loading weights", extra={"address": server.address})
    servicer.load()
    server.set_serving()
    log.info("transmitter ready", extra={"address": server.address, "bundle": str(servicer.bundle.path),
                                         "device": str(servicer.bundle.device),
                                         "max_batch_size": s.max_batch_size, "channel": s.channel_address})
    server.run_until_signal(s.grace_s, on_stop=servicer.close)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
