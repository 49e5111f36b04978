"""`edsc bundle ...`: inspect, verify, measure, create and import model bundles."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edsc.cli.common import add_bundle_args, open_bundle, writable_dir


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("bundle", help="inspect, measure, create or import model bundles")
    group = parser.add_subparsers(dest="bundle_command", metavar="ACTION")
    group.required = True

    info = group.add_parser("info", help="print a bundle's manifest summary and parameter counts")
    info.add_argument("--bundle", type=Path, default=None)
    info.add_argument("--json", action="store_true")
    info.set_defaults(func=_info)

    rep = group.add_parser("report", help="measure a bundle on held-out SynthFace faces, pass/fail per metric")
    add_bundle_args(rep)
    rep.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    rep.add_argument("--faces", type=int, default=200, help="held-out faces inverted and edited (default 200)")
    rep.add_argument("--inversion-steps", type=int, default=110, help="r_inv (default 110, the paper's)")
    rep.add_argument("--max-edit-steps", type=int, default=100, help="JECC step budget r_edit (default 100)")
    rep.add_argument("--sections", default=None,
                     help="comma-separated subset of generator,inversion,predictor,parser,jecc,adapters,cost")
    rep.add_argument("--out", type=Path, default=None, help="also write DIR/report.json and DIR/report.md")
    rep.add_argument("--seed", type=int, default=0, help="seed of the held-out faces and sentences (default 0)")
    rep.add_argument("--batch", type=int, default=50, help="batch size of inversion, JECC and models (default 50)")
    rep.add_argument("--predictor-faces", type=int, default=500, help="faces of the predictor section (default 500)")
    rep.add_argument("--parser-sentences", type=int, default=1500,
                     help="sentences per variant of the parser section (default 1500)")
    rep.add_argument("--inversion-cache", type=Path, default=None, metavar="DIR",
                     help="save the shared inversion in DIR and reuse it when bundle, faces, seed, r_inv and batch "
                          "match (lets you rerun jecc/adapters without inverting again)")
    rep.add_argument("--strict", action="store_true", help="exit 1 when a check fails")
    rep.add_argument("--quiet", action="store_true", help="no progress on stderr")
    rep.set_defaults(func=_report)

    rnd = group.add_parser("init-random", help="write a tiny untrained bundle (for tests and previews)")
    rnd.add_argument("--out", type=Path, required=True)
    rnd.add_argument("--size", type=int, default=64, help="resolution (default 64)")
    rnd.add_argument("--seed", type=int, default=0)
    rnd.set_defaults(func=_init_random)

    ros = group.add_parser("import-rosinality", help="import a rosinality stylegan2-pytorch checkpoint")
    ros.add_argument("ckpt", type=Path)
    ros.add_argument("--size", type=int, required=True)
    ros.add_argument("--channel-multiplier", type=int, default=2)
    ros.add_argument("--out", type=Path, required=True)
    ros.add_argument("--name", default=None)
    ros.add_argument("--trust-pickle", action="store_true", help="allow checkpoints holding pickled objects")
    ros.set_defaults(func=_import_rosinality)

    t2e = group.add_parser("import-talk2edit", help="import Talk-to-Edit's pretrained_models folder")
    t2e.add_argument("directory", type=Path)
    t2e.add_argument("--resolution", type=int, choices=[128, 1024], required=True)
    t2e.add_argument("--out", type=Path, required=True)
    t2e.add_argument("--vocab", type=Path, default=None, help="Talk-to-Edit's vocab.json (default DIR/vocab.json)")
    t2e.add_argument("--trust-pickle", action="store_true", help="allow checkpoints holding pickled objects")
    t2e.set_defaults(func=_import_talk2edit)


def _info(args: argparse.Namespace) -> int:
    from shared.bundle import Bundle
    from shared.config import settings

    bundle = Bundle(args.bundle or settings().bundle)
    m = bundle.manifest
    counts = bundle.parameter_counts()
    info = {
        "path": str(bundle.path), "version": bundle.version, "description": m.description,
        "resolution": m.resolution, "latent_dim": m.latent_dim, "attributes": m.attributes,
        "max_degree": m.max_degree, "adapter_snr_db": m.adapter_snr_db,
        "components": {k: {"arch": v.arch, "parameters": counts[k]} for k, v in m.components.items()},
        "provenance": m.provenance,
    }
    if "adapters" in counts:
        codec = bundle.adapters
        core = sum(counts[c] for c in ("generator", "predictor", "fields", "adapters") if c in counts)
        per_level = codec.bank.parameter_count(codec.snr_levels[0])
        info["tuned_parameters_per_snr_level"] = per_level
        info["tuned_share_per_snr_level"] = per_level / core
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print(f"{info['version']}  ({bundle.path})\n  {m.description}")
        print(f"  resolution {m.resolution}, latent {m.latent_dim}, attributes {', '.join(m.attributes)} (0..{m.max_degree})")
        for k, v in info["components"].items():
            print(f"  {k:15s} {v['arch']:20s} {v['parameters']:>12,d} parameters")
        if "tuned_share_per_snr_level" in info:
            print(f"  A_CE + A_CD per SNR level: {info['tuned_parameters_per_snr_level']:,d} parameters = "
                  f"{100 * info['tuned_share_per_snr_level']:.2f} % of generator + predictor + fields + adapters")
    return 0


def _report(args: argparse.Namespace) -> int:
    from edsc.eval.bundle import bundle_report, report_markdown

    if args.inversion_cache is not None:
        writable_dir(args.inversion_cache, "inversion cache")
    report = bundle_report(open_bundle(args), faces=args.faces, seed=args.seed, inversion_steps=args.inversion_steps,
                           progress=not args.quiet, sections=args.sections, batch=args.batch,
                           predictor_faces=args.predictor_faces, parser_sentences=args.parser_sentences,
                           edit_steps=args.max_edit_steps, inversion_cache=args.inversion_cache)
    markdown = report_markdown(report)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        (args.out / "report.md").write_text(markdown)
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    elif sys.stdout.isatty():
        from rich.console import Console
        from rich.markdown import Markdown
        Console().print(Markdown(markdown))
    else:
        print(markdown, end="")
    return 1 if args.strict and not report["passed"] else 0


def _init_random(args: argparse.Namespace) -> int:
    from edsc.random_bundle import make_random_bundle
    print(make_random_bundle(args.out, size=args.size, seed=args.seed))
    return 0


def _import_rosinality(args: argparse.Namespace) -> int:
    from edsc.bundle_import import import_rosinality
    print(import_rosinality(args.ckpt, args.size, args.channel_multiplier, args.out, args.name, args.trust_pickle))
    return 0


def _import_talk2edit(args: argparse.Namespace) -> int:
    from edsc.bundle_import import import_talk2edit
    print(import_talk2edit(args.directory, args.resolution, args.out, args.vocab, args.trust_pickle))
    return 0
