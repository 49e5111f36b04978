"""`edsc parse "INSTRUCTION"`: the instruction parser (SE_T) alone: text → typed edit."""

from __future__ import annotations

import argparse
import json

from edsc.cli.common import add_bundle_args, open_bundle


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("parse", help="parse an instruction into a typed edit")
    parser.add_argument("instruction", help='e.g. "make the bangs a bit longer"')
    parser.add_argument("--json", action="store_true",
                        help='print {"attribute", "mode", "direction", "change", "target"} as JSON')
    add_bundle_args(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from transmitter.instruction import InstructionParser

    bundle = open_bundle(args)
    parser = InstructionParser(bundle.language, bundle.vocabulary(), bundle.attributes)
    edit = parser.parse(args.instruction)
    if args.json:
        print(json.dumps(edit.to_dict()))
    else:
        d = edit.to_dict()
        if d["mode"] == "target":
            print(f"{d['attribute']}: set to degree {d['target']}")
        else:
            amount = d["change"] if d["change"] is not None else "1 (indefinite)"
            print(f"{d['attribute']}: {'increase' if d['direction'] > 0 else 'decrease'} by {amount}")
    return 0
