"""The channel service in-process: validation codes and UNAVAILABLE when the receiver is down."""

from __future__ import annotations

import socket

import grpc
import pytest
import torch

from channel_emulator.server import build
from channel_emulator.settings import ChannelServiceSettings
from shared.rpc.convert import channel_params_from_dict
from shared.rpc.editdsc.v1 import channel_pb2, channel_pb2_grpc
from shared.rpc.tensors import tensor_to_proto


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture(scope="module")
def stub():
    settings = ChannelServiceSettings(port=free_port(), receiver_address=f"127.0.0.1:{free_port()}", metrics_port=0,
                                      max_in_flight=2)
    server, servicer = build(settings)
    server.start()
    server.set_serving()
    with grpc.insecure_channel(f"127.0.0.1:{settings.port}") as ch:
        yield channel_pb2_grpc.ChannelServiceStub(ch)
    server.stop(0)
    servicer.close()


def test_validate(stub):
    ok = stub.ValidateChannel(channel_pb2.ValidateChannelRequest(
        channel=channel_params_from_dict({"model": "rayleigh", "snr_db": 6.0, "csi": "ls"}), k=512), timeout=10)
    assert ok.data_uses == 256 and ok.channel_uses == 256 + ok.pilot_uses and ok.pilot_uses > 0
    for bad in ({"model": "rician", "snr_db": 6.0}, {"model": "awgn", "snr_db": 99.0},
                {"model": "awgn", "snr_db": 6.0, "coherence": 3}):
        with pytest.raises(grpc.RpcError) as err:
            stub.ValidateChannel(channel_pb2.ValidateChannelRequest(channel=channel_params_from_dict(bad), k=512),
                                 timeout=10)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_transmit_without_receiver_is_unavailable(stub):
    req = channel_pb2.TransmitRequest(request_id="t1", symbols=tensor_to_proto(torch.randn(1, 512)),
                                      channel=channel_params_from_dict({"model": "awgn", "snr_db": 6.0}))
    with pytest.raises(grpc.RpcError) as err:
        stub.Transmit(req, timeout=10)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE


def test_transmit_rejects_bad_symbols(stub):
    req = channel_pb2.TransmitRequest(request_id="t2", symbols=tensor_to_proto(torch.randn(2, 3, 4)),
                                      channel=channel_params_from_dict({"model": "awgn", "snr_db": 6.0}))
    with pytest.raises(grpc.RpcError) as err:
        stub.Transmit(req, timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
