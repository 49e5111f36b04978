"""Tests of edsc/baselines/deepjscc.py: the model, its channel pass, the link, and the weight files.

A tiny model (32 px, widths 4) checks mechanics; the shipped 128 px weights are loaded and checked once.
"""

from __future__ import annotations

import json

import pytest
import torch

from edsc.baselines import DeepJSCC, DeepJSCCConfig, DeepJSCCLink, ImageLink, load_deepjscc, psnr, save_deepjscc
from edsc.baselines.deepjscc import DEFAULT_DIR, GDN, channel_pass
from edsc.world.faces import heldout_faces
from shared.errors import BundleError, InvalidArgumentError

TINY = dict(image_size=32, widths=[4, 4, 4, 4], num_down=2)


def _tiny(seed: int = 0) -> DeepJSCC:
    torch.manual_seed(seed)
    return DeepJSCC(DeepJSCCConfig(**TINY)).eval()


def test_default_config_is_cbr_one_twelfth():
    cfg = DeepJSCCConfig()
    assert cfg.k == 4096 == 128 * 128 * 3 // 12
    assert cfg.latent_side == 16 and cfg.latent_channels == 16
    assert cfg.cbr == pytest.approx(1 / 12)
    with pytest.raises(InvalidArgumentError):
        DeepJSCCConfig(cbr=0.1)  # 4915.2 real values
    with pytest.raises(InvalidArgumentError):
        DeepJSCCConfig(norm="batch")
    with pytest.raises(InvalidArgumentError):
        DeepJSCCConfig.from_dict({"nope": 1})


def test_shapes_and_power_constraint():
    m = _tiny()
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    z = m.encode(x)
    assert z.shape == (3, m.k) and m.k == 256
    # mean energy per complex symbol (pairs of reals) is P = 1 for every image
    energy = z.square().sum(-1) / (m.k / 2)
    assert torch.allclose(energy, torch.ones(3), atol=1e-5)
    assert m.decode(z).shape == x.shape
    with pytest.raises(InvalidArgumentError):
        m.encode(torch.zeros(1, 3, 64, 64))


def test_link_transmits_at_unit_power_and_cbr():
    m = _tiny()
    link = DeepJSCCLink(m)
    assert isinstance(link, ImageLink) and link.name == "deepjscc"
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    res = link.transmit(x, 10.0, seed=3)
    assert res.images.shape == x.shape and float(res.images.abs().max()) <= 1.0
    assert res.cbr == pytest.approx(1 / 12) and res.info["cbr_data"] == pytest.approx(1 / 12)
    assert res.info["channel_uses"] == m.k // 2
    assert res.info["mean_symbol_energy"] == pytest.approx(1.0, abs=1e-4)
    again = link.transmit(x, 10.0, seed=3)
    assert torch.equal(res.images, again.images)  # a function of (images, parameters, seed)
    other = link.transmit(x, 10.0, seed=4)
    assert not torch.equal(res.images, other.images)
    for ch in ({"model": "rayleigh"}, {"model": "rician", "k_factor_db": 6.0}, {"model": "rayleigh", "csi": "ls"}):
        r = link.transmit(x, 5.0, channel=ch, seed=0)
        assert r.images.shape == x.shape and r.info["channel"] == ch["model"]
    assert link.transmit(x, 5.0, channel={"model": "rayleigh", "csi": "ls"}).cbr > 1 / 12  # pilots counted


def test_channel_is_differentiable_for_every_model():
    m = _tiny()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    for ch in (None, {"model": "rayleigh"}, {"model": "rician", "k_factor_db": 3.0}):
        m.zero_grad()
        out = m(x, [0.0, 12.0], ch, seed=1)  # one SNR per image
        out.square().mean().backward()
        g = m.encoder[0][0].weight.grad
        assert g is not None and float(g.abs().sum()) > 0


def test_channel_pass_per_image_snr():
    x = torch.randn(2, 64)
    x = x / x.norm(dim=-1, keepdim=True) * (32 ** 0.5)  # unit energy per complex symbol
    y_hi, _ = channel_pass(x, [40.0, 40.0], None, seed=0)
    y_lo, _ = channel_pass(x, [40.0, -10.0], None, seed=0)
    assert torch.allclose(y_hi[0], x[0], atol=0.05)
    assert torch.allclose(y_hi[0], y_lo[0])  # image 0 sees the same channel
    assert float((y_lo[1] - x[1]).abs().mean()) > 0.3
    with pytest.raises(InvalidArgumentError):
        channel_pass(x, [1.0, 2.0, 3.0])


def test_gdn_normalises_and_inverse_gdn_expands():
    x = torch.randn(2, 5, 4, 4) * 3
    with torch.no_grad():
        y, z = GDN(5)(x), GDN(5, inverse=True)(x)
    assert y.shape == z.shape == x.shape
    assert float(y.abs().max()) < float(x.abs().max()) < float(z.abs().max())
    assert torch.equal(torch.sign(y), torch.sign(x))


def test_save_load_and_corruption_errors(tmp_path):
    m = _tiny(1)
    d = save_deepjscc(m, tmp_path / "dj", training={"note": "test"})
    meta = json.loads((d / "config.json").read_text())
    assert meta["arch"] == "deepjscc-bourtsoulatze" and meta["k_real"] == 256
    loaded = load_deepjscc(d)
    for (k, a), (_, b) in zip(m.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k
    assert load_deepjscc(d / "config.json").k == 256

    weights = d / "model.safetensors"
    raw = bytearray(weights.read_bytes())
    raw[-5] ^= 0xFF
    weights.write_bytes(bytes(raw))
    with pytest.raises(BundleError, match=r"model\.safetensors is corrupt"):
        load_deepjscc(d)
    weights.unlink()
    with pytest.raises(BundleError, match=r"model\.safetensors is missing"):
        load_deepjscc(d)
    (d / "config.json").write_text("{not json")
    with pytest.raises(BundleError, match=r"config\.json is not readable JSON"):
        load_deepjscc(d)
    with pytest.raises(BundleError, match="does not exist"):
        load_deepjscc(tmp_path / "nowhere")


def test_shipped_weights_load_and_work():
    assert (DEFAULT_DIR / "model.safetensors").is_file(), f"{DEFAULT_DIR} holds no shipped weights"
    assert (DEFAULT_DIR / "model.safetensors").stat().st_size <= 5 * 1024 * 1024
    model = load_deepjscc()
    assert model.k == 4096 and model.cfg.image_size == 128
    images = heldout_faces("baselines-shipped", 0, 2, size=128)[0]
    link = DeepJSCCLink(model)
    hi = link.transmit(images, 18.0, seed=0)
    lo = link.transmit(images, -6.0, seed=0)
    assert hi.cbr == pytest.approx(1 / 12)
    p_hi, p_lo = float(psnr(hi.images, images).mean()), float(psnr(lo.images, images).mean())
    assert p_hi > 18.0 and p_hi > p_lo > 15.0  # graceful degradation, no cliff
