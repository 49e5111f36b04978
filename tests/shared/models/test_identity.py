"""Tests of shared/models/identity.py (the identity encoder F)."""

from __future__ import annotations

import math
import shutil

import pytest
import torch
from safetensors.torch import save_file

from shared.errors import BundleError, InvalidArgumentError
from shared.models.identity import (
    SYNTHFACE_CYCLIC_DIMS,
    SYNTHFACE_IDENTITY_DIMS,
    IdentityEncoder,
    IdentityEncoderConfig,
    build_identity_encoder,
)

TINY = dict(widths=[4, 8, 8], blocks=[0, 1, 0], hidden=16, input_size=32, pool=2)


def _tiny(**kw) -> IdentityEncoder:
    torch.manual_seed(0)
    return IdentityEncoder(IdentityEncoderConfig(**{**TINY, **kw}))


def test_default_dims_match_synthface():
    from edsc.world.synthface import IDENTITY_DIMS, IDENTITY_PRIOR

    assert tuple(SYNTHFACE_IDENTITY_DIMS) == tuple(IDENTITY_DIMS)
    for name in SYNTHFACE_CYCLIC_DIMS:
        assert "cyclic" in IDENTITY_PRIOR[name][2]
    cfg = IdentityEncoderConfig()
    assert cfg.out_dim == len(IDENTITY_DIMS) + len(SYNTHFACE_CYCLIC_DIMS) == 27


def test_forward_shapes_and_resize():
    model = _tiny()
    for side in (32, 64):
        out = model(torch.rand(3, 3, side, side) * 2 - 1)
        assert out.shape == (3, model.out_dim)
    assert model.identity(torch.zeros(2, 3, 32, 32)).shape == (2, len(SYNTHFACE_IDENTITY_DIMS))


def test_encode_decode_round_trip_and_wrap():
    model = _tiny()
    g = torch.Generator().manual_seed(1)
    ident = torch.rand(50, len(SYNTHFACE_IDENTITY_DIMS), generator=g) * 2 - 1
    feats = model.encode_targets(ident)
    assert feats.shape == (50, 27)
    back = model.decode(feats)
    err = (back - ident).abs()
    cyc = [SYNTHFACE_IDENTITY_DIMS.index(c) for c in SYNTHFACE_CYCLIC_DIMS]
    err[:, cyc] = torch.minimum(err[:, cyc], 2.0 - err[:, cyc])  # -1 and +1 are the same hue
    assert float(err.max()) < 1e-5
    # hue -1 and hue +1 encode to the same features
    a = ident[:1].clone()
    b = ident[:1].clone()
    a[0, cyc[0]] = -1.0
    b[0, cyc[0]] = 1.0
    assert torch.allclose(model.encode_targets(a), model.encode_targets(b), atol=1e-6)
    # the cos/sin pair of a cyclic dimension has unit norm
    k = SYNTHFACE_IDENTITY_DIMS.index("bg_hue")
    assert torch.allclose(feats[:, k].square() + feats[:, k + 1].square(), torch.ones(50), atol=1e-5)
    assert math.isclose(float(feats[0, 0]), float(ident[0, 0]), abs_tol=1e-6)


def test_config_validation_and_dict_round_trip():
    cfg = IdentityEncoderConfig(**TINY)
    assert IdentityEncoderConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(InvalidArgumentError, match="unknown IdentityEncoderConfig keys"):
        IdentityEncoderConfig.from_dict({"bogus": 1})
    with pytest.raises(InvalidArgumentError, match="cyclic"):
        IdentityEncoderConfig(dims=["a", "b"], cyclic=["c"])
    with pytest.raises(InvalidArgumentError, match="blocks"):
        IdentityEncoderConfig(widths=[4, 8], blocks=[0])
    with pytest.raises(InvalidArgumentError, match="norm"):
        IdentityEncoderConfig(norm="layer")
    with pytest.raises(InvalidArgumentError):
        _tiny().decode(torch.zeros(2, 5))


def test_custom_dims_without_cyclic():
    model = _tiny(dims=["x", "y", "z"], cyclic=[])
    assert model.out_dim == 3
    ident = torch.tensor([[0.5, -0.25, 1.0]])
    assert torch.allclose(model.decode(model.encode_targets(ident)), ident)


def test_differentiable_passes_gradient_to_images():
    model = _tiny()
    x = (torch.rand(2, 3, 32, 32) * 2 - 1).requires_grad_(True)
    model.differentiable = True
    model(x).abs().sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    model.differentiable = False
    y = (torch.rand(2, 3, 32, 32) * 2 - 1).requires_grad_(True)
    model(y).abs().sum().backward()
    assert y.grad is None or float(y.grad.abs().sum()) == 0.0  # floor() blocks the gradient


def test_group_and_batch_norm_variants():
    for norm in ("group", "batch"):
        model = _tiny(norm=norm)
        model.train()
        assert model(torch.rand(4, 3, 32, 32) * 2 - 1).shape == (4, 27)


def test_builder_and_bundle_round_trip(tiny_bundle, tmp_path, monkeypatch):
    from shared import bundle as bundle_mod

    with pytest.raises(BundleError, match="unknown identity encoder architecture"):
        build_identity_encoder("resnet", {})
    with pytest.raises(BundleError, match="config"):
        build_identity_encoder("identity_cnn", {"widths": []})

    model = build_identity_encoder("identity_cnn", {**TINY})
    path = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, path)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path / "identity_encoder.safetensors"))
    manifest = bundle_mod.read_manifest(path)
    components = {k: v.model_dump() for k, v in manifest.components.items()}
    components["identity_encoder"] = {"arch": "identity_cnn", "file": "identity_encoder.safetensors",
                                      "config": model.config(), "extra_files": []}
    files = dict(manifest.files)
    files["identity_encoder.safetensors"] = bundle_mod.sha256_file(path / "identity_encoder.safetensors")
    bundle_mod.update_manifest(path, components=components, files=files)
    monkeypatch.setitem(bundle_mod.BUILDERS, "identity_encoder", build_identity_encoder)
    loaded = bundle_mod.Bundle(path).load("identity_encoder")
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    model.eval()
    assert torch.allclose(loaded(x), model(x), atol=1e-6)
