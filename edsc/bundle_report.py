"""`edsc bundle report`: measure a bundle's quality on held-out SynthFace faces, every number against a threshold.

Seven sections, each its own function (:data:`SECTIONS`, run in this order; ``sections=`` picks a subset):

============ =====================================================================================================
generator    LPIPS between G's image of a world face (z from :func:`~edsc.train.generator.z_from_world_params`,
             noise "const") and its render; the evaluation predictor's degree read from G's image == truth
inversion    the paper's inversion (InversionConfig defaults, r_inv steps, batched) of held-out *renders*: LPIPS
             of G(w_inv) vs the render and the evaluation predictor's degree on G(w_inv) == truth
predictor    the JECC predictor and the evaluation predictor on held-out renders: exact and within-±1 per attribute
parser       the bundle's parser on the corpus' validation templates: exact match, per mode, typo-free and typos
jecc         one feasible instruction per inverted face (validation templates), parsed, JECC, A_CE, 18 dB AWGN,
             A_CD, G: target degree reached and untouched attributes unchanged (both read by the evaluation
             predictor), identity drift (identity encoder F), JECC status counts and iterations
adapters     LPIPS of the received image vs the source render per SNR level of the bank, with and without the
             adapters (identity A_CE / A_CD), AWGN, same noise draws; the tuned-parameter share
cost         wall time of one edit end to end (inversion + JECC + channel + decode) on this machine
============ =====================================================================================================

**Ground truth.** The renderer knows the degrees of the faces it draws, not those of an *edited latent*: the
edit sections read the received image with the bundle's evaluation predictor (a separate architecture that JECC
never optimises against) and say so; their "truth" is the expected degree of eq. 10 applied to the face's
ground-truth degree and the instruction's label.

**Held-out faces.** Every face and sentence comes from the namespace ``report/...`` (:func:`~edsc.train.common
.make_generator`), disjoint by construction from the training streams (``train``), the training modules'
held-out streams (``heldout/...``) and the adapters' n_ft fine-tuning items.

**Efficiency.** The faces are rendered once and inverted once (in batches) and the inversion is shared by the
inversion, jecc and adapters sections; every model runs on batches; each section reports its wall time
(a section that triggers the shared inversion includes its time). With progress on, the inversion prints an
estimate of its total time after its first batch. With ``inversion_cache`` (``--inversion-cache DIR``) the
inversion is saved under a key of everything it depends on and read back by the next report, so rerunning the
jecc or adapters section after retraining fields or adapters takes minutes instead of the inversion's hour.

Output of :func:`bundle_report` (JSON-ready)::

    {"report_format": 1, "bundle": {...facts...}, "settings": {...},
     "sections": {name: {"about": str, "wall_s": float, "checks": {check: CHECK}, "info": {...},
                         "passed": bool | None, "skipped": str (only when it could not run)}},
     "passed": bool, "failed_checks": ["section.check", ...], "wall_s": float}

    CHECK = {"value": float | None, "op": ">=" | "<=" | ">" | "<", "threshold": float, "unit": str,
             "passed": bool, "note": str (optional)}

:func:`verdict` recomputes every ``passed`` flag from value / op / threshold (it accepts a hand-made report);
:func:`report_markdown` renders the report with each threshold beside its value.
"""

from __future__ import annotations

import copy
import hashlib
import math
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from edsc.train.common import make_generator, save_torch, stable_seed
from edsc.world.synthface import ATTRIBUTES, render, sample_degrees, sample_identity
from shared.bundle import Bundle
from shared.errors import BundleError, InvalidArgumentError

__all__ = ["SECTIONS", "RULES", "REPORT_FORMAT", "ReportContext", "bundle_report", "verdict", "report_markdown",
           "check", "bundle_facts"]

REPORT_FORMAT = 1
SECTIONS: tuple[str, ...] = ("generator", "inversion", "predictor", "parser", "jecc", "adapters", "cost")
NAMESPACE = "report"
EDIT_SNR_DB = 18.0
TYPO_RATE = 0.03          # the corpus' default typo rate

#: (section, check family) -> (op, threshold, unit). A check is named ``family`` or ``family.<detail>``
#: (an attribute, a mode, an SNR level). Rules marked "ours" are this module's choice (no number was given).
RULES: dict[tuple[str, str], tuple[str, float, str]] = {
    ("generator", "lpips_mean"): ("<=", 0.10, "lpips"),
    ("generator", "eval_exact"): (">=", 0.90, "share"),
    ("inversion", "lpips_mean"): ("<=", 0.15, "lpips"),
    ("inversion", "eval_exact"): (">=", 0.85, "share"),
    ("predictor", "jecc_exact"): (">=", 0.90, "share"),
    ("predictor", "jecc_within1"): (">=", 0.99, "share"),
    ("predictor", "eval_exact"): (">=", 0.90, "share"),
    ("predictor", "eval_within1"): (">=", 0.99, "share"),
    ("parser", "exact_clean"): (">=", 0.98, "share"),
    ("parser", "exact_by_mode"): (">=", 0.98, "share"),        # the overall rule, per mode
    ("parser", "exact_typos"): (">=", 0.95, "share"),          # ours: with the corpus' 3 % typo rate
    ("jecc", "target_reached"): (">=", 0.85, "share"),
    ("jecc", "others_unchanged"): (">=", 0.90, "share"),
    ("jecc", "identity_drift_ratio"): ("<=", 0.50, "ratio"),   # ours: drift / distance between different people
    ("adapters", "lpips_gain"): (">", 0.0, "lpips"),           # LPIPS without the bank − with it
}

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": lambda v, t: v >= t, "<=": lambda v, t: v <= t, ">": lambda v, t: v > t, "<": lambda v, t: v < t,
}


# ----------------------------------------------------------------------------------------------------------------
# Checks and verdict
# ----------------------------------------------------------------------------------------------------------------

def _passes(value: Any, op: str, threshold: float) -> bool:
    if op not in _OPS:
        raise InvalidArgumentError(f"unknown comparison {op!r}; expected one of {sorted(_OPS)}")
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return False
    return bool(_OPS[op](float(value), float(threshold)))


def check(section: str, name: str, value: float | None, note: str | None = None) -> dict[str, Any]:
    """One measured number against its rule in :data:`RULES` (family = ``name`` up to the first ``.``).

    Output: ``{"value", "op", "threshold", "unit", "passed"[, "note"]}``.
    """
    op, threshold, unit = RULES[(section, name.split(".", 1)[0])]
    out = {"value": _num(value), "op": op, "threshold": threshold, "unit": unit,
           "passed": _passes(value, op, threshold)}
    if note:
        out["note"] = note
    return out


def verdict(report: dict[str, Any]) -> dict[str, Any]:
    """Recompute every pass/fail flag of ``report`` from its values and thresholds.

    Parameters
    ----------
    report : a report as :func:`bundle_report` returns it (or a hand-made one with the same layout).

    Output
    ------
    A copy with each check's ``passed``, each section's ``passed`` (all its checks pass; ``None`` when it has no
    check or was skipped), the overall ``passed`` (every section that has checks passes) and ``failed_checks``.
    """
    out = copy.deepcopy(report)
    failed: list[str] = []
    judged: list[bool] = []
    for name, section in out.get("sections", {}).items():
        checks = section.get("checks", {})
        for cname, c in checks.items():
            c["passed"] = _passes(c.get("value"), c["op"], c["threshold"])
            if not c["passed"]:
                failed.append(f"{name}.{cname}")
        section["passed"] = all(c["passed"] for c in checks.values()) if checks and not section.get("skipped") \
            else None
        if section["passed"] is not None:
            judged.append(section["passed"])
    out["passed"] = bool(judged) and all(judged)
    out["failed_checks"] = failed
    return out


# ----------------------------------------------------------------------------------------------------------------
# Small helpers
# ----------------------------------------------------------------------------------------------------------------

def _num(x: Any, digits: int = 6) -> float | None:
    """A JSON-safe float (None for None / NaN / inf)."""
    if x is None:
        return None
    x = float(x)
    return round(x, digits) if math.isfinite(x) else None


def _batched(fn: Callable[..., Tensor], *tensors: Tensor, batch: int) -> Tensor:
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


def _read_degrees(predictor: torch.nn.Module, images: Tensor, batch: int) -> Tensor:
    """Predicted degrees (N, 5) long on CPU, columns in :data:`ATTRIBUTES` order."""
    degrees = _batched(lambda x: predictor.predict(x).degree, images, batch=batch).cpu()
    return degrees[:, _column_order(predictor.attributes)]


def _accuracy(pred: Tensor, truth: Tensor) -> tuple[dict[str, float], dict[str, float]]:
    """Per-attribute exact and within-±1 shares of (N, 5) degree tables."""
    diff = (pred.long() - truth.long()).abs()
    exact, within = (diff == 0).float().mean(0), (diff <= 1).float().mean(0)
    return ({a: _num(exact[i]) for i, a in enumerate(ATTRIBUTES)},
            {a: _num(within[i]) for i, a in enumerate(ATTRIBUTES)})


def _seed31(*parts: Any) -> int:
    return stable_seed(NAMESPACE, *parts) % (2 ** 31)


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _log(ctx: "ReportContext", text: str) -> None:
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
        renders = _batched(lambda i, d: render(i.to(self.device), d.to(self.device), self.bundle.resolution),
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
                _log(self, f"inversion: {per_step:.2f} s per step for a batch of {loss.shape[0]} -> about "
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
        """sha256 (first 20 hex digits) of what the shared inversion depends on: the generator file's sha256, the
        mean latent (the codec's mean), the start and guard (``TransmitterPipeline.inversion_fingerprint``), r_inv,
        the faces (count, seed), the inversion batch size (batches change float rounding), the device type and the
        torch version."""
        w_init = self.bundle.adapters.normalizer.mean.detach().float().cpu().contiguous()
        start = self.transmitter.inversion_fingerprint
        h = hashlib.sha256()
        for part in (self.bundle.weights_sha256("generator"), hashlib.sha256(w_init.numpy().tobytes()).hexdigest(),
                     start, self.inversion_steps, self.faces, self.seed, self.inversion_batch, self.device.type,
                     torch.__version__):
            h.update(f"{part}|".encode())
        return h.hexdigest()[:20]

    @cached_property
    def inverted(self) -> Inverted:
        """:attr:`shared_faces` inverted (paper defaults, from the transmitter's start), from the cache when
        an entry with the same :meth:`inversion_key` is there."""
        path = None
        if self.inversion_cache is not None:
            path = Path(self.inversion_cache) / f"inversion-{self.inversion_key()}.pt"
            if path.is_file():
                saved = torch.load(path, map_location=self.device, weights_only=True)
                _log(self, f"inversion: {saved['w'].shape[0]} faces from the cache {path} "
                           f"(computed in {float(saved['seconds']):.0f} s)")
                self.timings["inversion_s"] = 0.0
                self.timings["inversion_cached_s"] = float(saved["seconds"])
                return Inverted(saved["w"], saved["images"], saved["lpips"].cpu(), float(saved["seconds"]),
                                saved["step"].cpu(), saved["guarded"].cpu())
        inverted = self._invert()
        if path is not None:
            save_torch({"w": inverted.w.cpu(), "images": inverted.images.cpu(), "lpips": inverted.lpips,
                        "seconds": inverted.seconds, "step": inverted.step, "guarded": inverted.guarded}, path)
            _log(self, f"inversion: saved to {path}")
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
            _log(self, f"inversion: {min(start + step, target.shape[0])}/{target.shape[0]} faces after "
                       f"{time.perf_counter() - t0:.0f} s")
        seconds = time.perf_counter() - t0
        self.timings["inversion_s"] = seconds
        return Inverted(torch.cat([p.w for p in parts]), torch.cat([p.image for p in parts]),
                        torch.cat([p.lpips.reshape(-1) for p in parts]).cpu(), seconds,
                        torch.cat([p.step for p in parts]).cpu(), torch.cat([p.guarded for p in parts]).cpu())


# ----------------------------------------------------------------------------------------------------------------
# Sections
# ----------------------------------------------------------------------------------------------------------------

def generator_section(ctx: ReportContext) -> dict[str, Any]:
    """G(z_from_world_params(face)) vs render(face): LPIPS, and the evaluation predictor's degrees on G's image."""
    from edsc.train.generator import evaluate_generator

    faces = ctx.shared_faces
    metrics, fake, _ = evaluate_generator(ctx.bundle.generator, ctx.lpips, faces.identity, faces.degrees,
                                          noise_mode="const", batch=ctx.batch)
    exact, within = _accuracy(_read_degrees(ctx.eval_predictor, fake, ctx.batch), faces.degrees)
    checks = {"lpips_mean": check("generator", "lpips_mean", metrics["lpips"])}
    checks.update({f"eval_exact.{a}": check("generator", "eval_exact", v) for a, v in exact.items()})
    info = {"lpips_max": _num(metrics["lpips_max"]), "l1": _num(metrics["l1"]), "grad_l1": _num(metrics["grad_l1"]),
            "eval_within1": within, "faces": faces.degrees.shape[0]}
    return {"about": "G's image of held-out world faces (noise const) vs the render; evaluation predictor on G's "
                     "image vs the true degrees", "checks": checks, "info": info}


def _start_scores(ctx: ReportContext) -> dict[str, Any]:
    """Step 0 of the inversion, G(w_0) from the transmitter's start: its LPIPS to the render and the evaluation
    predictor's exact share per attribute; shows what the r_inv steps add and what they cost. Empty for the mean
    start (one image for every face)."""
    if ctx.start_mode != "encoder":
        return {}
    faces, G = ctx.shared_faces, ctx.bundle.generator
    w0 = _batched(ctx.transmitter.start_latent, faces.renders, batch=ctx.batch)                     # (N, D)
    images = _batched(G.synthesis, w0, batch=ctx.batch)                                               # (N, 3, R, R)
    lp = _batched(ctx.lpips, images, faces.renders, batch=ctx.batch).reshape(-1)                      # (N,)
    exact, _ = _accuracy(_read_degrees(ctx.eval_predictor, images, ctx.batch), faces.degrees)
    return {"start_lpips_mean": _num(lp.mean()), "start_eval_exact": exact}


def inversion_section(ctx: ReportContext) -> dict[str, Any]:
    """The paper's inversion of held-out renders: LPIPS(G(w_inv), render) and degrees on G(w_inv)."""
    inv, faces = ctx.inverted, ctx.shared_faces
    exact, within = _accuracy(_read_degrees(ctx.eval_predictor, inv.images, ctx.batch), faces.degrees)
    start = _start_scores(ctx)
    checks = {"lpips_mean": check("inversion", "lpips_mean", inv.lpips.mean())}
    checks.update({f"eval_exact.{a}": check("inversion", "eval_exact", v) for a, v in exact.items()})
    n = inv.w.shape[0]
    info = {"lpips_max": _num(inv.lpips.max()), "lpips_median": _num(inv.lpips.median()), "eval_within1": within,
            "faces": n, "steps": ctx.inversion_steps, "batch": ctx.inversion_batch, "seconds": _num(inv.seconds, 3),
            "seconds_per_face": _num(inv.seconds / max(1, n), 4), "start": ctx.start_mode,
            "from_cache": "inversion_cached_s" in ctx.timings, **start,
            "degree_guard": ctx.transmitter.inversion_config.keep_degrees,
            "guard_passed": _num(inv.guarded.float().mean()),
            "earlier_iterate": _num((inv.step < ctx.inversion_steps).float().mean()),
            "returned_step_mean": _num(inv.step.float().mean(), 2)}
    guard = ", degree guard" if ctx.transmitter.inversion_config.keep_degrees else ""
    return {"about": f"inversion (InversionConfig defaults, r_inv {ctx.inversion_steps}, start: "
                     f"{ctx.start_mode}{guard}) of held-out renders",
            "checks": checks, "info": info}


def predictor_section(ctx: ReportContext) -> dict[str, Any]:
    """JECC predictor and evaluation predictor on held-out renders: exact and within-±1 per attribute."""
    faces = ctx.world_faces("predictor", ctx.predictor_faces)
    checks: dict[str, Any] = {}
    info: dict[str, Any] = {"faces": ctx.predictor_faces}
    for role, model in (("jecc", ctx.bundle.predictor), ("eval", ctx.eval_predictor)):
        exact, within = _accuracy(_read_degrees(model, faces.renders, ctx.batch), faces.degrees)
        checks.update({f"{role}_exact.{a}": check("predictor", f"{role}_exact", v) for a, v in exact.items()})
        checks.update({f"{role}_within1.{a}": check("predictor", f"{role}_within1", v) for a, v in within.items()})
    return {"about": "attribute predictors on held-out renders (integer degrees)", "checks": checks, "info": info}


def parser_section(ctx: ReportContext) -> dict[str, Any]:
    """The parser on validation-template sentences, typo-free and with the corpus' typo rate."""
    from edsc.train.parser import evaluate_parser
    from edsc.world.instructions import generate

    seed = _seed31("parser", ctx.seed)
    clean = evaluate_parser(ctx.parser, generate(ctx.parser_sentences, "val", seed=seed, typo_rate=0.0))
    typos = evaluate_parser(ctx.parser, generate(ctx.parser_sentences, "val", seed=seed, typo_rate=TYPO_RATE))
    checks = {"exact_clean": check("parser", "exact_clean", clean["exact"])}
    checks.update({f"exact_by_mode.{m}": check("parser", "exact_by_mode", v) for m, v in clean["by_mode"].items()})
    checks["exact_typos"] = check("parser", "exact_typos", typos["exact"], note=f"typo rate {TYPO_RATE}")
    info = {"sentences": clean["n"], "fields_clean": clean["fields"], "by_mode_typos": typos["by_mode"],
            "worst_templates_clean": clean["worst_templates"][:5], "errors_clean": clean["errors"][:10]}
    return {"about": "parser on the corpus' validation templates: exact (attribute, mode, direction, change/target)",
            "checks": checks, "info": info}


def _label_edit(item):
    """The :class:`~transmitter.instruction.Edit` a labelled instruction asks for."""
    from transmitter.instruction import Edit
    return Edit.from_dict(item.label_dict())


def _identity_drift(ctx: ReportContext, received: Tensor, renders: Tensor, inverted: Tensor) -> dict[str, Any]:
    """Mean |F(a) − F(b)| per feature for received vs render, G(w_inv) vs render, received vs G(w_inv), and
    the mean distance between different people's renders (the scale of the check)."""
    encoder = ctx.bundle.load("identity_encoder")
    f_rx, f_src, f_inv = (_batched(encoder, x, batch=ctx.batch).cpu() for x in (received, renders, inverted))
    out = {"drift": _num((f_rx - f_src).abs().mean()), "baseline_inversion": _num((f_inv - f_src).abs().mean()),
           "edit_and_channel": _num((f_rx - f_inv).abs().mean()), "different_people": None}
    n = f_src.shape[0]
    if n > 1:
        dist = torch.cdist(f_src, f_src, p=1) / f_src.shape[1]
        out["different_people"] = _num(dist[~torch.eye(n, dtype=torch.bool)].mean())
    return out


def _parse_or_label(ctx: ReportContext, items: list) -> tuple[list, list]:
    """Parse each instruction: (parsed edits, None where the parser rejects it; the edits to run, a rejected
    sentence running its label's edit so every face still goes through the chain)."""
    parsed = []
    for it in items:
        try:
            parsed.append(ctx.parser.parse(it.text))
        except InvalidArgumentError:
            parsed.append(None)
    return parsed, [p if p is not None else _label_edit(it) for p, it in zip(parsed, items)]


def _instructions(ctx: ReportContext, purpose: str, degrees: Tensor) -> list:
    """One feasible validation-template instruction per face (typo-free), drawn from ``report/<purpose>``."""
    from edsc.world.instructions import generate_for_state

    return [generate_for_state(degrees[i].long(), rng=stable_seed(NAMESPACE, purpose, ctx.seed, i), split="val",
                               typo_rate=0.0) for i in range(degrees.shape[0])]


def _send(tx, rx, edits: list, seed: int, w: Tensor | None = None, images: Tensor | None = None):
    """The chain of ``edsc edit`` on a batch: [inversion of ``images`` or start latents ``w``] → JECC → A_CE →
    AWGN at :data:`EDIT_SNR_DB` (emulator, MMSE recovery) → A_CD → G.

    Output: (TxOutputs, received images (B, 3, R, R), seconds per stage).
    """
    from channel_emulator.config import ChannelConfig
    from channel_emulator.link import apply_channel
    from receiver.equalization import recover

    t0 = time.perf_counter()
    outs = tx.run([""] * len(edits), [EDIT_SNR_DB] * len(edits), images=images, w_start=w, edits=edits)
    t1 = time.perf_counter()
    link = apply_channel(torch.stack([o.x for o in outs]), ChannelConfig(model="awgn", snr_db=EDIT_SNR_DB),
                         seed=seed)
    y = recover(link.received, link.side_info, equalizer="mmse", rescale=rx.rescale)
    t2 = time.perf_counter()
    received, _ = rx.decode(y, EDIT_SNR_DB)
    t3 = time.perf_counter()
    return outs, received, {**outs[0].timings, "transmitter_s": t1 - t0, "channel_s": t2 - t1, "receiver_s": t3 - t2}


def _goals(ctx: ReportContext, items: list, truth: Tensor) -> tuple[Tensor, Tensor]:
    """Per instruction: the target attribute's index (N,) and its goal (N,), eq. 10 on the true degree."""
    from transmitter.instruction import expected_degree

    attr = torch.tensor([ATTRIBUTES.index(it.attribute) for it in items])
    goal = torch.tensor([expected_degree(_label_edit(it), int(truth[i, attr[i]]), ctx.bundle.max_degree)
                         for i, it in enumerate(items)])
    return attr, goal


def _edit_scores(ctx: ReportContext, items: list, parsed: list, outs: list, after: Tensor, before: Tensor,
                 truth: Tensor) -> dict[str, float | None]:
    """Shares judged by the evaluation predictor; ``after`` / ``before`` its degrees on the received image and on
    G(w_inv), ``truth`` the true degrees (all (N, 5) in :data:`ATTRIBUTES` order)."""
    attr, goal = _goals(ctx, items, truth)
    rows = torch.arange(len(items))
    own_goal = torch.tensor([o.outcome.expected_degree for o in outs])
    accepted = torch.tensor([p is not None for p in parsed])
    others = torch.ones_like(after, dtype=torch.bool)
    others[rows, attr] = False
    hit = (after[rows, attr] == goal) & accepted                                       # (N,)
    same = after == before                                                            # (N, 5)
    return {
        "target_reached": _num(hit.float().mean()),
        "others_unchanged": _num(same[others].float().mean()),
        "target_reached_by_attribute": {a: _num(hit[attr == i].float().mean()) if bool((attr == i).any()) else None
                                        for i, a in enumerate(ATTRIBUTES)},
        "others_unchanged_by_attribute": {a: _num(same[others[:, i], i].float().mean())
                                          if bool(others[:, i].any()) else None for i, a in enumerate(ATTRIBUTES)},
        "others_match_truth": _num((after == truth)[others].float().mean()),
        "reached_jecc_target": _num((after[rows, attr] == own_goal).float().mean()),
        "parse_exact": _num(torch.tensor([p is not None and p.to_dict() == it.label_dict()
                                          for p, it in zip(parsed, items)]).float().mean()),
    }


def _misses(ctx: ReportContext, items: list, parsed: list, outs: list, after: Tensor, before: Tensor,
            truth: Tensor) -> dict[str, Any]:
    """Why each missed target was missed, as shares of all edits, first cause first: the parser rejected the
    sentence (``parse``); JECC aimed elsewhere (``aim``: its a_exp, from the parse and P's reading of G(w_inv),
    differs from eq. 10 on the truth); P does not read a_exp on G(w_edit) (``not_reached``); P reads a_exp there
    but the evaluation predictor does not (``predictors_disagree``); the evaluation predictor reads the goal on
    G(w_edit) but not on the received image (``channel``). Also the share of untouched attributes changed before
    the link (``others_changed_by_edit``, evaluation predictor on G(w_edit) vs G(w_inv))."""
    G = ctx.bundle.generator
    clean = _batched(G.synthesis, torch.stack([o.w_edited for o in outs]).to(ctx.device), batch=ctx.batch)
    e_clean = _read_degrees(ctx.eval_predictor, clean, ctx.batch)                       # (N, 5)
    p_clean = _read_degrees(ctx.bundle.predictor, clean, ctx.batch)                     # (N, 5)
    attr, goals = _goals(ctx, items, truth)
    causes = Counter()
    others = torch.ones_like(after, dtype=torch.bool)
    for i, a in enumerate(attr.tolist()):
        others[i, a] = False
        goal = int(goals[i])
        if parsed[i] is not None and int(after[i, a]) == goal:
            continue
        aim = outs[i].outcome.expected_degree
        causes["parse" if parsed[i] is None else "aim" if aim != goal else "not_reached" if int(p_clean[i, a]) != aim
               else "predictors_disagree" if int(e_clean[i, a]) != goal else "channel"] += 1
    n = max(1, len(items))
    out: dict[str, Any] = {c: _num(causes[c] / n) for c in ("parse", "aim", "not_reached", "predictors_disagree",
                                                            "channel")}
    out["others_changed_by_edit"] = _num((e_clean != before)[others].float().mean())
    return out


def jecc_section(ctx: ReportContext) -> dict[str, Any]:
    """Inverted faces x one feasible instruction each → parse → JECC → 18 dB AWGN link → decode, judged by the
    evaluation predictor (see the module docstring on ground truth)."""
    from receiver.decoder import ReceiverPipeline

    faces, inv = ctx.shared_faces, ctx.inverted
    items = _instructions(ctx, "jecc", faces.degrees)
    parsed, edits = _parse_or_label(ctx, items)
    tx, rx = ctx.transmitter, ReceiverPipeline(ctx.bundle)
    outs: list = []
    received = []
    for start in range(0, inv.w.shape[0], ctx.batch):
        part = slice(start, start + ctx.batch)
        o, img, _ = _send(tx, rx, edits[part], stable_seed(NAMESPACE, "jecc-channel", ctx.seed, start), w=inv.w[part])
        outs += o
        received.append(img)
        _log(ctx, f"jecc: {len(outs)}/{inv.w.shape[0]} faces edited and sent")
    received_t = torch.cat(received)
    after = _read_degrees(ctx.eval_predictor, received_t, ctx.batch)
    before = _read_degrees(ctx.eval_predictor, inv.images, ctx.batch)
    scores = _edit_scores(ctx, items, parsed, outs, after, before, faces.degrees.long())
    scores["target_missed"] = _misses(ctx, items, parsed, outs, after, before, faces.degrees.long())
    checks = {"target_reached": check("jecc", "target_reached", scores.pop("target_reached"),
                                      note="eval predictor on the received image == eq. 10 on the true degree"),
              "others_unchanged": check("jecc", "others_unchanged", scores.pop("others_unchanged"),
                                        note="eval predictor: received image vs G(w_inv)")}
    info: dict[str, Any] = {
        "edits": len(outs), "snr_db": EDIT_SNR_DB, **scores,
        "parse_rejected": sum(p is None for p in parsed),
        "status_counts": dict(Counter(o.outcome.status for o in outs)),
        "iterations_mean": _num(sum(o.outcome.iterations for o in outs) / max(1, len(outs)), 3),
        "iterations_max": max((o.outcome.iterations for o in outs), default=0),
        "ground_truth": "the renderer cannot label an edited latent: degrees are read by the eval predictor",
    }
    if ctx.bundle.has("identity_encoder"):
        drift = _identity_drift(ctx, received_t, faces.renders, inv.images)
        info["identity"] = drift
        if drift["different_people"]:
            checks["identity_drift_ratio"] = check(
                "jecc", "identity_drift_ratio", drift["drift"] / drift["different_people"],
                note="mean |F(received) − F(render)| / mean |F| distance between different people")
    return {"about": f"parse → JECC → A_CE → AWGN {EDIT_SNR_DB:g} dB → A_CD → G on the inverted faces, one "
                     "validation-template instruction each", "checks": checks, "info": info}


def _received_lpips(ctx: ReportContext, level: float, use_adapters: bool) -> float:
    """Mean LPIPS(received image, source render) of the inverted faces at ``level`` dB (AWGN, emulator noise;
    the same draws with and without the bank)."""
    from edsc.train.adapters import received_images

    inv, target = ctx.inverted, ctx.shared_faces.renders
    values = []
    with torch.no_grad():
        for start in range(0, inv.w.shape[0], ctx.batch):
            seed = stable_seed(NAMESPACE, "adapters", ctx.seed, level, start) % (2 ** 62)
            img = received_images(ctx.bundle.generator, ctx.bundle.adapters, inv.w[start:start + ctx.batch], level,
                                  seed=seed, use_adapters=use_adapters)
            values.append(ctx.lpips(img, target[start:start + ctx.batch]).reshape(-1).cpu())
    return float(torch.cat(values).mean())


def adapters_section(ctx: ReportContext) -> dict[str, Any]:
    """Per SNR level of the bank: LPIPS of the received image vs the render with and without A_CE / A_CD."""
    codec = ctx.bundle.adapters
    checks: dict[str, Any] = {}
    levels: dict[str, Any] = {}
    for level in codec.snr_levels:
        with_bank, without = _received_lpips(ctx, level, True), _received_lpips(ctx, level, False)
        key = f"{level:g}dB"
        levels[key] = {"with": _num(with_bank), "without": _num(without)}
        checks[f"lpips_gain.{key}"] = check("adapters", "lpips_gain", without - with_bank,
                                            note=f"with {with_bank:.4f} / without {without:.4f}")
    total = sum(ctx.bundle.parameter_counts().values())
    per_level = codec.bank.parameter_count(codec.snr_levels[0])
    info = {"lpips": levels, "faces": ctx.inverted.w.shape[0], "channel": "awgn (emulator + MMSE recovery)",
            "tuned_parameters_per_level": per_level, "bundle_parameters": total,
            "tuned_share_per_level": _num(per_level / total), "bank_share": _num(codec.bank.parameter_count() / total),
            "tuned_share_reference": "paper: 0.21e7 of 7.91e7 = 2.65 % (no pass/fail: other model sizes)",
            "faces_note": "report/faces namespace: disjoint from the adapters' n_ft fine-tuning items"}
    return {"about": "received image vs source render per SNR level, with and without the adapter bank",
            "checks": checks, "info": info}


def cost_section(ctx: ReportContext) -> dict[str, Any]:
    """Wall time of one edit end to end at r_inv steps: parse, inversion, JECC, A_CE, channel, A_CD + G."""
    from receiver.decoder import ReceiverPipeline

    face = ctx.world_faces("cost", 1)
    items = _instructions(ctx, "cost", face.degrees)
    tx, rx = ctx.transmitter, ReceiverPipeline(ctx.bundle)
    t0 = time.perf_counter()
    _, edits = _parse_or_label(ctx, items)
    t_parse = time.perf_counter() - t0
    outs, _, stages = _send(tx, rx, edits, stable_seed(NAMESPACE, "cost-channel", ctx.seed), images=face.renders)
    total = time.perf_counter() - t0
    stages["parse_s"] = t_parse
    info = {"edit_s": _num(total, 4), "stages_s": {k: _num(v, 4) for k, v in stages.items()},
            "inversion_steps": ctx.inversion_steps, "edit_steps": ctx.edit_steps,
            "jecc_iterations": outs[0].outcome.iterations, "jecc_status": outs[0].outcome.status,
            "device": str(ctx.device),
            "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
            "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "reference": "paper (Table III): 14.6 s per image at r_inv 110 on an RTX 2080 Ti; no pass/fail"}
    return {"about": "one edit end to end (parse + inversion + JECC + A_CE + channel + A_CD + G) on this machine",
            "checks": {}, "info": info}


SECTION_FUNCTIONS: dict[str, Callable[[ReportContext], dict[str, Any]]] = {
    "generator": generator_section, "inversion": inversion_section, "predictor": predictor_section,
    "parser": parser_section, "jecc": jecc_section, "adapters": adapters_section, "cost": cost_section,
}

#: components a section needs besides the generator and the adapters (always there)
REQUIRES: dict[str, tuple[str, ...]] = {
    "generator": ("eval_predictor",), "inversion": ("eval_predictor",), "predictor": ("predictor", "eval_predictor"),
    "parser": ("language",), "jecc": ("predictor", "language", "fields", "eval_predictor"), "adapters": (),
    "cost": ("predictor", "language", "fields"),
}


# ----------------------------------------------------------------------------------------------------------------
# The report
# ----------------------------------------------------------------------------------------------------------------

def bundle_facts(bundle: Bundle) -> dict[str, Any]:
    """Name, version, resolution, parameter counts per component and the size on disk (MB = 10^6 bytes)."""
    counts = bundle.parameter_counts()
    size = sum(p.stat().st_size for p in bundle.path.rglob("*") if p.is_file())
    return {"name": bundle.name, "version": bundle.version, "path": str(bundle.path),
            "resolution": bundle.resolution, "attributes": bundle.attributes, "max_degree": bundle.max_degree,
            "kind": bundle.manifest.provenance.get("kind"),
            "components": {k: {"arch": v.arch, "parameters": counts[k]}
                           for k, v in bundle.manifest.components.items()},
            "parameters_total": sum(counts.values()), "size_mb": _num(size / 1e6, 3)}


def _section_names(sections: str | Iterable[str] | None) -> list[str]:
    """The requested sections in canonical order (a comma-separated string or a sequence; None = all)."""
    if sections is None:
        return list(SECTIONS)
    wanted = [s.strip() for s in (sections.split(",") if isinstance(sections, str) else sections) if s.strip()]
    unknown = sorted(set(wanted) - set(SECTIONS))
    if unknown or not wanted:
        raise InvalidArgumentError(f"unknown or no section(s) {unknown}: choose from {', '.join(SECTIONS)}")
    return [s for s in SECTIONS if s in wanted]


def _positive(name: str, value: int, low: int = 1, high: int = 1_000_000) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidArgumentError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
    return value


def _open(bundle: Bundle | str | os.PathLike, device: torch.device | str | None) -> Bundle:
    if isinstance(bundle, Bundle):
        if device is None or torch.device(device) == bundle.device:
            return bundle
        return Bundle(bundle.path, device=device)
    from shared.config import pick_device
    return Bundle(Path(bundle), device=pick_device(None if device is None else str(device)))


def _run_section(ctx: ReportContext, name: str) -> dict[str, Any]:
    missing = [c for c in REQUIRES[name] if not ctx.bundle.has(c)]
    if missing:
        return {"about": SECTION_FUNCTIONS[name].__doc__.split("\n")[0], "checks": {}, "info": {},
                "skipped": f"the bundle has no {', '.join(missing)}", "wall_s": 0.0}
    _log(ctx, f"{name} ...")
    t0 = time.perf_counter()
    out = SECTION_FUNCTIONS[name](ctx)
    out["wall_s"] = _num(time.perf_counter() - t0, 3)
    _log(ctx, f"{name} done in {out['wall_s']:.1f} s")
    return out


def bundle_report(bundle: Bundle | str | os.PathLike, faces: int = 200, seed: int = 0, inversion_steps: int = 110,
                  device: torch.device | str | None = None, progress: bool = True,
                  sections: str | Iterable[str] | None = None, batch: int = 50, predictor_faces: int = 500,
                  parser_sentences: int = 1500, edit_steps: int = 100,
                  inversion_cache: str | os.PathLike | None = None) -> dict[str, Any]:
    """Measure a bundle (see the module docstring).

    Parameters
    ----------
    bundle : an opened :class:`~shared.bundle.Bundle` or its directory.
    faces : N, held-out faces inverted and edited (generator, inversion, jecc, adapters).
    seed : seed of the held-out faces, sentences and channel draws (namespace ``report/...``).
    inversion_steps : r_inv (paper 110).
    device : None keeps an opened bundle's device (a path opens on ``auto``); otherwise the bundle is
        (re)opened there.
    progress : log sections, the inversion estimate and JECC progress to stderr.
    sections : subset of :data:`SECTIONS` (comma-separated string or sequence); None = all.
    batch : batch size of the inversion, JECC and every model evaluation.
    predictor_faces : faces of the predictor section.
    parser_sentences : sentences per variant (typo-free, typos) of the parser section.
    edit_steps : r_edit, JECC's step budget (default 100, as ``edsc edit``).
    inversion_cache : directory to save the shared inversion in and reuse it from (see :class:`ReportContext`).

    Output
    ------
    The report dict (layout in the module docstring), with :func:`verdict` applied.
    """
    names = _section_names(sections)
    ctx = ReportContext(bundle=_open(bundle, device), faces=_positive("faces", faces), seed=int(seed),
                        inversion_steps=_positive("inversion_steps", inversion_steps, 0, 10_000),
                        edit_steps=_positive("edit_steps", edit_steps, 1, 10_000),
                        batch=_positive("batch", batch), predictor_faces=_positive("predictor_faces", predictor_faces),
                        parser_sentences=_positive("parser_sentences", parser_sentences), progress=progress,
                        inversion_cache=None if inversion_cache is None else Path(inversion_cache))
    t0 = time.perf_counter()
    report: dict[str, Any] = {
        "report_format": REPORT_FORMAT, "bundle": bundle_facts(ctx.bundle),
        "settings": {"faces": ctx.faces, "seed": ctx.seed, "inversion_steps": ctx.inversion_steps,
                     "edit_steps": ctx.edit_steps,
                     "batch": ctx.batch, "predictor_faces": ctx.predictor_faces,
                     "parser_sentences": ctx.parser_sentences, "sections": names, "device": str(ctx.device),
                     "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count()},
        "sections": {name: _run_section(ctx, name) for name in names},
    }
    report["shared_s"] = {k: _num(v, 3) for k, v in ctx.timings.items()}
    report["wall_s"] = _num(time.perf_counter() - t0, 3)
    return verdict(report)


# ----------------------------------------------------------------------------------------------------------------
# Markdown
# ----------------------------------------------------------------------------------------------------------------

_OP_TEXT = {">=": "≥", "<=": "≤", ">": ">", "<": "<"}


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{100 * value:.1f} %" if unit == "share" else f"{value:.4g}"
    return str(value)


def _result(passed: bool | None, skipped: bool = False) -> str:
    """PASS / FAIL; a section without checks is INFO, one that could not run SKIPPED."""
    return "SKIPPED" if skipped else {True: "PASS", False: "FAIL", None: "INFO"}[passed]


def _cell(text: Any) -> str:
    """Table-safe text (a ``|`` would end the cell)."""
    return str(text).replace("|", "\\|")


def _flatten(info: dict[str, Any], prefix: str = "") -> Iterable[tuple[str, str]]:
    """(key, text) rows of the scalar leaves of ``info``; lists of records are summarised (the JSON has them)."""
    for key, value in info.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _flatten(value, f"{name}.")
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            yield name, f"{len(value)} entries (see the JSON)"
        elif isinstance(value, list):
            yield name, ", ".join(_fmt(v) for v in value)
        else:
            yield name, _fmt(value)


def _section_markdown(index: int, name: str, section: dict[str, Any]) -> list[str]:
    head = (f"## {index}. {name} — {_result(section.get('passed'), bool(section.get('skipped')))} "
            f"({_fmt(section.get('wall_s'))} s)")
    lines = [head, "", section.get("about", ""), ""]
    if section.get("skipped"):
        return lines + [f"Skipped: {section['skipped']}.", ""]
    if section["checks"]:
        lines += ["| check | value | threshold | result | note |", "|---|---:|---:|:---:|---|"]
        for cname, c in section["checks"].items():
            lines.append(f"| {cname} | {_fmt(c['value'], c.get('unit', ''))} | {_OP_TEXT[c['op']]} "
                         f"{_fmt(float(c['threshold']), c.get('unit', ''))} | {_result(c['passed'])} | "
                         f"{_cell(c.get('note', ''))} |")
        lines.append("")
    rows = list(_flatten(section.get("info", {})))
    if rows:
        lines += ["| measured (no threshold) | value |", "|---|---|"]
        lines += [f"| {k} | {_cell(v)} |" for k, v in rows]
        lines.append("")
    return lines


def report_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: bundle facts, a summary per section, then each section's checks with the
    threshold beside every value (pass/fail recomputed with :func:`verdict`) and its other measurements."""
    report = verdict(report)
    b, s = report["bundle"], report["settings"]
    failed = report["failed_checks"]
    lines = [f"# Bundle report: {b['version']} — {_result(report['passed'])}", "",
             f"{b['path']}: {b['resolution']} px, {b['parameters_total']:,} parameters, {_fmt(b['size_mb'])} MB "
             f"on disk. {s['faces']} held-out faces, r_inv {s['inversion_steps']}, seed {s['seed']}, "
             f"{s['device']}, {s['torch_threads']} torch threads of {s['cpu_count']} cores. "
             f"Total {_fmt(report.get('wall_s'))} s.", "",
             "| component | arch | parameters |", "|---|---|---:|"]
    lines += [f"| {k} | {v['arch']} | {v['parameters']:,} |" for k, v in b["components"].items()]
    lines += ["", "| section | result | checks passed | wall time (s) |", "|---|:---:|---:|---:|"]
    for name, sec in report["sections"].items():
        n_ok = sum(c["passed"] for c in sec["checks"].values())
        lines.append(f"| {name} | {_result(sec['passed'], bool(sec.get('skipped')))} | {n_ok}/{len(sec['checks'])} | "
                     f"{_fmt(sec['wall_s'])} |")
    lines += ["", f"Failed checks: {', '.join(failed) if failed else 'none'}.", ""]
    for i, (name, sec) in enumerate(report["sections"].items(), 1):
        lines += _section_markdown(SECTIONS.index(name) + 1 if name in SECTIONS else i, name, sec)
    return "\n".join(lines).rstrip() + "\n"
