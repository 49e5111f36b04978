"""Tests of channel_emulator/power.py: per-message power normalisation (eq. 4)."""

import pytest
import torch

from channel_emulator.power import average_energy, normalize_power, normalize_power_real
from shared.channel.errors import ChannelParameterError
from shared.channel.pairing import real_to_complex


def _messages(b=16, k=512, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, k, generator=g) * torch.linspace(0.1, 10.0, b).unsqueeze(-1)


@pytest.mark.parametrize("power", [1.0, 0.25, 4.0])
def test_equal_mode_hits_p_per_message(power):
    z = real_to_complex(_messages())
    zs, scale = normalize_power(z, power, "equal")
    assert torch.allclose(average_energy(zs), torch.full((16,), power), rtol=1e-5)
    assert scale.shape == (16,)


def test_max_mode_only_scales_down():
    z = real_to_complex(_messages())
    zs, scale = normalize_power(z, 1.0, "max")
    e_in, e_out = average_energy(z), average_energy(zs)
    assert (e_out <= 1.0 + 1e-5).all()
    below = e_in <= 1.0
    assert below.any() and (~below).any()
    assert torch.equal(zs[below], z[below]) and (scale[below] == 1).all()
    assert torch.allclose(e_out[~below], torch.ones(int((~below).sum())), rtol=1e-5)


@pytest.mark.parametrize("mode", ["equal", "max"])
def test_real_domain_version_matches_complex(mode):
    x = _messages()
    xs, scale = normalize_power_real(x, 2.0, mode)
    zs, scale_c = normalize_power(real_to_complex(x), 2.0, mode)
    assert torch.allclose(real_to_complex(xs), zs, rtol=1e-5, atol=1e-6)
    assert torch.allclose(scale, scale_c, rtol=1e-5)


def test_zero_message_and_bad_mode():
    with pytest.raises(ChannelParameterError, match="zero energy"):
        normalize_power(torch.zeros(2, 4, dtype=torch.complex64), 1.0, "equal")
    zs, scale = normalize_power(torch.zeros(2, 4, dtype=torch.complex64), 1.0, "max")
    assert (zs == 0).all() and (scale == 1).all()
    with pytest.raises(ChannelParameterError, match="power_mode"):
        normalize_power(torch.ones(1, 4, dtype=torch.complex64), 1.0, "avg")
