"""Tests of channel_emulator/digital.py: 5G LDPC + QAM over the emulator, and the k-accounting."""

import math

import pytest
import torch

from channel_emulator.config import ChannelConfig
from channel_emulator.digital import (
    MAX_RATE,
    bits_for_cbr,
    bpp_budget,
    link_budget,
    plan_ldpc,
    run_digital_link,
)
from receiver.equalization import equalize
from shared.channel.errors import ChannelParameterError


def _bits(b, n, seed=0):
    return torch.randint(0, 2, (b, n), generator=torch.Generator().manual_seed(seed)).float()


def test_plan_single_and_multiple_blocks():
    p = plan_ldpc(1024, code_rate=0.5)
    assert (p.n_blocks, p.k_cb, p.n_cb, p.n_symbols) == (1, 1024, 2048, 1024)
    p = plan_ldpc(11469, code_rate=0.5)  # a 0.7 bpp JPEG of 128x128: two code blocks
    assert p.n_blocks == 2 and p.k_cb * 2 >= 11469 and p.n_filler == 1
    assert p.n_cb % 2 == 0 and p.code_rate == pytest.approx(0.5, abs=1e-3)
    p = plan_ldpc(30000, code_rate=0.25)  # BG2 region: blocks of at most 3840 bits
    assert p.k_cb <= 3840 and p.n_blocks == 8


def test_plan_fits_a_symbol_budget():
    p = plan_ldpc(4000, max_symbols=3000)
    assert p.n_symbols <= 3000 and p.n_symbols >= 2990
    p = plan_ldpc(100, max_symbols=10_000)  # rate floor 1/5: leftover budget stays unused
    assert p.code_rate >= 0.2 - 1e-9 and p.n_symbols < 10_000
    with pytest.raises(ChannelParameterError, match="do not fit"):
        plan_ldpc(4000, max_symbols=2000)
    for kwargs in (dict(code_rate=0.99), dict(code_rate=0.1), dict(), dict(code_rate=0.5, max_symbols=10),
                   dict(code_rate=0.5, bits_per_symbol=3)):
        with pytest.raises(ChannelParameterError):
            plan_ldpc(1000, **kwargs)
    with pytest.raises(ChannelParameterError):
        plan_ldpc(0, code_rate=0.5)
    assert MAX_RATE == pytest.approx(0.9258, abs=1e-4)


@pytest.mark.parametrize("m", [2, 4])
def test_error_free_at_high_snr_multi_block(m):
    bits = _bits(2, 9000)
    r = run_digital_link(bits, ChannelConfig(model="awgn", snr_db=20.0), equalize=equalize, code_rate=0.5,
                         bits_per_symbol=m, seed=0)
    assert r.plan.n_blocks == 2 and r.ber == 0.0 and r.bler == 0.0
    assert torch.equal(r.bits_hat, bits)
    assert r.channel.received.shape[1] == r.plan.n_symbols


def test_rayleigh_with_ls_pilots():
    bits = _bits(4, 2000, seed=1)
    cfg = ChannelConfig(model="rayleigh", snr_db=20.0, coherence=128, csi="ls")
    r = run_digital_link(bits, cfg, equalize=equalize, code_rate=0.5, seed=3)
    assert r.ber < 1e-3
    assert r.channel.report["pilot_uses"] > 0


def test_ldpc_waterfall_awgn(capsys):
    """Rate-1/2 5G LDPC (k=1024) with 4-QAM on AWGN: the block error rate falls from ~1 to ~0 around 1 dB."""
    bits = _bits(24, 1024, seed=2)
    bler = {}
    for snr in (-2.0, 0.0, 1.0, 2.0, 4.0):
        r = run_digital_link(bits, ChannelConfig(model="awgn", snr_db=snr), equalize=equalize, code_rate=0.5,
                             seed=int(snr * 10) + 100)
        bler[snr] = r.bler
    with capsys.disabled():
        print("\nLDPC(2048,1024) 4-QAM AWGN waterfall, Es/N0 -> BLER:", bler)
    assert bler[-2.0] >= 0.9
    assert bler[4.0] <= 0.05
    values = list(bler.values())
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_bad_bits():
    cfg = ChannelConfig(model="awgn", snr_db=10.0)
    with pytest.raises(ChannelParameterError, match="only 0 and 1"):
        run_digital_link(torch.full((1, 100), 2.0), cfg, equalize=equalize)
    with pytest.raises(ChannelParameterError, match="shape"):
        run_digital_link(torch.zeros(100), cfg, equalize=equalize)
    with pytest.raises(ChannelParameterError, match="plan is for"):
        run_digital_link(torch.zeros(1, 100), cfg, equalize=equalize, plan=plan_ldpc(200, code_rate=0.5))


def test_k_accounting_for_jpeg():
    b = bpp_budget(0.7, 128, 128)  # the paper's JPEG+LDPC operating point at 128x128
    assert b["n_bits"] == math.ceil(0.7 * 128 * 128) == 11469
    assert b["channel_uses"] == b["plan"]["n_symbols"] and b["k_real"] == 2 * b["channel_uses"]
    assert b["cbr"] == pytest.approx(b["k_real"] / (128 * 128 * 3))
    assert b["cbr_complex"] == pytest.approx(b["cbr"] / 2)
    # rate 1/2, 4-QAM: one complex use per payload bit
    assert b["channel_uses"] == pytest.approx(11469, abs=4)
    lb = link_budget(11469, 128, 128, pilot_uses=10)
    assert lb["channel_uses"] == b["channel_uses"] + 10
    n = bits_for_cbr(b["cbr"], 128, 128)
    assert abs(n - 11469) <= 4
    with pytest.raises(ChannelParameterError):
        link_budget(100, 0, 128)
    with pytest.raises(ChannelParameterError):
        bpp_budget(-1.0, 128, 128)
