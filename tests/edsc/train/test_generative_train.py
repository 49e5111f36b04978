"""The generative stage: resumable, bit-identical, and its latents follow the SynthFace prior."""

from __future__ import annotations

import pytest
import torch

from edsc.train.generative import GenerativeTrainConfig, prior_latents, train_generative


def _cfg(**kw) -> GenerativeTrainConfig:
    base = dict(ks=(16,), flows=(True,), flow={"layers": 2, "depth": 2, "hidden": 8, "scale_limit": 2.0},
                codec_hidden=16, flow_steps=6, steps=8, batch_size=32, warmup=2, checkpoint_every=4, log_every=2,
                metric_faces=0)
    base.update(kw)
    return GenerativeTrainConfig(**base)


def test_resumed_run_is_bit_identical(tmp_path):
    fresh, m = train_generative(_cfg(), None, progress=False)
    assert m["complete"] and m["variants"]["k16-flow"]["stage1"]["n_std_mean"] > 0
    run = tmp_path / "run"
    stopped, m1 = train_generative(_cfg(), run, progress=False, time_limit=1e-9)    # stops after one step
    assert stopped is None and not m1["complete"]
    resumed, m2 = train_generative(_cfg(), run, progress=False)                     # resumes from its checkpoint
    assert m2["complete"] and m2["variants"]["k16-flow"]["seconds"] >= 0
    for a, b in zip(fresh.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    assert (run / "generative.safetensors").is_file()


def test_prior_latents_follow_the_world_prior():
    lat = prior_latents(20000, torch.Generator().manual_seed(0))
    ident, deg = lat[:, :25], (lat[:, 25:] + 1) * 2.5
    assert ident.min() >= -1 and ident.max() <= 1
    assert float(ident.mean()) == pytest.approx(0.0, abs=0.02)
    assert float(ident.var()) == pytest.approx(1 / 3, rel=0.05)                   # uniform on [−1, 1]
    integer = (deg - deg.round()).abs() < 1e-4
    assert float(integer.float().mean()) == pytest.approx(0.7, abs=0.02)           # the layout's integer share


def test_bad_config_is_refused():
    from shared.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError):
        _cfg(ks=(15,))
    with pytest.raises(InvalidArgumentError):
        _cfg(snr_low_db=10.0, snr_high_db=5.0)
