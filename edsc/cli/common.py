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


def writable_dir(path: Path, what: str) -> Path:
    """Create ``path`` if needed and check that files can be written there, before any long work starts; raises
    :class:`~shared.errors.InvalidArgumentError` naming ``what`` and the reason."""
    from shared.errors import InvalidArgumentError
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise InvalidArgumentError(f"cannot write the {what} {path}: {exc.strerror or exc}") from None
    return path
