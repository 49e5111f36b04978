"""Tests of shared/channel/limits.py."""

import math

import numpy as np
import pytest

from shared.channel.errors import ChannelParameterError
from shared.channel.limits import SNR_RANGE_DB, check_k_factor_db, check_snr_db
from shared.errors import EditDSCError, InvalidArgumentError


def test_range_constant():
    assert SNR_RANGE_DB == (-30.0, 40.0)


@pytest.mark.parametrize("snr", [-30, -30.0, -6, 0, 18, 40.0, np.float32(12.0)])
def test_accepts_in_range(snr):
    out = check_snr_db(snr)
    assert isinstance(out, float) and out == float(snr)


@pytest.mark.parametrize("snr", [55.0, -30.5, 40.0001, math.nan, math.inf, -math.inf])
def test_rejects_out_of_range(snr):
    with pytest.raises(ChannelParameterError) as info:
        check_snr_db(snr)
    assert isinstance(info.value, InvalidArgumentError) and isinstance(info.value, EditDSCError)
    assert "[-30, 40] dB" in str(info.value)


def test_message_names_value_and_range():
    with pytest.raises(ChannelParameterError, match=r"SNR 55 dB is outside \[-30, 40\] dB"):
        check_snr_db(55.0)


@pytest.mark.parametrize("bad", ["abc", None, True, [1.0]])
def test_rejects_non_numbers(bad):
    with pytest.raises(ChannelParameterError):
        check_snr_db(bad)


def test_k_factor_range():
    assert check_k_factor_db(6) == 6.0
    with pytest.raises(ChannelParameterError, match="K-factor"):
        check_k_factor_db(100.0)
