"""Tests of channel_emulator/awgn.py and rng.py: Sionna's AWGN with a local generator."""

import math

import pytest
import torch
from sionna.phy import config as sionna_config
from sionna.phy.channel import AWGN

from channel_emulator.awgn import SeededAWGN, add_awgn, snr_db_to_no
from channel_emulator.rng import derive_seed, make_generator, resolve_seed

N = 1_000_000


@pytest.fixture(autouse=True)
def _restore_global_rngs():
    """Setting sionna.phy.config.seed reseeds torch's default generator; leave the process as we found it."""
    state = torch.random.get_rng_state()
    yield
    torch.random.set_rng_state(state)


def test_same_generator_seed_same_noise_regardless_of_global_rngs():
    x = torch.zeros(4, 256, dtype=torch.complex64)
    a = add_awgn(x, 0.1, make_generator(7))
    sionna_config.seed = 123  # Sionna's global generators and torch's default generator
    torch.manual_seed(999)
    b = add_awgn(x, 0.1, make_generator(7))
    assert torch.equal(a, b)
    assert not torch.equal(a, add_awgn(x, 0.1, make_generator(8)))


def test_local_generator_does_not_touch_global_state():
    state = torch.random.get_rng_state()
    add_awgn(torch.zeros(8, 8, dtype=torch.complex64), 1.0, make_generator(1))
    assert torch.equal(state, torch.random.get_rng_state())


def test_block_refuses_to_run_without_local_generator():
    blk = SeededAWGN(device="cpu")
    with pytest.raises(RuntimeError, match="without a local generator"):
        blk(torch.zeros(2, dtype=torch.complex64), 1.0)


@pytest.mark.parametrize("snr_db", [-6.0, 0.0, 18.0])
def test_noise_statistics_match_sionna_raw_awgn(snr_db):
    """Our seeded block and Sionna's global-RNG block draw the same distribution: CN(0, N0)."""
    no = snr_db_to_no(snr_db)
    x = torch.zeros(N, dtype=torch.complex64)
    ours = add_awgn(x, no, make_generator(3))
    sionna_config.seed = 5
    ref = AWGN(device="cpu")(x, no)
    for n in (ours, ref):
        re, im = n.real.double(), n.imag.double()
        assert abs(float(re.var()) / (no / 2) - 1) < 0.01 and abs(float(im.var()) / (no / 2) - 1) < 0.01
        assert abs(float((re * im).mean())) / (no / 2) < 0.01  # circular: I and Q uncorrelated
        assert abs(float(re.mean())) < 5 * math.sqrt(no / 2 / N)
        kurt = float((re**4).mean() / re.var() ** 2)
        assert abs(kurt - 3.0) < 0.05  # Gaussian
    measured = 10 * math.log10(1.0 / float(ours.abs().square().double().mean()))
    assert abs(measured - snr_db) < 0.1


def test_seed_derivation():
    assert derive_seed(0, 1) == derive_seed(0, 1)
    seeds = {derive_seed(s, k) for s in range(50) for k in (1, 2, 3)}
    assert len(seeds) == 150 and all(0 <= s < 2**63 for s in seeds)
    assert resolve_seed(5) == 5 and resolve_seed(None) != resolve_seed(None)
