"""Configuration of the transmitter service (environment variables with prefix ``EDSC_TRANSMITTER_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class TransmitterServiceSettings(BaseSettings):
    """``EDSC_TRANSMITTER_<NAME>`` for every field, e.g. ``EDSC_TRANSMITTER_MAX_BATCH_SIZE=8``."""

    model_config = SettingsConfigDict(env_prefix="EDSC_TRANSMITTER_", extra="ignore")

    host: str = "127.0.0.1"                   # bind address (0.0.0.0 in containers)
    port: int = 50051
    channel_address: str = "127.0.0.1:50052"  # the channel service
    bundle: Optional[Path] = None             # default: EDSC_BUNDLE (shared.config)
    device: Optional[str] = None              # default: EDSC_DEVICE (auto: CUDA when present)
    inversion_steps: int = 110                # r_inv when the request leaves it at 0
    inversion_init: str = "auto"              # inversion start: auto | mean | encoder (transmitter.inversion_init)
    inversion_keep_degrees: bool = True       # degree guard: the best iterate P reads as the photo (inversion.py)
    edit_steps: int = 100                     # r_edit (JECC max steps) when the request leaves it at 0
    edit_channel_draws: int = Field(0, ge=0, le=64)   # JECC scores stage candidates on simulated receptions (jecc.py)
    max_inversion_steps: int = 1000           # cap on a request's inversion_steps
    max_edit_steps: int = 1000                # cap on a request's edit_steps
    max_batch_size: int = 8                   # micro-batch size (1: micro-batching off)
    max_batch_wait_ms: float = 20.0           # how long the first request of a batch waits for company
    max_in_flight: int = 32                   # admitted requests (queued + computing); beyond: RESOURCE_EXHAUSTED
    max_sessions: int = 1000                  # sessions kept (least recently used evicted)
    session_ttl_s: float = 3600.0             # a session expires this long after its last use
    max_message_mb: float = 16.0              # gRPC max send/receive size (images up to 10 MiB)
    downstream_timeout_s: float = 300.0       # channel call timeout when the caller set no deadline
    metrics_port: int = 9101                  # Prometheus /metrics (0: off)
    metrics_host: str = "127.0.0.1"
    torch_threads: int = 0                    # intra-op CPU threads; 0: every core (batched inversion scales with them)
    grace_s: float = 10.0                     # graceful-shutdown grace period
    load_delay_s: float = 0.0                 # tests: pretend the weights take this long to load
    log_level: str = "info"
    log_format: str = "json"
