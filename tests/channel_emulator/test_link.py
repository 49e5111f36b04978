"""Tests of channel_emulator/link.py: the apply_channel API, reproducibility and bad input."""

import json
import math

import pytest
import torch

from channel_emulator.config import ChannelConfig
from channel_emulator.link import apply_channel, transmit_symbols
from shared.channel.csi import SideInfo
from shared.channel.errors import ChannelParameterError
from shared.errors import InvalidArgumentError

CONFIGS = [
    ChannelConfig(model="awgn", snr_db=18.0),
    ChannelConfig(model="awgn", snr_db=6.0, csi="ls"),
    ChannelConfig(model="rayleigh", snr_db=6.0),
    ChannelConfig(model="rayleigh", snr_db=6.0, coherence=1, csi="none"),
    ChannelConfig(model="rayleigh", snr_db=6.0, coherence=32, csi="ls"),
    ChannelConfig(model="rician", snr_db=0.0, k_factor_db=6.0, doppler_hz=300.0, csi="ls"),
    ChannelConfig(model="tdl", snr_db=12.0, tdl_profile="C300", speed_kmh=60.0, csi="ls"),
]


def _x(b=4, k=512, seed=0):
    return torch.randn(b, k, generator=torch.Generator().manual_seed(seed))


def test_api_shapes_and_report():
    out = apply_channel(_x(), ChannelConfig(model="awgn", snr_db=18.0), seed=0)
    assert out.received.shape == (4, 256) and out.received.dtype == torch.complex64
    assert isinstance(out.side_info, SideInfo) and out.side_info.k == 512
    r = out.report
    for key in ("measured_es_n0_db", "mean_h2", "channel_uses", "data_uses", "pilot_uses", "power_scale_mean",
                "seed", "no"):
        assert key in r
    assert r["channel_uses"] == 256 and r["pilot_uses"] == 0 and r["mean_h2"] == 1.0
    json.dumps(r)  # plain values only
    assert torch.allclose(out.transmitted.abs().square().mean(dim=1), torch.ones(4), rtol=1e-5)  # P per message


def test_accepts_dict_config_and_float64():
    out = apply_channel(_x().double(), {"model": "rayleigh", "snr_db": 3.0}, seed=1)
    assert out.received.dtype == torch.complex64 and out.config.model == "rayleigh"


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c.model}-{c.csi}")
def test_same_seed_bit_identical_different_seed_differs(cfg):
    x = _x()
    a, b = apply_channel(x, cfg, seed=42), apply_channel(x, cfg, seed=42)
    assert torch.equal(a.received, b.received)
    if a.channel is not None:
        assert torch.equal(a.channel, b.channel)
    c = apply_channel(x, cfg, seed=43)
    assert not torch.equal(a.received, c.received)


def test_seed_from_config_and_random_seed_reported():
    x = _x()
    cfg = ChannelConfig(model="rayleigh", snr_db=3.0, seed=9)
    assert torch.equal(apply_channel(x, cfg).received, apply_channel(x, cfg, seed=9).received)
    free = apply_channel(x, ChannelConfig(model="awgn", snr_db=3.0))
    replay = apply_channel(x, ChannelConfig(model="awgn", snr_db=3.0), seed=free.seed)
    assert torch.equal(free.received, replay.received)


@pytest.mark.parametrize("seed", [-1, 1.5, "3", True])
def test_bad_seed(seed):
    with pytest.raises(ChannelParameterError, match="seed"):
        apply_channel(_x(), ChannelConfig(model="awgn", snr_db=3.0), seed=seed)


def test_global_rng_state_untouched():
    state = torch.random.get_rng_state()
    for cfg in CONFIGS:
        apply_channel(_x(), cfg, seed=1)
    assert torch.equal(state, torch.random.get_rng_state())


def test_each_message_gets_its_own_fading_and_snr_sweeps_share_it():
    x = _x(b=6)
    lo = apply_channel(x, ChannelConfig(model="rayleigh", snr_db=0.0), seed=5)
    hi = apply_channel(x, ChannelConfig(model="rayleigh", snr_db=20.0), seed=5)
    assert len(set(lo.channel[:, 0].tolist())) == 6
    assert torch.equal(lo.channel, hi.channel)  # common random numbers across SNR
    ratio = (lo.noise().abs().square().mean() / hi.noise().abs().square().mean()).item()
    assert math.isclose(ratio, 100.0, rel_tol=1e-4)  # same noise pattern, scaled


def test_ls_frame_carries_pilots_and_counts_them():
    cfg = ChannelConfig(model="rayleigh", snr_db=10.0, coherence=64, csi="ls", pilots=4)
    out = apply_channel(_x(), cfg, seed=0)
    lay, info = out.side_info.layout, out.side_info
    assert lay.n_pilot_uses == 4 * 5 and out.received.shape == (4, 256 + 20)
    assert out.report["pilot_uses"] == 20 and out.report["channel_uses"] == 276
    assert info.h is None and info.pilots.shape == (20,)
    assert torch.allclose(out.transmitted[:, info.pilot_positions], info.pilots.expand(4, -1))


def test_power_and_power_mode_max():
    x = _x() * 0.01  # far below the budget
    out = apply_channel(x, ChannelConfig(model="awgn", snr_db=10.0, power=2.0, power_mode="max"), seed=0)
    assert torch.allclose(out.power_scale, torch.ones(4))
    out = apply_channel(x, ChannelConfig(model="awgn", snr_db=10.0, power=2.0), seed=0)
    assert torch.allclose(out.transmitted.abs().square().mean(dim=1), torch.full((4,), 2.0), rtol=1e-5)
    assert out.side_info.es == 2.0 and math.isclose(out.side_info.no, 0.2)


@pytest.mark.parametrize(
    "x, match",
    [
        (torch.tensor([[1.0, float("nan"), 0.0, 1.0]]), "NaN or Inf"),
        (torch.tensor([[1.0, float("inf"), 0.0, 1.0]]), "NaN or Inf"),
        (torch.zeros(2, 5), "odd"),
        (torch.zeros(0, 4), "empty"),
        (torch.zeros(2, 0), "empty"),
        (torch.zeros(2, 4), "zero energy"),
        (torch.zeros(4), r"shape \(B, n\)"),
        (torch.zeros(2, 4, dtype=torch.complex64), "real"),
        (torch.zeros(2, 4, dtype=torch.int32), "real"),
        ([[1.0, 2.0]], "torch.Tensor"),
    ],
)
def test_bad_messages(x, match):
    with pytest.raises(ChannelParameterError, match=match) as info:
        apply_channel(x, ChannelConfig(model="awgn", snr_db=0.0), seed=0)
    assert isinstance(info.value, InvalidArgumentError)


@pytest.mark.parametrize(
    "cfg, match",
    [
        ({"model": "awgn", "snr_db": 55.0}, "outside"),
        ({"model": "awgn", "snr_db": -40.0}, "outside"),
        ({"model": "quantum", "snr_db": 0.0}, "unknown channel model"),
        ({"model": "awgn", "snr_db": 0.0, "k_factor": 3}, "unknown channel parameter"),
    ],
)
def test_bad_parameters(cfg, match):
    with pytest.raises(ChannelParameterError, match=match):
        apply_channel(_x(), cfg, seed=0)


def test_huge_values_are_normalised_in_double():
    out = apply_channel(torch.full((1, 4), 1e30), ChannelConfig(model="awgn", snr_db=40.0), seed=0)
    assert torch.allclose(out.transmitted.abs().square().mean(), torch.tensor(1.0), rtol=1e-5)


def test_transmit_symbols_checks():
    z = torch.ones(2, 8, dtype=torch.complex64)
    out = transmit_symbols(z, ChannelConfig(model="awgn", snr_db=10.0), seed=0)
    assert out.side_info.k == 16 and torch.equal(out.transmitted, z)
    with pytest.raises(ChannelParameterError, match="complex"):
        transmit_symbols(torch.ones(2, 8), ChannelConfig(model="awgn", snr_db=10.0))
    with pytest.raises(ChannelParameterError, match="NaN"):
        transmit_symbols(z * float("nan"), ChannelConfig(model="awgn", snr_db=10.0))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c.model}-{c.csi}")
def test_cuda_runs_and_is_deterministic(cfg):
    x = _x().cuda()
    a, b = apply_channel(x, cfg, seed=3), apply_channel(x, cfg, seed=3)
    assert a.received.is_cuda and torch.equal(a.received, b.received)
    assert abs(a.report["measured_es_n0_db"] - cfg.snr_db) < 1.0
