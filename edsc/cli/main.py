"""`edsc`: the command-line interface of editdsc.

Each command group lives in its own module of :mod:`edsc.cli` and exposes ``register(subparsers)``.
User errors (:class:`shared.errors.EditDSCError`) are printed as ``edsc: error: ...`` with exit status 2 and no
traceback; everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from shared.errors import EditDSCError

# Command modules, in the order `edsc --help` lists them.
COMMAND_MODULES = ("edit", "parse", "lpips", "bundle", "weights", "channel", "world", "train", "up", "web", "send",
                   "demo", "eval", "loadtest")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edsc",
        description="Editable-DeepSC emulator: text-driven face editing over a semantic communication link.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"edsc.cli.{name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except EditDSCError as exc:
        print(f"edsc: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("edsc: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
