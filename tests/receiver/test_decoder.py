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


def _sent(rx, snr_db=6.0, model="awgn", seed=1):
    from channel_emulator.config import ChannelConfig
    from channel_emulator.link import apply_channel

    w = rx.adapters.normalizer.mean + 0.3 * torch.randn(3, 512, generator=torch.Generator().manual_seed(seed))
    x = rx.adapters.encode(w, snr_db)
    return apply_channel(x, ChannelConfig(model=model, snr_db=snr_db), seed=seed)


@pytest.mark.parametrize("model,equalizer", [("awgn", "mmse"), ("rayleigh", "zf")])
def test_receive_is_equalise_then_decode(rx, model, equalizer):
    from receiver.equalization import recover

    out = _sent(rx, model=model)
    images, timings = rx.receive(out.received, out.side_info, equalizer=equalizer)
    y = recover(out.received, out.side_info, equalizer, rescale=rx.rescale)
    expected, _ = rx.decode(y, out.side_info.snr_db)
    assert torch.equal(images, expected)
    assert torch.equal(rx.equalize(out.received, out.side_info, equalizer), y)
    assert set(timings) == {"equalize_s", "adapter_s", "generator_s"}


def test_receive_picks_the_adapter_level_from_the_side_info_unless_told(rx):
    out = _sent(rx, snr_db=-6.0)
    default, _ = rx.receive(out.received, out.side_info)
    y = rx.equalize(out.received, out.side_info)
    assert torch.equal(default, rx.decode(y, -6.0)[0])
    other, _ = rx.receive(out.received, out.side_info, snr_db=18.0)
    assert torch.equal(other, rx.decode(y, 18.0)[0])


def test_receive_refuses_an_unknown_equalizer(rx):
    out = _sent(rx)
    with pytest.raises(InvalidArgumentError, match="equalizer"):
        rx.receive(out.received, out.side_info, equalizer="wiener")
