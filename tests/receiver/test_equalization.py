"""Tests of receiver/equalization.py: LS estimation and ZF/MMSE equalisation on Sionna's blocks."""


import dataclasses

import pytest
import torch

from channel_emulator.config import ChannelConfig
from channel_emulator.link import apply_channel
from receiver.equalization import equalize, estimate_channel, recover
from shared.channel.errors import ChannelParameterError
from shared.channel.pairing import complex_to_real


def _x(b=64, k=512, seed=0):
    return torch.randn(b, k, generator=torch.Generator().manual_seed(seed))


def _sent(out):
    """The transmitted (power-normalised) latent, in the emulator's pairing."""
    return complex_to_real(out.transmitted[:, out.side_info.layout.data_indices])


def _mse(a, b):
    return float((a - b).square().mean())


@pytest.mark.parametrize("model", ["awgn", "rayleigh", "rician"])
def test_perfect_csi_recovers_at_high_snr(model):
    kw = {"k_factor_db": 6.0} if model == "rician" else {}
    out = apply_channel(_x(), ChannelConfig(model=model, snr_db=40.0, **kw), seed=0)
    for eq in ("zf", "mmse"):
        x_hat = recover(out.received, out.side_info, equalizer=eq)
        assert x_hat.shape == (64, 512) and x_hat.dtype == torch.float32
        # AWGN at 40 dB: MSE per real value ~ N0/2 = 5e-5 (fades make ZF worse on a few symbols)
        assert _mse(x_hat, _sent(out)) < (1e-4 if model == "awgn" else 5e-3)


def test_mmse_beats_zf_on_rayleigh_and_matches_awgn_theory():
    out = apply_channel(_x(), ChannelConfig(model="rayleigh", snr_db=0.0, coherence=1), seed=1)
    zf = _mse(recover(out.received, out.side_info, "zf"), _sent(out))
    mmse = _mse(recover(out.received, out.side_info, "mmse"), _sent(out))
    assert mmse < 0.5 * zf
    awgn = apply_channel(_x(256), ChannelConfig(model="awgn", snr_db=0.0), seed=1)
    # x ~ unit energy, N0 = 1: per complex symbol MMSE = N0/(1+N0) = 0.5, per real value 0.25; ZF: N0/2 = 0.5
    assert _mse(recover(awgn.received, awgn.side_info, "mmse"), _sent(awgn)) == pytest.approx(0.25, rel=0.03)
    assert _mse(recover(awgn.received, awgn.side_info, "zf"), _sent(awgn)) == pytest.approx(0.5, rel=0.03)


def test_none_equalizer_returns_received_data_symbols():
    out = apply_channel(_x(4), ChannelConfig(model="awgn", snr_db=10.0, csi="ls"), seed=0)
    raw = recover(out.received, out.side_info, "none")
    assert torch.equal(raw, complex_to_real(out.received[:, out.side_info.layout.data_indices]))


def test_csi_none_on_awgn_equals_perfect():
    x = _x(8)
    a = apply_channel(x, ChannelConfig(model="awgn", snr_db=5.0), seed=2)
    b = apply_channel(x, ChannelConfig(model="awgn", snr_db=5.0, csi="none"), seed=2)
    assert torch.allclose(recover(a.received, a.side_info), recover(b.received, b.side_info))


@pytest.mark.parametrize("pilots, coherence", [(4, None), (2, 32), (8, 64)])
def test_ls_block_estimate_error_matches_theory(pilots, coherence):
    snr = 6.0
    cfg = ChannelConfig(model="rayleigh", snr_db=snr, csi="ls", pilots=pilots, coherence=coherence)
    out = apply_channel(_x(2000), cfg, seed=3)
    h_hat, err = estimate_channel(out.received, out.side_info)
    data = out.side_info.layout.data_indices
    measured = float((h_hat - out.channel)[:, data].abs().square().mean())
    expected = 10 ** (-snr / 10) / pilots  # N0 / (Es n_p)
    assert measured == pytest.approx(expected, rel=0.1)
    assert float(err[:, data].mean()) == pytest.approx(expected, rel=1e-4)


def test_ls_interpolation_tracks_doppler_and_tdl():
    cfg = ChannelConfig(model="rayleigh", snr_db=25.0, csi="ls", doppler_hz=2000.0, pilot_spacing=8)
    out = apply_channel(_x(200), cfg, seed=4)
    h_hat, _ = estimate_channel(out.received, out.side_info)
    data = out.side_info.layout.data_indices
    assert float((h_hat - out.channel)[:, data].abs().square().mean()) < 0.01
    x_hat = recover(out.received, out.side_info, "mmse")
    assert _mse(x_hat, _sent(out)) < 0.03
    tdl = ChannelConfig(model="tdl", snr_db=25.0, csi="ls", tdl_profile="A", delay_spread_s=100e-9, speed_kmh=30.0)
    out = apply_channel(_x(100), tdl, seed=5)
    h_hat, _ = estimate_channel(out.received, out.side_info)
    data = out.side_info.layout.data_indices
    assert float((h_hat - out.channel)[:, data].abs().square().mean()) < 0.01


@pytest.mark.parametrize(
    "cfg",
    [
        ChannelConfig(model="awgn", snr_db=3.0, power=2.0),
        ChannelConfig(model="rayleigh", snr_db=3.0, csi="ls", coherence=40, power=0.5),
        ChannelConfig(model="rician", snr_db=3.0, k_factor_db=3.0, csi="ls", speed_kmh=100.0),
        ChannelConfig(model="tdl", snr_db=3.0, csi="ls", speed_kmh=10.0),
        ChannelConfig(model="tdl", snr_db=3.0, csi="perfect"),
    ],
    ids=["awgn-P2", "block-ls", "doppler-ls", "tdl-ls", "tdl-perfect"],
)
def test_scalar_backend_equals_sionna_equalizers(cfg):
    out = apply_channel(_x(16), cfg, seed=6)
    for eq in ("lmmse", "zf"):
        a, na = equalize(out.received, out.side_info, eq)
        b, nb = equalize(out.received, out.side_info, eq, backend="sionna")
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-4)
        assert torch.allclose(na, nb, rtol=1e-3, atol=1e-6)


def test_power_scale_is_not_undone_but_es_is():
    cfg = ChannelConfig(model="rayleigh", snr_db=40.0, power=4.0)
    out = apply_channel(_x(8) * 3.0, cfg, seed=0)
    x_hat = recover(out.received, out.side_info, "zf")
    # the receiver returns the transmitted latent: energy P per complex symbol, not the caller's scale
    assert float(x_hat.square().sum(dim=1).mean() / 256) == pytest.approx(4.0, rel=0.02)


def test_rescale_undoes_the_power_normalisation_with_the_gain_header():
    x = _x(4) * torch.tensor([[0.2], [1.0], [3.0], [40.0]])                   # norms far apart
    out = apply_channel(x, ChannelConfig(model="rayleigh", snr_db=40.0), seed=1)
    gain = out.side_info.tx_gain
    assert gain.shape == (4,) and torch.allclose(gain, 1 / out.power_scale, rtol=1e-3)   # float16 precision
    plain = recover(out.received, out.side_info, "mmse")
    back = recover(out.received, out.side_info, "mmse", rescale=True)
    assert torch.allclose(back, plain * gain[:, None])
    rel = (back - x).norm(dim=1) / x.norm(dim=1)
    assert float(rel.max()) < 0.05                                             # every message keeps its norm
    no_header = dataclasses.replace(out.side_info, tx_gain=None)
    with pytest.raises(ChannelParameterError, match="gain header"):
        recover(out.received, no_header, "mmse", rescale=True)
    with pytest.raises(ChannelParameterError, match="tx_gain"):
        dataclasses.replace(out.side_info, tx_gain=torch.tensor([1.0, -1.0, 1.0, 1.0]))


def test_equalize_effective_noise_matches_residual():
    cfg = ChannelConfig(model="rayleigh", snr_db=10.0, coherence=1)
    out = apply_channel(_x(500), cfg, seed=8)
    x_hat, no_eff = equalize(out.received, out.side_info)
    z = out.transmitted[:, out.side_info.layout.data_indices]
    # normalised residual |x_hat - x|^2 / no_eff has mean 1
    assert float(((x_hat - z).abs().square() / no_eff).mean()) == pytest.approx(1.0, rel=0.02)


def test_errors():
    out = apply_channel(_x(2), ChannelConfig(model="awgn", snr_db=10.0), seed=0)
    with pytest.raises(ChannelParameterError, match="unknown equalizer"):
        recover(out.received, out.side_info, "mlse")
    with pytest.raises(ChannelParameterError, match="unknown equalizer"):
        equalize(out.received, out.side_info, "mmse")
    with pytest.raises(ChannelParameterError, match="backend"):
        equalize(out.received, out.side_info, backend="numpy")
    with pytest.raises(ChannelParameterError, match="shape"):
        recover(out.received[:, :10], out.side_info)
    with pytest.raises(ChannelParameterError, match="complex"):
        recover(out.received.real, out.side_info)
    with pytest.raises(ChannelParameterError, match="channels for"):
        recover(out.received[:1], out.side_info)
