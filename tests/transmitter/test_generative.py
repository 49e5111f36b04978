"""The generative scheme's transmitter: privacy filter (4′), knowledge base (5′), Gaussian head."""

from __future__ import annotations

import math

import pytest
import torch

from shared.errors import InvalidArgumentError
from shared.models import world_latent as WL
from shared.models.generative import latent_from_params
from transmitter.generative import (PRIVACY_MODES, PRIVATE_PARTS, PrivacyConfig, gauss_from_latent,
                                    latent_from_gauss, private_index, privacy_filter)


def _latents(n: int = 16, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    identity = torch.rand(n, WL.N_ID, generator=g) * 1.8 - 0.9
    degrees = torch.randint(0, 6, (n, WL.N_ATTR), generator=g).float()
    return latent_from_params(identity, degrees)


def test_gauss_head_round_trip():
    lat = _latents()
    assert torch.allclose(latent_from_gauss(gauss_from_latent(lat)), lat, atol=1e-5)


def test_private_parts():
    assert private_index("none") == []
    assert [WL.SYNTHFACE_IDENTITY_DIMS[i] for i in private_index("eyes")] == ["eye_hue", "eye_size", "eye_spacing"]
    ident = set(PRIVATE_PARTS["identity"])
    assert {"face_width", "skin_tone", "nose_length", "eye_hue"} <= ident
    assert not ident & {"bg_hue", "bg_brightness", "light_dir", "light_strength", "clothes_hue"}
    with pytest.raises(InvalidArgumentError, match="privacy must be one of"):
        private_index("nose")


@pytest.mark.parametrize("mode", ["identity", "eyes"])
def test_filter_and_knowledge_base_conditions_hold(mode):
    cfg = PrivacyConfig()
    lat = _latents()
    out = privacy_filter(lat, mode, list(range(lat.shape[0])), cfg)
    idx = private_index(mode)
    keep = [i for i in range(WL.WORLD_DIMS) if i not in idx]
    assert torch.equal(out.latent[:, keep], lat[:, keep])            # everything else exactly as it was
    assert bool(out.satisfied.all())
    g, p = gauss_from_latent(lat)[:, idx], gauss_from_latent(out.latent)[:, idx]
    # (4′): the private part moved further than λ₁·√(2p) (the typical distance between two people's parts)
    assert out.threshold == pytest.approx(cfg.lambda1 * math.sqrt(2 * len(idx)))
    assert bool(((p - g).norm(dim=1) > out.threshold - 1e-3).all())
    # (5′): P = (1 − c)·L′ with L_m = 0; c is the largest grid step with ‖P − L′‖ < λ₂‖P − L_m‖
    lp = p / (1 - out.pull[:, None])
    assert bool(((p - lp).norm(dim=1) < cfg.lambda2 * p.norm(dim=1) + 1e-4).all())
    nxt = out.pull + cfg.pull_step
    p_next = lp * (1 - nxt[:, None])
    assert not bool(((p_next - lp).norm(dim=1) < cfg.lambda2 * p_next.norm(dim=1)).any())
    # the pull made the filtered face more typical than the biased one
    assert bool((p.norm(dim=1) < lp.norm(dim=1)).all())


def test_filter_is_seeded_and_none_is_the_identity():
    lat = _latents(4)
    a = privacy_filter(lat, "identity", [1, 2, 3, 4]).latent
    b = privacy_filter(lat, "identity", [1, 2, 3, 4]).latent
    c = privacy_filter(lat, "identity", [5, 6, 7, 8]).latent
    assert torch.equal(a, b) and not torch.allclose(a, c)
    assert torch.equal(privacy_filter(lat, "none", [0] * 4).latent, lat)
    with pytest.raises(InvalidArgumentError, match="one seed per image"):
        privacy_filter(lat, "eyes", [1])


def test_modes_listed():
    assert PRIVACY_MODES == ("none", "identity", "eyes")
