"""Bundle format: manifest validation, sha256 checks, strict loading, lazy components, clear errors."""

import json
import shutil

import pytest
import torch

from shared.bundle import Bundle, read_manifest, update_manifest
from shared.errors import BundleError


@pytest.fixture()
def bundle_copy(tiny_bundle, tmp_path):
    dest = tmp_path / "b"
    shutil.copytree(tiny_bundle, dest)
    return dest


def test_opens_and_builds_every_component(tiny_bundle):
    b = Bundle(tiny_bundle)
    m = b.manifest
    assert m.resolution == 64 and m.latent_dim == 512 and m.max_degree == 5
    assert m.attributes == ["bangs", "eyeglasses", "beard", "smiling", "age"]
    assert m.adapter_snr_db == [-6.0, 0.0, 6.0, 12.0, 18.0]
    for name in ("generator", "predictor", "language", "fields", "adapters"):
        module = b.load(name)
        assert not module.training
        assert all(not p.requires_grad for p in module.parameters())
    assert b.load("generator") is b.generator        # cached
    assert len(b.vocabulary()) == b.language.cfg.vocab_size
    assert b.version == "random-tiny@seed0"


def test_adapters_are_identity_and_normaliser_roundtrips(tiny_bundle):
    codec = Bundle(tiny_bundle).adapters
    w = codec.normalizer.mean + torch.randn(3, 512)
    x = codec.encode(w, [-6.0, 7.0, 18.0])
    # identity adapters: X is the normalised latent
    assert torch.allclose(x, codec.normalizer.encode(w), atol=1e-6)
    assert torch.allclose(codec.decode(x, [-6.0, 7.0, 18.0]), w, atol=1e-4)


def test_missing_directory_and_manifest(tmp_path):
    with pytest.raises(BundleError, match="does not exist"):
        Bundle(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BundleError, match="no manifest.json"):
        Bundle(tmp_path / "empty")


def test_corrupt_file_fails_sha256(bundle_copy):
    path = bundle_copy / "fields.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="fields.safetensors.*sha256"):
        Bundle(bundle_copy)


def test_missing_file_named(bundle_copy):
    (bundle_copy / "predictor.safetensors").unlink()
    with pytest.raises(BundleError, match="predictor.safetensors.*missing"):
        Bundle(bundle_copy)


def test_invalid_manifest_fields_named(bundle_copy):
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    manifest["resolution"] = 100
    (bundle_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="resolution"):
        Bundle(bundle_copy)
    (bundle_copy / "manifest.json").write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        Bundle(bundle_copy)


def test_newer_format_version_refused(bundle_copy):
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    manifest["format_version"] = 99
    (bundle_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="format_version 99"):
        read_manifest(bundle_copy)


def test_config_not_matching_weights(bundle_copy):
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    manifest["components"]["predictor"]["config"]["widths"] = [8, 16, 32]
    (bundle_copy / "manifest.json").write_text(json.dumps(manifest))
    b = Bundle(bundle_copy)
    with pytest.raises(BundleError, match="do not fit the 'predictor' config"):
        b.load("predictor")


def test_unknown_component_and_arch(bundle_copy):
    b = Bundle(bundle_copy)
    with pytest.raises(BundleError, match="no component 'discriminator'"):
        b.load("discriminator")
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    manifest["components"]["generator"]["arch"] = "stylegan3"
    (bundle_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="stylegan3"):
        Bundle(bundle_copy).load("generator")


def test_update_manifest_keeps_weights(bundle_copy):
    update_manifest(bundle_copy, metrics={"lpips": 0.1})
    b = Bundle(bundle_copy)
    assert b.manifest.metrics == {"lpips": 0.1}


def test_optional_identity_encoder_component(tmp_path, tiny_bundle):
    from shared.bundle import write_bundle
    from shared.models.identity import IdentityEncoder, IdentityEncoderConfig
    src = Bundle(tiny_bundle)
    enc = IdentityEncoder(IdentityEncoderConfig())
    comps = {name: (spec.arch, spec.config, src.load(name).state_dict())
             for name, spec in src.manifest.components.items() if name != "language"}
    comps["identity_encoder"] = ("identity_cnn", enc.cfg.to_dict() if hasattr(enc, "cfg") else IdentityEncoderConfig().to_dict(),
                                 enc.state_dict())
    out = write_bundle(tmp_path / "withid", name="x", version="1", resolution=64, components=comps)
    loaded = Bundle(out).load("identity_encoder")
    for k, v in enc.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v)
