"""Tests of channel_emulator/theory.py: the closed forms themselves."""

import math

import pytest
import torch

from channel_emulator.theory import (
    ber_qpsk_awgn,
    ber_qpsk_rayleigh,
    ber_qpsk_rayleigh_ls,
    ber_qpsk_rician,
    ber_qpsk_theory,
    estimate_k_factor,
    jakes_autocorrelation,
)


def test_known_values():
    assert ber_qpsk_awgn(0.0) == pytest.approx(0.158655, rel=1e-5)  # Q(1)
    assert ber_qpsk_rayleigh(0.0) == pytest.approx(0.5 * (1 - math.sqrt(1 / 3)), rel=1e-12)
    assert ber_qpsk_awgn(12.0) == pytest.approx(3.4303e-5, rel=1e-3)


@pytest.mark.parametrize("snr", [0.0, 6.0, 12.0])
def test_rician_limits_and_ls_limit(snr):
    assert ber_qpsk_rician(snr, -30.0) == pytest.approx(ber_qpsk_rayleigh(snr), rel=2e-3)
    assert ber_qpsk_rician(snr, 40.0) == pytest.approx(ber_qpsk_awgn(snr), rel=2e-2)
    assert ber_qpsk_rayleigh_ls(snr, 10**9) == pytest.approx(ber_qpsk_rayleigh(snr), rel=1e-6)
    assert ber_qpsk_rayleigh_ls(snr, 1) > ber_qpsk_rayleigh_ls(snr, 4) > ber_qpsk_rayleigh(snr)


def test_dispatch():
    assert ber_qpsk_theory("awgn", 3.0) == ber_qpsk_awgn(3.0)
    assert ber_qpsk_theory("awgn", 3.0, csi="none") == ber_qpsk_awgn(3.0)
    assert ber_qpsk_theory("rician", 3.0, k_factor_db=6.0) == ber_qpsk_rician(3.0, 6.0)
    assert ber_qpsk_theory("rayleigh", 3.0, csi="ls", pilots=4) == ber_qpsk_rayleigh_ls(3.0, 4)
    assert ber_qpsk_theory("rayleigh", 3.0, csi="ls", pilots=4, block_fading=False) is None
    assert ber_qpsk_theory("rayleigh", 3.0, csi="none") is None


def test_k_factor_estimator_on_synthetic_samples():
    g = torch.Generator().manual_seed(0)
    n = 400_000
    for k in (0.5, 4.0, 20.0):
        s = torch.complex(torch.randn(n, generator=g), torch.randn(n, generator=g)) / math.sqrt(2)
        h = math.sqrt(k / (k + 1)) + math.sqrt(1 / (k + 1)) * s
        assert estimate_k_factor(h) == pytest.approx(k, rel=0.05)


def test_jakes():
    assert jakes_autocorrelation(0.0, 100.0) == pytest.approx(1.0)
    assert jakes_autocorrelation(2.404825557695773 / (2 * math.pi * 100.0), 100.0) == pytest.approx(0.0, abs=1e-9)
