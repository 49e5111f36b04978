"""`edsc eval`: the paper's evaluation on held-out SynthFace faces (Fig. 4, Tables I, III, IV, ablation, fading,
out-of-distribution faces (Fig. 8 / 9), and the costs of Tables II, V and VI).

Writes into ``--out`` (default ``eval-out``): one CSV per experiment, PNG plots, ``results.json`` and
``report.md`` (which says, finding by finding, where the numbers agree with the paper). ``--quick`` is the
≤ 10-minute preset for 2 CPU cores and a 128-px bundle; the full preset follows the paper (r_inv 110, sweep
70…150, r_edit 100) on 64 faces. Any option overrides the preset.

``--generative`` runs the second seed system's experiment instead (Han et al., :mod:`edsc.eval.generative`):
PSNR / LPIPS (AlexNet, VGG) vs SNR for k = 16 / 160 with and without the flow against DeepJSCC and JPEG + LDPC,
flatness, the privacy table and the paper's claims; it reads --faces (default 24), --snr, --inversion-steps
(default 20), --seed, --store, --generative-baselines, --w-steps and --privacy-snr, and writes results.json,
results.md and psnr_lpips.png into --out.

Every inversion is also written to ``--store`` (default ``OUT/inversions``), keyed by the generator and the
image's content: a full run that was interrupted resumes by running the same command again.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from edsc.cli.common import add_bundle_args, writable_dir

#: Short method names accepted by --methods (besides the full names).
METHOD_ALIASES = {
    "ours": "Editable-DeepSC", "editable-deepsc": "Editable-DeepSC",
    "jpeg-m1": "JPEG+LDPC M1", "jpeg-m2": "JPEG+LDPC M2",
    "deepjscc-m1": "DeepJSCC M1", "deepjscc-m2": "DeepJSCC M2",
}


def _floats(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one number")
    return values


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one integer")
    return values


def _names(text: str) -> tuple[str, ...]:
    return tuple(v.strip().lower() for v in text.split(",") if v.strip())


def _methods(text: str) -> tuple[str, ...]:
    out = []
    for raw in (v.strip() for v in text.split(",") if v.strip()):
        key = raw.lower().replace(" ", "-").replace("+ldpc", "")
        out.append(METHOD_ALIASES.get(key, raw))
    return tuple(out)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("eval", help="evaluate Editable-DeepSC against the baselines (Fig. 4, Tables I/III/IV)",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the <= 10 min preset (4 faces, r_inv 22, ...)")
    parser.add_argument("--out", type=Path, default=Path("eval-out"), help="output directory (default eval-out)")
    parser.add_argument("--faces", type=int, help="number of held-out faces (full 64, quick 4)")
    parser.add_argument("--snr", type=_floats, help="SNR levels in dB (default -6,0,6,12,18)")
    parser.add_argument("--fading-snr", type=_floats,
                        help="SNR levels for rayleigh/rician (default: --snr; quick -6,6,18)")
    parser.add_argument("--channels", type=_names, help="channels: awgn,rayleigh,rician (default all three)")
    parser.add_argument("--methods", type=_methods,
                        help="methods (default all): ours, jpeg-m1, jpeg-m2, deepjscc-m1, deepjscc-m2")
    parser.add_argument("--inversion-steps", type=int, help="main r_inv (full 110, quick 22)")
    parser.add_argument("--rinv-sweep", type=_ints, help="Table III r_inv values (full 70,...,150; quick 14,...,30)")
    parser.add_argument("--sweep-faces", type=int, help="faces used by the r_inv sweep (full: all, quick 2)")
    parser.add_argument("--max-edit-steps", type=int, help="JECC step budget r_edit (full 100, quick 30)")
    parser.add_argument("--ablation-steps", type=int,
                        help="field steps per degree without attribute matching (default: JECC's median)")
    parser.add_argument("--k-factor-db", type=float, help="Rician K-factor in dB (default 6)")
    parser.add_argument("--fid-channels", type=_names, help="channels that get FID/KID (full: all, quick: awgn)")
    parser.add_argument("--no-fid", action="store_true", help="skip FID/KID")
    parser.add_argument("--seed", type=int, help="faces, instructions and channel seed (default 0)")
    parser.add_argument("--deepjscc", type=Path, help="DeepJSCC weights (default bundles/baselines/deepjscc-128)")
    parser.add_argument("--jpeg-bpp", type=float, help="JPEG+LDPC rate in bits per pixel (default 0.7)")
    parser.add_argument("--ood-snr", type=_floats,
                        help="SNR levels of the out-of-distribution (artwork) experiment "
                             "(default --snr; quick -6,6,18)")
    parser.add_argument("--no-ood", action="store_true", help="skip the out-of-distribution experiment")
    parser.add_argument("--cost-steps", type=int,
                        help="inversion steps measured per resolution for Tables II/V/VI (full 10, quick 3)")
    parser.add_argument("--no-costs", action="store_true",
                        help="skip Tables II/V/VI (the 1024-px cost measurement)")
    parser.add_argument("--store", type=Path,
                        help="directory of saved inversions, reused on the next run (default OUT/inversions)")
    parser.add_argument("--no-store", action="store_true", help="keep inversions in memory only")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--generative", action="store_true",
                        help="run the generative scheme's experiment (Han et al.) instead of the paper's")
    parser.add_argument("--generative-baselines", type=_names,
                        help="generative experiment: baselines (default deepjscc,jpeg; 'none' for none)")
    parser.add_argument("--w-steps", type=int,
                        help="generative experiment: also invert into plain w with this many steps (default 0: skip)")
    parser.add_argument("--privacy-snr", type=float, help="generative experiment: SNR of the privacy table (18)")
    add_bundle_args(parser)
    # let "--snr -6,0,6" read the list as a value, not as an option (argparse only knows "-6" and "-0.5")
    parser._negative_number_matcher = re.compile(r"^-\d[\d.,\-]*$|^-\.\d[\d.,\-]*$")
    parser.set_defaults(func=run)


#: argparse destination → EvalConfig field.
_OVERRIDES = {"faces": "faces", "snr": "snrs", "fading_snr": "fading_snrs", "channels": "channels",
              "methods": "methods", "inversion_steps": "inversion_steps", "rinv_sweep": "rinv_sweep",
              "sweep_faces": "sweep_faces", "max_edit_steps": "max_edit_steps",
              "ablation_steps": "ablation_steps_per_degree", "k_factor_db": "k_factor_db",
              "fid_channels": "fid_channels", "seed": "seed", "deepjscc": "deepjscc", "jpeg_bpp": "jpeg_bpp",
              "ood_snr": "ood_snrs", "cost_steps": "cost_steps"}


def build_config(args: argparse.Namespace):
    """The preset (--quick or full) with every given option applied; raises InvalidArgumentError on bad values."""
    from edsc.eval.run import EvalConfig

    overrides = {field: getattr(args, dest) for dest, field in _OVERRIDES.items() if getattr(args, dest) is not None}
    if args.no_fid:
        overrides["fid_channels"] = ()
    if args.no_ood:
        overrides["ood"] = False
    if args.no_costs:
        overrides["costs"] = False
    return EvalConfig.quick(**overrides) if args.quick else EvalConfig(**overrides)


def run_generative(args: argparse.Namespace) -> int:
    """``edsc eval --generative``: the generative scheme's experiment."""
    from edsc.cli.common import open_bundle
    from edsc.eval.generative import GenerativeEvalConfig, run_generative_eval

    overrides = {}
    for dest, name in (("faces", "faces"), ("snr", "snrs"), ("inversion_steps", "inversion_steps"), ("seed", "seed"),
                       ("w_steps", "w_steps"), ("privacy_snr", "privacy_snr")):
        if getattr(args, dest) is not None:
            overrides[name] = getattr(args, dest)
    if args.generative_baselines is not None:
        overrides["baselines"] = tuple(b for b in args.generative_baselines if b != "none")
    config = GenerativeEvalConfig(**overrides)              # bad values refused before loading anything
    out = writable_dir(args.out, "output directory")
    store = None if args.no_store else writable_dir(args.store or args.out / "inversions", "inversion store")
    bundle = open_bundle(args)
    res = run_generative_eval(bundle, config, out, store, progress=not args.quiet,
                              command=f"edsc eval --generative --faces {config.faces} --snr "
                                      f"{','.join(f'{v:g}' for v in config.snrs)} --inversion-steps "
                                      f"{config.inversion_steps} --w-steps {config.w_steps} --out {args.out}"
                                      + (f" --store {store}" if store is not None else ""))
    for claim, v in res["claims"].items():
        print(f"[{'holds' if v['holds'] else 'does not hold':>13}] {claim}: {v['detail']}")
    print(f"generative evaluation of {bundle.version} took {res['seconds']:.0f} s; wrote {out / 'results.md'}")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.generative:
        return run_generative(args)
    from edsc.cli.common import open_bundle
    from edsc.eval.report import verdicts, write_outputs
    from edsc.eval.run import run_evaluation

    config = build_config(args)            # refuse bad options before loading anything
    store = None if args.no_store else writable_dir(args.store or args.out / "inversions", "inversion store")
    if store is not None and not args.quiet:
        held = sum(1 for _ in store.rglob("*.pt"))
        print(f"edsc eval: inversion store {store} ({held} inversions saved by earlier runs; a rerun of this "
              "command resumes from it)", file=sys.stderr)
    bundle = open_bundle(args)
    results = run_evaluation(bundle, config, progress=not args.quiet, store=store)
    paths = write_outputs(results, args.out)
    word = {True: "agrees", False: "DISAGREES", None: "not in paper"}
    for v in verdicts(results):
        print(f"[{word[v['agrees']]:>12}] {v['finding']}: {v['ours']}")
    print(f"{config.preset} evaluation of {bundle.version} took {results.facts['seconds_total']:.0f} s; "
          f"wrote {len(paths)} files to {args.out} (see {args.out / 'report.md'})", file=sys.stdout)
    return 0
