"""Error → gRPC status mapping and request-id metadata, shared by the three servers and the client."""

from __future__ import annotations

import re
import secrets

import grpc

from shared.errors import BundleError, EditDSCError, InvalidArgumentError, ResourceExhaustedError, \
    WeightsUnavailableError, quote

REQUEST_ID_KEY = "x-request-id"
MAX_REQUEST_ID = 128
ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,%d}" % MAX_REQUEST_ID)   # request and session ids
MAX_STATUS_MESSAGE = 1000    # characters of a status message (it travels in a trailer)


def bounded_message(message: str, limit: int = MAX_STATUS_MESSAGE) -> str:
    """A status message cut to ``limit`` characters (trailers have a size limit)."""
    return message if len(message) <= limit else message[: limit - 3] + "..."


class ServiceError(Exception):
    """An error with an explicit gRPC status code (raised inside handlers, turned into ``context.abort``)."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status code and message an exception maps to."""
    if isinstance(exc, ServiceError):
        return exc.code, bounded_message(exc.message)
    if isinstance(exc, grpc.RpcError) and hasattr(exc, "code"):
        return exc.code(), exc.details() or ""
    if isinstance(exc, InvalidArgumentError):
        return grpc.StatusCode.INVALID_ARGUMENT, bounded_message(str(exc))
    if isinstance(exc, ResourceExhaustedError):
        return grpc.StatusCode.RESOURCE_EXHAUSTED, bounded_message(str(exc))
    if isinstance(exc, (BundleError, WeightsUnavailableError)):
        return grpc.StatusCode.FAILED_PRECONDITION, bounded_message(str(exc))
    if isinstance(exc, EditDSCError):
        return grpc.StatusCode.FAILED_PRECONDITION, bounded_message(str(exc))
    if isinstance(exc, TimeoutError):
        return grpc.StatusCode.DEADLINE_EXCEEDED, bounded_message(str(exc) or "deadline exceeded")
    # the exception text may hold user input or internals: it goes to the log, not to the caller
    return grpc.StatusCode.INTERNAL, f"internal error ({type(exc).__name__}); see the service log"


def downstream_error(exc: grpc.RpcError, service: str) -> ServiceError:
    """Map a failed downstream call to the status this service answers with.

    UNAVAILABLE (and a cancelled / unreachable peer) stay UNAVAILABLE so the client may retry; the caller's
    errors (INVALID_ARGUMENT, ...) pass through with the downstream's message."""
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    details = (exc.details() if hasattr(exc, "details") else "") or ""
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED, grpc.StatusCode.UNKNOWN):
        return ServiceError(grpc.StatusCode.UNAVAILABLE, f"the {service} service is unavailable: {details}")
    return ServiceError(code, f"{service}: {details}" if not details.startswith(service) else details)


def new_request_id() -> str:
    """A server-chosen id: 128 random bits as 32 hex digits."""
    return secrets.token_hex(16)


def valid_id(value: str, what: str = "request id") -> str:
    """Check a caller-chosen request or session id: ``[A-Za-z0-9._-]{1,128}``, not starting with a dot (ids name
    files and appear in URLs and metadata)."""
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value) or value.startswith("."):
        raise InvalidArgumentError(
            f"{what} {quote(value, 40)} is invalid: use 1-{MAX_REQUEST_ID} ASCII letters, digits, '-', '_' or '.' "
            "(not starting with '.')")
    return value


def valid_request_id(value: str) -> str:
    """Check a caller-chosen request id (used in file names and URLs)."""
    return valid_id(value, "request id")


def metadata_request_id(context: grpc.ServicerContext) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == REQUEST_ID_KEY:
            return value
    return None


def outgoing_metadata(request_id: str) -> tuple[tuple[str, str], ...]:
    return ((REQUEST_ID_KEY, request_id),)
