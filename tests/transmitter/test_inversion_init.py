"""Where the inversion starts: the mean latent, or the image's own reading through the bundle's latent layout."""

import shutil

import pytest
import torch

from shared.bundle import Bundle, update_manifest
from shared.errors import BundleError, InvalidArgumentError
from shared.models import world_latent as WL
from transmitter.inversion import InversionConfig
from transmitter.inversion_init import encoder_start, resolve_init
from transmitter.pipeline import TransmitterPipeline


@pytest.fixture(scope="module")
def layout_bundle(tiny_bundle, tmp_path_factory):
    """The tiny bundle with a latent layout in its manifest."""
    path = tmp_path_factory.mktemp("layout") / "tiny-layout"
    shutil.copytree(tiny_bundle, path)
    update_manifest(path, latent_layout={"name": WL.LAYOUT, "integer_fraction": 0.7})
    return Bundle(path)


def _images(n=3, size=64, seed=0):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_resolve_init_modes(tiny_bundle, layout_bundle, tmp_path):
    plain = Bundle(tiny_bundle)
    assert resolve_init("auto", plain) == "mean" and resolve_init("mean", plain) == "mean"
    with pytest.raises(BundleError, match="names no latent layout"):
        resolve_init("encoder", plain)
    with pytest.raises(InvalidArgumentError, match="inversion init must be one of"):
        resolve_init("best", plain)
    assert resolve_init("auto", layout_bundle) == "encoder" and resolve_init("mean", layout_bundle) == "mean"
    other = tmp_path / "other"
    shutil.copytree(tiny_bundle, other)
    update_manifest(other, latent_layout={"name": "someone-elses-layout"})
    assert resolve_init("auto", Bundle(other)) == "mean"
    with pytest.raises(BundleError, match="is not 'synthface-z30-v1'"):
        resolve_init("encoder", Bundle(other))


def test_inversion_config_rejects_an_unknown_init():
    with pytest.raises(InvalidArgumentError, match="inversion init"):
        InversionConfig(init="random")


def test_encoder_start_is_the_latent_of_the_face_f_and_p_read(layout_bundle):
    images = _images()
    w0 = encoder_start(layout_bundle)(images)                                       # (3, 512)
    F, P, G = layout_bundle.load("identity_encoder"), layout_bundle.predictor, layout_bundle.generator
    identity = F.decode(F(images)).clamp(-1, 1)
    degrees = P.predict(images).degree[:, [P.attributes.index(a) for a in WL.ATTRIBUTES]].float()
    z = torch.cat([WL.z_from_world_params(identity[i:i + 1], degrees[i:i + 1], 512, torch.Generator().manual_seed(0))
                   for i in range(3)])
    assert torch.allclose(w0, G.mapping(z), atol=1e-5)
    # z stands for exactly the face that was read
    back_identity, back_degrees = WL.world_params_from_z(z)
    assert torch.allclose(back_identity, identity, atol=1e-4) and torch.equal(back_degrees, degrees)
    # reproducible, and an image's start does not depend on its batch
    assert torch.equal(encoder_start(layout_bundle)(images), w0)
    assert torch.allclose(encoder_start(layout_bundle)(images[1:2]), w0[1:2], atol=1e-5)


def test_pipeline_inverts_from_its_start(layout_bundle):
    images = _images()
    tx = TransmitterPipeline(layout_bundle, InversionConfig(steps=0))
    assert tx.init_mode == "encoder"
    assert torch.allclose(tx.invert(images).w, tx.start_latent(images))
    mean = TransmitterPipeline(layout_bundle, InversionConfig(steps=0, init="mean"))
    assert mean.init_mode == "mean"
    assert torch.allclose(mean.invert(images).w, mean.w_avg.expand(3, -1))
    assert not torch.allclose(tx.start_latent(images), mean.start_latent(images).expand(3, -1))


def test_encoder_start_needs_the_synthface_identity_parameters(layout_bundle):
    from transmitter.inversion_init import EncoderStart

    class OtherF(torch.nn.Module):
        dims = ["a", "b"]

    with pytest.raises(BundleError, match="identity encoder"):
        EncoderStart(layout_bundle.generator, OtherF(), layout_bundle.predictor, 0.7)


def test_start_fingerprint_names_what_the_start_depends_on(tiny_bundle, layout_bundle, tmp_path):
    from transmitter.inversion_init import start_fingerprint

    assert start_fingerprint(Bundle(tiny_bundle), "mean") == "mean"
    fp = start_fingerprint(layout_bundle, "encoder")
    assert layout_bundle.weights_sha256("identity_encoder") in fp and layout_bundle.weights_sha256("predictor") in fp
    other = tmp_path / "other-fraction"
    shutil.copytree(layout_bundle.path, other)
    update_manifest(other, latent_layout={"name": WL.LAYOUT, "integer_fraction": 0.5})
    assert start_fingerprint(Bundle(other), "encoder") != fp


def test_degree_guard_is_on_by_default_and_in_the_fingerprint(tiny_bundle):
    from transmitter.inversion import InversionConfig
    from transmitter.pipeline import TransmitterPipeline

    b = Bundle(tiny_bundle)
    on = TransmitterPipeline(b, InversionConfig(steps=2))
    off = TransmitterPipeline(b, InversionConfig(steps=2, keep_degrees=False))
    assert off.inversion_fingerprint == "mean"
    assert on.inversion_fingerprint == f"mean|guard|{b.weights_sha256('predictor')}"
    images = _images(n=2)
    plain = off.invert(images)
    assert plain.guarded.all() and (plain.step == 2).all()
    guarded = on.invert(images)
    p = b.predictor.predict(images).degree
    ok = (b.predictor.predict(guarded.image).degree == p).all(1)
    assert torch.equal(ok, guarded.guarded)                  # the returned iterate passed, or nothing did
    assert torch.equal(guarded.w[~ok], plain.w[~ok])         # where nothing passed: the paper's last iterate
