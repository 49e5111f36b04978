"""Importers from the published layouts: state dicts with exactly Talk-to-Edit's / rosinality's key names and shapes."""

import json
from pathlib import Path

import pytest
import torch

from edsc.bundle_import import import_rosinality, import_talk2edit
from shared.bundle import Bundle
from shared.errors import BundleError

DATA = Path(__file__).resolve().parents[1] / "shared" / "models" / "data"


def _random_state(layout, seed=0, scale=0.02):
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in (layout.items() if isinstance(layout, dict) else layout):
        if key.endswith("num_batches_tracked"):
            state[key] = torch.zeros(shape, dtype=torch.long)
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=gen) + 0.5
        else:
            state[key] = torch.randn(shape, generator=gen) * scale
    return state


@pytest.fixture(scope="module")
def layouts():
    return {**json.loads((DATA / "stylegan2_rosinality_keys.json").read_text()),
            **json.loads((DATA / "talk2edit_layouts.json").read_text())}


def test_import_rosinality_128(tmp_path, layouts):
    ckpt = tmp_path / "stylegan2_128.pt"
    torch.save({"g_ema": _random_state(layouts["generator_128_cm1"]),
                "d": _random_state(layouts["discriminator_128_cm1"], 1)}, ckpt)
    out = import_rosinality(ckpt, 128, 1, tmp_path / "bundle")
    bundle = Bundle(out)
    assert set(bundle.manifest.components) == {"generator", "discriminator", "adapters"}
    counts = bundle.parameter_counts()
    assert 24.0e6 < counts["generator"] < 25.0e6          # REFERENCE: ≈ 24.5 M at 128 px, cm 1
    g = bundle.generator
    with torch.no_grad():
        img = g.synthesis(g.mean_latent(64))
    assert img.shape == (1, 3, 128, 128)
    # the weights really are the checkpoint's
    original = torch.load(ckpt)["g_ema"]
    for key in ("style.1.weight", "convs.0.conv.weight", "noises.noise_3"):
        assert torch.equal(g.state_dict()[key], original[key])


def test_import_rosinality_wrong_multiplier_names_the_problem(tmp_path, layouts):
    ckpt = tmp_path / "g.pt"
    torch.save({"g_ema": _random_state(layouts["generator_128_cm1"])}, ckpt)
    with pytest.raises(BundleError, match="channel multiplier 2"):
        import_rosinality(ckpt, 128, 2, tmp_path / "bundle")


def test_import_rosinality_refuses_pickled_objects(tmp_path, layouts):
    ckpt = tmp_path / "g.pt"
    import argparse
    torch.save({"g_ema": _random_state(layouts["generator_128_cm1"]), "args": argparse.Namespace(size=128)}, ckpt)
    with pytest.raises(BundleError, match="--trust-pickle"):
        import_rosinality(ckpt, 128, 1, tmp_path / "bundle")


def test_import_talk2edit_128(tmp_path, layouts):
    src = tmp_path / "pretrained_models"
    (src / "128_field").mkdir(parents=True)
    torch.save({"g_ema": _random_state(layouts["generator_128_cm1"], scale=1.0),
                "d": _random_state(layouts["discriminator_128_cm1"])}, src / "stylegan2_128.pt")
    torch.save({"state_dict": _random_state(layouts["predictor"])}, src / "predictor_128.pth.tar")
    torch.save({"epoch": 3, "state_dict": _random_state(layouts["language_encoder"])}, src / "language_encoder.pth.tar")
    for i, attr in enumerate(("Bangs", "Eyeglasses", "No_Beard", "Smiling", "Young")):
        torch.save(_random_state(layouts["field"], seed=10 + i, scale=0.2), src / "128_field" / f"{attr}.pth")
    tokens = {"<NULL>": 0, "<START>": 1, "<END>": 2, "<UNK>": 3}
    tokens.update({f"word{i:03d}": i + 4 for i in range(225)})
    (src / "vocab.json").write_text(json.dumps({"text_token_to_idx": tokens}))

    out = import_talk2edit(src, 128, tmp_path / "t2e")
    bundle = Bundle(out)
    assert bundle.manifest.components["fields"].arch == "talk2edit"
    assert bundle.manifest.components["predictor"].arch == "talk2edit_resnet50"
    counts = bundle.parameter_counts()
    assert 25.0e6 < counts["predictor"] < 25.5e6
    # every component loads strictly and runs
    w = bundle.generator.mean_latent(64)
    with torch.no_grad():
        img = bundle.generator.synthesis(w)
        pred = bundle.predictor.predict(img)
        w2 = bundle.fields.step(w, "bangs", 1)
    assert pred.logits.shape == (1, 5, 6)
    assert w2.shape == (1, 512) and not torch.equal(w2, w)
    assert len(bundle.vocabulary()) == 229
    # published field weights are kept
    original = torch.load(src / "128_field" / "Smiling.pth")
    assert torch.equal(bundle.fields["smiling"].state_dict()["field.3.Linear.weight"], original["field.3.Linear.weight"])


def test_import_talk2edit_missing_files(tmp_path):
    with pytest.raises(BundleError, match="does not exist"):
        import_talk2edit(tmp_path / "nope", 128, tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BundleError, match="stylegan2_128"):
        import_talk2edit(tmp_path / "empty", 128, tmp_path / "out")
