"""Configuration of the transmitter service (environment variables with prefix ``EDSC_TRANSMITTER_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.config import ServiceSettings


class TransmitterServiceSettings(ServiceSettings):
    """``EDSC_TRANSMITTER_<NAME>`` for every field, e.g. ``EDSC_TRANSMITTER_MAX_BATCH_SIZE=8``."""

    model_config = SettingsConfigDict(env_prefix="EDSC_TRANSMITTER_", extra="ignore")

    port: int = Field(50051, ge=0, le=65535)
    channel_address: str = "127.0.0.1:50052"  # the channel service
    bundle: Optional[Path] = None             # default: EDSC_BUNDLE (shared.config)
    device: Optional[str] = None              # default: EDSC_DEVICE (auto: CUDA when present)
    data_dir: Path = Path("transmitter-data")  # sessions and the ledger of answered request ids (SQLite)
    inversion_steps: int = Field(110, ge=0)   # r_inv when the request leaves it at 0
    inversion_init: Literal["auto", "mean", "encoder"] = "auto"   # inversion start (transmitter.inversion_init)
    inversion_keep_degrees: bool = True       # degree guard: the best iterate P reads as the photo (inversion.py)
    edit_steps: int = Field(100, ge=0)        # r_edit (JECC max steps) when the request leaves it at 0
    inversion_cache_entries: int = Field(64, ge=0)   # inversions kept in memory by (image sha256, r_inv, owner)
    edit_channel_draws: int = Field(0, ge=0, le=64)   # JECC scores stage candidates on simulated receptions (jecc.py)
    max_inversion_steps: int = Field(1000, ge=0)   # cap on a request's inversion_steps
    max_edit_steps: int = Field(1000, ge=0)   # cap on a request's edit_steps
    max_batch_size: int = Field(8, ge=1)      # micro-batch size (1: micro-batching off)
    max_batch_wait_ms: float = Field(20.0, ge=0)   # how long the first request of a batch waits for company
    max_in_flight: int = Field(32, ge=1)      # admitted requests (queued + computing); beyond: RESOURCE_EXHAUSTED
    max_sessions: int = Field(1000, ge=1)     # sessions kept (least recently used dropped)
    session_ttl_s: float = Field(3600.0, gt=0)   # a session expires this long after its last use
    max_requests_kept: int = Field(100_000, ge=1)   # answers kept for retries (oldest dropped)
    request_ttl_s: float = Field(7 * 24 * 3600.0, gt=0)   # how long an answer is kept for retries
    downstream_timeout_s: float = Field(300.0, gt=0)   # channel call timeout when the caller set no deadline
    forward_min_s: float = Field(30.0, gt=0)  # a computed edit is forwarded with at least this long, even when
    #                                           its caller's deadline is nearer, so a retry finds it stored
    metrics_port: int = Field(9101, ge=0, le=65535)
    torch_threads: int = Field(0, ge=0)       # 0: every core (batched inversion scales with them)
    load_delay_s: float = Field(0.0, ge=0)    # tests: pretend the weights take this long to load
