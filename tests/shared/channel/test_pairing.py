"""Tests of shared/channel/pairing.py: the real <-> complex contract."""

import pytest
import torch

from shared.channel.errors import ChannelParameterError
from shared.channel.pairing import complex_to_real, num_channel_uses, real_to_complex
from shared.errors import InvalidArgumentError


def test_first_half_real_second_half_imaginary():
    x = torch.arange(8, dtype=torch.float32).reshape(1, 8)  # (1, 8)
    z = real_to_complex(x)
    assert z.shape == (1, 4) and z.dtype == torch.complex64
    assert torch.equal(z.real, x[:, :4]) and torch.equal(z.imag, x[:, 4:])
    assert z[0, 1] == complex(1.0, 5.0)


def test_roundtrip_is_bit_exact_and_batched():
    x = torch.randn(3, 5, 512, generator=torch.Generator().manual_seed(0))
    z = real_to_complex(x)
    assert z.shape == (3, 5, 256)
    assert torch.equal(complex_to_real(z), x)


def test_float64_stays_double_and_half_is_cast():
    assert real_to_complex(torch.zeros(2, 4, dtype=torch.float64)).dtype == torch.complex128
    assert real_to_complex(torch.zeros(2, 4, dtype=torch.float16)).dtype == torch.complex64


@pytest.mark.parametrize(
    "bad, match",
    [
        (torch.zeros(2, 5), "odd"),
        (torch.zeros(2, 0), "empty"),
        (torch.tensor(1.0), "empty"),
        (torch.tensor([[1.0, float("nan")]]), "NaN or Inf"),
        (torch.tensor([[1.0, float("inf")]]), "NaN or Inf"),
        (torch.zeros(2, 4, dtype=torch.int64), "floating"),
        (torch.zeros(2, 4, dtype=torch.complex64), "floating"),
    ],
)
def test_bad_input_raises_typed_error(bad, match):
    with pytest.raises(ChannelParameterError, match=match) as info:
        real_to_complex(bad)
    assert isinstance(info.value, InvalidArgumentError)


def test_non_tensor_and_unpair_errors():
    with pytest.raises(ChannelParameterError):
        real_to_complex([1.0, 2.0])
    with pytest.raises(ChannelParameterError):
        complex_to_real(torch.zeros(4))
    with pytest.raises(ChannelParameterError):
        complex_to_real(torch.zeros(2, 0, dtype=torch.complex64))


def test_finite_check_can_be_skipped():
    z = real_to_complex(torch.tensor([[float("nan"), 1.0]]), check_finite=False)
    assert torch.isnan(z.real).all()


def test_num_channel_uses():
    assert num_channel_uses(512) == 256
    for bad in (0, 3, -2, 2.0, True):
        with pytest.raises(ChannelParameterError):
            num_channel_uses(bad)
