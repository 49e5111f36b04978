"""LPIPS with the official weights: the reference test vectors of OFFLINE-WEIGHTS.md, offline loading, no silent fallback."""

import io

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter
from skimage import data

from shared import lpips as L
from shared.errors import InvalidArgumentError, WeightsUnavailableError
from shared.image_io import pil_to_tensor


@pytest.fixture(scope="module")
def astronaut256():
    return Image.fromarray(data.astronaut()).resize((256, 256), Image.BICUBIC)


@pytest.fixture(scope="module")
def metric():
    return L.LPIPS("alex")


def test_reference_vectors(metric, astronaut256):
    x = pil_to_tensor(astronaut256)
    blur = pil_to_tensor(astronaut256.filter(ImageFilter.GaussianBlur(2)))
    buf = io.BytesIO()
    astronaut256.save(buf, format="JPEG", quality=10)
    jpeg = pil_to_tensor(Image.open(buf).convert("RGB"))
    x01 = np.asarray(astronaut256, dtype=np.float32) / 255.0
    n = np.random.default_rng(0).standard_normal(x01.shape).astype(np.float32)
    noisy = torch.from_numpy(np.clip(x01 + 0.1 * n, 0, 1)).permute(2, 0, 1)[None] * 2 - 1
    with torch.no_grad():
        assert float(metric(x, blur)) == pytest.approx(0.40963, abs=1e-3)
        assert float(metric(x, jpeg)) == pytest.approx(0.15696, abs=3e-3)
        assert float(metric(x, noisy)) == pytest.approx(0.34498, abs=1e-3)
        assert float(metric(x, x)) == pytest.approx(0.0, abs=1e-6)


def test_batched_and_differentiable(metric, astronaut256):
    x = pil_to_tensor(astronaut256).repeat(2, 1, 1, 1)
    y = x.clone()
    y[1] = pil_to_tensor(astronaut256.filter(ImageFilter.GaussianBlur(2)))[0]
    y.requires_grad_(True)
    d = metric(x, y)
    assert d.shape == (2,)
    assert float(d[0]) == pytest.approx(0.0, abs=1e-6) and float(d[1]) > 0.3
    d.sum().backward()
    assert y.grad is not None and torch.isfinite(y.grad).all()
    assert all(not p.requires_grad for p in metric.parameters())


def test_vgg_backbone_loads_and_differs(astronaut256):
    vgg = L.LPIPS("vgg")
    x = pil_to_tensor(astronaut256)
    blur = pil_to_tensor(astronaut256.filter(ImageFilter.GaussianBlur(2)))
    with torch.no_grad():
        value = float(vgg(x, blur))
    assert 0.2 < value < 0.8


def test_missing_backbone_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("EDSC_CACHE_DIR", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no-torch-home"))
    with pytest.raises(WeightsUnavailableError, match="edsc weights fetch"):
        L.LPIPS("alex")


def test_corrupt_cache_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("EDSC_CACHE_DIR", str(tmp_path))
    (tmp_path / "lpips").mkdir()
    from safetensors.torch import save_file
    save_file({"junk": torch.zeros(1)}, str(tmp_path / "lpips" / "alex.safetensors"))
    with pytest.raises(WeightsUnavailableError, match="not a converted"):
        L.load_backbone("alex")


def test_conversion_checks_sha256(tmp_path):
    fake = tmp_path / "alexnet.ckpt"
    fake.write_bytes(b"not the official weights")
    with pytest.raises(WeightsUnavailableError, match="sha256"):
        L.convert_flax_checkpoint(fake, "alex")


def test_bad_shapes_and_names(metric):
    with pytest.raises(InvalidArgumentError):
        metric(torch.zeros(1, 3, 64, 64), torch.zeros(1, 3, 32, 32))
    with pytest.raises(InvalidArgumentError):
        L.cached_backbone_path("squeezenet-x")


def test_pooling_to_256():
    x = torch.rand(1, 3, 512, 512)
    assert L.pool_to(x, 256).shape == (1, 3, 256, 256)
    assert L.pool_to(x[..., :128, :128], 256).shape == (1, 3, 128, 128)
