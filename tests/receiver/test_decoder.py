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
