"""Typed errors shared by every package.

Every error a user can cause derives from :class:`EditDSCError`; its message is written for the user and
names the problem. The CLI prints it without a traceback and exits with status 2; the gRPC services map
the subclasses onto status codes (``INVALID_ARGUMENT``, ``FAILED_PRECONDITION``, ...).
"""

from __future__ import annotations

MAX_QUOTE = 100              # characters of user input a message quotes


def quote(value: object, limit: int = MAX_QUOTE) -> str:
    """``value`` for an error message: at most ``limit`` characters, printable ASCII escapes, in quotes,
    with an ellipsis and the full length when cut."""
    text = value if isinstance(value, str) else str(value)
    shown = text[:limit].encode("ascii", "backslashreplace").decode("ascii")
    shown = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in shown)
    return f"'{shown}'" + (f"... ({len(text)} characters)" if len(text) > limit else "")


class EditDSCError(Exception):
    """Base class of every user-facing error of the project."""


class InvalidArgumentError(EditDSCError, ValueError):
    """Bad input from the caller (image, instruction, SNR, channel parameter). gRPC: INVALID_ARGUMENT."""


class BundleError(EditDSCError):
    """A model bundle is missing, incomplete or inconsistent. gRPC: FAILED_PRECONDITION."""


class WeightsUnavailableError(EditDSCError):
    """Pretrained weights (e.g. the LPIPS backbone) are not available offline. gRPC: FAILED_PRECONDITION."""


class ResourceExhaustedError(EditDSCError):
    """A bounded resource (memory for decoding, queue places) stays full; the caller may retry later.
    gRPC: RESOURCE_EXHAUSTED."""
