"""The channel service: ``ChannelService.Transmit`` applies the channel library and forwards to the receiver.

Run with ``python -m channel_emulator.server`` (settings: :class:`channel_emulator.settings.ChannelServiceSettings`).
"""

from __future__ import annotations

import logging
import time

import grpc
import torch

from channel_emulator.config import ChannelConfig
from channel_emulator.framing import build_layout
from channel_emulator.link import apply_channel
from channel_emulator.settings import ChannelServiceSettings
from shared.config import load_settings
from shared.errors import EditDSCError, InvalidArgumentError
from shared.rpc.convert import channel_params_to_dict, report_to_proto, side_info_to_proto
from shared.rpc.editdsc.v1 import channel_pb2, channel_pb2_grpc, receiver_pb2, receiver_pb2_grpc
from shared.rpc.serving import Handler, Limiter, Security, Server, ServiceMetrics, add_servicer, check_deadline, \
    remaining_s, setup_logging
from shared.rpc.status import ServiceError, downstream_error, valid_request_id
from shared.rpc.tensors import tensor_from_proto, tensor_to_proto

log = logging.getLogger("editdsc.channel")
SERVICE = "editdsc.v1.ChannelService"
INTERNAL_METHODS = (f"/{SERVICE}/Transmit", f"/{SERVICE}/ValidateChannel")
MAX_K = 1 << 16


def channel_config(request, seed_override: int | None = None) -> ChannelConfig:
    """The request's channel parameters as a config (they are required: no default channel is assumed)."""
    if not request.HasField("channel"):
        raise InvalidArgumentError("the request has no channel parameters (snr_db, model)")
    kwargs = channel_params_to_dict(request.channel)
    if seed_override is not None:
        kwargs["seed"] = seed_override
    return ChannelConfig(**kwargs)     # ChannelParameterError (an InvalidArgumentError) names the bad parameter


class ChannelServicer(channel_pb2_grpc.ChannelServiceServicer):
    def __init__(self, settings: ChannelServiceSettings, metrics: ServiceMetrics, security: Security):
        self.s = settings
        self.security = security
        self.metrics = metrics
        self.handler = Handler(metrics, log)
        self.limiter = Limiter(settings.max_in_flight, "channel service")
        self.device = torch.device(settings.device)
        self._channel = security.channel(settings.receiver_address, settings.max_message_bytes)
        self.receiver = receiver_pb2_grpc.ReceiverServiceStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def ValidateChannel(self, request, context):
        with self.handler.call("ValidateChannel", context):
            cfg = channel_config(request)
            if request.k:
                if request.k < 2 or request.k % 2 or request.k > MAX_K:
                    raise InvalidArgumentError(f"k={request.k} must be even and in [2, {MAX_K}]")
                lay = build_layout(cfg, request.k // 2)
                return channel_pb2.ValidateChannelResponse(channel_uses=lay.n_uses, data_uses=lay.n_data,
                                                           pilot_uses=lay.n_pilot_uses)
            return channel_pb2.ValidateChannelResponse()

    def Transmit(self, request, context):
        t_start = time.perf_counter()
        with self.handler.call("Transmit", context, request.request_id) as st, self.limiter.slot():
            rid = st["request_id"]
            valid_request_id(rid)
            cfg = channel_config(request)
            x = tensor_from_proto(request.symbols, "symbols")
            if x.dim() == 1:
                x = x.unsqueeze(0)
            if x.dim() != 2 or x.shape[0] != 1:
                raise InvalidArgumentError(f"symbols must be one message of shape (1, k), got {tuple(x.shape)}")
            if not x.is_floating_point() or x.is_complex():
                raise InvalidArgumentError("symbols must be real floating-point values")
            if x.shape[1] < 2 or x.shape[1] % 2 or x.shape[1] > MAX_K:
                raise InvalidArgumentError(f"symbols hold {x.shape[1]} values; k must be even and in [2, {MAX_K}]")
            if not bool(torch.isfinite(x).all()):
                raise InvalidArgumentError("symbols hold NaN or infinite values")
            check_deadline(context, "before the channel")
            t0 = time.perf_counter()
            self.metrics.observe_queue("Transmit", t0 - t_start)
            out = apply_channel(x.to(self.device), cfg)
            report = dict(out.report)
            t1 = time.perf_counter()
            self.metrics.observe_compute("Transmit", t1 - t0)
            report_msg = report_to_proto(report)
            deliver = receiver_pb2.DeliverRequest(
                request_id=rid, received=tensor_to_proto(out.received.to(torch.complex64)),
                side_info=side_info_to_proto(out.side_info), channel_report=report_msg, info=request.info,
                equalizer=self.s.equalizer)
            timeout = remaining_s(context, self.s.downstream_timeout_s)
            if timeout <= 0:
                raise ServiceError(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline exceeded before the receiver")
            t2 = time.perf_counter()
            try:
                delivery = self.receiver.Deliver(deliver, timeout=timeout, metadata=self.security.outgoing(rid))
            except grpc.RpcError as exc:
                raise downstream_error(exc, "receiver") from None
            t3 = time.perf_counter()
            return channel_pb2.TransmitResponse(
                request_id=rid, report=report_msg, delivery=delivery,
                timings={"channel_s": t1 - t0, "receiver_call_s": t3 - t2})


def build(settings: ChannelServiceSettings | None = None) -> tuple[Server, ChannelServicer]:
    s = settings or ChannelServiceSettings()
    torch.set_num_threads(max(1, s.torch_threads))
    metrics = ServiceMetrics("channel")
    security = Security(s, internal_methods=INTERNAL_METHODS)
    security.check_bind(s.host)
    server = Server(s.host, s.port, [SERVICE], max_workers=s.max_in_flight + 8,
                    max_message_bytes=s.max_message_bytes, credentials=security.server_credentials(),
                    interceptors=security.interceptors(metrics), max_connection_age_s=s.max_connection_age_s)
    servicer = ChannelServicer(s, metrics, security)
    add_servicer(server.grpc, servicer, channel_pb2.DESCRIPTOR.services_by_name["ChannelService"])
    if security.reflection:
        server.add_reflection()
    metrics.serve(s.metrics_port, s.metrics_host)
    return server, servicer


def main() -> int:
    s = load_settings(ChannelServiceSettings)
    setup_logging(s.log_level, s.log_format)
    try:
        server, servicer = build(s)
    except EditDSCError as exc:
        raise SystemExit(f"channel: {exc}") from None
    servicer.security.reload_on_sighup()
    server.start()
    # warm the channel library once (imports Sionna), then report SERVING
    apply_channel(torch.ones(1, 8), ChannelConfig(model="rayleigh", snr_db=10.0, csi="ls"), seed=0).report
    server.set_serving()
    log.info("channel service ready", extra={"address": server.address, "receiver": s.receiver_address})
    server.run_until_signal(s.grace_s, on_stop=servicer.close)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
