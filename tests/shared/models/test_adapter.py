"""Tests of shared/models/adapter.py."""

from __future__ import annotations

import pytest
import torch

from shared.errors import InvalidArgumentError
from shared.models.adapter import AdapterBank, AdapterConfig, LatentNormalizer, ResidualAdapter, snr_key


def test_adapter_is_identity_at_init_and_shape_preserving():
    torch.manual_seed(0)
    a = ResidualAdapter(AdapterConfig(hidden=64, blocks=2))
    for shape in [(4, 512), (2, 3, 512)]:
        x = torch.randn(shape)
        assert torch.equal(a(x), x)
    with torch.no_grad():
        a.blocks[1].fc2.weight.normal_()
    x = torch.randn(4, 512)
    y = a(x)
    assert y.shape == x.shape and not torch.allclose(y, x)
    with pytest.raises(InvalidArgumentError, match="adapter expects"):
        a(torch.randn(2, 256))


def test_adapter_residual_formula():
    torch.manual_seed(1)
    a = ResidualAdapter(dim=8, hidden=4, blocks=1)
    with torch.no_grad():
        a.blocks[0].fc2.weight.normal_()
        a.blocks[0].fc2.bias.normal_()
    x = torch.randn(3, 8)
    b = a.blocks[0]
    ref = x + b.fc2(torch.nn.functional.gelu(b.fc1(x)))
    assert torch.allclose(a(x), ref)


def test_adapter_config_round_trip():
    cfg = AdapterConfig(dim=16, hidden=8, blocks=3, activation="relu")
    assert AdapterConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(InvalidArgumentError, match="unknown activation"):
        AdapterConfig(activation="tanhh")


@pytest.mark.parametrize("level,key", [(-6, "snr_m6"), (0, "snr_0"), (18, "snr_18"), (2.5, "snr_2p5"),
                                       (-0.0, "snr_0"), (-12.25, "snr_m12p25")])
def test_snr_key(level, key):
    assert snr_key(level) == key


def test_bank_keys():
    bank = AdapterBank(hidden=16)
    keys = set(bank.state_dict())
    assert "encoders.snr_m6.blocks.0.fc1.weight" in keys
    assert "decoders.snr_18.blocks.0.fc2.bias" in keys
    assert {k.split(".")[1] for k in keys} == {"snr_m6", "snr_0", "snr_6", "snr_12", "snr_18"}


@pytest.mark.parametrize("snr,level", [
    (-30, -6), (-6, -6), (-3, -6),   # -3 is a tie between -6 and 0: the lower level
    (-2.9, 0), (3, 0), (3.01, 6), (9, 6), (10, 12), (15, 12), (15.5, 18), (40, 18),
])
def test_nearest_level(snr, level):
    bank = AdapterBank(hidden=8)
    assert bank.nearest_level(snr) == level
    assert bank.encoder(snr) is bank.encoders[snr_key(level)]
    assert bank.decoder(snr) is bank.decoders[snr_key(level)]


def test_bank_rejects_bad_levels():
    with pytest.raises(InvalidArgumentError, match="distinct"):
        AdapterBank([0, 0.0], hidden=4)
    with pytest.raises(InvalidArgumentError, match="at least one"):
        AdapterBank([], hidden=4)
    with pytest.raises(InvalidArgumentError, match="finite"):
        AdapterBank(hidden=4).nearest_level(float("nan"))


def test_parameter_count_and_tuned_share_paper_config():
    bank = AdapterBank(config=AdapterConfig.paper())
    per_level = 8 * (512 * 512 + 512)  # A_CE + A_CD: 2 blocks x 2 Linear(512, 512) each
    assert per_level == 2_101_248
    assert bank.parameter_count(12) == per_level
    assert bank.parameter_count() == 5 * per_level
    share = bank.tuned_share(79_100_000, snr_db=-6)
    assert share == pytest.approx(per_level / 79_100_000)
    assert 0.0265 < share < 0.0266  # the paper's 0.21e7 / 7.91e7 = 2.65 %
    assert len(bank.level_parameters(0)) == 2 * 2 * 4
    with pytest.raises(InvalidArgumentError):
        bank.tuned_share(0)


def test_latent_normalizer():
    torch.manual_seed(0)
    lat = torch.randn(100, 512) * 3 + 1.5
    norm = LatentNormalizer.fit(lat)
    z = norm.encode(lat)
    assert torch.allclose(z.mean(0), torch.zeros(512), atol=1e-5)
    assert float(z.pow(2).mean().sqrt()) == pytest.approx(1.0, rel=1e-4)
    assert torch.allclose(norm.decode(z), lat, atol=1e-5)
    assert set(norm.state_dict()) == {"mean", "scale"}
    other = LatentNormalizer(dim=512)
    other.load_state_dict(norm.state_dict())
    assert torch.equal(other.encode(lat), z)
    m = torch.arange(4.0)
    n2 = LatentNormalizer(m, 2.0)
    assert torch.equal(n2.encode(torch.full((1, 4), 4.0)), torch.tensor([[2.0, 1.5, 1.0, 0.5]]))
    with pytest.raises(InvalidArgumentError, match="positive"):
        LatentNormalizer(m, 0.0)
