"""The training loop every stage plugs into: learning-rate schedule, one step, loss log, checkpoints, resume and
the wall-clock stop.

A stage builds its model, optimiser and data, then calls :func:`fit` with a ``step(s) -> {column: value}``
function that trains on the batch of step ``s`` and an ``evaluate(done, at_checkpoint) -> {column: value}``
function for the logged columns that are measured rather than trained. Everything a step draws is a function
of ``(seed, s)``, so a checkpoint holds the model, the optimiser and the step, and a resumed run is
bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from edsc.train.rundir import CSVLog, RunDir
from edsc.train.schedule import lr_at, out_of_time, set_lr, stopped_early

__all__ = ["FitConfig", "resume_from", "open_log", "fit"]

Step = Callable[[int], Mapping[str, Any]]                           # step index -> logged columns of that step
Evaluate = Callable[[int, bool], Mapping[str, Any]]                 # (steps done, at a checkpoint) -> columns


@dataclass
class FitConfig:
    """The loop's schedule.

    Parameters
    ----------
    steps : total optimiser steps
    lr, warmup : base learning rate and warm-up steps of :func:`~edsc.train.schedule.lr_at` (cosine decay)
    checkpoint_every : checkpoint after every this many steps (and after the last one, and on a timed stop)
    log_every : log a row after every this many steps (and after the last one)
    log_fields : the CSV columns (``step``, ``lr`` and ``seconds`` are filled in by the loop)
    log_at_checkpoint : also log a row at every checkpoint
    """

    steps: int
    lr: float
    warmup: int
    checkpoint_every: int
    log_every: int
    log_fields: Sequence[str]
    log_at_checkpoint: bool = False


def resume_from(run: RunDir | None, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                device: torch.device | str) -> int:
    """Loads the newest checkpoint of ``run`` into ``model`` and ``optimizer``; the step it holds (0: none)."""
    if run is None:
        return 0
    ck = run.load_latest(map_location=device)
    if ck is None:
        return 0
    model.load_state_dict(ck["model"])
    optimizer.load_state_dict(ck["optimizer"])
    return int(ck["step"])


def open_log(run: RunDir | None, config: FitConfig, start: int) -> CSVLog | None:
    """The run's ``log.csv``; rows after ``start`` (an interrupted run's tail) are dropped."""
    return run.log(list(config.log_fields), start if start > 0 else None) if run is not None else None


def fit(step: Step, config: FitConfig, run: RunDir | None, evaluate: Evaluate | None, *,
        model: torch.nn.Module, optimizer: torch.optim.Optimizer, start: int, log: CSVLog | None, bar: Any,
        t0: float, time_limit: float | None) -> dict[str, Any] | None:
    """Trains steps ``start .. config.steps - 1``.

    Each step sets the learning rate, runs ``step(s)``, advances ``bar``, logs a row
    ``{step, lr, **step(s), **evaluate(done, at_checkpoint), seconds}`` when due, and checkpoints
    ``{"step", "model", "optimizer"}`` when due. With a ``time_limit`` (seconds since ``t0``) the loop checkpoints
    and stops early.

    Output
    ------
    None when every step ran (the bar is closed and the model in eval mode); otherwise the metrics of the
    resumable stop (:func:`~edsc.train.schedule.stopped_early`).
    """
    for s in range(start, config.steps):
        lr = lr_at(s, config.lr, config.steps, config.warmup)
        set_lr(optimizer, lr)
        row = step(s)
        bar.update(1)
        done = s + 1
        at_ckpt = done % config.checkpoint_every == 0 or done == config.steps
        if log is not None and (done % config.log_every == 0 or done == config.steps
                                or (config.log_at_checkpoint and at_ckpt)):
            extra = evaluate(done, at_ckpt) if evaluate is not None else {}
            log.log(step=done, lr=lr, **row, **extra, seconds=round(time.perf_counter() - t0, 2))
        stop = out_of_time(t0, time_limit, done, config.steps)
        if run is not None and (at_ckpt or stop):
            run.save(done, {"model": model.state_dict(), "optimizer": optimizer.state_dict()})
        if stop:
            return stopped_early(model, bar, done, config.steps, start, t0)
    bar.close()
    model.eval()
    return None
