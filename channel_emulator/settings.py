"""Configuration of the channel service (environment variables with prefix ``EDSC_CHANNEL_``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.config import ServiceSettings


class ChannelServiceSettings(ServiceSettings):
    """``EDSC_CHANNEL_<NAME>`` for every field, e.g. ``EDSC_CHANNEL_PORT=50052``."""

    model_config = SettingsConfigDict(env_prefix="EDSC_CHANNEL_", extra="ignore")

    port: int = Field(50052, ge=0, le=65535)
    receiver_address: str = "127.0.0.1:50053"  # where Transmit forwards to
    device: str = "cpu"                        # torch device of the channel computation
    equalizer: Literal["mmse", "zf", "none"] = "mmse"   # asked of the receiver
    downstream_timeout_s: float = Field(300.0, gt=0)   # receiver call timeout when the caller set no deadline
    metrics_port: int = Field(9102, ge=0, le=65535)
