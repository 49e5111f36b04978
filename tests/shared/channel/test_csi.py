"""Tests of shared/channel/csi.py: frame layout, pilots and the side-information format."""

import json

import pytest
import torch

from shared.channel.csi import FrameLayout, SideInfo, pilot_sequence
from shared.channel.errors import ChannelParameterError


def _check_partition(lay: FrameLayout) -> None:
    pilots, data = set(lay.pilot_indices.tolist()), set(lay.data_indices.tolist())
    assert len(pilots) == lay.n_pilot_uses and len(data) == lay.n_data
    assert not pilots & data
    assert max(pilots | data) < lay.n_uses
    assert lay.n_uses == lay.n_data + lay.n_pilot_uses + lay.n_pad
    assert torch.equal(lay.pilot_mask.nonzero().flatten(), lay.pilot_indices)


def test_no_pilots_is_identity_layout():
    lay = FrameLayout(n_data=256, unit_slots=256)
    assert (lay.n_uses, lay.n_pilot_uses, lay.n_pad, lay.n_units) == (256, 0, 0, 1)
    assert torch.equal(lay.data_indices, torch.arange(256))
    _check_partition(lay)


def test_block_layout_counts_pilots_per_coherence_block():
    # coherence 32 with 4 pilots: 28 data per block, 10 blocks (last one short: 4 pilots + 4 data)
    lay = FrameLayout(n_data=256, unit_slots=32, pilot_slots=4, estimation="block")
    assert lay.n_units == 10 and lay.last_unit_slots == 8
    assert lay.n_uses == 9 * 32 + 8 and lay.n_pilot_uses == 40
    assert lay.pilot_indices[:6].tolist() == [0, 1, 2, 3, 32, 33]
    assert lay.data_indices[:2].tolist() == [4, 5] and lay.data_indices[28].item() == 36
    _check_partition(lay)


def test_interp_layout_has_closing_pilot():
    lay = FrameLayout(n_data=256, unit_slots=16, pilot_slots=1, trailing_pilot=True, estimation="interp")
    assert lay.pilot_slot_indices[0] == 0 and lay.pilot_slot_indices[-1] == lay.n_slots - 1
    assert lay.n_pilot_uses == lay.n_units + 1
    _check_partition(lay)


def test_ofdm_layout_pads_last_slot_and_counts_cp():
    lay = FrameLayout(n_data=250, unit_slots=4, pilot_slots=1, n_subcarriers=64, trailing_pilot=True,
                      estimation="interp", cp_length=5)
    assert lay.n_slots == 7  # pilot, 3 data, pilot, 1 data (58 used + 6 zero), closing pilot
    assert lay.n_pad == 6 and lay.n_pilot_uses == 3 * 64
    assert lay.n_cp == 5 * 7
    _check_partition(lay)


def test_pilots_are_unit_modulus_and_repeat_per_group():
    p = pilot_sequence(12)
    assert torch.allclose(p.abs(), torch.ones(12))
    lay = FrameLayout(n_data=100, unit_slots=30, pilot_slots=3, estimation="block")
    v = lay.pilot_values()
    assert v.shape == (lay.n_pilot_uses,)
    assert torch.equal(v[:3], v[3:6]) and torch.equal(v[:3], pilot_sequence(3))


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(n_data=0, unit_slots=4),
        dict(n_data=10, unit_slots=4, pilot_slots=4, estimation="block"),
        dict(n_data=10, unit_slots=8, pilot_slots=2),  # pilots need an estimation mode
        dict(n_data=10, unit_slots=8, pilot_slots=0, estimation="block"),
        dict(n_data=10, unit_slots=8, estimation="magic"),
        dict(n_data=10, unit_slots=8, trailing_pilot=True),
        dict(n_data=10.5, unit_slots=8),
    ],
)
def test_layout_validation(kwargs):
    with pytest.raises(ChannelParameterError):
        FrameLayout(**kwargs)


def _side_info(csi: str) -> SideInfo:
    lay = FrameLayout(n_data=8, unit_slots=10, pilot_slots=2, estimation="block") if csi == "ls" else \
        FrameLayout(n_data=8, unit_slots=8)
    h = torch.randn(3, lay.n_uses, dtype=torch.complex64) if csi == "perfect" else None
    pilots = lay.pilot_values() if csi == "ls" else None
    gain = torch.tensor([0.5, 1.0, 7.25]) if csi != "none" else None          # the 16-bit gain header
    return SideInfo(snr_db=6.0, no=10 ** -0.6, es=1.0, csi=csi, layout=lay, k=16, model="rayleigh", h=h,
                    pilots=pilots, tx_gain=gain)


@pytest.mark.parametrize("csi", ["perfect", "ls", "none"])
def test_side_info_roundtrip_tensors_and_json(csi):
    info = _side_info(csi)
    d = info.to_dict()
    back = SideInfo.from_dict(d)
    assert back == info
    for name in ("h", "pilots", "tx_gain"):
        a, b = getattr(info, name), getattr(back, name)
        assert (a is None and b is None) or torch.equal(a, b)
    plain = json.loads(json.dumps(info.to_dict(as_lists=True)))
    back2 = SideInfo.from_dict(plain)
    assert back2 == info
    assert (info.tx_gain is None and back2.tx_gain is None) or torch.equal(back2.tx_gain, info.tx_gain)
    moved = info.to("cpu")
    assert (info.tx_gain is None) == (moved.tx_gain is None)
    if info.h is not None:
        assert torch.equal(back2.h, info.h)
    if csi == "ls":
        assert plain["pilot_positions"] == [0, 1]


def test_received_pilots_and_positions():
    info = _side_info("ls")
    rx = torch.arange(10, dtype=torch.float32).to(torch.complex64).reshape(1, 10)
    assert torch.equal(info.received_pilots(rx), rx[:, :2])
    assert info.pilot_positions.tolist() == [0, 1]


def test_side_info_validation():
    lay = FrameLayout(n_data=8, unit_slots=8)
    with pytest.raises(ChannelParameterError, match="perfect"):
        SideInfo(snr_db=0.0, no=1.0, es=1.0, csi="perfect", layout=lay, k=16)
    with pytest.raises(ChannelParameterError, match="CSI mode"):
        SideInfo(snr_db=0.0, no=1.0, es=1.0, csi="magic", layout=lay, k=16)
    with pytest.raises(ChannelParameterError, match="k=10"):
        SideInfo(snr_db=0.0, no=1.0, es=1.0, csi="none", layout=lay, k=10)
    with pytest.raises(ChannelParameterError, match="pilots"):
        SideInfo(snr_db=0.0, no=1.0, es=1.0, csi="ls", layout=lay, k=16)
    d = _side_info("none").to_dict()
    with pytest.raises(ChannelParameterError, match="unknown"):
        SideInfo.from_dict({**d, "extra": 1})
    with pytest.raises(ChannelParameterError, match="pilot_positions"):
        SideInfo.from_dict({**_side_info("ls").to_dict(), "pilot_positions": [5, 6]})
