"""Tests of shared/models/stylegan2.py: rosinality compatibility (keys, shapes, outputs) and behaviour.

Fixtures under ``data/`` come from rosinality's own model.py (see ``data/make_stylegan2_fixtures.py``):
the ordered key -> shape lists of four reference models, and a tiny random model with rosinality's outputs.
Besides those, an independent float64 per-sample re-implementation of StyleGAN2 (written here from the
architecture's definition: explicit modulation / demodulation, zero insertion, FIR filtering) renders from
a state_dict and must agree with ``Generator.synthesis``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from shared.errors import InvalidArgumentError
from shared.models.stylegan2 import (
    Discriminator,
    DiscriminatorConfig,
    Generator,
    GeneratorConfig,
    upfirdn2d,
)

DATA = Path(__file__).parent / "data"
BUNDLE_WIDTHS = {4: 128, 8: 128, 16: 128, 32: 64, 64: 32, 128: 16}
SQRT2 = math.sqrt(2.0)


def _key_shapes(module: torch.nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    return [(k, tuple(v.shape)) for k, v in module.state_dict().items()]


def _randomise_biases(module: torch.nn.Module, seed: int) -> None:
    """Give every bias and noise strength a non-zero random value, so that every path matters."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("bias") or name.endswith("noise.weight"):
                p.add_(0.2 * torch.randn(p.shape, generator=gen))


def _tiny_generator(seed: int = 0, **kw) -> Generator:
    torch.manual_seed(seed)
    args = dict(size=32, style_dim=32, n_mlp=3, channel_multiplier=1, channels={4: 16, 8: 12, 16: 8, 32: 6})
    args.update(kw)
    g = Generator(**args)
    _randomise_biases(g, seed + 100)
    return g


# ----------------------------------------------------------------------------------------------------------
# 1. rosinality's exact state_dict layout


@pytest.fixture(scope="module")
def rosinality_keys() -> dict[str, list[tuple[str, tuple[int, ...]]]]:
    raw = json.loads((DATA / "stylegan2_rosinality_keys.json").read_text())
    return {name: [(k, tuple(shape)) for k, shape in pairs.items()] for name, pairs in raw.items()}


@pytest.mark.parametrize("name, build", [
    ("generator_128_cm1", lambda: Generator(128, 512, 8, channel_multiplier=1)),
    ("generator_1024_cm2", lambda: Generator(1024, 512, 8, channel_multiplier=2)),
    ("discriminator_128_cm1", lambda: Discriminator(128, channel_multiplier=1)),
    ("discriminator_1024_cm2", lambda: Discriminator(1024, channel_multiplier=2)),
])
def test_state_dict_keys_and_shapes_match_rosinality(rosinality_keys, name, build):
    with torch.device("meta"):  # shapes only: no memory, no time
        module = build()
    assert _key_shapes(module) == rosinality_keys[name]  # same keys, same shapes, same order


def test_parameter_counts(rosinality_keys):
    with torch.device("meta"):
        g128 = Generator(128, 512, 8, channel_multiplier=1)
        g1024 = Generator(1024, 512, 8, channel_multiplier=2)
    n128 = sum(p.numel() for p in g128.parameters())
    n1024 = sum(p.numel() for p in g1024.parameters())
    assert n128 == pytest.approx(24.5e6, rel=0.01)    # REFERENCE.md: ~24.5 M
    assert n1024 == pytest.approx(30.4e6, rel=0.01)   # REFERENCE.md: ~30.4 M
    assert (g128.n_latent, g128.num_layers) == (12, 11)
    assert (g1024.n_latent, g1024.num_layers) == (18, 17)
    # every parameter of the fixture is a parameter here (buffers are kernel / noise entries)
    buffers = {k for k, _ in rosinality_keys["generator_128_cm1"] if "kernel" in k or k.startswith("noises.")}
    assert {k for k, _ in g128.named_buffers()} == buffers


def test_resampling_kernels_are_rosinality_buffers():
    g = Generator(32, 32, 2, channels={4: 8, 8: 8, 16: 8, 32: 8})
    d = Discriminator(32, channels={4: 8, 8: 8, 16: 8, 32: 8})
    taps = torch.tensor([1.0, 3.0, 3.0, 1.0])
    blur = torch.outer(taps, taps) / 64.0                      # sums to 1
    sd_g, sd_d = g.state_dict(), d.state_dict()
    torch.testing.assert_close(sd_g["convs.0.conv.blur.kernel"], 4 * blur)   # after a stride-2 transposed conv
    torch.testing.assert_close(sd_g["to_rgbs.0.upsample.kernel"], 4 * blur)  # upsampling x factor**2
    assert "convs.1.conv.blur.kernel" not in sd_g              # only the upsampling convs blur
    torch.testing.assert_close(sd_d["convs.1.conv2.0.kernel"], blur)         # downsampling: plain blur
    torch.testing.assert_close(sd_d["convs.1.skip.0.kernel"], blur)
    assert "convs.1.skip.1.bias" not in sd_d and "convs.0.0.bias" not in sd_d


def test_bundle_widths_and_string_keys():
    g = Generator(128, channels={str(k): v for k, v in BUNDLE_WIDTHS.items()})
    assert g.style_dim == 512 and g.n_latent == 12 and g.num_layers == 11 and g.size == 128
    assert g.channels == BUNDLE_WIDTHS
    assert g.state_dict()["convs.9.conv.weight"].shape == (1, 16, 16, 3, 3)
    assert g.state_dict()["input.input"].shape == (1, 128, 4, 4)
    with pytest.raises(InvalidArgumentError, match="missing"):
        Generator(256, channels=BUNDLE_WIDTHS)
    with pytest.raises(InvalidArgumentError, match="power of two"):
        Generator(100)


def test_config_json_round_trip():
    cfg = GeneratorConfig(size=32, style_dim=32, n_mlp=3, channel_multiplier=1, channels={4: 16, 8: 12, 16: 8, 32: 6})
    back = GeneratorConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert back == cfg and back.channels == {4: 16, 8: 12, 16: 8, 32: 6}
    g = Generator.from_config(back)
    assert g.config == cfg
    assert _key_shapes(g) == _key_shapes(_tiny_generator())
    with pytest.raises(InvalidArgumentError, match="unknown"):
        GeneratorConfig.from_dict({"size": 32, "colour": 3})
    dcfg = DiscriminatorConfig(size=32, channels={4: 8, 8: 8, 16: 8, 32: 8})
    assert Discriminator.from_config(json.loads(json.dumps(dcfg.to_dict()))).config == dcfg


# ----------------------------------------------------------------------------------------------------------
# 2. round trip


def test_load_state_dict_round_trip_gives_identical_images():
    a, b = _tiny_generator(seed=1), _tiny_generator(seed=2)
    w = a.mean_latent(64) + torch.randn(2, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert not torch.equal(a.synthesis(w), b.synthesis(w))
        b.load_state_dict(a.state_dict(), strict=True)
        assert torch.equal(a.synthesis(w), b.synthesis(w))
        assert torch.equal(a.mapping(w), b.mapping(w))


# ----------------------------------------------------------------------------------------------------------
# 3a. outputs of rosinality's own code (tiny model, see data/make_stylegan2_fixtures.py)


@pytest.fixture(scope="module")
def rosinality_tiny():
    return torch.load(DATA / "stylegan2_rosinality_tiny.pt", weights_only=True)


def test_generator_matches_rosinality_outputs(rosinality_tiny):
    f = rosinality_tiny
    cfg = f["generator"]
    g = Generator(cfg["size"], cfg["style_dim"], cfg["n_mlp"], channel_multiplier=1, channels=cfg["channels"])
    g.load_state_dict(cfg["state_dict"], strict=True)
    with torch.no_grad():
        torch.testing.assert_close(g.mapping(f["z"]), f["w"], atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(g.synthesis(f["w"], noise_mode="const"), f["image_w"], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(g.synthesis(f["w_plus"]), f["image_w_plus"], atol=1e-5, rtol=1e-5)
        image, latent = g([f["z"]], return_latents=True, randomize_noise=False)
    torch.testing.assert_close(image, f["image_w"], atol=1e-5, rtol=1e-5)
    assert latent.shape == (2, g.n_latent, cfg["style_dim"])


def test_discriminator_matches_rosinality_outputs(rosinality_tiny):
    f = rosinality_tiny
    d = Discriminator(f["discriminator"]["size"], channels=f["discriminator"]["channels"])
    d.load_state_dict(f["discriminator"]["state_dict"], strict=True)
    with torch.no_grad():
        torch.testing.assert_close(d(f["images"]), f["logits"], atol=1e-5, rtol=1e-5)


# ----------------------------------------------------------------------------------------------------------
# 3b. independent functional reference (float64, one sample at a time)


def ref_upfirdn_1sample(x: torch.Tensor, k: torch.Tensor, up: int, pad0: int, pad1: int) -> torch.Tensor:
    """x (C, H, W): insert up-1 zeros after every sample, zero-pad (pad0, pad1), convolve with k per channel."""
    c, h, w = x.shape
    u = x.new_zeros(c, h * up, w * up)
    u[:, ::up, ::up] = x
    p = x.new_zeros(c, h * up + pad0 + pad1, w * up + pad0 + pad1)
    p[:, pad0:pad0 + h * up, pad0:pad0 + w * up] = u
    kk = torch.flip(k, (0, 1)).expand(c, 1, *k.shape)           # true convolution = correlation with flip
    return F.conv2d(p[None], kk, groups=c)[0]


def ref_lrelu(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x >= 0, x, 0.2 * x) * SQRT2


def ref_mapping(sd: dict, z: torch.Tensor, n_mlp: int, lr_mul: float = 0.01) -> torch.Tensor:
    x = z / torch.sqrt((z * z).mean(dim=1, keepdim=True) + 1e-8)
    for i in range(1, n_mlp + 1):
        wt, b = sd[f"style.{i}.weight"], sd[f"style.{i}.bias"]
        x = ref_lrelu(x @ (wt * lr_mul / math.sqrt(wt.shape[1])).T + b * lr_mul)
    return x


def ref_modconv_1sample(sd: dict, prefix: str, x: torch.Tensor, w: torch.Tensor, demodulate: bool,
                        upsample: bool) -> torch.Tensor:
    """x (C_in, H, W), w (D,) -> (C_out, H', W') for one sample."""
    mw, mb = sd[prefix + "modulation.weight"], sd[prefix + "modulation.bias"]
    s = mw @ w / math.sqrt(mw.shape[1]) + mb                          # (C_in,)
    weight = sd[prefix + "weight"][0]                                 # (C_out, C_in, k, k)
    c_out, c_in, k, _ = weight.shape
    weight = weight / math.sqrt(c_in * k * k) * s[None, :, None, None]
    if demodulate:
        weight = weight / torch.sqrt((weight ** 2).sum(dim=(1, 2, 3), keepdim=True) + 1e-8)
    if not upsample:
        return F.conv2d(x[None], weight, padding=k // 2)[0]
    # stride-2 transposed conv = zero insertion between samples + full (k-1) padding + flipped-kernel conv
    c, h, wd = x.shape
    u = x.new_zeros(c, 2 * h - 1 + 2 * (k - 1), 2 * wd - 1 + 2 * (k - 1))
    u[:, k - 1:k - 1 + 2 * h - 1:2, k - 1:k - 1 + 2 * wd - 1:2] = x
    out = F.conv2d(u[None], torch.flip(weight, (2, 3)))[0]           # (C_out, 2H+1, 2W+1)
    return ref_upfirdn_1sample(out, sd[prefix + "blur.kernel"], up=1, pad0=1, pad1=1)  # (C_out, 2H, 2W)


def ref_synthesis(sd: dict, wplus: torch.Tensor, noise_on: bool = True) -> torch.Tensor:
    """wplus (B, n_latent, D) -> images (B, 3, S, S); float64, one sample at a time."""
    n_blocks = sum(1 for k in sd if k.startswith("to_rgbs.") and k.endswith(".upsample.kernel"))
    images = []
    for b in range(wplus.shape[0]):
        lat = wplus[b]

        def styled(prefix, x, w, noise_key, upsample):
            y = ref_modconv_1sample(sd, prefix + "conv.", x, w, demodulate=True, upsample=upsample)
            if noise_on:
                y = y + sd[prefix + "noise.weight"] * sd[noise_key][0]
            return ref_lrelu(y + sd[prefix + "activate.bias"][:, None, None])

        def to_rgb(prefix, x, w):
            return ref_modconv_1sample(sd, prefix + "conv.", x, w, demodulate=False, upsample=False) \
                + sd[prefix + "bias"][0]

        x = sd["input.input"][0]
        x = styled("conv1.", x, lat[0], "noises.noise_0", upsample=False)
        skip = to_rgb("to_rgb1.", x, lat[1])
        for j in range(n_blocks):
            i = 1 + 2 * j
            x = styled(f"convs.{2 * j}.", x, lat[i], f"noises.noise_{i}", upsample=True)
            x = styled(f"convs.{2 * j + 1}.", x, lat[i + 1], f"noises.noise_{i + 1}", upsample=False)
            up = ref_upfirdn_1sample(skip, sd[f"to_rgbs.{j}.upsample.kernel"], up=2, pad0=2, pad1=1)
            skip = to_rgb(f"to_rgbs.{j}.", x, lat[i + 2]) + up
        images.append(skip)
    return torch.stack(images)


def test_upfirdn2d_against_direct_sum():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 2, 5, 4))
    k = rng.standard_normal((3, 2))                                   # asymmetric: catches a missing flip
    for up, down, (p0, p1) in [(1, 1, (1, 1)), (2, 1, (2, 1)), (1, 2, (2, 2)), (2, 2, (-1, 3)), (3, 1, (0, -2))]:
        out = upfirdn2d(torch.from_numpy(x), torch.from_numpy(k), up=up, down=down, pad=(p0, p1)).numpy()
        # definition: sig = x with up-1 zeros after each sample, shifted by p0 (negative pads crop);
        # y[o] = (sig * k)[o*down + K-1], the o*down-th sample of the valid part of the full convolution
        h, w = x.shape[2] * up + p0 + p1, x.shape[3] * up + p0 + p1
        sig = np.zeros((1, 2, h, w))
        for i in range(x.shape[2]):
            for j in range(x.shape[3]):
                yi, xj = i * up + p0, j * up + p0
                if 0 <= yi < h and 0 <= xj < w:
                    sig[:, :, yi, xj] = x[:, :, i, j]
        oh, ow = (h - k.shape[0]) // down + 1, (w - k.shape[1]) // down + 1
        ref = np.zeros((1, 2, oh, ow))
        for oy in range(oh):
            for ox in range(ow):
                for a in range(k.shape[0]):
                    for b in range(k.shape[1]):
                        ref[:, :, oy, ox] += sig[:, :, oy * down + k.shape[0] - 1 - a,
                                                 ox * down + k.shape[1] - 1 - b] * k[a, b]
        assert out.shape == ref.shape
        np.testing.assert_allclose(out, ref, atol=1e-12)


def test_mapping_matches_reference():
    g = _tiny_generator(seed=3)
    z = torch.randn(4, 32, generator=torch.Generator().manual_seed(1))
    sd = {k: v.double() for k, v in g.state_dict().items()}
    with torch.no_grad():
        torch.testing.assert_close(g.mapping(z).double(), ref_mapping(sd, z.double(), n_mlp=3), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("latent_kind", ["w", "w_plus"])
def test_synthesis_matches_reference(latent_kind):
    g = _tiny_generator(seed=4)
    gen = torch.Generator().manual_seed(2)
    w = g.mean_latent(256) + 0.5 * torch.randn(2, 32, generator=gen)
    if latent_kind == "w_plus":
        w = w[:, None, :] + 0.3 * torch.randn(2, g.n_latent, 32, generator=gen)
    wplus = w[:, None, :].expand(-1, g.n_latent, -1) if w.ndim == 2 else w
    sd = {k: v.double() for k, v in g.state_dict().items()}
    with torch.no_grad():
        img = g.synthesis(w, noise_mode="const")
        ref = ref_synthesis(sd, wplus.double())
        img_nonoise = g.synthesis(w, noise_mode="none")
        ref_nonoise = ref_synthesis(sd, wplus.double(), noise_on=False)
    assert img.shape == (2, 3, 32, 32)
    assert ref.abs().max() > 0.1                                       # a non-trivial image
    torch.testing.assert_close(img.double(), ref, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(img_nonoise.double(), ref_nonoise, atol=1e-4, rtol=1e-4)
    assert (img - img_nonoise).abs().max() > 1e-3                     # noise matters


# ----------------------------------------------------------------------------------------------------------
# 4. discriminator


@pytest.mark.parametrize("batch", [4, 3, 1, 6])
def test_discriminator_shape_and_gradients(batch):
    torch.manual_seed(0)
    d = Discriminator(32, channels={4: 16, 8: 16, 16: 8, 32: 8})
    _randomise_biases(d, 5)
    x = torch.randn(batch, 3, 32, 32, requires_grad=True)
    logits = d(x)
    assert logits.shape == (batch, 1)
    logits.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for name, p in d.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_discriminator_minibatch_stddev_groups():
    """group = min(B, 4) and samples b, b + B/G, ... form one group (rosinality's layout)."""
    torch.manual_seed(0)
    d = Discriminator(8, channels={4: 4, 8: 4})
    x = torch.randn(8, 3, 8, 8)
    captured = {}
    d.final_conv.register_forward_pre_hook(lambda m, inp: captured.update(x=inp[0]))
    with torch.no_grad():
        feats = d.convs(x)                                            # (8, 4, 4, 4)
        d(x)
    std = captured["x"][:, -1, 0, 0]                                 # the appended stddev channel
    for b in range(8):
        members = feats[[b % 2 + 2 * g for g in range(4)]]            # B/G = 2: b, b+2, b+4, b+6
        expected = torch.sqrt(members.var(0, unbiased=False) + 1e-8).mean()
        torch.testing.assert_close(std[b], expected)


# ----------------------------------------------------------------------------------------------------------
# 5. latent helpers, differentiability, W vs W+, noise modes, input checks


def test_mean_latent_deterministic_and_global_rng_untouched():
    g = _tiny_generator(seed=6)
    state = torch.get_rng_state()
    m1, m2 = g.mean_latent(512, seed=7), g.mean_latent(512, seed=7)
    assert torch.equal(torch.get_rng_state(), state)
    assert m1.shape == (1, 32) and torch.equal(m1, m2)
    assert not torch.equal(m1, g.mean_latent(512, seed=8))
    assert not m1.requires_grad


def test_synthesis_is_differentiable_wrt_w():
    g = _tiny_generator(seed=8)
    w = g.mean_latent(128).clone().requires_grad_(True)
    img = g.synthesis(w)
    loss = (img - torch.zeros_like(img)).square().mean()
    loss.backward()
    assert w.grad is not None and torch.isfinite(w.grad).all() and w.grad.abs().sum() > 0
    wp = w.detach()[:, None, :].repeat(1, g.n_latent, 1).requires_grad_(True)
    g.synthesis(wp).mean().backward()
    assert wp.grad is not None and (wp.grad.abs().sum(dim=2) > 0).all()  # every W+ entry is used


def test_w_and_repeated_w_plus_give_the_same_image():
    g = _tiny_generator(seed=9)
    w = torch.randn(3, 32, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        a = g.synthesis(w)
        b = g.synthesis(w[:, None, :].repeat(1, g.n_latent, 1))
        c, _ = g([w], input_is_latent=True, randomize_noise=False)
    torch.testing.assert_close(a, b, atol=1e-6, rtol=0)
    torch.testing.assert_close(a, c, atol=1e-6, rtol=0)


def test_noise_modes():
    g = _tiny_generator(seed=10)
    w = torch.randn(2, 32, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        const1, const2 = g.synthesis(w, noise_mode="const"), g.synthesis(w, noise_mode="const")
        rand1, rand2 = g.synthesis(w, noise_mode="random"), g.synthesis(w, noise_mode="random")
        none = g.synthesis(w, noise_mode="none")
        zeros = g.synthesis(w, noise=[torch.zeros(1, 1, n.shape[-1], n.shape[-1]) for n in g.make_noise()])
        buffers = g.synthesis(w, noise=[getattr(g.noises, f"noise_{i}") for i in range(g.num_layers)])
    assert torch.equal(const1, const2) and torch.equal(const1, buffers)
    assert not torch.equal(rand1, rand2) and not torch.equal(const1, none)
    torch.testing.assert_close(none, zeros)
    with pytest.raises(InvalidArgumentError, match="noise_mode"):
        g.synthesis(w, noise_mode="fixed")


def test_input_shape_errors():
    g = _tiny_generator(seed=11)
    with pytest.raises(InvalidArgumentError):
        g.synthesis(torch.zeros(2, 31))
    with pytest.raises(InvalidArgumentError):
        g.synthesis(torch.zeros(2, g.n_latent + 1, 32))
    with pytest.raises(InvalidArgumentError):
        g.mapping(torch.zeros(2, 16))
    with pytest.raises(InvalidArgumentError):
        Discriminator(32, channels={4: 8, 8: 8, 16: 8, 32: 8})(torch.zeros(2, 3, 16, 16))


def test_mapping_without_pixel_norm():
    g = _tiny_generator(seed=12)
    z = torch.randn(2, 32, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        normed = z / torch.sqrt(z.square().mean(dim=1, keepdim=True) + 1e-8)
        torch.testing.assert_close(g.mapping(normed, pixel_norm=False), g.mapping(z), atol=1e-6, rtol=1e-5)
        assert not torch.allclose(g.mapping(3 * z, pixel_norm=False), g.mapping(3 * z))
