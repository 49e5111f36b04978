"""Error → gRPC status mapping and request-id metadata, shared by the three servers and the client."""

from __future__ import annotations

import uuid

import grpc

from shared.errors import BundleError, EditDSCError, InvalidArgumentError, WeightsUnavailableError

REQUEST_ID_KEY = "x-request-id"
MAX_REQUEST_ID = 128


class ServiceError(Exception):
    """An error with an explicit gRPC status code (raised inside handlers, turned into ``context.abort``)."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status code and message an exception maps to."""
    if isinstance(exc, ServiceError):
        return exc.code, exc.message
    if isinstance(exc, grpc.RpcError) and hasattr(exc, "code"):
        return exc.code(), exc.details() or ""
    if isinstance(exc, InvalidArgumentError):
        return grpc.StatusCode.INVALID_ARGUMENT, str(exc)
    if isinstance(exc, (BundleError, WeightsUnavailableError)):
        return grpc.StatusCode.FAILED_PRECONDITION, str(exc)
    if isinstance(exc, EditDSCError):
        return grpc.StatusCode.FAILED_PRECONDITION, str(exc)
    if isinstance(exc, TimeoutError):
        return grpc.StatusCode.DEADLINE_EXCEEDED, str(exc) or "deadline exceeded"
    return grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}: {exc}"


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
    return uuid.uuid4().hex


def valid_request_id(value: str) -> str:
    """Check a caller-chosen request id (used in file names and URLs)."""
    if not value or len(value) > MAX_REQUEST_ID or not all(c.isalnum() or c in "-_." for c in value) \
            or value.startswith("."):
        raise InvalidArgumentError(
            f"request id {value[:40]!r} is invalid: use 1-{MAX_REQUEST_ID} characters of letters, digits, '-', '_', '.'")
    return value


def metadata_request_id(context: grpc.ServicerContext) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == REQUEST_ID_KEY:
            return value
    return None


def outgoing_metadata(request_id: str) -> tuple[tuple[str, str], ...]:
    return ((REQUEST_ID_KEY, request_id),)
