"""Run-time configuration both ends use: the compute device, the weights cache and the default bundle.

Every value can be set through an environment variable (prefix ``EDSC_``) so services, the CLI and tests agree:

===================  ==========================================  ==========================================
variable             default                                     meaning
===================  ==========================================  ==========================================
``EDSC_DEVICE``      ``auto``                                    ``auto`` (CUDA when present), ``cpu``, ``cuda``, ``cuda:N``
``EDSC_CACHE_DIR``   ``~/.cache/editdsc``                        converted third-party weights (LPIPS backbone)
``EDSC_BUNDLE``      ``<repo>/bundles/synthface-128``            the model bundle used when none is given
===================  ==========================================  ==========================================
"""

from __future__ import annotations

import os
from pathlib import Path

from typing import TYPE_CHECKING, TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.errors import InvalidArgumentError

if TYPE_CHECKING:  # torch is imported lazily: `edsc --help` should not pay for it
    import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILTIN_BUNDLE = REPO_ROOT / "bundles" / "synthface-128"


class CommonSettings(BaseSettings):
    """Settings every process reads (``EDSC_*`` environment variables)."""

    model_config = SettingsConfigDict(env_prefix="EDSC_", extra="ignore")

    device: str = "auto"
    cache_dir: Path = Path(os.path.expanduser("~")) / ".cache" / "editdsc"
    bundle: Path = BUILTIN_BUNDLE


def settings() -> CommonSettings:
    """The current settings (read from the environment on every call, so tests can change it)."""
    return CommonSettings()


SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def load_settings(cls: type[SettingsT]) -> SettingsT:
    """``cls()`` read from the environment, for a service's ``main``: a bad value ends the process with exit
    code 1 and one line per bad variable (name, problem, value) instead of a traceback."""
    try:
        return cls()
    except ValidationError as exc:
        prefix = str(cls.model_config.get("env_prefix", ""))
        lines = [f"{prefix}{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']} (got {e.get('input')!r})"
                 for e in exc.errors()]
        raise SystemExit("bad setting:\n  " + "\n  ".join(lines)) from None


def pick_device(preference: str | None = None) -> "torch.device":
    """Resolve a device preference.

    Parameters
    ----------
    preference : str | None
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``;
        ``None`` reads ``EDSC_DEVICE``.

    Output
    ------
    torch.device
    """
    import torch

    pref = (preference or settings().device).strip().lower()
    if pref == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if pref == "cpu":
        return torch.device("cpu")
    if pref.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InvalidArgumentError(f"device {pref!r} was requested but CUDA is not available on this machine")
        return torch.device(pref)
    raise InvalidArgumentError(f"unknown device {preference!r}: use auto, cpu, cuda or cuda:N")


def cache_dir() -> Path:
    """The weights cache directory (created on demand)."""
    path = settings().cache_dir.expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path
