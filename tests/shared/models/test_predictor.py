"""Tests of shared/models/predictor.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from shared.errors import BundleError, InvalidArgumentError
from shared.models.predictor import (
    AttributePrediction,
    SmallCNNConfig,
    SmallCNNPredictor,
    Talk2EditPredictor,
    build_predictor,
    images_to_unit,
    load_talk2edit_predictor,
)

DATA = Path(__file__).parent / "data" / "talk2edit_layouts.json"


@pytest.fixture(scope="module")
def layouts() -> dict:
    return json.loads(DATA.read_text())


@pytest.fixture(scope="module")
def t2e() -> Talk2EditPredictor:
    torch.manual_seed(0)
    return Talk2EditPredictor().eval()


def _published_like_state_dict(rows, seed=1) -> dict[str, torch.Tensor]:
    """Random tensors with the published key names and shapes (BN variances positive)."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for key, shape in rows:
        if key.endswith("num_batches_tracked"):
            sd[key] = torch.tensor(1234, dtype=torch.long)
        elif key.endswith("running_var"):
            sd[key] = torch.rand(shape, generator=g) + 0.5
        else:
            sd[key] = torch.randn(shape, generator=g) * 0.05
    return sd


# ---------------------------------------------------------------------------------------------------------------
# Published layout
# ---------------------------------------------------------------------------------------------------------------

def test_state_dict_matches_published_layout_exactly(t2e, layouts):
    expected = [(k, tuple(s)) for k, s in layouts["predictor"]]
    got = [(k, tuple(v.shape)) for k, v in t2e.state_dict().items()]
    assert len(got) == 370
    assert set(got) == set(expected)
    assert [k for k, _ in got] == [k for k, _ in expected]  # same order as Talk-to-Edit registers modules


def test_parameter_count(t2e):
    # ResNet-50 without fc: 25,557,032 - 2,049,000 = 23,508,032; stem 1,050,112; 5 heads x 133,382
    assert sum(p.numel() for p in t2e.parameters()) == 23_508_032 + 1_050_112 + 5 * 133_382


@pytest.mark.parametrize("wrap,prefix", [(True, ""), (False, ""), (True, "module.")])
def test_load_published_state_dict_strict(layouts, wrap, prefix):
    sd = _published_like_state_dict(layouts["predictor"])
    obj = {prefix + k: v for k, v in sd.items()}
    if wrap:
        obj = {"state_dict": obj}
    model = load_talk2edit_predictor(obj)
    assert not model.training
    assert model.attributes == ["bangs", "eyeglasses", "beard", "smiling", "age"]
    own = model.state_dict()
    for k, v in sd.items():
        assert torch.equal(own[k], v), k


def test_load_tolerates_missing_batchnorm_counters(layouts):
    sd = {k: v for k, v in _published_like_state_dict(layouts["predictor"]).items()
          if not k.endswith("num_batches_tracked")}
    model = load_talk2edit_predictor(sd)
    assert int(model.stem.bn.num_batches_tracked) == 0
    assert torch.equal(model.stem.bn.running_var, sd["stem.bn.running_var"])


def test_load_rejects_missing_and_mismatched_keys(layouts):
    sd = _published_like_state_dict(layouts["predictor"])
    missing = dict(sd)
    del missing["layer3.2.bn2.running_mean"]
    with pytest.raises(BundleError, match="missing"):
        load_talk2edit_predictor({"state_dict": missing})
    wrong = dict(sd)
    wrong["stem.fc.weight"] = torch.zeros(256, 2048)
    with pytest.raises(BundleError, match="shape"):
        load_talk2edit_predictor({"state_dict": wrong})
    extra = dict(sd)
    extra["fc.weight"] = torch.zeros(1000, 2048)
    with pytest.raises(BundleError, match="unexpected"):
        load_talk2edit_predictor(extra)


def test_head_order_maps_to_project_names(layouts):
    sd = _published_like_state_dict(layouts["predictor"])
    # Make every head constant: Talk-to-Edit head j predicts class (j + 1) % 6 with a big margin.
    heads = ["classifier06Bangs", "classifier16Eyeglasses", "classifier25No_Beard", "classifier32Smiling",
             "classifier40Young"]
    for j, h in enumerate(heads):
        sd[f"{h}.1.weight"] = torch.zeros(6, 256)
        b = torch.zeros(6)
        b[(j + 1) % 6] = 10.0
        sd[f"{h}.1.bias"] = b
    model = load_talk2edit_predictor({"state_dict": sd})
    pred = model.predict(torch.rand(2, 3, 128, 128) * 2 - 1)
    assert pred.degree.tolist() == [[1, 2, 3, 4, 5]] * 2
    deg, conf = pred.for_attribute("beard")  # Talk-to-Edit's No_Beard head
    assert deg.tolist() == [3, 3]
    expected_conf = float(torch.softmax(torch.tensor([0, 0, 0, 10.0, 0, 0]), 0)[3])
    assert torch.allclose(conf, torch.full((2,), expected_conf))


# ---------------------------------------------------------------------------------------------------------------
# Preprocessing
# ---------------------------------------------------------------------------------------------------------------

def _reference_uint8(images: torch.Tensor) -> np.ndarray:
    """Talk-to-Edit's postprocess() on a float32 array: (x - min)*255/(max-min), clip(+0.5), astype(uint8)."""
    arr = images.detach().numpy().astype(np.float32)
    arr = (arr - np.float32(-1.0)) * np.float32(255) / np.float32(2.0)
    return np.clip(arr + np.float32(0.5), 0, 255).astype(np.uint8)


def test_preprocess_quantised_matches_reference(t2e):
    torch.manual_seed(3)
    x = torch.rand(2, 3, 128, 128) * 2.4 - 1.2  # includes values outside [-1, 1]
    ref = _reference_uint8(x).astype(np.float64) / 255.0
    mean = np.array([0.485, 0.456, 0.406]).reshape(1, 3, 1, 1)
    std = np.array([0.229, 0.224, 0.225]).reshape(1, 3, 1, 1)
    ref = (ref - mean) / std
    got = t2e.preprocess(x).numpy()
    assert got.shape == (2, 3, 128, 128)
    np.testing.assert_allclose(got, ref, atol=1e-5)


def test_preprocess_unquantised_is_talk2edit_transform_image(t2e):
    torch.manual_seed(4)
    x = torch.rand(1, 3, 128, 128) * 2 - 1
    model = t2e
    model.quantize = False
    try:
        got = model.preprocess(x).numpy()
    finally:
        model.quantize = True
    ref = np.clip((x.numpy().astype(np.float64) + 1) * 255 / 2 + 0.5, 0, 255) / 255.0
    ref = (ref - np.array([0.485, 0.456, 0.406]).reshape(1, 3, 1, 1)) / np.array([0.229, 0.224, 0.225]).reshape(1, 3, 1, 1)
    np.testing.assert_allclose(got, ref, atol=1e-5)


def test_preprocess_resizes_with_area():
    torch.manual_seed(5)
    x = torch.rand(1, 3, 512, 512) * 2 - 1
    got = images_to_unit(x, size=128)
    q = _reference_uint8(x).astype(np.float64) / 255.0
    ref = q.reshape(1, 3, 128, 4, 128, 4).mean(axis=(3, 5))  # area = mean over 4x4 blocks
    np.testing.assert_allclose(got.numpy(), ref, atol=1e-6)
    assert images_to_unit(torch.zeros(1, 3, 128, 128), size=128).shape == (1, 3, 128, 128)


def test_ste_gradient_flows_and_forward_is_unchanged():
    torch.manual_seed(6)
    x = (torch.rand(1, 3, 128, 128) * 1.8 - 0.9).requires_grad_(True)
    hard = images_to_unit(x, quantize=True, differentiable=False)
    soft = images_to_unit(x, quantize=True, differentiable=True)
    assert torch.equal(hard, soft)
    soft.sum().backward()
    # d/dx of ((x+1)*127.5 + 0.5)/255 with identity through the floor
    assert torch.allclose(x.grad, torch.full_like(x, 127.5 / 255.0))
    x2 = x.detach().clone().requires_grad_(True)
    images_to_unit(x2, quantize=True, differentiable=False).sum().backward()
    assert torch.count_nonzero(x2.grad) == 0  # floor blocks the gradient


def test_predictor_backprop_in_differentiable_mode():
    model = SmallCNNPredictor(SmallCNNConfig(widths=[8, 8, 8, 8]))
    model.differentiable = True
    x = (torch.rand(2, 3, 128, 128) * 2 - 1).requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(model(x).flatten(0, 1), torch.zeros(10, dtype=torch.long))
    loss.backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0


def test_preprocess_rejects_bad_shape(t2e):
    with pytest.raises(InvalidArgumentError, match="shape"):
        t2e.predict(torch.zeros(3, 128, 128))


# ---------------------------------------------------------------------------------------------------------------
# AttributePrediction / predict
# ---------------------------------------------------------------------------------------------------------------

def test_attribute_prediction_from_logits():
    logits = torch.tensor([[[0.0, 2.0, 1.0], [3.0, 0.0, 0.0]]])
    p = AttributePrediction.from_logits(logits, ["a", "b"])
    assert p.degree.tolist() == [[1, 0]]
    assert p.degree.dtype == torch.long
    sm = torch.softmax(logits, -1)
    assert torch.allclose(p.confidence, torch.stack([sm[0, 0, 1], sm[0, 1, 0]]).view(1, 2))
    assert p.index("b") == 1
    assert p.as_dicts()[0]["a"]["degree"] == 1
    with pytest.raises(InvalidArgumentError, match="unknown attribute"):
        p.for_attribute("c")


def test_predict_restores_mode_and_detaches():
    model = SmallCNNPredictor()
    model.train()
    pred = model.predict(torch.zeros(1, 3, 128, 128))
    assert model.training
    assert pred.logits.shape == (1, 5, 6)
    assert not pred.logits.requires_grad


# ---------------------------------------------------------------------------------------------------------------
# Small CNN and factory
# ---------------------------------------------------------------------------------------------------------------

def test_small_cnn_config_round_trip_and_size():
    cfg = SmallCNNConfig(attributes=["x", "y"], widths=[8, 16, 32], norm="batch")
    assert SmallCNNConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(InvalidArgumentError, match="unknown SmallCNNConfig keys"):
        SmallCNNConfig.from_dict({"wdths": [1]})
    model = SmallCNNPredictor()
    n = sum(p.numel() for p in model.parameters())
    assert 100_000 < n < 1_000_000
    assert model.attributes == ["bangs", "eyeglasses", "beard", "smiling", "age"]
    assert model.num_degrees == 6
    out = model(torch.rand(3, 3, 64, 64) * 2 - 1)  # other sizes are resized to 128
    assert out.shape == (3, 5, 6)
    assert set(model.state_dict()) >= {"trunk.0.0.weight", "heads.bangs.weight", "heads.age.bias"}


def test_build_predictor():
    small = build_predictor("small_cnn", {"widths": [8, 16], "attributes": ["a"]})
    assert isinstance(small, SmallCNNPredictor) and small.attributes == ["a"]
    big = build_predictor("talk2edit_resnet50", {"quantize": False})
    assert isinstance(big, Talk2EditPredictor) and big.quantize is False
    with pytest.raises(InvalidArgumentError, match="unknown predictor architecture"):
        build_predictor("vit", {})
    with pytest.raises(InvalidArgumentError, match="unknown talk2edit_resnet50 config keys"):
        build_predictor("talk2edit_resnet50", {"depth": 101})
