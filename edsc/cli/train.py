"""`edsc train STAGE|all|assemble`: the built-in bundle's training recipe (see edsc/train/recipe.py).

`edsc train generative` trains the second seed system's flow and codec (:mod:`edsc.train.generative`) on the
generator of the bundle in --out, in RUNS/generative (resumable), and installs the finished component into that
bundle (the manifest's ``generative`` entry and its sha256; ``--bundle-version`` also sets the version)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

_STAGES = ("generator", "predictor", "eval_predictor", "identity", "parser", "fields", "adapters")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("train", help="train the built-in bundle on SynthFace, stage by stage (resumable)")
    parser.add_argument("stage", choices=(*_STAGES, "generative", "all", "assemble", "status"),
                        help="one stage, 'all' (every stage not yet done, then the bundle), 'assemble' (write the "
                             "bundle from finished stages) or 'status'")
    parser.add_argument("--runs", type=Path, default=Path("runs/synthface-128"),
                        help="root of the stages' run directories (default runs/synthface-128)")
    parser.add_argument("--out", type=Path, default=Path("bundles/synthface-128"),
                        help="where 'all' / 'assemble' write the bundle (default bundles/synthface-128)")
    parser.add_argument("--preset", choices=("cpu", "cuda"), default=None,
                        help="stage sizes: cpu (sized for 2 CPU cores) or cuda (larger; for the generator, the "
                             "three phases the shipped generator was trained with); default from --device")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--time-limit", type=float, default=None, metavar="SECONDS",
                        help="stop a single stage cleanly after this long (resumable; generator, predictors, "
                             "identity, parser)")
    parser.add_argument("--force", action="store_true", help="retrain the stage even if it is done")
    parser.add_argument("--bundle-version", default=None,
                        help="generative: the version the bundle's manifest gets when the component is installed")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from edsc.train import recipe
    from shared.config import pick_device
    from shared.errors import InvalidArgumentError

    if args.threads is not None and args.threads < 1:
        raise InvalidArgumentError(f"--threads must be >= 1, got {args.threads}")
    if args.time_limit is not None and args.time_limit <= 0:
        raise InvalidArgumentError(f"--time-limit must be positive, got {args.time_limit}")
    device = str(pick_device(args.device))
    preset = args.preset or ("cuda" if device.startswith("cuda") else "cpu")
    if args.stage == "generative":
        return _generative(args)
    if args.stage == "status":
        status = {s: recipe.stage_done(args.runs, s) for s in recipe.STAGES}
        print(json.dumps({"runs": str(args.runs), "done": status}, indent=2))
        return 0
    if args.stage == "assemble":
        path = recipe.assemble_bundle(args.runs, args.out)
        print(f"bundle written to {path}", file=sys.stderr)
        return 0
    if args.stage == "all":
        recipe.train_all(args.runs, args.out, preset=preset, device=device, threads=args.threads)
        return 0
    metrics = recipe.run_stage(args.stage, args.runs, preset=preset, device=device, time_limit=args.time_limit,
                               threads=args.threads, force=args.force)
    short = {k: v for k, v in metrics.items() if isinstance(v, (int, float, str, bool)) or v is None}
    print(json.dumps({"stage": args.stage, **short}, indent=2))
    return 0


def _generative(args: argparse.Namespace) -> int:
    import torch

    from edsc.train.generative import GenerativeTrainConfig, install_component, train_generative
    from shared.bundle import Bundle

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    run = args.runs / "generative"
    bank, metrics = train_generative(GenerativeTrainConfig(), run, Bundle(args.out).generator,
                                     time_limit=args.time_limit)
    short = {"stage": "generative", "complete": metrics.get("complete"), "seconds": metrics.get("seconds"),
             "run": str(run)}
    if metrics.get("complete"):
        short["manifest"] = str(install_component(args.out, run, args.bundle_version))
    print(json.dumps(short, indent=2))
    return 0
