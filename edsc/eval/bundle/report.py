"""`edsc bundle report`: run the requested sections on one bundle and put the report together.

The report's layout, its sections and its rules are described in :mod:`edsc.eval.bundle`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from edsc.eval.bundle.context import ReportContext, log
from edsc.eval.bundle.rules import REPORT_FORMAT, SECTIONS, verdict
from edsc.eval.bundle.sections import REQUIRES, SECTION_FUNCTIONS
from edsc.eval.checks import number
from shared.bundle import Bundle
from shared.errors import InvalidArgumentError

__all__ = ["bundle_report", "bundle_facts"]


def bundle_facts(bundle: Bundle) -> dict[str, Any]:
    """Name, version, resolution, parameter counts per component and the size on disk (MB = 10^6 bytes)."""
    counts = bundle.parameter_counts()
    size = sum(p.stat().st_size for p in bundle.path.rglob("*") if p.is_file())
    return {"name": bundle.name, "version": bundle.version, "path": str(bundle.path),
            "resolution": bundle.resolution, "attributes": bundle.attributes, "max_degree": bundle.max_degree,
            "kind": bundle.manifest.provenance.get("kind"),
            "components": {k: {"arch": v.arch, "parameters": counts[k]}
                           for k, v in bundle.manifest.components.items()},
            "parameters_total": sum(counts.values()), "size_mb": number(size / 1e6, 3)}


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
    log(ctx, f"{name} ...")
    t0 = time.perf_counter()
    out = SECTION_FUNCTIONS[name](ctx)
    out["wall_s"] = number(time.perf_counter() - t0, 3)
    log(ctx, f"{name} done in {out['wall_s']:.1f} s")
    return out


def bundle_report(bundle: Bundle | str | os.PathLike, faces: int = 200, seed: int = 0, inversion_steps: int = 110,
                  device: torch.device | str | None = None, progress: bool = True,
                  sections: str | Iterable[str] | None = None, batch: int = 50, predictor_faces: int = 500,
                  parser_sentences: int = 1500, edit_steps: int = 100,
                  inversion_cache: str | os.PathLike | None = None) -> dict[str, Any]:
    """Measure a bundle (see :mod:`edsc.eval.bundle`).

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
    The report dict (layout in :mod:`edsc.eval.bundle`), with :func:`~edsc.eval.bundle.rules.verdict` applied.
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
    report["shared_s"] = {k: number(v, 3) for k, v in ctx.timings.items()}
    report["wall_s"] = number(time.perf_counter() - t0, 3)
    return verdict(report)
