"""The experiments of `edsc eval`: analogues of the paper's Fig. 4, Tables I, III, IV, the attribute-matching
ablation and fading channels, on held-out SynthFace faces with exact ground truth.

Setup (shared by every experiment)
    N held-out faces (namespace ``heldout/eval``, disjoint from every training stream) at the bundle's resolution;
    one instruction per face (:func:`edsc.world.instructions.generate_for_state`, held-out "val" templates) whose
    ground-truth :class:`~transmitter.instruction.Edit` every method uses (error-free text); the expected degree
    a_exp from the true degree (eq. 10) and the SynthFace render of the ideally edited face.
    Each face is inverted once per r_inv (:class:`~edsc.eval.schemes.Editor` caches by image content).

Reference
    The paper scores received images against the edited image obtained *without any channel*; here that is our
    editor's output G(JECC(inversion(S_I))) at the main r_inv, the image a perfect channel would deliver. Every
    method and SNR is compared with the same reference set (LPIPS per image, FID / KID between sets). The LPIPS
    against the SynthFace ground-truth edit (``lpips_gt``) is reported next to it.

Experiments
    ``fig4_<channel>``   5 methods × SNRs: LPIPS, FID, KID, SSIM, PSNR, editing accuracy, identity drift, time.
    ``table1_cbr``       channel bandwidth ratio of each method (k real values / (H·W·C)).
    ``table3_rinv``      r_inv sweep at ``sweep_snr`` (−6 dB, AWGN): LPIPS and total time per image.
    ``table4_adapters``  Editable-DeepSC with and without the SNR adapters at every SNR (AWGN).
    ``ablation_matching`` JECC with and without the predictor's stop criterion (fixed field-step count).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import Tensor
from tqdm import tqdm

from edsc.eval import metrics as M
from edsc.eval.schemes import (CHANNELS, LINKS, METHODS, OURS, EditableDeepSC, EditBatch, Editor, build_links,
                               build_schemes, channel_config, fixed_steps_per_degree, method_parts)
from shared.bundle import Bundle
from shared.channel.limits import check_k_factor_db, check_snr_db
from shared.config import REPO_ROOT
from shared.errors import BundleError, InvalidArgumentError
from transmitter.instruction import Edit, expected_degree
from transmitter.jecc import JECCConfig

__all__ = ["EvalConfig", "Faces", "EvalResults", "prepare_faces", "run_evaluation"]

DEFAULT_DEEPJSCC = REPO_ROOT / "bundles" / "baselines" / "deepjscc-128"


@dataclass
class EvalConfig:
    """Everything an evaluation run depends on (``to_dict`` goes into ``results.json`` and the report).

    faces : N held-out faces (≥ 2: FID / KID need two samples per set).
    seed : faces, instructions and channel realisations.
    snrs : SNR levels (dB) of Fig. 4 and Table IV.
    channels : channel models of the Fig. 4 analogue (awgn, rayleigh, rician).
    fading_snrs : SNR levels for the fading channels (None: ``snrs``).
    methods : methods of Fig. 4 (Editable-DeepSC and the four baselines).
    inversion_steps : the main r_inv (every method's inversions, the reference edit).
    rinv_sweep : Table III's r_inv values; sweep_faces : how many faces it uses (None: all); sweep_snr : its SNR.
    max_edit_steps : r_edit, JECC's step budget.
    k_factor_db : Rician K-factor.
    fid_channels : channels whose conditions get FID / KID (each FID costs a 2048×2048 eigendecomposition).
    kid_subsets : KID subsets (subset size min(N, 1000)).
    ablation_steps_per_degree : field steps per degree of the ablation (None: JECC's median on these faces).
    jpeg_bpp : the JPEG+LDPC baseline's rate; deepjscc : the DeepJSCC weights directory.
    preset : "full" or "quick" (a label for the report).
    ood : run the out-of-distribution experiment (:mod:`edsc.eval.ood`) at ``ood_snrs`` (None: ``snrs``);
        ood_distance_faces : images per set of its domain distance.
    costs : measure Tables II, V and VI (:mod:`edsc.eval.costs`) at ``cost_resolutions`` (None: the bundle's own
        with the bundle, and 1024 with Talk-to-Edit's untrained 1024 architecture; any other resolution also uses
        that architecture); cost_steps / cost_jecc_steps : inversion steps and JECC iterations measured per
        resolution.
    """

    faces: int = 64
    seed: int = 0
    snrs: tuple[float, ...] = (-6.0, 0.0, 6.0, 12.0, 18.0)
    channels: tuple[str, ...] = CHANNELS
    fading_snrs: tuple[float, ...] | None = None
    methods: tuple[str, ...] = METHODS
    inversion_steps: int = 110
    rinv_sweep: tuple[int, ...] = (70, 90, 110, 130, 150)
    sweep_faces: int | None = None
    sweep_snr: float = -6.0
    max_edit_steps: int = 100
    k_factor_db: float = 6.0
    fid_channels: tuple[str, ...] = CHANNELS
    kid_subsets: int = 100
    ablation_steps_per_degree: int | None = None
    jpeg_bpp: float = 0.7
    deepjscc: Path = DEFAULT_DEEPJSCC
    preset: str = "full"
    ood: bool = True
    ood_snrs: tuple[float, ...] | None = None
    ood_distance_faces: int = 256
    costs: bool = True
    cost_resolutions: tuple[int, ...] | None = None
    cost_steps: int = 10
    cost_jecc_steps: int = 5

    @classmethod
    def quick(cls, **overrides: Any) -> "EvalConfig":
        """≤ 10 min on 2 CPU cores with the 128-px bundle: 4 faces, r_inv 22 (the paper's 110 / 5) with the
        sweep scaled the same way (14 … 30) on 2 faces, r_edit 30, fading at three SNRs, FID / KID on AWGN only."""
        base = dict(faces=4, inversion_steps=22, rinv_sweep=(14, 18, 22, 26, 30), sweep_faces=2, max_edit_steps=30,
                    fading_snrs=(-6.0, 6.0, 18.0), fid_channels=("awgn",), preset="quick",
                    ood_snrs=(-6.0, 6.0, 18.0), ood_distance_faces=32, cost_steps=2, cost_jecc_steps=1)
        return cls(**{**base, **overrides})

    def __post_init__(self) -> None:
        self.snrs = tuple(sorted({check_snr_db(s) for s in self.snrs}))
        if self.fading_snrs is not None:
            self.fading_snrs = tuple(sorted({check_snr_db(s) for s in self.fading_snrs}))
        self.sweep_snr = check_snr_db(self.sweep_snr)
        self.k_factor_db = check_k_factor_db(self.k_factor_db)
        self.channels = _known("channel", self.channels, CHANNELS)
        self.fid_channels = tuple(c for c in _known("channel", self.fid_channels, CHANNELS) if c in self.channels)
        self.methods = _known("method", self.methods, METHODS)
        if not self.snrs or not self.channels or not self.methods:
            raise InvalidArgumentError("at least one SNR, one channel and one method are needed")
        if not 2 <= self.faces <= 10_000:
            raise InvalidArgumentError(f"faces must lie in [2, 10000] (FID/KID need 2 per set), got {self.faces}")
        for name in ("inversion_steps", "max_edit_steps", "kid_subsets"):
            if not 1 <= int(getattr(self, name)) <= 10_000:
                raise InvalidArgumentError(f"{name} must lie in [1, 10000], got {getattr(self, name)}")
        self.rinv_sweep = tuple(sorted({int(r) for r in self.rinv_sweep}))
        if any(not 1 <= r <= 10_000 for r in self.rinv_sweep):
            raise InvalidArgumentError(f"r_inv values must lie in [1, 10000], got {self.rinv_sweep}")
        if self.sweep_faces is not None and not 1 <= self.sweep_faces <= self.faces:
            raise InvalidArgumentError(f"sweep_faces must lie in [1, faces={self.faces}], got {self.sweep_faces}")
        if self.ood_snrs is not None:
            self.ood_snrs = tuple(sorted({check_snr_db(s) for s in self.ood_snrs}))
        if not 2 <= int(self.ood_distance_faces) <= 10_000:
            raise InvalidArgumentError(f"ood_distance_faces must lie in [2, 10000], got {self.ood_distance_faces}")
        if self.cost_resolutions is not None:
            self.cost_resolutions = tuple(sorted({int(r) for r in self.cost_resolutions}))
        if any(r < 8 or r & (r - 1) for r in self.cost_resolutions or ()):
            raise InvalidArgumentError(f"cost resolutions must be powers of two >= 8, got {self.cost_resolutions}")
        for name in ("cost_steps", "cost_jecc_steps"):
            if not 1 <= int(getattr(self, name)) <= 1_000:
                raise InvalidArgumentError(f"{name} must lie in [1, 1000], got {getattr(self, name)}")
        if self.ablation_steps_per_degree is not None and self.ablation_steps_per_degree < 1:
            raise InvalidArgumentError("ablation_steps_per_degree must be >= 1")
        self.deepjscc = Path(self.deepjscc)

    def snrs_for(self, channel: str) -> tuple[float, ...]:
        return self.snrs if channel == "awgn" or self.fading_snrs is None else self.fading_snrs

    @property
    def links(self) -> tuple[str, ...]:
        """The baselines the methods need."""
        return tuple(lb for lb in LINKS if any(method_parts(m)[0] == lb for m in self.methods))

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["deepjscc"] = str(self.deepjscc)
        return d


def _known(what: str, values: Sequence[str], known: Sequence[str]) -> tuple[str, ...]:
    unknown = [v for v in values if v not in known]
    if unknown:
        raise InvalidArgumentError(f"unknown {what}(s) {', '.join(map(repr, unknown))}; known: {', '.join(known)}")
    return tuple(k for k in known if k in values)          # canonical order, no duplicates


# ----------------------------------------------------------------------------------------------------------------
# Faces and instructions
# ----------------------------------------------------------------------------------------------------------------

@dataclass
class Faces:
    """The evaluation set.

    sources : (N, 3, R, R) renders in [−1, 1]; identity : (N, 25); degrees : (N, 5) true integer degrees.
    texts / edits : one instruction and its ground-truth edit per face.
    targets : :class:`~edsc.eval.metrics.EditTargets` (attribute, a_exp, true degrees).
    ideal : (N, 3, R, R) SynthFace renders of the ideally edited faces (target attribute at a_exp).
    """

    sources: Tensor
    identity: Tensor
    degrees: Tensor
    texts: list[str]
    edits: list[Edit]
    targets: M.EditTargets
    ideal: Tensor


def prepare_faces(n: int, seed: int, resolution: int, attributes: Sequence[str], u: int) -> Faces:
    """``n`` held-out faces with one held-out-template instruction each (see the module docstring)."""
    from edsc.world.faces import heldout_faces
    from edsc.world.seeds import stable_seed
    from edsc.world.instructions import generate_for_state
    from edsc.world.synthface import ATTRIBUTES, render

    if tuple(attributes) != ATTRIBUTES:
        raise BundleError(f"edsc eval scores on SynthFace faces, whose attributes are {', '.join(ATTRIBUTES)}; "
                          f"this bundle's are {', '.join(attributes)}")
    sources, identity, degrees = heldout_faces("eval", seed, n, size=resolution)
    degrees = degrees.round().long()                                                   # (N, 5)
    labels = [generate_for_state(degrees[i].tolist(), stable_seed("eval/instructions", seed, i), split="val")
              for i in range(n)]
    edits = [Edit.from_dict(lab.label_dict()) for lab in labels]
    attr = torch.tensor([list(attributes).index(e.attribute) for e in edits])           # (N,)
    expected = torch.tensor([expected_degree(e, int(degrees[i, attr[i]]), u) for i, e in enumerate(edits)])
    ideal_degrees = degrees.clone()
    ideal_degrees[torch.arange(n), attr] = expected
    ideal = render(identity, ideal_degrees.float(), resolution)
    return Faces(sources, identity, degrees, [lab.text for lab in labels], edits,
                 M.EditTargets(attr, expected, degrees), ideal)


# ----------------------------------------------------------------------------------------------------------------
# Results
# ----------------------------------------------------------------------------------------------------------------

@dataclass
class EvalResults:
    """What a run produced: rows per experiment (CSV-ready dicts), facts for the report, sample images.

    samples : (channel, method, snr) → (3, R, R) received image of face 0; plus "source", "reference", "ideal".
    """

    config: dict[str, Any]
    bundle: dict[str, Any]
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    samples: dict[Any, Tensor] = field(default_factory=dict)


class _Run:
    """State shared by the experiments of one evaluation."""

    def __init__(self, bundle: Bundle, cfg: EvalConfig, links: dict | None, progress: bool,
                 store: Path | None = None):
        self.bundle, self.cfg, self.progress, self.store = bundle, cfg, progress, store
        self.device = bundle.device
        self.jecc = JECCConfig(max_steps=cfg.max_edit_steps)
        self.faces = prepare_faces(cfg.faces, cfg.seed, bundle.resolution, bundle.attributes, bundle.max_degree)
        self.sources = self.faces.sources.to(self.device)
        self.editors: dict[int, Editor] = {}
        self.scorer = M.Scorer(bundle)
        self.source_identity = self.scorer.identity_vectors(self.sources)
        self.links = links if links is not None else build_links(cfg.links, bundle.resolution, cfg.deepjscc,
                                                                 cfg.jpeg_bpp)
        self.features = M.FeatureCache(M.load_inception(str(self.device))) if cfg.fid_channels else None
        self.reference: EditBatch | None = None
        self.ref_features: Tensor | None = None
        self.results = EvalResults(config=cfg.to_dict(), bundle={
            "name": bundle.name, "version": bundle.version, "resolution": bundle.resolution,
            "device": str(bundle.device), "judge": self.scorer.judge,
            "kind": bundle.manifest.provenance.get("kind", "trained")})

    def editor(self, r_inv: int) -> Editor:
        if r_inv not in self.editors:
            self.editors[r_inv] = Editor(self.bundle, r_inv, self.jecc, progress=self.progress, store=self.store)
        return self.editors[r_inv]

    def bar(self, total: int, desc: str):
        return tqdm(total=total, desc=desc, file=sys.stderr, disable=not self.progress, unit="cond")

    def seed_for(self, channel: str, snr: float) -> int:
        from edsc.world.seeds import stable_seed
        return stable_seed("eval/channel", self.cfg.seed, channel, f"{snr:g}") % (2 ** 31)

    def score(self, images: Tensor, reference: Tensor | None = None, n: int | None = None) -> dict[str, float]:
        """Summary of per-image metrics of ``images`` (the first ``n`` faces) against ``reference``."""
        n = n or images.shape[0]
        ref = self.reference.images[:n] if reference is None else reference
        t = self.faces.targets
        targets = M.EditTargets(t.attribute[:n], t.expected[:n], t.degrees[:n])
        ident = None if self.source_identity is None else self.source_identity[:n]
        return M.summarise(self.scorer.score(images, ref, targets, ident, self.faces.ideal[:n]))

    def distribution(self, images: Tensor) -> dict[str, float]:
        """FID and KID of ``images`` against the reference set."""
        feats = self.features.features(images)
        size = min(feats.shape[0], self.ref_features.shape[0], 1000)
        kid, kid_std = M.kid_from_features(self.ref_features, feats, subset_size=size,
                                           subsets=self.cfg.kid_subsets, seed=self.cfg.seed)
        return {"fid": M.fid_from_features(self.ref_features, feats), "kid": kid, "kid_std": kid_std}


def _row(experiment: str, method: str, channel: str, snr: float | None, n: int, out, metrics: dict,
         measurement: M.Measurement | None = None, **extra: Any) -> dict[str, Any]:
    row = {"experiment": experiment, "method": method, "channel": channel, "snr_db": snr, "n": n, **extra}
    row.update(metrics)
    if out is not None:
        row["cbr"] = out.cbr
        row["seconds_per_image"] = out.seconds_per_image
        row["cpu_seconds_per_image"] = out.cpu_seconds_per_image
        row.update({f"t_{k}": v for k, v in out.seconds.items()})
        row.update({f"info_{k}": v for k, v in out.info.items()})
    if measurement is not None:
        row["peak_rss_mib"] = measurement.peak_rss_mib
        row["cuda_peak_mib"] = measurement.cuda_peak_mib
    return row


# ----------------------------------------------------------------------------------------------------------------
# Experiments
# ----------------------------------------------------------------------------------------------------------------

def _reference(run: _Run) -> None:
    """The transmitter's edit without a channel (the reference of every metric) and its features."""
    editor = run.editor(run.cfg.inversion_steps)
    with M.measured(run.device) as m:
        run.reference = editor.edit(run.sources, run.faces.edits)
    run.results.facts["reference"] = {"seconds": m.seconds, **run.score(run.reference.images)}
    run.results.samples.update({"source": run.faces.sources[0], "reference": run.reference.images[0].cpu(),
                                "ideal": run.faces.ideal[0]})
    if run.features is not None:
        run.ref_features = run.features.features(run.reference.images)


def _fig4(run: _Run, channel: str) -> list[dict[str, Any]]:
    """The Fig. 4 analogue on one channel: every method at every SNR."""
    cfg = run.cfg
    schemes = build_schemes(cfg.methods, run.bundle, run.links, run.editor(cfg.inversion_steps), run.sources,
                            run.faces.edits, run.reference)
    snrs = cfg.snrs_for(channel)
    rows = []
    with run.bar(len(snrs) * len(schemes), f"fig4 {channel}") as bar:
        for snr in snrs:
            ch = channel_config(channel, snr, cfg.k_factor_db)
            for method, scheme in schemes.items():
                with M.measured(run.device) as m:
                    out = scheme.run(snr, ch, run.seed_for(channel, snr))
                metrics = run.score(out.images)
                if channel in cfg.fid_channels:
                    metrics.update(run.distribution(out.images))
                rows.append(_row(f"fig4_{channel}", method, channel, snr, out.images.shape[0], out, metrics, m))
                run.results.samples[(channel, method, snr)] = out.images[0].cpu()
                bar.update(1)
    return rows


def _table4(run: _Run) -> list[dict[str, Any]]:
    """Editable-DeepSC with and without the SNR adapters on AWGN at every SNR."""
    rows = []
    variants = {"with adapters": True, "without adapters": False}
    with run.bar(len(run.cfg.snrs) * 2, "table4 adapters") as bar:
        for snr in run.cfg.snrs:
            for label, on in variants.items():
                scheme = EditableDeepSC(run.bundle, run.reference, adapters=on, name=f"{OURS} {label}")
                with M.measured(run.device) as m:
                    out = scheme.run(snr, channel_config("awgn", snr), run.seed_for("awgn", snr))
                rows.append(_row("table4_adapters", scheme.name, "awgn", snr, out.images.shape[0], out,
                                 run.score(out.images), m, adapters=on))
                bar.update(1)
    return rows


def _table3(run: _Run) -> list[dict[str, Any]]:
    """r_inv sweep at ``sweep_snr`` on AWGN: LPIPS against the sweep's own no-channel edit, against the ideal
    SynthFace edit and against the main reference; total time per image."""
    cfg = run.cfg
    n = cfg.sweep_faces or cfg.faces
    rows = []
    ch = channel_config("awgn", cfg.sweep_snr)
    with run.bar(len(cfg.rinv_sweep), "table3 r_inv") as bar:
        for r_inv in cfg.rinv_sweep:
            with M.measured(run.device) as m:
                edited = run.editor(r_inv).edit(run.sources[:n], run.faces.edits[:n])
                out = EditableDeepSC(run.bundle, edited).run(cfg.sweep_snr, ch, run.seed_for("awgn", cfg.sweep_snr))
            metrics = run.score(out.images, n=n)
            own = M.lpips(out.images, edited.images, run.device)
            rows.append(_row("table3_rinv", OURS, "awgn", cfg.sweep_snr, n, out, metrics, m, r_inv=r_inv,
                             lpips_own=float(own.mean()), inversion_lpips=float(edited.inversion_lpips.mean())))
            bar.update(1)
    return rows


def _ablation(run: _Run) -> list[dict[str, Any]]:
    """JECC with the predictor's stop criterion vs a fixed number of field steps, without a channel and on AWGN."""
    cfg, bundle = run.cfg, run.bundle
    spd = cfg.ablation_steps_per_degree or fixed_steps_per_degree(
        run.reference.outcomes, bundle.attributes, fallback=max(1, cfg.max_edit_steps // bundle.max_degree))
    run.results.facts["ablation_steps_per_degree"] = spd
    fixed = run.editor(cfg.inversion_steps).edit(run.sources, run.faces.edits, fixed_steps=spd)
    variants = {"attribute matching (JECC)": run.reference, f"fixed {spd} steps/degree": fixed}
    rows = []
    with run.bar(len(variants) * (len(cfg.snrs) + 1), "ablation") as bar:
        for label, edited in variants.items():
            rows.append(_row("ablation_matching", label, "none", None, edited.images.shape[0], None,
                             run.score(edited.images), matching=edited is run.reference,
                             field_steps=sum(o.iterations for o in edited.outcomes) / len(edited.outcomes)))
            bar.update(1)
            for snr in cfg.snrs:
                out = EditableDeepSC(bundle, edited, name=label).run(snr, channel_config("awgn", snr),
                                                                    run.seed_for("awgn", snr))
                rows.append(_row("ablation_matching", label, "awgn", snr, out.images.shape[0], out,
                                 run.score(out.images), matching=edited is run.reference))
                bar.update(1)
    return rows


def _table1(rows: Sequence[dict[str, Any]], resolution: int) -> list[dict[str, Any]]:
    """CBR per method (mean over conditions: a JPEG's size varies per image), with the paper's values."""
    paper = {OURS: 512 / (3 * 128 * 128), "JPEG+LDPC": 0.0389, "DeepJSCC": 0.0833}
    out = []
    for method in dict.fromkeys(r["method"] for r in rows):
        cbrs = [r["cbr"] for r in rows if r["method"] == method]
        label = method_parts(method)[0] or OURS
        out.append({"method": method, "cbr": sum(cbrs) / len(cbrs), "cbr_min": min(cbrs), "cbr_max": max(cbrs),
                    "paper_cbr_128px": paper.get(label), "resolution": resolution,
                    "convention": "real values / (H*W*C)"})
    return out


def _parser_accuracy(run: _Run) -> dict[str, Any]:
    """How often the bundle's instruction parser (SE_T) recovers the ground-truth edit of the instructions."""
    tx = run.editor(run.cfg.inversion_steps).tx
    hits = 0
    for text, edit in zip(run.faces.texts, run.faces.edits):
        try:
            hits += tx.parse([text])[0] == edit
        except InvalidArgumentError:
            pass
    return {"parser_exact": hits / len(run.faces.edits), "instructions": len(run.faces.edits)}


def _cpu_seconds() -> float:
    """User + system CPU time of this process so far (all threads) and of its finished worker processes."""
    import resource
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_evaluation(bundle: Bundle, cfg: EvalConfig, links: dict | None = None, progress: bool = True,
                   store: str | Path | None = None) -> EvalResults:
    """Run every experiment of ``cfg`` on ``bundle``.

    Parameters
    ----------
    bundle : an opened bundle with generator, predictor, language, fields and adapters (eval_predictor and
        identity_encoder used when present).
    cfg : :class:`EvalConfig`.
    links : baseline label → :class:`~edsc.eval.schemes.ImageLink` (default: :func:`build_links`).
    progress : tqdm bars on stderr.
    store : directory of saved inversions (see :class:`~edsc.eval.schemes.Editor`); a rerun resumes from it.

    Output
    ------
    :class:`EvalResults`
    """
    t0, cpu0 = time.perf_counter(), _cpu_seconds()
    run = _Run(bundle, cfg, links, progress, None if store is None else Path(store))
    timings: dict[str, float] = {}

    def stage(name: str, fn, *args) -> Any:
        t = time.perf_counter()
        value = fn(*args)
        timings[name] = time.perf_counter() - t
        return value

    stage("reference", _reference, run)
    run.results.facts.update(_parser_accuracy(run))
    for channel in cfg.channels:
        run.results.rows[f"fig4_{channel}"] = stage(f"fig4_{channel}", _fig4, run, channel)
    all_fig4 = [r for ch in cfg.channels for r in run.results.rows[f"fig4_{ch}"]]
    run.results.rows["table1_cbr"] = _table1(all_fig4, bundle.resolution)
    run.results.rows["table3_rinv"] = stage("table3_rinv", _table3, run)
    run.results.rows["table4_adapters"] = stage("table4_adapters", _table4, run)
    run.results.rows["ablation_matching"] = stage("ablation_matching", _ablation, run)
    if cfg.ood:
        stage("ood", _ood, run)
    if cfg.costs:
        stage("costs", _costs, run)
    run.results.facts.update({
        "seconds_total": time.perf_counter() - t0, "cpu_seconds_total": _cpu_seconds() - cpu0,
        "stage_seconds": timings, "peak_rss_mib": M.peak_rss_mib(),
        "inception_images": run.features.computed if run.features is not None else 0,
        "inversions": {r: e.inverted_count for r, e in run.editors.items()},
        "inversions_from_store": {r: e.loaded_from_store for r, e in run.editors.items()},
        "torch_threads": torch.get_num_threads(), "machine": _machine(),
    })
    return run.results


def _ood(run: _Run) -> None:
    """The out-of-distribution experiment (:mod:`edsc.eval.ood`): rows, facts and samples into the results."""
    from edsc.eval.ood import run_ood

    ood = run_ood(run)
    run.results.rows["ood_artwork"] = ood["rows"]
    run.results.rows["ood_adapters"] = ood["adapters"]
    run.results.rows["ood_photos"] = ood["photos"]
    run.results.facts["ood"] = ood["facts"]
    run.results.samples["ood"] = ood["samples"]


def _costs(run: _Run) -> None:
    """Tables II, V and VI (:mod:`edsc.eval.costs`): each resolution measured in its own worker process."""
    import shutil
    import tempfile

    from edsc.eval import costs as C

    cfg = run.cfg
    outcomes = run.reference.outcomes
    iterations = sum(o.iterations for o in outcomes) / len(outcomes)
    device = str(run.device)
    measured: dict[str, Any] = {}
    for res in cfg.cost_resolutions or sorted({run.bundle.resolution, 1024}):
        tmp = None
        try:
            if res == run.bundle.resolution:
                bundle_dir = run.bundle.path
            else:
                tmp = Path(tempfile.mkdtemp(prefix=f"edsc-t2e-{res}-"))
                bundle_dir = C.build_talk2edit_untrained(tmp / "bundle", res, vocab_from=run.bundle.path)
            measured[str(res)] = C.measure_in_subprocess(bundle_dir, res, cfg.deepjscc, cfg.cost_steps,
                                                         cfg.cost_jecc_steps, device, cfg.seed)
        finally:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
    times = {res: C.method_costs(m, iterations, methods=cfg.methods) for res, m in measured.items()}
    params = {res: C.parameter_rows(m) for res, m in measured.items()}
    fig4 = run.results.rows.get("fig4_awgn", [])
    end_to_end = []
    for method in dict.fromkeys(r["method"] for r in fig4):
        mine = [r for r in fig4 if r["method"] == method]
        end_to_end.append({"method": method, "seconds": sum(r["seconds_per_image"] for r in mine) / len(mine),
                           "cpu_seconds": sum(r["cpu_seconds_per_image"] for r in mine) / len(mine)})
    run.results.facts["costs"] = {"measured": measured, "times": times, "parameters": params,
                                  "end_to_end_128": end_to_end, "device": device, "jecc_iterations": iterations}
    run.results.rows["table2_cbr_1024"] = [
        {"method": k, "cbr": v, "resolution": int(res), "convention": "real values / (H*W*C)",
         "paper_cbr": C.PAPER_CBR_1024.get(k)} for res, m in measured.items() if int(res) == 1024
        for k, v in m["cbr"].items()]
    run.results.rows["table5_costs"] = [r for rows in times.values() for r in rows]
    run.results.rows["table6_parameters"] = [r for rows in params.values() for r in rows]


def _machine() -> str:
    """The CPU model and core count (and the CUDA device when one is used)."""
    import os
    import platform

    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            model = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), model)
    except OSError:
        pass
    text = f"{model}, {os.cpu_count()} cores"
    if torch.cuda.is_available():
        text += f"; CUDA {torch.cuda.get_device_name(0)}"
    return text
