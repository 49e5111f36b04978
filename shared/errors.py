"""Typed errors shared by every package.

Every error a user can cause derives from :class:`EditDSCError`; its message is written for the user and
names the problem. The CLI prints it without a traceback and exits with status 2; the gRPC services map
the subclasses onto status codes (``INVALID_ARGUMENT``, ``FAILED_PRECONDITION``, ...).
"""

from __future__ import annotations


class EditDSCError(Exception):
    """Base class of every user-facing error of the project."""


class InvalidArgumentError(EditDSCError, ValueError):
    """Bad input from the caller (image, instruction, SNR, channel parameter). gRPC: INVALID_ARGUMENT."""


class BundleError(EditDSCError):
    """A model bundle is missing, incomplete or inconsistent. gRPC: FAILED_PRECONDITION."""


class WeightsUnavailableError(EditDSCError):
    """Pretrained weights (e.g. the LPIPS backbone) are not available offline. gRPC: FAILED_PRECONDITION."""
