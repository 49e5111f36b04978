"""`edsc bundle ...`: inspect, verify, create and import model bundles."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("bundle", help="inspect, verify, create or import model bundles")
    group = parser.add_subparsers(dest="bundle_command", metavar="ACTION")
    group.required = True

    info = group.add_parser("info", help="print a bundle's manifest summary and parameter counts")
    info.add_argument("--bundle", type=Path, default=None)
    info.add_argument("--json", action="store_true")
    info.set_defaults(func=_info)

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
