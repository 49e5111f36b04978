"""The seven sections of `edsc bundle report`, each a function of the shared :class:`ReportContext`.

Each returns ``{"about": str, "checks": {name: CHECK}, "info": {...}}`` (checks from
:func:`edsc.eval.bundle.rules.check`); :data:`SECTION_FUNCTIONS` maps the names of
:data:`~edsc.eval.bundle.rules.SECTIONS` to them and :data:`REQUIRES` lists the bundle components each needs.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from edsc.eval.bundle.context import ReportContext, accuracy, batched, log, read_degrees, report_seed
from edsc.eval.bundle.rules import EDIT_SNR_DB, NAMESPACE, TYPO_RATE, check
from edsc.eval.checks import number
from edsc.world.seeds import stable_seed
from edsc.world.synthface import ATTRIBUTES
from shared.errors import InvalidArgumentError

__all__ = ["SECTION_FUNCTIONS", "REQUIRES", "generator_section", "inversion_section", "predictor_section",
           "parser_section", "jecc_section", "adapters_section", "cost_section"]


def generator_section(ctx: ReportContext) -> dict[str, Any]:
    """G(z_from_world_params(face)) vs render(face): LPIPS, and the evaluation predictor's degrees on G's image."""
    from edsc.train.generator import evaluate_generator

    faces = ctx.shared_faces
    metrics, fake, _ = evaluate_generator(ctx.bundle.generator, ctx.lpips, faces.identity, faces.degrees,
                                          noise_mode="const", batch=ctx.batch)
    exact, within = accuracy(read_degrees(ctx.eval_predictor, fake, ctx.batch), faces.degrees)
    checks = {"lpips_mean": check("generator", "lpips_mean", metrics["lpips"])}
    checks.update({f"eval_exact.{a}": check("generator", "eval_exact", v) for a, v in exact.items()})
    info = {"lpips_max": number(metrics["lpips_max"]), "l1": number(metrics["l1"]),
            "grad_l1": number(metrics["grad_l1"]),
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
    w0 = batched(ctx.transmitter.start_latent, faces.renders, batch=ctx.batch)                     # (N, D)
    images = batched(G.synthesis, w0, batch=ctx.batch)                                               # (N, 3, R, R)
    lp = batched(ctx.lpips, images, faces.renders, batch=ctx.batch).reshape(-1)                      # (N,)
    exact, _ = accuracy(read_degrees(ctx.eval_predictor, images, ctx.batch), faces.degrees)
    return {"start_lpips_mean": number(lp.mean()), "start_eval_exact": exact}


def inversion_section(ctx: ReportContext) -> dict[str, Any]:
    """The paper's inversion of held-out renders: LPIPS(G(w_inv), render) and degrees on G(w_inv)."""
    inv, faces = ctx.inverted, ctx.shared_faces
    exact, within = accuracy(read_degrees(ctx.eval_predictor, inv.images, ctx.batch), faces.degrees)
    start = _start_scores(ctx)
    checks = {"lpips_mean": check("inversion", "lpips_mean", inv.lpips.mean())}
    checks.update({f"eval_exact.{a}": check("inversion", "eval_exact", v) for a, v in exact.items()})
    n = inv.w.shape[0]
    info = {"lpips_max": number(inv.lpips.max()), "lpips_median": number(inv.lpips.median()), "eval_within1": within,
            "faces": n, "steps": ctx.inversion_steps, "batch": ctx.inversion_batch, "seconds": number(inv.seconds, 3),
            "seconds_per_face": number(inv.seconds / max(1, n), 4), "start": ctx.start_mode,
            "from_cache": "inversion_cached_s" in ctx.timings, **start,
            "degree_guard": ctx.transmitter.inversion_config.keep_degrees,
            "guard_passed": number(inv.guarded.float().mean()),
            "earlier_iterate": number((inv.step < ctx.inversion_steps).float().mean()),
            "returned_step_mean": number(inv.step.float().mean(), 2)}
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
        exact, within = accuracy(read_degrees(model, faces.renders, ctx.batch), faces.degrees)
        checks.update({f"{role}_exact.{a}": check("predictor", f"{role}_exact", v) for a, v in exact.items()})
        checks.update({f"{role}_within1.{a}": check("predictor", f"{role}_within1", v) for a, v in within.items()})
    return {"about": "attribute predictors on held-out renders (integer degrees)", "checks": checks, "info": info}


def parser_section(ctx: ReportContext) -> dict[str, Any]:
    """The parser on validation-template sentences, typo-free and with the corpus' typo rate."""
    from edsc.train.parser import evaluate_parser
    from edsc.world.instructions import generate

    seed = report_seed("parser", ctx.seed)
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
    f_rx, f_src, f_inv = (batched(encoder, x, batch=ctx.batch).cpu() for x in (received, renders, inverted))
    out = {"drift": number((f_rx - f_src).abs().mean()), "baseline_inversion": number((f_inv - f_src).abs().mean()),
           "edit_and_channel": number((f_rx - f_inv).abs().mean()), "different_people": None}
    n = f_src.shape[0]
    if n > 1:
        dist = torch.cdist(f_src, f_src, p=1) / f_src.shape[1]
        out["different_people"] = number(dist[~torch.eye(n, dtype=torch.bool)].mean())
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
    """The chain of ``edsc edit`` on a batch (:func:`edsc.link.edit_and_deliver`): [inversion of ``images`` or
    start latents ``w``] → JECC → A_CE → AWGN at :data:`EDIT_SNR_DB` (emulator, MMSE recovery) → A_CD → G.

    Output: (TxOutputs, received images (B, 3, R, R), seconds per stage).
    """
    from channel_emulator.config import ChannelConfig
    from edsc.link import edit_and_deliver

    sent = edit_and_deliver(tx, rx, edits, ChannelConfig(model="awgn", snr_db=EDIT_SNR_DB), seed=seed, images=images,
                            w_start=w)
    return sent.outputs, sent.images, {**sent.outputs[0].timings, **sent.timings}


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
        "target_reached": number(hit.float().mean()),
        "others_unchanged": number(same[others].float().mean()),
        "target_reached_by_attribute": {a: number(hit[attr == i].float().mean()) if bool((attr == i).any()) else None
                                        for i, a in enumerate(ATTRIBUTES)},
        "others_unchanged_by_attribute": {a: number(same[others[:, i], i].float().mean())
                                          if bool(others[:, i].any()) else None for i, a in enumerate(ATTRIBUTES)},
        "others_match_truth": number((after == truth)[others].float().mean()),
        "reached_jecc_target": number((after[rows, attr] == own_goal).float().mean()),
        "parse_exact": number(torch.tensor([p is not None and p.to_dict() == it.label_dict()
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
    clean = batched(G.synthesis, torch.stack([o.w_edited for o in outs]).to(ctx.device), batch=ctx.batch)
    e_clean = read_degrees(ctx.eval_predictor, clean, ctx.batch)                       # (N, 5)
    p_clean = read_degrees(ctx.bundle.predictor, clean, ctx.batch)                     # (N, 5)
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
    out: dict[str, Any] = {c: number(causes[c] / n) for c in ("parse", "aim", "not_reached", "predictors_disagree",
                                                            "channel")}
    out["others_changed_by_edit"] = number((e_clean != before)[others].float().mean())
    return out


def jecc_section(ctx: ReportContext) -> dict[str, Any]:
    """Inverted faces x one feasible instruction each → parse → JECC → 18 dB AWGN link → decode, judged by the
    evaluation predictor (see :mod:`edsc.eval.bundle` on ground truth)."""
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
        log(ctx, f"jecc: {len(outs)}/{inv.w.shape[0]} faces edited and sent")
    received_t = torch.cat(received)
    after = read_degrees(ctx.eval_predictor, received_t, ctx.batch)
    before = read_degrees(ctx.eval_predictor, inv.images, ctx.batch)
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
        "iterations_mean": number(sum(o.outcome.iterations for o in outs) / max(1, len(outs)), 3),
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
        levels[key] = {"with": number(with_bank), "without": number(without)}
        checks[f"lpips_gain.{key}"] = check("adapters", "lpips_gain", without - with_bank,
                                            note=f"with {with_bank:.4f} / without {without:.4f}")
    total = sum(ctx.bundle.parameter_counts().values())
    per_level = codec.bank.parameter_count(codec.snr_levels[0])
    info = {"lpips": levels, "faces": ctx.inverted.w.shape[0], "channel": "awgn (emulator + MMSE recovery)",
            "tuned_parameters_per_level": per_level, "bundle_parameters": total,
            "tuned_share_per_level": number(per_level / total),
            "bank_share": number(codec.bank.parameter_count() / total),
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
    info = {"edit_s": number(total, 4), "stages_s": {k: number(v, 4) for k, v in stages.items()},
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
