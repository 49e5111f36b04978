"""The in-process link (edsc.link): transmitter → channel emulator → receiver, against the pieces it chains."""

import pytest
import torch

from channel_emulator.config import ChannelConfig
from channel_emulator.link import apply_channel
from edsc.link import deliver, edit_and_deliver, estimate
from receiver.decoder import ReceiverPipeline
from receiver.equalization import recover
from shared.bundle import Bundle


@pytest.fixture(scope="module")
def bundle(tiny_bundle):
    return Bundle(tiny_bundle)


@pytest.fixture(scope="module")
def rx(bundle):
    return ReceiverPipeline(bundle)


def _messages(b=3, k=512, seed=0):
    return torch.randn(b, k, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("model,equalizer,rescale", [("awgn", "mmse", False), ("rician", "zf", True),
                                                     ("rayleigh", "none", False)])
def test_estimate_is_the_emulator_then_the_equaliser(model, equalizer, rescale):
    channel = ChannelConfig(model=model, snr_db=3.0, **({"k_factor_db": 6.0} if model == "rician" else {}))
    x = _messages()
    y, out = estimate(x, channel, seed=5, equalizer=equalizer, rescale=rescale)
    ref = apply_channel(x, channel, seed=5)
    assert torch.equal(out.received, ref.received)
    assert torch.equal(y, recover(ref.received, ref.side_info, equalizer, rescale=rescale))


def test_estimate_keeps_the_gradient():
    x = _messages().requires_grad_(True)
    y, _ = estimate(x, {"model": "awgn", "snr_db": 10.0}, seed=0)
    y.square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_deliver_is_the_emulator_then_the_receiver(rx):
    w = rx.adapters.normalizer.mean + 0.3 * _messages(seed=2)
    channel = ChannelConfig(model="awgn", snr_db=0.0)
    x = rx.adapters.encode(w, 0.0)
    sent = deliver(rx, x, channel, seed=7)
    ref = apply_channel(x, channel, seed=7)
    images, _ = rx.receive(ref.received, ref.side_info)
    assert torch.equal(sent.images, images) and torch.equal(sent.channel.received, ref.received)
    assert set(sent.timings) == {"channel_s", "equalize_s", "adapter_s", "generator_s"}


def test_edit_and_deliver_chains_transmitter_channel_and_receiver(bundle, rx):
    from transmitter.inversion import InversionConfig
    from transmitter.jecc import JECCConfig
    from transmitter.pipeline import TransmitterPipeline

    tx = TransmitterPipeline(bundle, InversionConfig(steps=2), JECCConfig(max_steps=3))
    edits = tx.parse(["make the bangs a bit longer", "add eyeglasses"])
    with torch.no_grad():
        w = bundle.generator.mapping(torch.randn(2, 512, generator=torch.Generator().manual_seed(1)))
    channel = ChannelConfig(model="awgn", snr_db=12.0)
    sent = edit_and_deliver(tx, rx, edits, channel, seed=3, w_start=w)
    outs = tx.run(edits, [12.0, 12.0], w_start=w)
    assert len(sent.outputs) == 2
    for a, b in zip(sent.outputs, outs):
        assert torch.equal(a.x, b.x) and a.outcome.status == b.outcome.status
    expected = deliver(rx, torch.stack([o.x for o in outs]), channel, seed=3)
    assert torch.equal(sent.images, expected.images)
    assert set(sent.timings) == {"transmitter_s", "channel_s", "receiver_s"}


@pytest.mark.parametrize("rescale", [False, True])
def test_training_link_takes_the_emulator_values_and_the_closed_form_gradient(rescale):
    from edsc.train.adapters import awgn_link
    from shared.channel.awgn_estimate import awgn_mean

    x = (_messages(seed=4) * torch.tensor([[0.5], [1.0], [3.0]])).requires_grad_(True)
    y = awgn_link(x, 6.0, seed=9, rescale=rescale)
    ref, _ = estimate(x.detach(), ChannelConfig(model="awgn", snr_db=6.0), seed=9, rescale=rescale)
    assert torch.equal(y.detach(), ref)
    weights = torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    grad, = torch.autograd.grad((y * weights).sum(), x)
    mean_grad, = torch.autograd.grad((awgn_mean(x, 6.0, rescale=rescale, header=True) * weights).sum(), x)
    assert torch.equal(grad, mean_grad)
