"""Stage (e): training the field functions through the 18 dB link (tiny bundle, 64 px)."""

from __future__ import annotations

import copy
import csv
import math

import pytest
import torch
from torch import nn

from edsc.train.fields import FieldTrainConfig, choose_directions, train_fields
from shared.bundle import Bundle
from shared.errors import InvalidArgumentError
from shared.models.stylegan2 import Discriminator

torch.set_num_threads(1)


class TinyIdentity(nn.Module):
    """Any module images (B, 3, H, W) → (B, n) will do as F."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.conv = nn.Conv2d(3, 4, 3, stride=4)
        self.fc = nn.Linear(4 * 16, 6)

    def forward(self, x):
        return self.fc(torch.nn.functional.adaptive_avg_pool2d(self.conv(x), 4).flatten(1))


def _state(m: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in m.state_dict().items()}


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def parts(tiny_bundle):
    b = Bundle(tiny_bundle)
    torch.manual_seed(2)
    D = Discriminator(64, channels={4: 16, 8: 16, 16: 16, 32: 8, 64: 8}).eval()
    return b.generator, b.predictor, TinyIdentity(), D, b.adapters


def _cfg(**kw) -> FieldTrainConfig:
    base = dict(steps=8, batch_size=4, lr=3e-3, warmup=0, final_frac=1.0, lambda_disc=0.1,
                field=dict(hidden=32, layers=2, step_scale=0.05), channel="torch", fixed_batch=True,
                eval_latents=4, log_every=1, ckpt_every=4)
    base.update(kw)
    return FieldTrainConfig(**base)


def _losses(run) -> list[float]:
    with open(run / "log.csv", newline="") as fh:
        return [float(r["loss"]) for r in csv.DictReader(fh)]


def test_loss_decreases_and_only_fields_change(parts, tmp_path):
    G, P, Fid, D, codec = parts
    frozen = {"G": G, "P": P, "F": Fid, "D": D, "codec": codec}
    before = {k: _state(m) for k, m in frozen.items()}
    flags = {k: [p.requires_grad for p in m.parameters()] for k, m in frozen.items()}
    p_diff = P.differentiable
    fields, m = train_fields(G, P, Fid, D, codec, _cfg(), tmp_path / "run", progress=False)
    for k, mod in frozen.items():
        assert _same(before[k], _state(mod)), k
        assert [p.requires_grad for p in mod.parameters()] == flags[k], k
    assert P.differentiable == p_diff
    losses = _losses(tmp_path / "run")
    assert len(losses) == 8 and all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0]
    # a fresh bank of the same seed is the starting point: every field trained on some item moved
    fresh, _ = train_fields(G, P, Fid, D, codec, _cfg(steps=0), tmp_path / "zero", progress=False)
    moved = [a for a in fields.attributes if not _same(_state(fields[a]), _state(fresh[a]))]
    assert moved
    # metrics keys
    ev = m["eval"]
    assert set(ev) >= {"clean", "channel", "n"}
    for mode in ("clean", "channel"):
        for name in P.attributes + ["mean"]:
            assert set(ev[mode][name]) == {"moved", "exact", "others_kept", "mean_change"}
            assert 0.0 <= ev[mode][name]["moved"] <= 1.0 and 0.0 <= ev[mode][name]["others_kept"] <= 1.0
    assert (tmp_path / "run" / "metrics.json").is_file()


def test_resume_is_bit_identical(parts, tmp_path):
    G, P, Fid, D, codec = parts
    a, _ = train_fields(G, P, Fid, D, codec, _cfg(fixed_batch=False), tmp_path / "a", progress=False)
    run_b = tmp_path / "b"
    train_fields(G, P, Fid, D, codec, _cfg(fixed_batch=False), run_b, progress=False)
    (run_b / "ckpt-00000008.pt").unlink()                 # "interrupted" after step 4
    b, _ = train_fields(G, P, Fid, D, codec, _cfg(fixed_batch=False), run_b, progress=False)
    assert _same(_state(a), _state(b))
    assert _losses(run_b) == _losses(tmp_path / "a")


def test_no_discriminator_pool_latents_and_errors(parts, tmp_path):
    G, P, Fid, D, codec = parts
    pool = G.mapping(torch.randn(6, 512, generator=torch.Generator().manual_seed(0))).detach()
    _, m = train_fields(G, P, Fid, None, codec, _cfg(steps=2, lambda_disc=0.0, latent_source="mixed",
                                                     eval_latents=2), tmp_path / "nod", progress=False,
                        latents=pool)
    assert m["steps"] == 2
    with pytest.raises(InvalidArgumentError):
        train_fields(G, P, Fid, None, codec, _cfg(), tmp_path / "e1", progress=False)
    with pytest.raises(InvalidArgumentError):
        train_fields(G, P, Fid, D, codec, _cfg(latent_source="pool"), tmp_path / "e2", progress=False)
    with pytest.raises(InvalidArgumentError):
        FieldTrainConfig(channel="rayleigh")


def test_choose_directions_respects_room():
    deg = torch.tensor([0.0, 5.0, 0.0, 5.0] + [2.0] * 200)
    d = choose_directions(deg, 5, torch.Generator().manual_seed(0))
    assert d[:4].tolist() == [1.0, -1.0, 1.0, -1.0]
    assert set(d[4:].tolist()) == {1.0, -1.0}
