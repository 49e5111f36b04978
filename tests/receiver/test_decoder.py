"""The receiver's A_CD → G decoder on the tiny bundle."""

import pytest
import torch

from receiver.decoder import ReceiverPipeline
from shared.bundle import Bundle
from shared.errors import InvalidArgumentError


@pytest.fixture(scope="module")
def rx(tiny_bundle):
    return ReceiverPipeline(Bundle(tiny_bundle))


def test_clean_channel_decodes_to_the_sent_latent(rx):
    codec = rx.adapters
    w = codec.normalizer.mean + 0.5 * torch.randn(2, 512)
    x = codec.encode(w, [6.0, 18.0])
    images, timings = rx.decode(x, [6.0, 18.0])
    assert images.shape == (2, 3, 64, 64)
    assert float(images.abs().max()) <= 1.0
    assert torch.allclose(images, rx.render(w), atol=1e-4)
    assert set(timings) == {"adapter_s", "generator_s"}


def test_one_snr_for_the_batch(rx):
    y = torch.randn(3, 512)
    images, _ = rx.decode(y, 0.0)
    assert images.shape[0] == 3


@pytest.mark.parametrize("y,match", [(torch.randn(2, 256), "512"), (torch.full((1, 512), float("nan")), "NaN")])
def test_bad_inputs(rx, y, match):
    with pytest.raises(InvalidArgumentError, match=match):
        rx.decode(y, 6.0)


def test_identity_adapters_survive_the_channel_for_a_typical_latent(rx):
    """Normaliser + power normalisation + clean channel + identity adapters give back a typical latent."""
    from channel_emulator.config import ChannelConfig
    from channel_emulator.link import apply_channel
    from receiver.equalization import recover

    g = rx.generator
    with torch.no_grad():
        w = g.mapping(torch.randn(4, 512, generator=torch.Generator().manual_seed(3)))
    x = rx.adapters.encode(w, 40.0)
    # a typical latent already carries about unit energy per complex channel use
    energy = 2 * x.pow(2).mean(1)
    assert ((energy - 1).abs() < 0.5).all(), energy
    out = apply_channel(x, ChannelConfig(model="awgn", snr_db=40.0), seed=0)
    w_hat = rx.adapters.decode(recover(out.received, out.side_info, equalizer="zf"), 40.0)
    rel = (w_hat - w).norm(dim=1) / (w - rx.adapters.normalizer.mean).norm(dim=1)
    assert (rel < 0.3).all(), rel


def test_power_normalisation_is_differentiable():
    from channel_emulator.config import ChannelConfig
    from channel_emulator.link import apply_channel
    x = torch.randn(2, 512, requires_grad=True)
    out = apply_channel(x, ChannelConfig(model="awgn", snr_db=10.0), seed=0)
    torch.view_as_real(out.received).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
