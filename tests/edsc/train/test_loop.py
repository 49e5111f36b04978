"""Tests of edsc/train/loop.py: the shared training loop's log, checkpoints, timed stop and resume."""

from __future__ import annotations

import time

import pytest
import torch

from edsc.train.loop import FitConfig, fit, open_log, optimizer_step, resume_from
from edsc.train.rundir import RunDir


class Bar:
    def __init__(self):
        self.n, self.closed = 0, False

    def update(self, k):
        self.n += k

    def close(self):
        self.closed = True


def _run(path, steps=5, time_limit=None, log_at_checkpoint=False):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    cfg = FitConfig(steps=steps, lr=0.1, warmup=1, checkpoint_every=2, log_every=3,
                    log_fields=["step", "lr", "loss", "held", "seconds"], log_at_checkpoint=log_at_checkpoint)
    run = RunDir(path, {"steps": steps})
    start = resume_from(run, model, opt, "cpu")
    log = open_log(run, cfg, start)
    x = torch.arange(12.0).view(4, 3)                                    # (4, 3)

    def step(s):
        loss = (model(x + s) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return {"loss": float(loss.detach())}

    calls = []

    def evaluate(done, at_ckpt):
        calls.append((done, at_ckpt))
        return {"held": 1.0 if at_ckpt else ""}

    bar = Bar()
    t0 = 0.0 if time_limit is not None else time.perf_counter()        # t0 = 0: any time limit has passed
    out = fit(step, cfg, run, evaluate, model=model, optimizer=opt, start=start, log=log, bar=bar, t0=t0,
              time_limit=time_limit)
    return model, run, out, calls, bar, start


def test_fit_logs_and_checkpoints_on_schedule(tmp_path):
    model, run, out, calls, bar, _ = _run(tmp_path / "a")
    assert out is None and bar.closed and bar.n == 5 and not model.training
    assert [int(r["step"]) for r in run.log(["step", "lr", "loss", "held", "seconds"], 5).rows()] == [3, 5]
    assert calls == [(3, False), (5, True)]
    assert [p.name for p in run.checkpoints()] == ["ckpt-00000004.pt", "ckpt-00000005.pt"]


def test_fit_logs_at_checkpoints_when_asked(tmp_path):
    _, _, _, calls, _, _ = _run(tmp_path / "a", log_at_checkpoint=True)
    assert calls == [(2, True), (3, False), (4, True), (5, True)]


def test_timed_stop_checkpoints_and_resume_matches(tmp_path):
    full, *_ = _run(tmp_path / "full")
    _, run, out, _, bar, _ = _run(tmp_path / "cut", time_limit=0.0)
    assert out["complete"] is False and out["step"] == 1 and bar.closed
    assert run.latest().name == "ckpt-00000001.pt"
    resumed, _, out, _, _, start = _run(tmp_path / "cut")
    assert out is None and start == 1
    for a, b in zip(full.parameters(), resumed.parameters()):
        assert torch.equal(a, b)


def test_phases_offset_state_log_first_and_stop_at(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    cfg = FitConfig(steps=4, lr=0.1, warmup=0, checkpoint_every=3, log_every=2, log_first=True,
                    final_frac=1.0, log_fields=["step", "lr", "loss", "phase"])
    run = RunDir(tmp_path / "p", {"phases": 2})
    log = run.log(cfg.log_fields, None)
    lrs = []

    def step(s):
        lrs.append(opt.param_groups[0]["lr"])
        return {"loss": 0.5, "phase": phase}

    for phase in range(2):                     # two phases of 4 steps: run steps 1..8, checkpoints at 3, 4, 6, 8
        bar = Bar()
        assert fit(step, cfg, run, None, model=model, optimizer=opt, start=0, log=log, bar=bar, t0=0.0,
                   time_limit=None, offset=4 * phase, state=lambda done: {"done": done}, close=False) is None
        assert not bar.closed and model.training
    assert lrs == [0.1] * 8                    # final_frac 1: a constant rate
    assert [(int(r["step"]), r["phase"]) for r in log.rows()] == [(1, "0"), (3, "0"), (4, "0"),
                                                                   (5, "1"), (7, "1"), (8, "1")]
    assert [p.name for p in run.checkpoints()] == ["ckpt-00000006.pt", "ckpt-00000008.pt"]
    assert run.load_latest()["done"] == 4      # the state callback gets the phase's step count
    saved = []
    out = fit(step, cfg, None, None, model=model, optimizer=opt, start=0, log=None, bar=Bar(), t0=0.0,
              time_limit=None, checkpoint=saved.append, stop_at=2)
    assert out["complete"] is False and out["step"] == 2 and saved == [2]


def test_optimizer_step_refuses_a_non_finite_loss_and_clips():
    model = torch.nn.Linear(2, 1, bias=False)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    before = model.weight.detach().clone()
    with pytest.raises(FloatingPointError, match="non-finite test loss"):
        optimizer_step(model(torch.ones(1, 2)).sum() * float("nan"), opt, list(model.parameters()), 0.0,
                       "test loss")
    assert torch.equal(model.weight, before)
    optimizer_step((model(torch.full((1, 2), 100.0))).sum(), opt, list(model.parameters()), 1.0, "test loss")
    step = float((model.weight.detach() - before).norm())
    assert step == pytest.approx(1.0, rel=1e-5)                        # lr 1: the step is the clipped gradient
