"""The state the sections of `edsc bundle report` share: held-out faces, models and the shared inversion.

:class:`ReportContext` builds each piece on first use and keeps it; the inversion of the held-out faces goes
through the :class:`~edsc.eval.inversions.InversionCache` shared with ``edsc eval``.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from edsc.eval.bundle.rules import NAMESPACE
from edsc.eval.checks import number
from edsc.eval.inversions import InversionCache, set_key
from edsc.world.seeds import make_generator, stable_seed
from edsc.world.synthface import ATTRIBUTES, render, sample_degrees, sample_identity
from shared.bundle import Bundle
from shared.errors import BundleError

__all__ = ["WorldFaces", "Inverted", "ReportContext", "accuracy", "batched", "log", "read_degrees",
           "report_seed"]


# ----------------------------------------------------------------------------------------------------------------
# Small helpers
# ----------------------------------------------------------------------------------------------------------------

def batched(fn: Callable[..., Tensor], *tensors: Tensor, batch: int) -> Tensor:
    """``fn`` over aligned chunks of ``tensors`` (first dimension), concatenated; no autograd graph."""
    n = tensors[0].shape[0]
    with torch.no_grad():
        return torch.cat([fn(*(t[i:i + batch] for t in tensors)) for i in range(0, n, batch)])


def _column_order(names: Sequence[str]) -> list[int]:
    """Indices that put a model's attribute columns in SynthFace's :data:`ATTRIBUTES` order."""
    missing = [a for a in ATTRIBUTES if a not in names]
    if missing:
        raise BundleError(f"the model has no attribute(s) {missing}; SynthFace needs {list(ATTRIBUTES)}")
    return [list(names).index(a) for a in ATTRIBUTES]


def read_degrees(predictor: torch.nn.Module, images: Tensor, batch: int) -> Tensor:
    """Predicted degrees (N, 5) long on CPU, columns in :data:`ATTRIBUTES` order."""
    degrees = batched(lambda x: predictor.predict(x).degree, images, batch=batch).cpu()
    return degrees[:, _column_order(predictor.attributes)]


def accuracy(pred: Tensor, truth: Tensor) -> tuple[dict[str, float], dict[str, float]]:
    """Per-attribute exact and within-±1 shares of (N, 5) degree tables."""
    diff = (pred.long() - truth.long()).abs()
    exact, within = (diff == 0).float().mean(0), (diff <= 1).float().mean(0)
    return ({a: number(exact[i]) for i, a in enumerate(ATTRIBUTES)},
            {a: number(within[i]) for i, a in enumerate(ATTRIBUTES)})


def report_seed(*parts: Any) -> int:
    """A seed in [0, 2^31) from the report's namespace and ``parts``."""
    return stable_seed(NAMESPACE, *parts) % (2 ** 31)


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def log(ctx: "ReportContext", text: str) -> None:
    """Print ``text`` to stderr when the report shows progress."""
    if ctx.progress:
        print(f"[bundle report] {text}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------------------------
# Shared state: faces, models, the inversion
# ----------------------------------------------------------------------------------------------------------------

@dataclass
class WorldFaces:
    """Held-out SynthFace faces: identity (N, 25), integer degrees (N, 5) (CPU), renders (N, 3, R, R) on device."""

    identity: Tensor
    degrees: Tensor
    renders: Tensor


@dataclass
class Inverted:
    """The shared inversion of :attr:`ReportContext.faces`: latents (N, D), G(w) (N, 3, R, R), LPIPS (N,), the
    iteration each latent comes from (N,) and whether it passed the degree guard (N,)."""

    w: Tensor
    images: Tensor
    lpips: Tensor
    seconds: float
    step: Tensor
    guarded: Tensor


@dataclass
class ReportContext:
    """What the sections share; faces, models and the inversion are built on first use and kept.

    Parameters
    ----------
    bundle : the opened bundle (its device is used).
    faces : N, the held-out faces of the generator / inversion / jecc / adapters sections.
    seed : the report's seed (faces, sentences, channel draws).
    inversion_steps : r_inv.
    edit_steps : r_edit, JECC's step budget (``JECCConfig.max_steps``).
    batch : batch size of the inversion, JECC and every model evaluation.
    predictor_faces : faces of the predictor section.
    parser_sentences : sentences of the parser section (per variant: typo-free and with typos).
    progress : log to stderr.
    inversion_cache : a directory where the shared inversion is saved and looked up; None = no cache. The file
        is keyed by everything the inversion depends on (see :meth:`inversion_key`), so a bundle whose
        generator or codec normaliser changed never reads a stale entry.
    """

    bundle: Bundle
    faces: int = 200
    seed: int = 0
    inversion_steps: int = 110
    edit_steps: int = 100
    batch: int = 50
    predictor_faces: int = 500
    parser_sentences: int = 1500
    progress: bool = True
    inversion_cache: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def device(self) -> torch.device:
        return self.bundle.device

    @cached_property
    def lpips(self) -> torch.nn.Module:
        from shared.lpips import get_lpips
        return get_lpips("alex", self.device)

    @cached_property
    def eval_predictor(self) -> torch.nn.Module:
        return self.bundle.load("eval_predictor")

    @cached_property
    def transmitter(self):
        """The :class:`~transmitter.pipeline.TransmitterPipeline` (report's r_inv and r_edit) every section shares."""
        from transmitter.inversion import InversionConfig
        from transmitter.jecc import JECCConfig
        from transmitter.pipeline import TransmitterPipeline

        return TransmitterPipeline(self.bundle, InversionConfig(steps=self.inversion_steps),
                                   JECCConfig(max_steps=self.edit_steps))

    @cached_property
    def parser(self):
        from transmitter.instruction import InstructionParser
        return InstructionParser(self.bundle.language, self.bundle.vocabulary(), self.bundle.attributes)

    def world_faces(self, purpose: str, n: int) -> WorldFaces:
        """``n`` faces of the prior (integer degrees) from the namespace ``report/<purpose>``, rendered."""
        g = make_generator(NAMESPACE, purpose, self.seed)
        identity, degrees = sample_identity(n, g), sample_degrees(n, g)
        renders = batched(lambda i, d: render(i.to(self.device), d.to(self.device), self.bundle.resolution),
                           identity, degrees, batch=self.batch)
        return WorldFaces(identity, degrees, renders)

    @cached_property
    def shared_faces(self) -> WorldFaces:
        return self.world_faces("faces", self.faces)

    def _inversion_estimate(self, n_batches: int) -> Callable[[int, int, Tensor], None]:
        """An :func:`~transmitter.inversion.invert` progress callback that logs the time the whole inversion will
        take, from the first steps of the first batch (the first step, a warm-up, is left out)."""
        marks: list[float] = []

        def callback(it: int, total: int, loss: Tensor) -> None:
            marks.append(time.perf_counter())
            if len(marks) == min(4, total) and len(marks) >= 2:
                per_step = (marks[-1] - marks[0]) / (len(marks) - 1)
                log(self, f"inversion: {per_step:.2f} s per step for a batch of {loss.shape[0]} -> about "
                           f"{_duration(per_step * total * n_batches)} for {self.faces} faces at r_inv {total}")

        return callback

    @property
    def inversion_batch(self) -> int:
        """Images per inversion batch: :attr:`batch`, capped on the CPU (:func:`transmitter.inversion.batch_size`)."""
        from transmitter.inversion import batch_size
        return batch_size(self.device, self.batch)

    @cached_property
    def start_mode(self) -> str:
        """Where the report's inversion starts (the transmitter's default for this bundle): "mean" or "encoder"."""
        return self.transmitter.init_mode

    def inversion_key(self) -> str:
        """The name of the shared inversion in the cache (:func:`edsc.eval.inversions.set_key`): sha256 of the
        generator file's sha256, the mean latent (the codec's mean), the start and guard
        (``TransmitterPipeline.inversion_fingerprint``), r_inv, the faces (count, seed), the inversion batch size
        (batches change float rounding), the device type and the torch version."""
        return set_key(self.bundle, self.transmitter, self.inversion_steps, self.faces, self.seed,
                       self.inversion_batch)

    @cached_property
    def inversions(self) -> InversionCache:
        """The :class:`~edsc.eval.inversions.InversionCache` over :attr:`inversion_cache` (memory only without)."""
        return InversionCache(self.inversion_cache, self.device)

    @cached_property
    def inverted(self) -> Inverted:
        """:attr:`shared_faces` inverted (paper defaults, from the transmitter's start), from the cache when
        an entry with the same :meth:`inversion_key` is there."""
        name = None if self.inversion_cache is None else f"inversion-{self.inversion_key()}"
        saved = None if name is None else self.inversions.get(name)
        if saved is not None:
            log(self, f"inversion: {saved['w'].shape[0]} faces from the cache {self.inversions.path(name)} "
                       f"(computed in {float(saved['seconds']):.0f} s)")
            self.timings["inversion_s"] = 0.0
            self.timings["inversion_cached_s"] = float(saved["seconds"])
            return Inverted(saved["w"], saved["images"], saved["lpips"].cpu(), float(saved["seconds"]),
                            saved["step"].cpu(), saved["guarded"].cpu())
        inverted = self._invert()
        if name is not None:
            self.inversions.put(name, {"w": inverted.w, "images": inverted.images, "lpips": inverted.lpips,
                                       "seconds": inverted.seconds, "step": inverted.step,
                                       "guarded": inverted.guarded})
            log(self, f"inversion: saved to {self.inversions.path(name)}")
        return inverted

    def _invert(self) -> Inverted:
        """Invert :attr:`shared_faces` in batches."""
        t0 = time.perf_counter()
        target = self.shared_faces.renders
        tx = self.transmitter
        step = self.inversion_batch
        n_batches = math.ceil(target.shape[0] / step)
        parts = []
        for start in range(0, target.shape[0], step):
            estimate = self._inversion_estimate(n_batches) if start == 0 and self.progress else None
            chunk = target[start:start + step]
            parts.append(tx.invert(chunk, step_callback=estimate))
            log(self, f"inversion: {min(start + step, target.shape[0])}/{target.shape[0]} faces after "
                       f"{time.perf_counter() - t0:.0f} s")
        seconds = time.perf_counter() - t0
        self.timings["inversion_s"] = seconds
        return Inverted(torch.cat([p.w for p in parts]), torch.cat([p.image for p in parts]),
                        torch.cat([p.lpips.reshape(-1) for p in parts]).cpu(), seconds,
                        torch.cat([p.step for p in parts]).cpu(), torch.cat([p.guarded for p in parts]).cpu())
