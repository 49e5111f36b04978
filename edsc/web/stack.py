"""The services and the console on free loopback ports, for the console's tests, screenshots and benchmark."""

from __future__ import annotations

import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

from shared.config import REPO_ROOT

BUILT_IN_BUNDLE = REPO_ROOT / "bundles" / "synthface-128"


@contextmanager
def console_stack(bundle: Optional[Path] = None, steps: int = 8, root: Optional[Path] = None,
                  env: Optional[dict[str, str]] = None, timeout_s: float = 300.0) -> Iterator["Launcher"]:  # noqa: F821
    """Start transmitter, channel, receiver and console (CPU, one thread each, r_inv = r_edit = ``steps``) and
    yield the :class:`~edsc.launcher.Launcher` (``console_url``); everything stops on exit. ``root`` holds the
    stores and logs (None: a temporary folder, removed afterwards)."""
    from edsc.launcher import Launcher, Ports, free_ports

    own = root is None
    root = Path(tempfile.mkdtemp(prefix="edsc-console-")) if own else Path(root)
    tx, ch, rx, results, console = free_ports(5)
    launcher = Launcher(ports=Ports(tx, ch, rx, results, 0, 0, console), bundle=Path(bundle or BUILT_IN_BUNDLE),
                        store_dir=root / "store", log_dir=root / "logs",
                        env={"EDSC_DEVICE": "cpu", "EDSC_TRANSMITTER_INVERSION_STEPS": str(steps),
                             "EDSC_TRANSMITTER_EDIT_STEPS": str(steps), "EDSC_TRANSMITTER_TORCH_THREADS": "1",
                             "EDSC_CHANNEL_TORCH_THREADS": "1", "EDSC_RECEIVER_TORCH_THREADS": "1",
                             "EDSC_WEB_TORCH_THREADS": "1", **(env or {})})
    try:
        launcher.start_all()
        launcher.wait_healthy(timeout_s)
        yield launcher
    finally:
        launcher.stop_all()
        if own:
            shutil.rmtree(root, ignore_errors=True)
