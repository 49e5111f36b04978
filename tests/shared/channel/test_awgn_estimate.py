"""The closed-form AWGN reception (shared.channel.awgn_estimate) against its formula and the real link."""

import math

import pytest
import torch

from shared.channel.awgn_estimate import awgn_estimate
from shared.errors import InvalidArgumentError


def _messages(b=4, k=512, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, k, generator=g) * torch.tensor([0.5, 1.0, 2.0, 4.0])[:b, None]


@pytest.mark.parametrize("snr_db", [-6.0, 6.0, 18.0])
def test_mean_and_noise_follow_the_formula(snr_db):
    x = _messages()
    k = x.shape[1]
    draws = torch.stack([awgn_estimate(x, snr_db, generator=torch.Generator().manual_seed(i)) for i in range(1, 201)])
    no = 10 ** (-snr_db / 10)
    beta = 1 / (1 + no)
    assert torch.allclose(draws.mean(0), beta * x, atol=0.15 * float(x.abs().max()))
    g2 = x.pow(2).sum(1) / (k / 2)                                         # gain header squared, per message
    var = (draws - beta * x).pow(2).mean((0, 2))                           # (B,)
    assert torch.allclose(var, g2 * beta ** 2 * no / 2, rtol=0.05)


def test_per_message_snr_and_no_rescale():
    x = _messages()
    snr = torch.tensor([40.0, 40.0, -6.0, -6.0])
    y = awgn_estimate(x, snr, generator=torch.Generator().manual_seed(7))
    assert torch.allclose(y[:2], x[:2], rtol=0.05, atol=0.05)
    assert (y[2:] - x[2:]).pow(2).mean() > 0.2 * x[2:].pow(2).mean()
    flat = awgn_estimate(x, 40.0, rescale=False, generator=torch.Generator().manual_seed(7))
    assert torch.allclose(flat.pow(2).sum(1) / (x.shape[1] / 2), torch.ones(4), rtol=0.02)   # energy P per use


def test_matches_the_emulator_and_receiver_statistically():
    from channel_emulator.config import ChannelConfig
    from channel_emulator.link import apply_channel
    from receiver.equalization import recover

    x = _messages(b=4)
    for snr_db in (0.0, 12.0):
        out = apply_channel(x, ChannelConfig(model="awgn", snr_db=snr_db), seed=3)
        served = recover(out.received, out.side_info, "mmse", rescale=True)
        ours = awgn_estimate(x, snr_db, generator=torch.Generator().manual_seed(3))
        err_served = (served - x).pow(2).mean(1)
        err_ours = (ours - x).pow(2).mean(1)
        assert torch.allclose(err_ours, err_served, rtol=0.25)


def test_a_zero_message_stays_finite():
    y = awgn_estimate(torch.zeros(2, 8), 0.0, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(y).all() and float(y.abs().max()) < 1e-6


def test_bad_input_is_refused():
    with pytest.raises(InvalidArgumentError, match="even"):
        awgn_estimate(torch.ones(2, 5), 0.0)
    with pytest.raises(InvalidArgumentError, match="SNR"):
        awgn_estimate(torch.ones(2, 4), torch.tensor([0.0, 1.0, 2.0]))
    with pytest.raises(InvalidArgumentError, match="SNR"):
        awgn_estimate(torch.ones(2, 4), math.nan)
    with pytest.raises(InvalidArgumentError, match="power"):
        awgn_estimate(torch.ones(2, 4), 0.0, power=0.0)


def test_header_gain_is_the_float16_header_of_the_emulator():
    from channel_emulator.link import gain_header
    from shared.channel.awgn_estimate import header_gain

    scale = torch.tensor([0.013, 0.5, 1.0, 3.7, 1e-6, 1e6])
    assert torch.equal(header_gain(1.0 / scale), gain_header(scale))


def test_header_option_rounds_the_gain_and_stops_its_gradient():
    x = _messages().requires_grad_(True)
    exact = awgn_estimate(x, 6.0, generator=torch.Generator().manual_seed(2))
    rounded = awgn_estimate(x, 6.0, generator=torch.Generator().manual_seed(2), header=True)
    rel = ((rounded - exact).norm(dim=1) / exact.norm(dim=1)).detach()
    assert (rel < 5e-4).all() and (rel > 0).any()
    grad_exact, = torch.autograd.grad(exact.sum(), x)
    grad_rounded, = torch.autograd.grad(rounded.sum(), x)
    assert not torch.allclose(grad_exact, grad_rounded)          # the exact gain is differentiable, the header not
    flat = awgn_estimate(x, 6.0, rescale=False, generator=torch.Generator().manual_seed(2), header=True)
    same = awgn_estimate(x, 6.0, rescale=False, generator=torch.Generator().manual_seed(2))
    assert torch.equal(flat, same)                               # without rescale there is no gain to round


@pytest.mark.parametrize("rescale,header", [(True, False), (True, True), (False, False)])
def test_mean_is_the_estimate_without_its_noise(rescale, header):
    from shared.channel.awgn_estimate import awgn_mean

    x = _messages()
    draws = torch.stack([awgn_estimate(x, 0.0, rescale=rescale, header=header,
                                       generator=torch.Generator().manual_seed(i)) for i in range(400)])
    mean = awgn_mean(x, 0.0, rescale=rescale, header=header)
    assert torch.allclose(draws.mean(0), mean, atol=0.1 * float(mean.abs().max()))
    beta = 1 / (1 + 10 ** 0.0)
    expected = beta * x if rescale else beta * x / (x.norm(dim=1, keepdim=True) / 16)   # α = sqrt(k/2)/|x|, k = 512
    assert torch.allclose(mean, expected, rtol=1e-3 if header else 1e-5)
