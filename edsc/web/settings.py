"""Configuration of the web console (environment variables with prefix ``EDSC_WEB_``, or ``edsc web`` flags)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class WebSettings(BaseSettings):
    """``EDSC_WEB_<NAME>`` for every field, e.g. ``EDSC_WEB_PORT=8080``."""

    model_config = SettingsConfigDict(env_prefix="EDSC_WEB_", extra="ignore")

    host: str = "127.0.0.1"                    # bind address
    port: int = Field(8080, ge=0, le=65535)    # the console and the proxied results API
    transmitter: str = "127.0.0.1:50051"       # gRPC HOST:PORT (or a comma-separated list of replicas)
    results: str = "http://127.0.0.1:8090"     # the receivers' HTTP base URLs, comma-separated (round robin)
    ca: Optional[Path] = None                  # PEM CA of the services' certificates (TLS to them)
    tls_cert: Optional[Path] = None            # serve the console over HTTPS with this certificate
    tls_key: Optional[Path] = None
    auth: bool = False                         # the services want tokens: the page asks for one up front
    resolution: int = Field(128, ge=16, le=1024)   # side of the built-in sample faces
    samples: int = Field(6, ge=1, le=32)       # how many built-in sample faces
    max_upload_mb: float = Field(10.0, gt=0)   # largest photo accepted
    timeout_s: float = Field(600.0, gt=0)      # deadline of one submission
    proxy_timeout_s: float = Field(300.0, gt=0)   # read timeout of a proxied call (long-polls wait up to 60 s)
    torch_threads: int = Field(1, ge=0)        # CPU threads of the comparison links (0: every core)
    deepjscc: Optional[Path] = None            # DeepJSCC weights (default: bundles/baselines/deepjscc-128)
    log_level: str = "warning"

    def result_urls(self) -> list[str]:
        urls = [u.strip().rstrip("/") for u in self.results.split(",") if u.strip()]
        return urls
