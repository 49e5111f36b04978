"""Stage (f): the differentiable AWGN link and the adapter-bank fine-tuning (tiny bundle, 64 px)."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from edsc.train.adapters import AdapterTrainConfig, awgn_link, train_adapters
from shared.bundle import Bundle
from shared.errors import InvalidArgumentError

torch.set_num_threads(1)


def _state(m: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in m.state_dict().items()}


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def parts(tiny_bundle):
    b = Bundle(tiny_bundle)
    g = torch.Generator().manual_seed(3)
    w = b.generator.mapping(torch.randn(7, 512, generator=g)).detach()
    return b.generator, b.adapters, b.predictor, b.fields, w


def _cfg(**kw) -> AdapterTrainConfig:
    base = dict(snr_levels=[-6.0], steps=6, lr=3e-3, n_ft=4, n_eval=3, batch_size=4, target="render",
                channel="torch", eval_draws=1, log_every=1, ckpt_every=3)
    base.update(kw)
    return AdapterTrainConfig(**base)


def test_awgn_link_emulator_mode_matches_serving_path_and_has_gradient():
    from channel_emulator.config import ChannelConfig
    from channel_emulator.link import apply_channel
    from receiver.equalization import recover

    x = (torch.randn(3, 512) * 2 + 0.5).requires_grad_()
    for snr in (-6.0, 18.0):
        y = awgn_link(x, snr, seed=11)
        out = apply_channel(x.detach(), ChannelConfig(model="awgn", snr_db=snr), seed=11)
        ref = recover(out.received, out.side_info, "mmse")
        torch.testing.assert_close(y, ref, rtol=1e-5, atol=1e-5)
    y.square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_awgn_link_rescale_matches_serving_path_and_keeps_the_norm():
    from channel_emulator.config import ChannelConfig
    from channel_emulator.link import apply_channel
    from receiver.equalization import recover

    x = (torch.randn(3, 512) * torch.tensor([[0.3], [1.0], [6.0]])).requires_grad_()
    y = awgn_link(x, 18.0, seed=4, rescale=True)
    out = apply_channel(x.detach(), ChannelConfig(model="awgn", snr_db=18.0), seed=4)
    torch.testing.assert_close(y, recover(out.received, out.side_info, "mmse", rescale=True), rtol=1e-4, atol=1e-4)
    ratio = y.detach().norm(dim=1) / x.detach().norm(dim=1)
    assert torch.allclose(ratio, torch.ones(3), atol=0.05)                   # each message keeps its own norm
    y_torch = awgn_link(x, 18.0, generator=torch.Generator().manual_seed(4), mode="torch", rescale=True)
    assert torch.allclose(y_torch.detach().norm(dim=1) / x.detach().norm(dim=1), torch.ones(3), atol=0.05)
    y.sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


@pytest.mark.parametrize("snr", [-6.0, 6.0])
def test_awgn_link_torch_mode_matches_emulator_statistics(snr):
    x = torch.randn(400, 512) * 3.0 + 1.0
    power = 1.0
    no = power * 10 ** (-snr / 10)
    beta = power / (power + no)
    clean = x * (beta * math.sqrt(power * 256) / x.norm(dim=1, keepdim=True))
    n_emu = awgn_link(x, snr, seed=5) - clean
    n_torch = awgn_link(x, snr, generator=torch.Generator().manual_seed(5), mode="torch") - clean
    expected_var = beta ** 2 * no / 2                     # per real value
    for n in (n_emu, n_torch):
        assert abs(float(n.mean())) < 0.01 * math.sqrt(expected_var) * 10
        assert float(n.var()) == pytest.approx(expected_var, rel=0.02)
    # the received energy per real value is β²(P/2 + N0/2) in both
    y_emu, y_torch = clean + n_emu, clean + n_torch
    assert float(y_emu.square().mean()) == pytest.approx(beta ** 2 * (power + no) / 2, rel=0.02)
    assert float(y_torch.square().mean()) == pytest.approx(float(y_emu.square().mean()), rel=0.02)


def test_train_adapters_changes_only_its_level(parts, tmp_path):
    G, codec0, P, fields, w = parts
    codec = copy.deepcopy(codec0)
    g_before, c_before = _state(G), _state(codec)
    req_before = [p.requires_grad for p in list(G.parameters()) + list(codec.parameters())]
    codec, m = train_adapters(G, codec, w, _cfg(), tmp_path / "run", progress=False,
                              count_modules={"predictor": P, "fields": fields})
    after = _state(codec)
    assert _same(g_before, _state(G))
    changed = {k for k in after if not torch.equal(after[k], c_before[k])}
    assert changed and all(k.startswith(("bank.encoders.snr_m6.", "bank.decoders.snr_m6.")) for k in changed)
    assert any(k.startswith("bank.decoders.snr_m6.") for k in changed)
    # requires_grad flags are restored; metrics present and finite
    assert [p.requires_grad for p in list(G.parameters()) + list(codec.parameters())] == req_before
    lv = m["levels"]["-6.0"]
    for key in ("lpips_without_bank", "lpips_incoming_bank", "lpips_with_bank", "train_lpips_without_bank",
                "train_lpips_with_bank", "tuned_params", "tuned_share"):
        assert key in lv and math.isfinite(lv[key])
    assert lv["tuned_params"] == codec.bank.parameter_count(-6.0)
    total = sum(p.numel() for mod in (G, codec, P, fields) for p in mod.parameters())
    assert m["total_params"] == total and m["tuned_share"] == pytest.approx(lv["tuned_params"] / total)
    # fine-tuning lowers the LPIPS on its own items (same noise draws before and after)
    assert lv["train_lpips_with_bank"] < lv["train_lpips_without_bank"]
    rows = (tmp_path / "run" / "log.csv").read_text().splitlines()
    assert len(rows) == 1 + 6
    assert (tmp_path / "run" / "metrics.json").is_file()


def test_train_adapters_resume_is_bit_identical(parts, tmp_path):
    G, codec0, _, _, w = parts
    a, _ = train_adapters(G, copy.deepcopy(codec0), w, _cfg(), tmp_path / "a", progress=False)
    run_b = tmp_path / "b"
    train_adapters(G, copy.deepcopy(codec0), w, _cfg(), run_b, progress=False)
    (run_b / "ckpt-00000006.pt").unlink()                 # "interrupted" after step 3
    b, _ = train_adapters(G, copy.deepcopy(codec0), w, _cfg(), run_b, progress=False)
    assert _same(_state(a), _state(b))
    assert len((run_b / "log.csv").read_text().splitlines()) == 1 + 6


def test_train_adapters_image_target_and_errors(parts, tmp_path):
    G, codec0, _, _, w = parts
    with torch.no_grad():
        images = G.synthesis(w).clamp(-1, 1)
    _, m = train_adapters(G, copy.deepcopy(codec0), (w, images), _cfg(steps=1, snr_levels=[18.0], target="image"),
                          tmp_path / "img", progress=False)
    assert m["target"] == "image" and "18.0" in m["levels"]
    with pytest.raises(InvalidArgumentError):
        train_adapters(G, copy.deepcopy(codec0), w, _cfg(target="image"), tmp_path / "e1", progress=False)
    with pytest.raises(InvalidArgumentError):
        train_adapters(G, copy.deepcopy(codec0), w, _cfg(snr_levels=[3.0]), tmp_path / "e2", progress=False)
    with pytest.raises(InvalidArgumentError):
        train_adapters(G, copy.deepcopy(codec0), w[:5], _cfg(), tmp_path / "e3", progress=False)


def _val_latents(G, n: int = 10) -> torch.Tensor:
    g = torch.Generator().manual_seed(5)
    return G.mapping(torch.randn(n, 512, generator=g)).detach()


def test_train_adapters_early_stopping_keeps_the_best_validation_snapshot(parts, tmp_path):
    G, codec0, _, _, _ = parts
    w = _val_latents(G)
    # a learning rate that wrecks the adapters: the incoming (identity) bank must win the validation
    cfg = _cfg(steps=4, lr=5.0, n_val=3, val_every=2, warmup=0)
    codec, m = train_adapters(G, copy.deepcopy(codec0), w, cfg, tmp_path / "wreck", progress=False)
    lv = m["levels"]["-6.0"]
    assert [s for s, _ in lv["val_lpips_curve"]] == [0, 2, 4]
    assert lv["selected_step"] == 0
    assert _same(_state(codec), _state(codec0))
    # a sane rate: the chosen step is the curve's minimum and the bank holds that snapshot (not the last step)
    cfg = _cfg(steps=6, n_val=3, val_every=1)
    codec, m = train_adapters(G, copy.deepcopy(codec0), w, cfg, tmp_path / "sane", progress=False)
    curve = m["levels"]["-6.0"]["val_lpips_curve"]
    best_step, best_value = min(curve, key=lambda sv: sv[1])
    assert m["levels"]["-6.0"]["selected_step"] == best_step
    assert m["n_val"] == 3


def test_train_adapters_early_stopping_resume_is_bit_identical(parts, tmp_path):
    G, codec0, _, _, _ = parts
    w = _val_latents(G)
    cfg = _cfg(n_val=3, val_every=2)
    a, ma = train_adapters(G, copy.deepcopy(codec0), w, cfg, tmp_path / "a", progress=False)
    run_b = tmp_path / "b"
    train_adapters(G, copy.deepcopy(codec0), w, cfg, run_b, progress=False)
    (run_b / "ckpt-00000006.pt").unlink()                 # "interrupted" after step 3
    b, mb = train_adapters(G, copy.deepcopy(codec0), w, cfg, run_b, progress=False)
    assert _same(_state(a), _state(b))
    assert ma["levels"]["-6.0"]["val_lpips_curve"] == mb["levels"]["-6.0"]["val_lpips_curve"]


def test_recipe_tune_adapters_sets_the_prior_floor_from_the_fine_tuning_items(parts, tmp_path):
    from edsc.train.recipe import initial_codec, tune_adapters

    generator, _, _, _, w = parts
    codec = initial_codec(generator, prior=True)
    assert codec.prior is not None and float(codec.prior.floor) == 0.0
    images = generator.synthesis(w).detach()
    cfg = _cfg(steps=2, n_ft=3, n_eval=2, batch_size=3, n_val=2, val_every=1, target="image")
    jitter = 0.3 * torch.randn(w.shape, generator=torch.Generator().manual_seed(4))
    data = (w[:5] + jitter[:5], images[:5])
    codec, metrics = tune_adapters(generator, codec, data, (w[5:], images[5:]), cfg, tmp_path / "run", {})
    expected = codec.fit_prior_floor(data[0][:3])        # the n_ft items only
    assert metrics["prior_floor"] == pytest.approx(expected) and expected > 0
