"""The Fig. 4 schemes on the tiny 64-px bundle: shapes, CBRs, caching, the fixed-step ablation."""

from __future__ import annotations

import hashlib

import pytest
import torch

from edsc.eval import schemes as S
from shared.bundle import Bundle
from shared.errors import BundleError, InvalidArgumentError
from transmitter.instruction import Edit
from transmitter.jecc import JECCConfig

EDITS = [Edit("smiling", "indefinite", direction=1), Edit("bangs", "target", target=3)]


@pytest.fixture(scope="module")
def setup(tiny_bundle):
    bundle = Bundle(tiny_bundle)
    editor = S.Editor(bundle, inversion_steps=2, jecc=JECCConfig(max_steps=3), progress=False)
    g = torch.Generator().manual_seed(0)
    sources = (torch.rand(2, 3, 64, 64, generator=g) * 2 - 1)
    edited = editor.edit(sources, EDITS)
    return bundle, editor, sources, edited


def test_editor_shapes_and_cache(setup):
    bundle, editor, sources, edited = setup
    assert edited.images.shape == (2, 3, 64, 64) and edited.w_edited.shape == (2, 512)
    assert set(edited.time_per_image()) == {"inversion_s", "editing_s", "render_s"}
    assert edited.time_per_image(cpu=True)["inversion_s"] > 0
    assert [o.attribute for o in edited.outcomes] == ["smiling", "bangs"]
    count = editor.inverted_count
    again = editor.edit(sources.clone(), EDITS)                            # same content: served from the cache
    assert editor.inverted_count == count
    assert torch.equal(again.images, edited.images)
    assert again.time_per_image() == edited.time_per_image()


def test_editable_deepsc_cbr_and_adapters(setup):
    bundle, _, _, edited = setup
    channel = S.channel_config("awgn", 6.0)
    for adapters in (True, False):
        out = S.EditableDeepSC(bundle, edited, adapters=adapters).run(6.0, channel, seed=1)
        assert out.images.shape == (2, 3, 64, 64)
        assert out.cbr == pytest.approx(512 / (3 * 64 * 64))
        assert out.info["k"] == 512 and out.info["channel_uses"] == 256
        assert "render_s" not in out.seconds and out.seconds_per_image > 0 and out.cpu_seconds_per_image > 0
    fading = S.EditableDeepSC(bundle, edited).run(0.0, S.channel_config("rician", 0.0, 3.0), seed=1)
    assert torch.isfinite(fading.images).all()


def test_baseline_schemes(setup, fake_links):
    bundle, editor, sources, edited = setup
    schemes = S.build_schemes(S.METHODS, bundle, fake_links, editor, sources, EDITS, edited)
    assert list(schemes) == list(S.METHODS)
    for method, scheme in schemes.items():
        out = scheme.run(-6.0, S.channel_config("rayleigh", -6.0), seed=3)
        assert out.method == method and out.images.shape == (2, 3, 64, 64)
        label = S.method_parts(method)[0]
        if label:
            assert out.cbr == fake_links[label].cbr and out.seconds["link_s"] >= 0
    m2 = schemes["JPEG+LDPC M2"].run(18.0, S.channel_config("awgn", 18.0), seed=0)
    assert torch.equal(m2.images, edited.images) and m2.info["decode_ok"] == 1.0
    count = editor.inverted_count
    m1 = schemes["JPEG+LDPC M1"].run(12.0, S.channel_config("awgn", 12.0), seed=0)   # intact sources: cached
    assert editor.inverted_count == count and torch.equal(m1.images, edited.images)


def test_fixed_step_ablation(setup):
    bundle, editor, sources, edited = setup
    w, outcomes = S.fixed_step_edit(bundle, edited.w_source, EDITS, steps_per_degree=2)
    assert w.shape == (2, 512)
    for o in outcomes:
        change = abs(o.expected_degree - o.degrees_before[bundle.attributes.index(o.attribute)])
        assert o.status == "fixed_steps" and o.iterations == 2 * change
    fixed = editor.edit(sources, EDITS, fixed_steps=2)
    assert torch.allclose(fixed.w_edited, w)
    assert S.fixed_steps_per_degree(outcomes, bundle.attributes, fallback=7) == 7   # none "reached"


def test_names_channels_and_links(tmp_path):
    assert S.method_parts("DeepJSCC M1") == ("DeepJSCC", "M1")
    assert S.method_parts(S.OURS) == (None, None)
    with pytest.raises(InvalidArgumentError):
        S.method_parts("Talk2Edit")
    assert S.channel_config("rician", 0.0, 6.0).k_factor_db == 6.0
    with pytest.raises(InvalidArgumentError):
        S.channel_config("tdl", 0.0)
    with pytest.raises(BundleError, match="--methods"):
        S.build_links(["DeepJSCC"], 64, tmp_path / "missing")
    links = S.build_links(["JPEG+LDPC"], 64, tmp_path)                      # the real link, probed at 64 px
    assert isinstance(links["JPEG+LDPC"], S.ImageLink)


def test_editor_store_resumes_without_inverting_again(tiny_bundle, tmp_path):
    bundle = Bundle(tiny_bundle)
    g = torch.Generator().manual_seed(1)
    sources = torch.rand(2, 3, 64, 64, generator=g) * 2 - 1
    first = S.Editor(bundle, inversion_steps=2, jecc=JECCConfig(max_steps=3), progress=False, store=tmp_path)
    w1, lp1 = first.invert(sources)
    files = sorted(tmp_path.rglob("*.pt"))
    # the guard (on by default) reads with P, so P's sha256 names the store too
    guard = hashlib.sha256(first.tx.inversion_fingerprint.encode()).hexdigest()[:16]
    assert len(files) == 2 and all(f"r2-mean-{guard}" == f.parent.name for f in files)
    # a new editor (a new process, say) reads the store: same latents, nothing inverted, the stored time kept
    second = S.Editor(bundle, inversion_steps=2, jecc=JECCConfig(max_steps=3), progress=False, store=tmp_path)
    second._invert_new = None                              # inverting would fail: it must not happen
    w2, lp2 = second.invert(sources)
    assert torch.equal(w1, w2) and torch.equal(lp1, lp2) and second.loaded_from_store == 2
    assert second.edit(sources, EDITS).time_per_image()["inversion_s"] == \
        first.edit(sources, EDITS).time_per_image()["inversion_s"]
    # another r_inv is another entry
    third = S.Editor(bundle, inversion_steps=3, jecc=JECCConfig(max_steps=3), progress=False, store=tmp_path)
    third.invert(sources[:1])
    assert third.loaded_from_store == 0 and len(sorted(tmp_path.rglob("*.pt"))) == 3
