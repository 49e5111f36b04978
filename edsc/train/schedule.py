"""Stateless schedules of a training stage: the learning rate of step ``s`` and the wall-clock stop."""

from __future__ import annotations

import math
import time
from typing import Any

import torch

__all__ = ["lr_at", "set_lr", "out_of_time", "stopped_early"]


def lr_at(step: int, base_lr: float, total_steps: int, warmup: int = 0, final_frac: float = 0.02) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to ``final_frac · base_lr`` at ``total_steps``."""
    if warmup > 0 and step < warmup:
        return base_lr * (step + 1) / warmup
    span = max(1, total_steps - warmup)
    t = min(1.0, max(0.0, (step - warmup) / span))
    return base_lr * (final_frac + (1.0 - final_frac) * 0.5 * (1.0 + math.cos(math.pi * t)))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def out_of_time(t0: float, limit: float | None, done: int, total: int) -> bool:
    """True when a stage called with a wall-clock ``limit`` (seconds since ``t0``) must stop before ``total``."""
    return limit is not None and time.perf_counter() - t0 > limit and done < total


def stopped_early(model: torch.nn.Module, bar: Any, done: int, total: int, start: int, t0: float) -> dict[str, Any]:
    """Close the progress bar, put ``model`` in eval mode and return the metrics of a time-limited, resumable stop."""
    bar.close()
    model.eval()
    return {"complete": False, "step": done, "steps": total, "resumed_from": start,
            "seconds": round(time.perf_counter() - t0, 1)}
