"""A training run's directory (:class:`RunDir`): ``config.json`` (checked on resume: resuming a run with another
config is an error), checkpoints ``ckpt-<step>.pt`` written atomically (the newest ``keep`` are kept),
``log.csv`` (:class:`CSVLog`, one row per logged step; on resume rows after the checkpoint are dropped so the log
never holds two histories) and ``metrics.json``.

Checkpoints only need the model, the optimizer and the step: the learning rate, the batch of step ``s`` and its
augmentation are pure functions of ``(seed, s)``, so a resumed run is bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from shared.atomic_io import save_torch_atomic, write_json_atomic
from shared.errors import InvalidArgumentError

__all__ = ["config_to_dict", "read_json", "CSVLog", "RunDir"]


def config_to_dict(config: Any) -> dict[str, Any]:
    """A dataclass config (nested dataclasses included) → JSON-ready dict."""
    if dataclasses.is_dataclass(config):
        return json.loads(json.dumps(dataclasses.asdict(config), default=str))
    if isinstance(config, Mapping):
        return json.loads(json.dumps(dict(config), default=str))
    raise InvalidArgumentError(f"a config must be a dataclass or a mapping, got {type(config).__name__}")


def read_json(path: str | os.PathLike[str]) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


class CSVLog:
    """Append-only CSV loss log with a fixed header.

    Parameters
    ----------
    path : the CSV file
    fields : column names (the first is conventionally ``step``)
    resume_step : when resuming from a checkpoint at this step, rows with ``step > resume_step`` are dropped
        (they belong to the interrupted part of the run); ``None`` starts a fresh file.
    """

    def __init__(self, path: str | os.PathLike[str], fields: Sequence[str], resume_step: int | None = None):
        self.path = Path(path)
        self.fields = list(fields)
        keep: list[dict[str, str]] = []
        if resume_step is not None and self.path.exists():
            with open(self.path, newline="", encoding="utf-8") as fh:
                reader = csv.DictReader(fh)
                if reader.fieldnames == self.fields:
                    keep = [row for row in reader if int(float(row.get("step", 0))) <= resume_step]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=self.fields)
            writer.writeheader()
            writer.writerows(keep)

    def log(self, **row: Any) -> None:
        unknown = sorted(set(row) - set(self.fields))
        if unknown:
            raise InvalidArgumentError(f"unknown log columns {unknown}; expected {self.fields}")
        out = {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()}
        with open(self.path, "a", newline="", encoding="utf-8") as fh:
            csv.DictWriter(fh, fieldnames=self.fields).writerow(out)

    def rows(self) -> list[dict[str, str]]:
        with open(self.path, newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))


_CKPT = re.compile(r"^ckpt-(\d{8})\.pt$")


class RunDir:
    """A training run's directory: config, checkpoints, loss log, metrics.

    Parameters
    ----------
    path : the directory (created)
    config : the stage's config (dataclass or dict); saved as ``config.json``
    resume : keep and resume from existing checkpoints. With ``resume=False`` old checkpoints, log and metrics
        are removed first. Resuming a directory whose ``config.json`` differs raises
        :class:`~shared.errors.InvalidArgumentError` naming the differing keys.
    keep : how many checkpoints to keep (newest first)
    """

    def __init__(self, path: str | os.PathLike[str], config: Any, resume: bool = True, keep: int = 2):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.keep = max(1, int(keep))
        self.config = config_to_dict(config)
        cfg_path = self.path / "config.json"
        if not resume:
            for p in self.checkpoints():
                p.unlink()
            for name in ("log.csv", "metrics.json"):
                if (self.path / name).exists():
                    (self.path / name).unlink()
        elif cfg_path.exists() and self.checkpoints():
            old = read_json(cfg_path)
            if old != self.config:
                diff = sorted(k for k in set(old) | set(self.config) if old.get(k) != self.config.get(k))
                raise InvalidArgumentError(
                    f"run directory {self.path} was started with another config (differs in {', '.join(diff)}); "
                    "use another directory or resume=False")
        write_json_atomic(cfg_path, self.config)

    # -- checkpoints --------------------------------------------------------------------------------------------
    def checkpoints(self) -> list[Path]:
        """Checkpoint files, oldest first."""
        return sorted(p for p in self.path.iterdir() if _CKPT.match(p.name))

    def latest(self) -> Path | None:
        ck = self.checkpoints()
        return ck[-1] if ck else None

    def save(self, step: int, state: Mapping[str, Any]) -> Path:
        """Writes ``{"step": step, **state}`` to ``ckpt-<step>.pt`` atomically and prunes old checkpoints."""
        path = save_torch_atomic({"step": int(step), **state}, self.path / f"ckpt-{int(step):08d}.pt")
        for old in self.checkpoints()[:-self.keep]:
            old.unlink()
        return path

    def load_latest(self, map_location: str | torch.device = "cpu") -> dict[str, Any] | None:
        """The newest checkpoint's content, or ``None`` when there is none."""
        path = self.latest()
        if path is None:
            return None
        return torch.load(path, map_location=map_location, weights_only=True)

    # -- logs ---------------------------------------------------------------------------------------------------
    def log(self, fields: Sequence[str], resume_step: int | None) -> CSVLog:
        return CSVLog(self.path / "log.csv", fields, resume_step)

    def write_metrics(self, metrics: Mapping[str, Any]) -> Path:
        return write_json_atomic(self.path / "metrics.json", dict(metrics))
