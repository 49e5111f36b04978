"""Typed errors of the link contract, usable on both ends of the link."""

from __future__ import annotations

from shared.errors import InvalidArgumentError

__all__ = ["ChannelParameterError"]


class ChannelParameterError(InvalidArgumentError):
    """A channel parameter or a message sent over the channel is invalid.

    Raised for an unknown channel model or parameter, an SNR outside :data:`shared.channel.limits.SNR_RANGE_DB`,
    NaN/Inf symbols, an empty message, an odd number of real values to pair, and so on. It derives from
    :class:`shared.errors.InvalidArgumentError` (and therefore from :class:`ValueError`), which the services map
    to gRPC ``INVALID_ARGUMENT`` and the CLI prints as ``edsc: error: <message>``.
    """
