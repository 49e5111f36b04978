"""Configuration of the receiver service (environment variables with prefix ``EDSC_RECEIVER_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.config import ServiceSettings


class ReceiverServiceSettings(ServiceSettings):
    """``EDSC_RECEIVER_<NAME>`` for every field, e.g. ``EDSC_RECEIVER_HTTP_PORT=8080``."""

    model_config = SettingsConfigDict(env_prefix="EDSC_RECEIVER_", extra="ignore")

    port: int = Field(50053, ge=0, le=65535)   # gRPC (ReceiverService.Deliver)
    http_port: int = Field(8080, ge=0, le=65535)   # FastAPI: results, /healthz, /readyz, /metrics, /docs
    bundle: Optional[Path] = None           # default: EDSC_BUNDLE (shared.config)
    device: Optional[str] = None            # default: EDSC_DEVICE
    store_dir: Path = Path("receiver-data")  # SQLite database + PNG files
    equalizer: Literal["mmse", "zf", "none"] = "mmse"   # when a Deliver names none
    max_in_flight: int = Field(16, ge=1)
    max_wait_s: float = Field(60.0, ge=0)   # longest long-poll (?wait=) accepted
    max_waiters: int = Field(1000, ge=1)    # long-polls parked at once; beyond: HTTP 503
    page_size_max: int = Field(100, ge=1)
    max_metadata_kb: int = Field(32, ge=1)  # a stored result's metadata JSON (bounds every listing)
    metrics_port: int = Field(0, ge=0, le=65535)   # /metrics is on the HTTP port; a separate port is optional
    load_delay_s: float = Field(0.0, ge=0)  # tests: pretend the weights take this long to load
