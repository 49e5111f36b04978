"""The generative scheme's flow and codec (shared.models.generative)."""

from __future__ import annotations

import math

import pytest
import torch

from shared.errors import BundleError, InvalidArgumentError
from shared.models.generative import (LATENT_DIM, CodecConfig, FlowConfig, GenerativeBank, GenerativeLink,
                                      LinkConfig, RealNVP, build_generative, cbr, latent_from_params,
                                      params_from_latent, variant_name)


def _random_flow(dim: int = LATENT_DIM, seed: int = 0) -> RealNVP:
    torch.manual_seed(seed)
    flow = RealNVP(dim, FlowConfig(layers=8, depth=3, hidden=32))
    with torch.no_grad():       # the last layers start at zero (identity flow): make the flow non-trivial
        for net in flow.nets:
            net[-1].weight.normal_(0, 0.05)
            net[-1].bias.normal_(0, 0.05)
    return flow


def test_flow_is_invertible_to_float_precision():
    flow = _random_flow()
    x = torch.rand(64, LATENT_DIM, generator=torch.Generator().manual_seed(1)) * 2 - 1
    n, _ = flow(x)
    assert (n - x / (1 / math.sqrt(3))).abs().max() > 0.1           # it really transforms
    back = flow.inverse(n)
    assert torch.allclose(back, x, atol=2e-5, rtol=0)
    z = torch.randn(64, LATENT_DIM, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(flow(flow.inverse(z))[0], z, atol=2e-5, rtol=0)


def test_flow_log_det_matches_the_jacobian():
    flow = _random_flow(dim=6).double()
    x = torch.rand(3, 6, dtype=torch.float64) * 2 - 1
    _, logdet = flow(x)
    for i in range(3):
        jac = torch.autograd.functional.jacobian(lambda v: flow(v[None])[0][0], x[i])   # (6, 6)
        assert float(logdet[i].detach()) == pytest.approx(float(torch.linalg.slogdet(jac)[1]), rel=1e-9, abs=1e-9)


def test_cbr_both_conventions():
    c = cbr(16, 128)
    assert c["k_real"] == 16 and c["k_complex"] == 8
    assert c["cbr_real"] == pytest.approx(1 / 3072) and c["cbr_complex"] == pytest.approx(1 / 6144)
    assert cbr(160, 128)["cbr_real"] == pytest.approx(10 / 3072)


def test_latent_params_round_trip_and_box():
    identity = torch.rand(5, 25) * 2 - 1
    degrees = torch.tensor([[0.0, 1.0, 2.5, 4.0, 5.0]] * 5)
    lat = latent_from_params(identity, degrees)
    assert lat.shape == (5, LATENT_DIM) and lat.abs().max() <= 1.0
    i2, d2 = params_from_latent(lat)
    assert torch.allclose(i2, identity) and torch.allclose(d2, degrees, atol=1e-6)
    with pytest.raises(InvalidArgumentError):
        params_from_latent(torch.zeros(2, 29))


def test_codec_shapes_and_bad_k():
    link = GenerativeLink(LinkConfig(codec=CodecConfig(k=16, hidden=8), flow=None))
    lat = torch.rand(4, LATENT_DIM) * 2 - 1
    assert link.encode(lat).shape == (4, 16)
    assert link.decode(torch.zeros(4, 16)).shape == (4, LATENT_DIM)
    with pytest.raises(InvalidArgumentError):
        link.decode(torch.zeros(4, 15))
    with pytest.raises(InvalidArgumentError, match="even"):
        CodecConfig(k=15)


def test_bank_names_variants_and_refuses_unknown_ones():
    cfg = {"variants": {variant_name(16, True): {"codec": {"k": 16, "hidden": 8},
                                                 "flow": {"layers": 2, "depth": 2, "hidden": 4}},
                        variant_name(16, False): {"codec": {"k": 16, "hidden": 8}, "flow": None}}}
    bank = build_generative("realnvp_fc", cfg)
    assert bank.available_k() == [16]
    assert bank.variant(16, True).has_flow and not bank.variant(16, False).has_flow
    with pytest.raises(InvalidArgumentError, match="no variant k=160"):
        bank.variant(160, True)
    bad = {"variants": {"k160-flow": cfg["variants"]["k16-flow"]}}
    with pytest.raises(BundleError, match="does not match"):
        build_generative("realnvp_fc", bad)
    with pytest.raises(BundleError, match="architecture"):
        build_generative("glow", cfg)
    assert isinstance(GenerativeBank(bank.config()), GenerativeBank)


def test_shipped_component_is_invertible():
    from pathlib import Path

    from shared.bundle import Bundle
    from shared.models.generative import load_generative

    path = Path(__file__).resolve().parents[3] / "bundles" / "synthface-128"
    bundle = Bundle(path)
    if not bundle.has("generative"):
        pytest.skip("the built-in bundle has no generative component")
    bank = load_generative(bundle)
    assert sorted(bank.available_k()) == [16, 160]
    x = torch.rand(32, LATENT_DIM, generator=torch.Generator().manual_seed(0)) * 2 - 1
    for k in (16, 160):
        flow = bank.variant(k, True).flow
        with torch.no_grad():
            assert torch.allclose(flow.inverse(flow(x)[0]), x, atol=1e-4, rtol=0)
