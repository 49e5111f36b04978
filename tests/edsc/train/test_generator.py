"""Tests of edsc/train/generator.py (generator distillation from SynthFace) and edsc/train/losses.py."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from edsc.train import losses as L
from edsc.train.generator import (
    WORLD_DIMS,
    GeneratorTrainConfig,
    batch_latents,
    build_generator,
    degree_from_uniform,
    train_generator,
    uniform_from_degree,
    world_params_from_z,
    z_from_world_params,
)
from edsc.world.synthface import render, sample_degrees, sample_identity
from shared.errors import InvalidArgumentError
from shared.models.stylegan2 import Generator


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread (and far slower on two busy cores); restore afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_config(**kw) -> GeneratorTrainConfig:
    base = dict(size=32, channels={4: 16, 8: 16, 16: 8, 32: 8}, style_dim=64, n_mlp=2, lr_mlp=1.0, batch=4,
                steps=4, warmup_steps=0, eval_every=1000, checkpoint_every=1000, eval_faces=4, sample_faces=2,
                inversion_faces=0, device="cpu", seed=3)
    base.update(kw)
    return GeneratorTrainConfig(**base)


def read_losses(run_dir) -> list[float]:
    with open(run_dir / "losses.csv", newline="") as fh:
        return [float(r["loss"]) for r in csv.DictReader(fh)]


# -- world transform ---------------------------------------------------------------------------------------


def test_world_params_ranges_and_marginals():
    z = torch.randn(20000, 512, generator=torch.Generator().manual_seed(0))
    identity, degrees = world_params_from_z(z)
    assert identity.shape == (20000, 25) and degrees.shape == (20000, 5)
    assert identity.min() >= -1 and identity.max() <= 1
    assert degrees.min() >= 0 and degrees.max() <= 5
    assert abs(float(identity.mean())) < 0.02 and abs(float(identity.var()) - 1 / 3) < 0.02   # ~U[-1, 1]
    integer = (degrees - degrees.round()).abs() < 1e-6
    assert abs(float(integer.float().mean()) - 0.7) < 0.02
    counts = torch.bincount(degrees[integer].long(), minlength=6).float()
    assert counts.min() / counts.max() > 0.9                                 # every integer degree equally likely
    # only the 30 leading coordinates (after PixelNorm) matter
    z2 = z[:8].clone()
    z2[:, WORLD_DIMS:] = torch.randn(8, 512 - WORLD_DIMS)
    z2[:, WORLD_DIMS:] *= ((512 - z[:8, :WORLD_DIMS].square().sum(1, keepdim=True)) /
                           z2[:, WORLD_DIMS:].square().sum(1, keepdim=True)).sqrt()
    z1 = z[:8] * torch.rsqrt(z[:8].square().mean(1, keepdim=True))
    z2[:, :WORLD_DIMS] = z1[:, :WORLD_DIMS]
    z2[:, WORLD_DIMS:] *= ((512 - z1[:, :WORLD_DIMS].square().sum(1, keepdim=True)) /
                           z2[:, WORLD_DIMS:].square().sum(1, keepdim=True)).sqrt()
    a, b = world_params_from_z(z1), world_params_from_z(z2)
    assert torch.allclose(a[0], b[0], atol=1e-5) and torch.allclose(a[1], b[1], atol=1e-4)


def test_degree_staircase_is_monotone_and_invertible():
    u = torch.linspace(0, 1, 2001)
    d = degree_from_uniform(u, 0.7)
    assert d[0] == 0 and d[-1] == 5 and (d[1:] >= d[:-1]).all()
    assert (d[1:] - d[:-1]).max() < 0.05                                      # continuous
    grid = torch.tensor([0.0, 1.0, 2.5, 3.0, 4.25, 5.0])
    assert torch.allclose(degree_from_uniform(uniform_from_degree(grid, 0.7), 0.7), grid, atol=1e-5)
    assert set(degree_from_uniform(u, 1.0).unique().tolist()) == {0.0, 1.0, 2.0, 3.0, 4.0, 5.0}
    with pytest.raises(InvalidArgumentError):
        degree_from_uniform(u, 1.5)


def test_z_from_world_params_round_trip():
    g = torch.Generator().manual_seed(1)
    identity = sample_identity(16, g)
    for degrees in (sample_degrees(16, g), sample_degrees(16, g, fractional=True)):
        z = z_from_world_params(identity, degrees, 512, torch.Generator().manual_seed(2))
        assert z.shape == (16, 512)
        assert torch.allclose(z.square().mean(1), torch.ones(16), atol=1e-4)   # PixelNorm leaves it unchanged
        i2, d2 = world_params_from_z(z)
        assert torch.allclose(i2, identity, atol=1e-5) and torch.allclose(d2, degrees, atol=1e-4)
    with pytest.raises(InvalidArgumentError):
        world_params_from_z(torch.randn(2, 16))


# -- losses ------------------------------------------------------------------------------------------------


def test_losses_see_thin_lines():
    img = torch.zeros(1, 3, 32, 32)
    line = img.clone()
    line[:, :, 16, 4:28] = 1.0                                                 # a one-pixel line
    assert float(L.l1(img, img)) == 0 and float(L.gradient_l1(img, img)) == 0
    plain = float(L.weighted_l1(img, line, None))
    weighted = float(L.weighted_l1(img, line, L.edge_weight_map(line, 3.0)))
    assert weighted > 3.5 * plain                                              # the line's pixels count 4x
    assert float(L.gradient_l1(img, line)) > plain                             # and twice through its gradient
    e = L.edge_strength(line)
    assert e.shape == (1, 1, 32, 32) and e.min() >= 0 and e.max() <= 1
    with pytest.raises(InvalidArgumentError):
        L.l1(img, img[:, :, :16])


# -- model / training --------------------------------------------------------------------------------------


def test_loss_decreases_on_a_fixed_batch():
    torch.manual_seed(0)
    cfg = tiny_config()
    g = build_generator(cfg)
    z = batch_latents(cfg, 0)
    identity, degrees = world_params_from_z(z)
    target = render(identity, degrees, cfg.size)
    opt = torch.optim.Adam(g.parameters(), lr=5e-3, betas=(0.9, 0.99))
    losses = []
    for _ in range(30):  # tiny widths: ~0.1 s per step
        image = g.synthesis(g.mapping(z))
        loss = (L.weighted_l1(image, target, L.edge_weight_map(target, 3.0)) + L.gradient_l1(image, target)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert all(torch.isfinite(torch.tensor(losses)))
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5


def test_train_resume_is_bit_for_bit(tmp_path):
    cfg = tiny_config(steps=5, checkpoint_every=3, eval_every=2)
    g_full, m_full = train_generator(cfg, tmp_path / "full", progress=False)
    ref = read_losses(tmp_path / "full")
    assert len(ref) == 5 and all(torch.isfinite(torch.tensor(ref)))
    assert m_full["finished"] and m_full["final"]["step"] == 5

    # an interrupted run (stopped and checkpointed after step 2), then resumed with the same config
    g_part, m_part = train_generator(cfg, tmp_path / "part", progress=False, stop_at=2)
    assert not m_part["finished"] and m_part["step"] == 2 and read_losses(tmp_path / "part") == ref[:2]
    g_res, m_res = train_generator(cfg, tmp_path / "part", progress=False)
    assert read_losses(tmp_path / "part") == ref                             # the next steps' losses are identical
    for a, b in zip(g_full.state_dict().values(), g_res.state_dict().values()):
        assert torch.equal(a, b)
    assert m_res["finished"] and [h["step"] for h in m_res["history"]] == [2, 4, 5]
    assert isinstance(g_res, Generator) and (tmp_path / "part" / "g_ema.safetensors").is_file()
    # mask_nuisance: w (hence the image) depends on the face alone, not on z's nuisance coordinates
    assert torch.count_nonzero(g_res.style[1].weight[:, WORLD_DIMS:]) == 0
    identity, degrees = sample_identity(2, torch.Generator().manual_seed(5)), torch.tensor([[0., 1, 2, 3, 4]] * 2)
    z1 = z_from_world_params(identity, degrees, 64, torch.Generator().manual_seed(6))
    z2 = z_from_world_params(identity, degrees, 64, torch.Generator().manual_seed(7))
    assert not torch.allclose(z1, z2) and torch.allclose(g_res.mapping(z1), g_res.mapping(z2), atol=1e-5)
    assert (tmp_path / "part" / "samples" / "step_000005.png").is_file()


def test_config_round_trip_and_resume_guard(tmp_path):
    cfg = tiny_config(steps=2, checkpoint_every=2, eval_every=2)
    assert GeneratorTrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(InvalidArgumentError):
        GeneratorTrainConfig.from_dict({"nope": 1})
    train_generator(cfg, tmp_path, progress=False)
    other = GeneratorTrainConfig.from_dict({**cfg.to_dict(), "lr": 1e-4, "steps": 3})
    with pytest.raises(InvalidArgumentError, match="different configuration"):
        train_generator(other, tmp_path, progress=False)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert {"lpips", "l1", "grad_l1"} <= set(metrics["final"])


def test_aux_and_adversarial_terms_run(tmp_path):
    seen = []

    def aux(images, identity, degrees):                                      # e.g. a predictor's cross-entropy
        seen.append((images.shape, identity.shape, degrees.shape))
        return images.mean((1, 2, 3)).abs()

    cfg = tiny_config(steps=3, lambda_aux=0.5, lambda_adv=0.1, adv_start=1, eval_every=3, checkpoint_every=3,
                      d_channels={4: 16, 8: 16, 16: 8, 32: 8})
    _, metrics = train_generator(cfg, tmp_path, progress=False, aux_loss=aux,
                                 eval_hook=lambda g, step: {"hook": float(step)})
    assert seen[0] == ((4, 3, 32, 32), (4, 25), (4, 5)) and len(seen) == 3
    with open(tmp_path / "losses.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert float(rows[0]["adv_g"]) == 0 and float(rows[2]["adv_g"]) > 0 and float(rows[2]["aux"]) > 0
    assert metrics["final"]["hook"] == 3.0
    assert "D" in torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    with pytest.raises(InvalidArgumentError):
        train_generator(tiny_config(lambda_aux=1.0), tmp_path / "x", progress=False)



# -- attribute-aware terms, warm start ---------------------------------------------------------------------------


class _ReadBrightness(torch.nn.Module):
    """A stand-in predictor: logits favour the degree nearest 5 × the mean brightness of each image."""

    attributes = ["smiling", "bangs"]          # not SynthFace's column order, on purpose
    num_degrees, max_degree = 6, 5
    differentiable = False

    def forward(self, images):
        level = (images.mean((1, 2, 3)) + 1) * 2.5                             # (B,) in [0, 5]
        centres = torch.arange(6.0)
        logits = -(level[:, None] - centres).square()                           # (B, 6)
        return torch.stack([logits, logits], 1)                                 # (B, 2, 6)

    def predict(self, images):
        from shared.models.predictor import AttributePrediction
        with torch.no_grad():
            return AttributePrediction.from_logits(self(images), self.attributes)


def test_predictor_aux_loss_uses_two_hot_targets_in_the_predictors_column_order():
    from edsc.train.generator import predictor_aux_loss
    loss = predictor_aux_loss(_ReadBrightness())
    images = torch.full((2, 3, 8, 8), 0.2, requires_grad=True)                  # reads as degree 3
    degrees = torch.zeros(2, 5)
    degrees[:, 3] = 3.0                                                          # smiling (SynthFace column 3)
    degrees[:, 0] = torch.tensor([3.0, 0.0])                                     # bangs
    per_face = loss(images, torch.zeros(2, 25), degrees)
    assert per_face.shape == (2,) and per_face[0] < per_face[1]                 # face 0 agrees on both columns
    per_face.sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0
    half = degrees.clone()
    half[:, 3] = 2.5                                                             # two-hot: between 2 and 3
    assert loss(images, torch.zeros(2, 25), half)[0] > per_face[0]
    with pytest.raises(InvalidArgumentError, match="does not render"):
        p = _ReadBrightness()
        p.attributes = ["hat"]
        predictor_aux_loss(p)


def test_predictor_eval_hook_reports_per_attribute_and_min():
    from edsc.train.generator import predictor_eval_hook
    cfg = tiny_config()
    hook = predictor_eval_hook(_ReadBrightness(), n=6, batch=4)
    out = hook(build_generator(cfg), 0)
    assert set(out) == {"eval_exact.smiling", "eval_exact.bangs", "eval_exact.min"}
    assert all(0.0 <= v <= 1.0 for v in out.values())
    assert out["eval_exact.min"] == min(out["eval_exact.smiling"], out["eval_exact.bangs"])


def test_change_weight_map_marks_where_the_attribute_moves():
    from edsc.train.generator import _move_one_degree
    cfg = tiny_config(attr_focus=["smiling"])
    degrees = torch.tensor([[0.0, 0, 0, 0, 0], [5, 5, 5, 5, 5], [2, 2, 2, 2.5, 2]])
    moved = _move_one_degree(degrees, cfg, step=0)
    diff = moved - degrees
    assert torch.equal(diff[:, [0, 1, 2, 4]], torch.zeros(3, 4))                # only smiling moves
    assert diff[0, 3] == 1 and diff[1, 3] == -1 and diff[2, 3].abs() == 1       # turned back at the ends
    assert torch.equal(_move_one_degree(degrees, cfg, 0), moved)                 # a function of (seed, step)
    identity = sample_identity(3, torch.Generator().manual_seed(0))
    a, b = render(identity, degrees, 64), render(identity, moved, 64)
    w = L.change_weight_map(a, b)
    assert w.shape == (3, 1, 64, 64) and bool((w.mean((1, 2, 3)) <= 1).all())     # eps damps tiny changes
    assert torch.allclose(L.change_weight_map(a, b, eps=0).mean((1, 2, 3)), torch.ones(3), atol=1e-4)
    assert w.max() > 5                                                           # concentrated on the mouth
    with pytest.raises(InvalidArgumentError, match="unknown attribute"):
        tiny_config(attr_focus=["hat"])


def test_attr_term_and_warm_start(tmp_path):
    cfg = tiny_config(steps=2, lambda_attr=1.0, eval_every=2, checkpoint_every=2)
    g1, _ = train_generator(cfg, tmp_path / "one", progress=False)
    with open(tmp_path / "one" / "losses.csv", newline="") as fh:
        assert all(float(r["attr"]) > 0 for r in csv.DictReader(fh))
    init = tmp_path / "one" / "g_ema.safetensors"
    cfg2 = tiny_config(steps=0, eval_every=1, checkpoint_every=1)
    g2, m2 = train_generator(cfg2, tmp_path / "two", progress=False, init_from=init)
    for a, b in zip(g1.state_dict().values(), g2.state_dict().values()):
        assert torch.equal(a, b)                                                  # 0 steps: the init itself
    assert m2["init_from"]["path"] == str(init) and len(m2["init_from"]["sha256"]) == 64
    with pytest.raises(InvalidArgumentError, match="does not exist"):
        train_generator(cfg2, tmp_path / "three", progress=False, init_from=tmp_path / "nope.safetensors")
    big = tiny_config(style_dim=96)
    with pytest.raises(InvalidArgumentError, match="does not fit"):
        train_generator(big, tmp_path / "four", progress=False, init_from=init)


def test_change_boxes_frame_the_changed_pixels():
    w = torch.zeros(3, 1, 64, 64)
    w[0, 0, 40:44, 20:30] = 1.0                        # a 4 x 10 mouth-like patch
    w[0, 0, 10, 10] = 0.2                              # below rel x peak: ignored
    w[1, 0, 60:64, 0:50] = 1.0                         # at the edge, wider than the minimum
    boxes = L.change_boxes(w, min_size=16, margin=2)   # (3, 4): x0, y0, x1, y1
    x0, y0, x1, y1 = boxes.unbind(1)
    assert torch.allclose(x1 - x0, y1 - y0)                                       # square
    assert bool((x0 >= 0).all() and (y0 >= 0).all() and (x1 <= 64).all() and (y1 <= 64).all())
    assert x0[0] <= 20 and x1[0] >= 30 and y0[0] <= 40 and y1[0] >= 44 and x1[0] - x0[0] == 16
    assert x0[1] <= 0 and x1[1] >= 50 and y1[1] == 64                             # moved inside the image
    assert boxes[2].tolist() == [0.0, 0.0, 64.0, 64.0]                            # nothing changed: whole image
    image = torch.rand(3, 3, 64, 64, requires_grad=True)
    crops = L.crop_boxes(image, boxes, 32)
    assert crops.shape == (3, 3, 32, 32)
    crops.sum().backward()
    assert image.grad[0, :, 40:44, 20:30].abs().sum() > 0 and image.grad[0, :, :5, :5].abs().sum() == 0
    with pytest.raises(InvalidArgumentError, match="shape"):
        L.change_boxes(torch.zeros(2, 3, 8, 8))


def test_attr_lpips_term_runs_and_is_logged(tmp_path):
    cfg = tiny_config(steps=2, lambda_attr_lpips=1.0, attr_crop=32, eval_every=2, checkpoint_every=2)
    train_generator(cfg, tmp_path / "run", progress=False)
    with open(tmp_path / "run" / "losses.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 and all(float(r["attr_lpips"]) > 0 for r in rows) and all(float(r["attr"]) == 0 for r in rows)
