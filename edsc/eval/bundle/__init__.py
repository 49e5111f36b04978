"""`edsc bundle report`: measure a bundle's quality on held-out SynthFace faces, every number against a threshold.

Modules
-------
:mod:`edsc.eval.bundle.rules`     sections, constants and the threshold of every check (:data:`RULES`)
:mod:`edsc.eval.bundle.context`   :class:`ReportContext`: the faces, models and inversion the sections share
:mod:`edsc.eval.bundle.sections`  the seven sections
:mod:`edsc.eval.bundle.report`    :func:`bundle_report`: runs the sections and puts the report together
:mod:`edsc.eval.bundle.markdown`  :func:`report_markdown`

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

**Held-out faces.** Every face and sentence comes from the namespace ``report/...`` (:func:`~edsc.world.seeds
.make_generator`), disjoint by construction from the training streams (``train``), the training modules'
held-out streams (``heldout/...``) and the adapters' n_ft fine-tuning items.

**Efficiency.** The faces are rendered once and inverted once (in batches) and the inversion is shared by the
inversion, jecc and adapters sections; every model runs on batches; each section reports its wall time
(a section that triggers the shared inversion includes its time). With progress on, the inversion prints an
estimate of its total time after its first batch. With ``inversion_cache`` (``--inversion-cache DIR``) the
inversion is saved under a key of everything it depends on and read back by the next report
(:class:`~edsc.eval.inversions.InversionCache`, shared with ``edsc eval``), so rerunning the
jecc or adapters section after retraining fields or adapters takes minutes instead of the inversion's hour.

Output of :func:`bundle_report` (JSON-ready)::

    {"report_format": 1, "bundle": {...facts...}, "settings": {...},
     "sections": {name: {"about": str, "wall_s": float, "checks": {check: CHECK}, "info": {...},
                         "passed": bool | None, "skipped": str (only when it could not run)}},
     "passed": bool, "failed_checks": ["section.check", ...], "wall_s": float}

    CHECK = {"value": float | None, "op": ">=" | "<=" | ">" | "<", "threshold": float, "unit": str,
             "passed": bool, "note": str (optional)}

:func:`verdict` recomputes every ``passed`` flag from value / op / threshold (it accepts a hand-made report; the
engine is :mod:`edsc.eval.checks`, shared with ``edsc eval``); :func:`report_markdown` renders the report with each
threshold beside its value.
"""

from edsc.eval.bundle.context import ReportContext
from edsc.eval.bundle.markdown import report_markdown
from edsc.eval.bundle.report import bundle_facts, bundle_report
from edsc.eval.bundle.rules import REPORT_FORMAT, RULES, SECTIONS, check, verdict

__all__ = ["SECTIONS", "RULES", "REPORT_FORMAT", "ReportContext", "bundle_report", "verdict", "report_markdown",
           "check", "bundle_facts"]
