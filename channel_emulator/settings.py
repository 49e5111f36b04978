"""Configuration of the channel service (environment variables with prefix ``EDSC_CHANNEL_``)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class ChannelServiceSettings(BaseSettings):
    """``EDSC_CHANNEL_<NAME>`` for every field, e.g. ``EDSC_CHANNEL_PORT=50052``."""

    model_config = SettingsConfigDict(env_prefix="EDSC_CHANNEL_", extra="ignore")

    host: str = "127.0.0.1"                   # bind address (0.0.0.0 in containers)
    port: int = 50052
    receiver_address: str = "127.0.0.1:50053"  # where Transmit forwards to
    device: str = "cpu"                        # torch device of the channel computation
    equalizer: str = "mmse"                    # asked of the receiver: mmse | zf | none
    max_in_flight: int = 32                    # beyond this: RESOURCE_EXHAUSTED
    max_message_mb: float = 16.0               # gRPC max send/receive message size
    downstream_timeout_s: float = 300.0        # receiver call timeout when the caller set no deadline
    metrics_port: int = 9102                   # Prometheus /metrics (0: off)
    metrics_host: str = "127.0.0.1"
    torch_threads: int = 1
    grace_s: float = 10.0                      # graceful-shutdown grace period
    log_level: str = "info"
    log_format: str = "json"                   # json | text
