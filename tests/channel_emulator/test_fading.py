"""Tests of channel_emulator/fading.py: Sionna-based fading generators against theory."""

import math

import pytest
import torch

from channel_emulator.config import ChannelConfig
from channel_emulator.fading import generate_channel, tdl_cp_length, tdl_max_delay_s
from channel_emulator.framing import build_layout
from channel_emulator.rng import make_generator
from channel_emulator.theory import estimate_k_factor, jakes_autocorrelation
from shared.channel.csi import FrameLayout
from shared.channel.errors import ChannelParameterError


def _h(cfg: ChannelConfig, batch: int, n_data: int = 256, seed: int = 0) -> torch.Tensor:
    return generate_channel(cfg, build_layout(cfg, n_data), batch, make_generator(seed), "cpu")


def test_awgn_has_no_fading():
    assert _h(ChannelConfig(model="awgn", snr_db=0), 2) is None


def test_rayleigh_fast_unit_power_and_rayleigh_statistics():
    h = _h(ChannelConfig(model="rayleigh", snr_db=0, coherence=1), 4000)  # 1.024e6 samples
    p = h.abs().square().double()
    assert abs(float(p.mean()) - 1) < 0.01
    assert estimate_k_factor(h) < 0.01  # Rayleigh: K = 0
    # |h|^2 ~ Exp(1): P(|h|^2 > 1) = e^-1
    assert abs(float((p > 1).double().mean()) - math.exp(-1)) < 0.003
    # independent symbols
    assert abs(complex((h[:, 1:] * h[:, :-1].conj()).mean())) < 0.01


def test_block_fading_constant_within_blocks():
    cfg = ChannelConfig(model="rayleigh", snr_db=0, coherence=16)
    h = _h(cfg, 3)
    blocks = h.reshape(3, 16, 16)
    assert (blocks == blocks[:, :, :1]).all()
    assert not (blocks[:, 0, 0] == blocks[:, 1, 0]).any()
    whole = _h(ChannelConfig(model="rayleigh", snr_db=0), 5)
    assert (whole == whole[:, :1]).all()
    assert len(set(whole[:, 0].tolist())) == 5  # every message its own realisation


def test_block_fading_unit_power_over_many_blocks():
    h = _h(ChannelConfig(model="rayleigh", snr_db=0, coherence=16), 16000)  # 256k independent blocks
    assert abs(float(h[:, ::16].abs().square().double().mean()) - 1) < 0.01


@pytest.mark.parametrize("k_db", [0.0, 6.0, 10.0])
def test_rician_unit_power_and_k_factor(k_db):
    h = _h(ChannelConfig(model="rician", snr_db=0, k_factor_db=k_db, coherence=1), 4000)
    assert abs(float(h.abs().square().double().mean()) - 1) < 0.01
    k = 10 ** (k_db / 10)
    assert abs(estimate_k_factor(h) / k - 1) < 0.10


def test_rician_los_phase_constant_per_message():
    cfg = ChannelConfig(model="rician", snr_db=0, k_factor_db=20.0, coherence=1)
    h = _h(cfg, 4)
    # at K = 20 dB the phase barely moves within a message, but differs between messages
    spread = (h / h[:, :1]).angle().abs().amax(dim=1)
    assert (spread < 0.5).all()
    assert len({round(a, 3) for a in h[:, 0].angle().tolist()}) == 4


def test_doppler_fading_follows_jakes():
    fd, rate = 2000.0, 1e6
    cfg = ChannelConfig(model="rayleigh", snr_db=0, doppler_hz=fd, symbol_rate_hz=rate)
    h = _h(cfg, 3000)
    assert abs(float(h.abs().square().double().mean()) - 1) < 0.03
    for lag in (16, 64, 128):
        r = complex((h[:, lag:] * h[:, :-lag].conj()).mean())
        assert abs(r.real - float(jakes_autocorrelation(lag / rate, fd))) < 0.05, lag


def test_doppler_from_speed_and_rician_los():
    cfg = ChannelConfig(model="rician", snr_db=0, k_factor_db=6.0, speed_kmh=120.0)
    h = _h(cfg, 2000)
    assert abs(float(h.abs().square().double().mean()) - 1) < 0.03
    assert abs(estimate_k_factor(h) / 10 ** 0.6 - 1) < 0.15


def test_tdl_ofdm_channel():
    cfg = ChannelConfig(model="tdl", snr_db=0, tdl_profile="A", delay_spread_s=300e-9, speed_kmh=30)
    lay = build_layout(cfg, 256)
    assert lay.n_subcarriers == 64 and lay.cp_length == tdl_cp_length(cfg)
    assert lay.cp_length / (64 * 30e3) >= tdl_max_delay_s(cfg)
    h = generate_channel(cfg, lay, 2000, make_generator(1), "cpu").reshape(2000, lay.n_slots, 64)
    assert abs(float(h.abs().square().double().mean()) - 1) < 0.05
    # frequency selective: correlation between far-apart subcarriers well below 1
    c = (h[..., 0] * h[..., 32].conj()).mean().abs() / h[..., 0].abs().square().mean()
    assert float(c) < 0.8
    with pytest.raises(ChannelParameterError, match="shorter than the largest"):
        build_layout(cfg.replace(cp_length=0), 256)


def test_same_generator_seed_same_channel():
    cfg = ChannelConfig(model="rician", snr_db=0, k_factor_db=3, coherence=8)
    lay = FrameLayout(n_data=64, unit_slots=64)
    a = generate_channel(cfg, lay, 4, make_generator(11), "cpu")
    b = generate_channel(cfg, lay, 4, make_generator(11), "cpu")
    assert torch.equal(a, b)
