"""Tests of channel_emulator/config.py: parameter validation with clear, typed errors."""

import math

import pytest

from channel_emulator.config import ChannelConfig, as_config
from shared.channel.errors import ChannelParameterError
from shared.errors import InvalidArgumentError


def test_defaults_and_noise_power():
    cfg = ChannelConfig(model="awgn", snr_db=18.0)
    assert cfg.csi == "perfect" and cfg.power == 1.0 and cfg.power_mode == "equal"
    assert math.isclose(cfg.no, 10 ** -1.8)
    assert math.isclose(ChannelConfig(snr_db=0.0, power=2.0).no, 2.0)


def test_case_insensitive_and_dict_roundtrip():
    cfg = ChannelConfig(model="Rician", snr_db=6, k_factor_db=3, csi="LS", coherence=64)
    assert cfg.model == "rician" and cfg.csi == "ls" and cfg.snr_db == 6.0
    assert ChannelConfig.from_dict(cfg.to_dict()) == cfg
    assert as_config(cfg.to_dict()) == cfg
    assert cfg.replace(snr_db=12.0).snr_db == 12.0


def test_derived_values():
    cfg = ChannelConfig(model="rayleigh", snr_db=0, speed_kmh=108.0, carrier_frequency_hz=3e9)
    assert math.isclose(cfg.max_doppler_hz, 30.0 * 3e9 / 299_792_458.0)
    assert cfg.time_varying and cfg.resolved_pilots == 0
    ls = ChannelConfig(model="rayleigh", snr_db=0, csi="ls")
    assert ls.resolved_pilots == 4 and not ls.time_varying
    assert ChannelConfig(model="tdl", snr_db=0, csi="ls").resolved_pilot_spacing == 8
    assert ChannelConfig(model="rician", snr_db=0, k_factor_db=10).k_factor == pytest.approx(10.0)


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(model="foo", snr_db=1), "unknown channel model 'foo'"),
        (dict(model="awgn", snr_db=55), r"SNR 55 dB is outside \[-30, 40\] dB"),
        (dict(model="awgn", snr_db=-31), "outside"),
        (dict(model="awgn", snr_db=float("nan")), "not finite"),
        (dict(model="awgn", snr_db=float("inf")), "not finite"),
        (dict(model="rician", snr_db=1), "needs k_factor_db"),
        (dict(model="rayleigh", snr_db=1, k_factor_db=3), "only applies to model 'rician'"),
        (dict(model="awgn", snr_db=1, coherence=8), "coherence only applies"),
        (dict(model="rayleigh", snr_db=1, coherence=0), "coherence 0"),
        (dict(model="rayleigh", snr_db=1, coherence=2.5), "integer"),
        (dict(model="rayleigh", snr_db=1, coherence=8, doppler_hz=10), "exclude each other"),
        (dict(model="rayleigh", snr_db=1, doppler_hz=10, speed_kmh=3), "not both"),
        (dict(model="awgn", snr_db=1, doppler_hz=10), "do not apply"),
        (dict(model="rayleigh", snr_db=1, doppler_hz=-1), "outside"),
        (dict(model="rayleigh", snr_db=1, csi="psychic"), "unknown CSI mode"),
        (dict(model="rayleigh", snr_db=1, pilots=2), "only apply with csi='ls'"),
        (dict(model="rayleigh", snr_db=1, csi="ls", coherence=1), "fast fading"),
        (dict(model="rayleigh", snr_db=1, csi="ls", coherence=4), "no room for data"),
        (dict(model="rayleigh", snr_db=1, csi="ls", pilot_spacing=8), "time-varying"),
        (dict(model="rayleigh", snr_db=1, csi="ls", doppler_hz=5, pilots=3, pilot_spacing=3), "no room"),
        (dict(model="awgn", snr_db=1, power=0), "power"),
        (dict(model="awgn", snr_db=1, power_mode="min"), "power_mode"),
        (dict(model="awgn", snr_db=1, fft_size=128), "only applies to model 'tdl'"),
        (dict(model="tdl", snr_db=1, tdl_profile="Z"), "unknown TDL profile"),
        (dict(model="tdl", snr_db=1, tdl_profile="A30", delay_spread_s=1e-6), "fixed delay spread"),
        (dict(model="tdl", snr_db=1, speed_kmh=5000), "inter-carrier"),
        (dict(model="awgn", snr_db=1, seed=-1), "seed"),
        (dict(model="awgn", snr_db=1, symbol_rate_hz=2e6), "symbol_rate_hz"),
    ],
)
def test_bad_parameters_raise_typed_errors(params, match):
    with pytest.raises(ChannelParameterError, match=match) as info:
        ChannelConfig.from_dict(params)
    assert isinstance(info.value, InvalidArgumentError)


def test_unknown_and_missing_keys():
    with pytest.raises(ChannelParameterError, match=r"unknown channel parameter\(s\) \['snr'\]"):
        ChannelConfig.from_dict({"model": "awgn", "snr": 3})
    with pytest.raises(ChannelParameterError, match="missing channel parameter 'snr_db'"):
        ChannelConfig.from_dict({"model": "awgn"})
    with pytest.raises(ChannelParameterError, match="mapping"):
        ChannelConfig.from_dict(["awgn"])
    with pytest.raises(ChannelParameterError, match="unknown"):
        ChannelConfig(model="awgn", snr_db=1).replace(k=3)
