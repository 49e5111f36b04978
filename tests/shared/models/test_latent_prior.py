"""The LMMSE front end of A_CD (shared.models.latent_prior) and the codec that holds it."""

from __future__ import annotations

import math

import pytest
import torch

from shared.errors import InvalidArgumentError
from shared.models.codec import LinkCodec, LinkCodecConfig
from shared.models.latent_prior import LatentPrior


def _anisotropic(n: int, dim: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """n samples of N(0, Q diag(s) Qᵀ) with a steep spectrum, and the true covariance."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(dim, dim, generator=g))
    s = torch.logspace(1, -4, dim)
    x = (torch.randn(n, dim, generator=g) * s.sqrt()) @ q.T
    return x, q @ torch.diag(s) @ q.T


def _awgn(x: torch.Tensor, snr_db: float, seed: int = 1) -> torch.Tensor:
    """The receiver's y for messages x at their own norm: β(x + g n), g = ‖x‖/√(k/2) (P = 1)."""
    k = x.shape[1]
    no = 10 ** (-snr_db / 10)
    g = x.norm(dim=1, keepdim=True) / math.sqrt(k / 2)
    n = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed)) * math.sqrt(no / 2)
    return (x + g * n) / (1 + no)


def test_fit_recovers_the_covariance_and_basis_is_orthonormal():
    x, cov = _anisotropic(20000, 16)
    prior = LatentPrior(16)
    prior.fit(x)
    rebuilt = prior.basis @ torch.diag(prior.eigvals) @ prior.basis.T
    assert torch.allclose(rebuilt, cov, atol=0.05 * float(cov.abs().max()))
    assert torch.allclose(prior.basis.T @ prior.basis, torch.eye(16), atol=1e-5)
    assert bool((prior.eigvals[1:] >= prior.eigvals[:-1]).all())


@pytest.mark.parametrize("snr_db", [-6.0, 0.0, 12.0])
def test_lmmse_beats_the_scalar_estimate_on_an_anisotropic_source(snr_db):
    x, _ = _anisotropic(4000, 32, seed=2)
    prior = LatentPrior(32)
    prior.fit(x[:3000])
    test = x[3000:]
    y = _awgn(test, snr_db)
    scalar = (y - test).pow(2).mean()
    lmmse = (prior(y, snr_db) - test).pow(2).mean()
    assert lmmse < 0.7 * scalar


def test_estimate_is_close_to_the_exact_wiener_filter():
    dim = 256                                     # the noise level is read off the message's energy: k must be large
    x, _ = _anisotropic(6000, dim, seed=3)
    prior = LatentPrior(dim)
    prior.fit(x)
    prior.floor.fill_(0.01)
    y = _awgn(x[:5], 6.0)
    out = prior(y, 6.0)
    no = 10 ** (-0.6)
    x_noisy = y * (1 + no)
    c = prior.basis @ torch.diag(prior.eigvals + 0.01) @ prior.basis.T
    for i in range(5):
        sigma2 = float(x[i].pow(2).sum()) / (dim / 2) * no / 2      # g² N0 / 2 with the true norm
        exact = prior.mean + (x_noisy[i] - prior.mean) @ torch.linalg.solve(c + sigma2 * torch.eye(dim), c)
        assert (out[i] - exact).norm() < 0.05 * exact.norm()


def test_fit_floor_reads_the_excess_variance():
    x, _ = _anisotropic(5000, 16, seed=4)
    prior = LatentPrior(16)
    prior.fit(x)
    extra = x[:2000] + 0.3 * torch.randn(2000, 16, generator=torch.Generator().manual_seed(5))
    assert prior.fit_floor(extra) == pytest.approx(0.09, rel=0.15)
    assert float(prior.floor) == pytest.approx(0.09, rel=0.15)


def test_per_item_snr_and_bad_input():
    x, _ = _anisotropic(2000, 8, seed=6)
    prior = LatentPrior(8)
    prior.fit(x)
    y = _awgn(x[:2], 0.0)
    both = prior(y, torch.tensor([0.0, 18.0]))
    assert torch.allclose(both[0], prior(y[:1], 0.0)[0]) and torch.allclose(both[1], prior(y[1:], 18.0)[0])
    with pytest.raises(InvalidArgumentError, match="3 SNR values"):
        prior(y, torch.tensor([0.0, 1.0, 2.0]))
    with pytest.raises(InvalidArgumentError, match="finite"):
        prior(y, float("nan"))
    with pytest.raises(InvalidArgumentError, match=r"\(B, 8\)"):
        prior(torch.zeros(2, 7), 0.0)
    with pytest.raises(InvalidArgumentError, match="N > 8"):
        prior.fit(torch.zeros(8, 8))


def test_codec_with_prior_needs_rescale_and_has_prior_keys():
    with pytest.raises(InvalidArgumentError, match="rescale"):
        LinkCodecConfig(prior=True)
    plain = LinkCodec(LinkCodecConfig(rescale=True))
    assert plain.prior is None and not any(k.startswith("prior.") for k in plain.state_dict())
    with pytest.raises(InvalidArgumentError, match="no prior"):
        plain.fit_prior_floor(torch.zeros(2, 512))
    codec = LinkCodec(LinkCodecConfig(rescale=True, prior=True))
    assert {"prior.mean", "prior.basis", "prior.eigvals", "prior.floor", "prior.power"} <= set(codec.state_dict())
    assert LinkCodecConfig.from_dict(codec.cfg.to_dict()).prior


def test_codec_decode_applies_the_prior_before_the_decoder_adapter():
    codec = LinkCodec(LinkCodecConfig(rescale=True, prior=True, dim=8, adapter={"hidden": 4}, snr_levels=[0.0]))
    x, _ = _anisotropic(2000, 8, seed=7)
    codec.prior.fit(x)
    y = _awgn(x[:3], 0.0)
    expected = codec.normalizer.decode(codec.bank.decoder(0.0)(codec.prior(y, 0.0)))
    assert torch.allclose(codec.decode(y, 0.0), expected)
    assert not torch.allclose(codec.decode(y, 0.0), codec.normalizer.decode(y))


def test_a_bundle_with_the_prior_round_trips_and_the_receiver_uses_it(tmp_path):
    from edsc.random_bundle import make_random_bundle
    from receiver.decoder import ReceiverPipeline
    from shared.bundle import Bundle

    bundle = Bundle(make_random_bundle(tmp_path / "b", size=32, seed=1, prior=True))
    codec = bundle.adapters
    assert codec.prior is not None and float(codec.prior.floor) == pytest.approx(0.1)
    assert codec.prior.basis.dtype == torch.float32
    assert torch.allclose(codec.prior.basis.T @ codec.prior.basis, torch.eye(512), atol=1e-4)
    rx = ReceiverPipeline(bundle)
    y = codec.encode(bundle.generator.mapping(torch.randn(2, 512)), 0.0)
    images, _ = rx.decode(y, [0.0, 18.0])
    assert images.shape == (2, 3, 32, 32) and torch.isfinite(images).all()
