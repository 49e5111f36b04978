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

from typing import TYPE_CHECKING, Literal, TypeVar

from typing import Optional

from pydantic import Field, SecretStr, ValidationError
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


LogLevel = Literal["debug", "info", "warning", "error"]
LogFormat = Literal["json", "text"]


class ServiceSettings(BaseSettings):
    """The fields every service has; each service's class sets its own ``env_prefix`` and defaults
    (``EDSC_TRANSMITTER_``, ``EDSC_CHANNEL_``, ``EDSC_RECEIVER_``)."""

    model_config = SettingsConfigDict(extra="ignore")

    host: str = "127.0.0.1"                 # bind address of the service (0.0.0.0 in containers)
    port: int = Field(0, ge=0, le=65535)    # gRPC port
    max_in_flight: int = Field(32, ge=1)    # admitted requests; beyond this: RESOURCE_EXHAUSTED
    max_message_mb: float = Field(16.0, gt=0)   # gRPC max send/receive message size
    metrics_port: int = Field(0, ge=0, le=65535)   # Prometheus /metrics on its own port (0: off)
    metrics_host: str = "127.0.0.1"         # bind address of that port
    torch_threads: int = Field(1, ge=0)     # intra-op CPU threads (0: every core)
    grace_s: float = Field(10.0, ge=0)      # graceful-shutdown grace period
    log_level: LogLevel = "info"
    log_format: LogFormat = "json"
    tls_cert: Optional[Path] = None         # PEM certificate: serve over TLS (and present it to downstream services)
    tls_key: Optional[Path] = None          # its PEM private key
    tls_ca: Optional[Path] = None           # PEM CA that signed the peers' certificates (verifies them)
    reflection: Optional[bool] = None       # gRPC server reflection (default: on unless auth is on)
    max_connection_age_s: float = Field(0.0, ge=0)   # close client connections this old (0: never), so clients
    #                                                  re-resolve a service name after scale-up
    # the same for every service (no per-service prefix):
    auth_tokens_file: Optional[Path] = Field(None, validation_alias="EDSC_AUTH_TOKENS_FILE")
    service_token: Optional[SecretStr] = Field(None, validation_alias="EDSC_SERVICE_TOKEN")
    service_token_file: Optional[Path] = Field(None, validation_alias="EDSC_SERVICE_TOKEN_FILE")
    allow_insecure: bool = Field(False, validation_alias="EDSC_ALLOW_INSECURE")
    database_url: Optional[SecretStr] = Field(None, validation_alias="EDSC_DATABASE_URL")   # postgresql://…:
    #                                         results and sessions shared by replicas (default: SQLite files)

    @property
    def max_message_bytes(self) -> int:
        return int(self.max_message_mb * 1024 * 1024)

    def database_url_value(self) -> Optional[str]:
        return self.database_url.get_secret_value() if self.database_url is not None else None

    def service_token_value(self) -> Optional[str]:
        """The service credential (from EDSC_SERVICE_TOKEN or the file EDSC_SERVICE_TOKEN_FILE names)."""
        if self.service_token is not None:
            return self.service_token.get_secret_value().strip() or None
        if self.service_token_file is not None:
            try:
                return self.service_token_file.read_text().strip() or None
            except OSError as exc:
                raise InvalidArgumentError(f"EDSC_SERVICE_TOKEN_FILE: cannot read {self.service_token_file}: "
                                           f"{exc.strerror}") from None
        return None


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
