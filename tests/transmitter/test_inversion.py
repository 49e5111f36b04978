"""GAN inversion (eq. 8–9): batched equals sequential, recovers a latent's own image, lowers LPIPS on a photo."""

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from shared.errors import InvalidArgumentError
from shared.image_io import pil_to_tensor
from shared.lpips import get_lpips
from shared.models.stylegan2 import Generator
from transmitter.inversion import InversionConfig, invert, learning_rate

SIZE = 64


@pytest.fixture(scope="module")
def generator():
    torch.manual_seed(0)
    g = Generator(SIZE, 512, n_mlp=2, channels={4: 64, 8: 64, 16: 32, 32: 32, 64: 16})
    return g.eval()


@pytest.fixture(scope="module")
def lpips_fn():
    return get_lpips("alex")


def _targets(generator, n, seed):
    z = torch.randn(n, 512, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        w = generator.mapping(z)
        return w, generator.synthesis(w)


def test_batched_equals_sequential(generator, lpips_fn):
    _, images = _targets(generator, 3, seed=1)
    cfg = InversionConfig(steps=12)
    batched = invert(generator, images, lpips_fn, cfg)
    for i in range(3):
        single = invert(generator, images[i:i + 1], lpips_fn, cfg)
        assert torch.allclose(single.w[0], batched.w[i], atol=2e-3, rtol=1e-3)  # float summation order + Adam
        assert abs(float(single.loss[0]) - float(batched.loss[i])) < 1e-4
    # the images really are different, so equality is not trivial
    assert not torch.allclose(batched.w[0], batched.w[1], atol=1e-2)


def test_recovers_own_latent_lpips_falls_tenfold(generator, lpips_fn):
    w_true, images = _targets(generator, 2, seed=2)
    start = generator.mean_latent(4096)
    with torch.no_grad():
        lp0 = lpips_fn(generator.synthesis(start.expand(2, -1)), images)
    result = invert(generator, images, lpips_fn, InversionConfig(steps=110))
    assert (result.lpips * 10 <= lp0).all(), (lp0, result.lpips)
    # the pixels too: G(w*) approaches G(w)
    with torch.no_grad():
        mse0 = (generator.synthesis(start.expand(2, -1)) - images).pow(2).flatten(1).mean(1)
    assert (result.mse * 10 <= mse0).all(), (mse0, result.mse)
    # the objective decreased overall and is recorded per iteration and image
    assert result.history.shape == (110, 2)
    assert (result.history[-1] < result.history[0]).all()


def test_lowers_lpips_on_a_real_photograph(generator, lpips_fn):
    img = Image.fromarray(data.astronaut())
    target = pil_to_tensor(img, SIZE)
    start = generator.mean_latent(4096)
    with torch.no_grad():
        lp0 = float(lpips_fn(generator.synthesis(start), target)[0])
    result = invert(generator, target, lpips_fn, InversionConfig(steps=40))
    assert float(result.lpips[0]) < lp0 - 0.02


def test_generator_untouched_and_progress_called(generator, lpips_fn):
    _, images = _targets(generator, 1, seed=3)
    before = {k: v.clone() for k, v in generator.state_dict().items()}
    calls = []
    invert(generator, images, lpips_fn, InversionConfig(steps=5), progress=lambda i, n, loss: calls.append((i, n, loss.shape)))
    assert calls == [(i, 5, torch.Size([1])) for i in range(1, 6)]
    for k, v in generator.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in generator.parameters())


def test_ramps_and_latent_noise(generator, lpips_fn):
    cfg = InversionConfig(steps=10, lr_rampdown=0.25, lr_rampup=0.05, noise_strength=0.05, noise_ramp=0.75)
    assert learning_rate(cfg, 0.0) == 0.0
    assert learning_rate(cfg, 0.5) == pytest.approx(0.1)
    assert learning_rate(cfg, 0.9) < 0.1
    _, images = _targets(generator, 1, seed=4)
    a = invert(generator, images, lpips_fn, cfg, seed=1)
    b = invert(generator, images, lpips_fn, cfg, seed=1)
    c = invert(generator, images, lpips_fn, cfg, seed=2)
    assert torch.equal(a.w, b.w)
    assert not torch.equal(a.w, c.w)


def test_images_larger_than_256_are_pooled(lpips_fn):
    g = Generator(512, 512, n_mlp=1, channels={4: 8, 8: 8, 16: 8, 32: 8, 64: 8, 128: 4, 256: 4, 512: 4}).eval()
    with torch.no_grad():
        target = g.synthesis(g.mapping(torch.randn(1, 512)))
    result = invert(g, target, lpips_fn, InversionConfig(steps=2))
    assert torch.isfinite(result.loss).all()


def test_bad_inputs(generator, lpips_fn):
    with pytest.raises(InvalidArgumentError, match="64x64"):
        invert(generator, torch.zeros(1, 3, 32, 32), lpips_fn)
    with pytest.raises(InvalidArgumentError, match="NaN"):
        invert(generator, torch.full((1, 3, SIZE, SIZE), float("nan")), lpips_fn)
    with pytest.raises(InvalidArgumentError, match="steps"):
        InversionConfig(steps=-1)
