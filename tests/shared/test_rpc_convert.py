"""Tests of shared/rpc/convert.py: the side info survives the protobuf round trip, the gain header included."""

from __future__ import annotations

import torch

from channel_emulator.config import ChannelConfig
from channel_emulator.link import apply_channel
from shared.rpc.convert import side_info_from_proto, side_info_to_proto


def test_side_info_round_trip_keeps_the_gain_header():
    x = torch.randn(1, 64) * 4.0
    out = apply_channel(x, ChannelConfig(model="rayleigh", snr_db=10.0, csi="ls", pilots=2, coherence=8), seed=0)
    msg = side_info_to_proto(out.side_info)
    back = side_info_from_proto(type(msg).FromString(msg.SerializeToString()))
    assert back == out.side_info
    assert torch.equal(back.tx_gain, out.side_info.tx_gain) and torch.equal(back.pilots, out.side_info.pilots)
    msg.ClearField("tx_gain")                                                   # a sender without the header
    assert side_info_from_proto(msg).tx_gain is None
