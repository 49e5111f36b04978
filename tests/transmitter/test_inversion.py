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
        # relative: the two paths sum in different orders, and Adam carries the rounding through every step
        assert float(single.loss[0]) == pytest.approx(float(batched.loss[i]), rel=2e-3, abs=1e-6)
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
    with pytest.raises(InvalidArgumentError, match="keep_degrees"):
        InversionConfig(keep_degrees="yes")


class _Script:
    """A guard that answers from a script: call k returns ``answers[k]`` (B,) (the last answer repeats)."""

    def __init__(self, *answers):
        self.answers, self.calls = [torch.tensor(a) for a in answers], 0

    def __call__(self, images):
        a = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        assert images.shape[0] == a.shape[0]
        return a


def test_guard_returns_the_lowest_loss_iterate_that_passes(generator, lpips_fn):
    w_true, images = _targets(generator, 3, seed=4)
    start = generator.mean_latent(256)
    cfg = InversionConfig(steps=6)
    plain = invert(generator, images, lpips_fn, cfg, w_init=start)
    assert (plain.step == 6).all() and plain.guarded.all()
    # image 0 passes only at the start (call 0), image 1 never, image 2 always
    guard = _Script([True, False, True], [False, False, True])
    out = invert(generator, images, lpips_fn, cfg, w_init=start, guard=guard)
    assert guard.calls == 7                                          # the start, 5 more iterates, the last one
    assert out.step.tolist()[:2] == [0, 6] and out.guarded.tolist() == [True, False, True]
    assert torch.allclose(out.w[0], start[0]) and torch.allclose(out.w[1], plain.w[1], atol=1e-6)
    # image 2: the lowest J of the whole run (the history plus the last iterate)
    every = torch.cat([plain.history[:, 2], plain.loss[2:3].cpu()])
    assert out.loss[2].item() == pytest.approx(every.min().item(), rel=1e-5)
    assert out.step[2].item() == int(every.argmin())
    # the returned image and LPIPS are those of the returned latent
    with torch.no_grad():
        again = generator.synthesis(out.w)
    assert torch.allclose(again, out.image, atol=1e-5)
    assert torch.allclose(lpips_fn(again, images).reshape(-1), out.lpips, atol=1e-5)


def test_degree_guard_compares_with_the_photos_degrees(generator):
    from transmitter.inversion import DegreeGuard

    class Fixed(torch.nn.Module):                       # a predictor that reads the image's mean brightness
        def predict(self, images):
            from types import SimpleNamespace
            return SimpleNamespace(degree=(images.mean((1, 2, 3)) > 0).long().unsqueeze(1).repeat(1, 5))

    photos = torch.stack([torch.full((3, 8, 8), 0.5), torch.full((3, 8, 8), -0.5)])   # degrees 1 and 0
    guard = DegreeGuard(Fixed(), photos)
    assert guard(photos).tolist() == [True, True]
    assert guard(-photos).tolist() == [False, False]


def test_batch_size_caps_the_cpu_only():
    from transmitter.inversion import CPU_BATCH, batch_size

    assert batch_size("cpu", 50) == CPU_BATCH and batch_size("cpu", 3) == 3 and batch_size("cuda:0", 50) == 50
