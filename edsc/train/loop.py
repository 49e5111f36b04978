"""The training loop every stage plugs into: learning-rate schedule, one step, loss log, checkpoints, resume and
the wall-clock stop.

A stage builds its model, optimiser and data, then calls :func:`fit` with a ``step(s) -> {column: value}``
function that trains on the batch of step ``s`` and an ``evaluate(done, at_checkpoint) -> {column: value}``
function for the logged columns that are measured rather than trained. Everything a step draws is a function
of ``(seed, s)``, so a checkpoint holds the model, the optimiser and the step, and a resumed run is
bit-identical to an uninterrupted one.

Stages with more to keep pass ``state(done)`` (the checkpoint's content, e.g. a field bank and its evaluation
history) or ``checkpoint(done)`` (their own checkpoint writer). A stage trained in phases (one SNR level after
another) calls :func:`fit` once per phase with ``offset`` = the steps of the phases before and ``close=False``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from edsc.train.rundir import CSVLog, RunDir
from edsc.train.schedule import lr_at, out_of_time, set_lr, stopped_early

__all__ = ["FitConfig", "resume_from", "open_log", "fit", "optimizer_step", "adamw"]

Step = Callable[[int], Mapping[str, Any]]                           # step index -> logged columns of that step
Evaluate = Callable[[int, bool], Mapping[str, Any]]                 # (steps done, at a checkpoint) -> columns
State = Callable[[int], Mapping[str, Any]]                          # steps done -> checkpoint content
Checkpoint = Callable[[int], None]                                  # steps done -> writes a checkpoint


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
    final_frac : the cosine decay's end, a fraction of ``lr``
    log_first : log after the first step of every ``log_every`` (steps 1, 1 + log_every, ...) instead of
        after the last one (steps log_every, 2 log_every, ...)
    """

    steps: int
    lr: float
    warmup: int
    checkpoint_every: int
    log_every: int
    log_fields: Sequence[str]
    log_at_checkpoint: bool = False
    final_frac: float = 0.02
    log_first: bool = False


def adamw(model: torch.nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW over ``model``'s parameters with weight decay on the weights (two or more dimensions) and none on
    biases and norm scales (one dimension)."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=lr)


def optimizer_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer, params: Sequence[torch.Tensor],
                   grad_clip: float, what: str) -> None:
    """One update from ``loss``: refuses a non-finite loss (``FloatingPointError`` naming ``what``, e.g.
    ``"field loss at step 12"``), clears the gradients, back-propagates, clips their norm to ``grad_clip``
    (0: no clipping) and steps ``optimizer``."""
    if not torch.isfinite(loss):
        raise FloatingPointError(f"non-finite {what}")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(params, grad_clip)
    optimizer.step()


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
        t0: float, time_limit: float | None, offset: int = 0, state: State | None = None,
        checkpoint: Checkpoint | None = None, stop_at: int | None = None,
        close: bool = True) -> dict[str, Any] | None:
    """Trains steps ``start .. config.steps - 1``.

    Each step sets the learning rate, runs ``step(s)``, advances ``bar``, logs a row
    ``{step, lr, **step(s), **evaluate(done, at_checkpoint), seconds}`` when due (``seconds`` only when the log
    has that column), and checkpoints when due. With a ``time_limit`` (seconds since ``t0``) or a ``stop_at``
    step the loop checkpoints and stops early.

    Parameters
    ----------
    step, config, run, evaluate : see the module docstring; ``run`` may be None (nothing is checkpointed unless
        ``checkpoint`` is given)
    model, optimizer : trained in place; the optimiser's learning rate is set every step
    start : the first step to run (a resumed run's checkpoint step)
    log, bar : the loss log (None: no log) and the progress bar (``update`` / ``close``)
    t0, time_limit : wall-clock start (``time.perf_counter``) and limit in seconds (None: none)
    offset : steps of the run before this call's phase: logged steps, checkpoint steps and the checkpoint
        cadence count ``offset + done``; the learning-rate schedule and ``config.steps`` are the phase's
    state : ``state(done)`` -> the checkpoint's content (default ``{"model", "optimizer"}`` state dicts), saved
        by ``run.save(offset + done, ...)``
    checkpoint : ``checkpoint(done)`` writes the checkpoint itself (instead of ``run.save``)
    stop_at : stop (checkpointed, resumable) once this many steps of the phase are done
    close : when every step ran, close the bar and put the model in eval mode

    Returns
    -------
    None when every step ran; otherwise the metrics of the resumable stop
    (:func:`~edsc.train.schedule.stopped_early`).
    """
    with_seconds = log is not None and "seconds" in log.fields
    for s in range(start, config.steps):
        lr = lr_at(s, config.lr, config.steps, config.warmup, config.final_frac)
        set_lr(optimizer, lr)
        row = step(s)
        bar.update(1)
        done = s + 1
        last = done == config.steps
        at_ckpt = (offset + done) % config.checkpoint_every == 0 or last
        due = (s if config.log_first else done) % config.log_every == 0
        if log is not None and (due or last or (config.log_at_checkpoint and at_ckpt)):
            extra = evaluate(done, at_ckpt) if evaluate is not None else {}
            seconds = {"seconds": round(time.perf_counter() - t0, 2)} if with_seconds else {}
            log.log(step=offset + done, lr=lr, **row, **extra, **seconds)
        stop = out_of_time(t0, time_limit, done, config.steps) or (
            stop_at is not None and done >= stop_at and not last)
        if at_ckpt or stop:
            if checkpoint is not None:
                checkpoint(done)
            elif run is not None:
                run.save(offset + done, state(done) if state is not None else
                         {"model": model.state_dict(), "optimizer": optimizer.state_dict()})
        if stop:
            return stopped_early(model, bar, done, config.steps, start, t0)
    if close:
        bar.close()
        model.eval()
    return None
