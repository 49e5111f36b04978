"""Helpers the command modules share. Heavy imports (torch, Sionna) stay inside functions so `edsc --help` is fast."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_bundle_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bundle", type=Path, default=None,
                        help="model bundle directory (default: $EDSC_BUNDLE or bundles/synthface-128)")
    parser.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:N")


def open_bundle(args: argparse.Namespace):
    """The bundle named by --bundle / $EDSC_BUNDLE on the device named by --device / $EDSC_DEVICE."""
    from shared.bundle import Bundle
    from shared.config import pick_device, settings
    return Bundle(args.bundle or settings().bundle, device=pick_device(args.device))
