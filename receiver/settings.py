"""Configuration of the receiver service (environment variables with prefix ``EDSC_RECEIVER_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from pydantic_settings import BaseSettings, SettingsConfigDict


class ReceiverServiceSettings(BaseSettings):
    """``EDSC_RECEIVER_<NAME>`` for every field, e.g. ``EDSC_RECEIVER_HTTP_PORT=8080``."""

    model_config = SettingsConfigDict(env_prefix="EDSC_RECEIVER_", extra="ignore")

    host: str = "127.0.0.1"                 # bind address of gRPC and HTTP (0.0.0.0 in containers)
    port: int = 50053                       # gRPC (ReceiverService.Deliver)
    http_port: int = 8080                   # FastAPI: results, /healthz, /readyz, /metrics, /docs
    bundle: Optional[Path] = None           # default: EDSC_BUNDLE (shared.config)
    device: Optional[str] = None            # default: EDSC_DEVICE
    store_dir: Path = Path("receiver-data")  # SQLite database + PNG files
    max_in_flight: int = 16                 # beyond this: RESOURCE_EXHAUSTED
    max_message_mb: float = 16.0
    max_wait_s: float = 60.0                # longest long-poll (?wait=) accepted
    page_size_max: int = 200
    metrics_port: int = 0                   # /metrics is on the HTTP port; a separate port is optional
    torch_threads: int = 1
    grace_s: float = 10.0
    load_delay_s: float = 0.0               # tests: pretend the weights take this long to load
    log_level: str = "info"
    log_format: str = "json"
