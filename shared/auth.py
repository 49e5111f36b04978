"""Who is calling: bearer tokens for clients, a service credential (or mutual TLS) for the services' own calls.

**Tokens file** (``EDSC_AUTH_TOKENS_FILE``): one principal per line, ``PRINCIPAL TOKEN [ROLE]`` with ROLE ``user``
(default) or ``admin``; ``#`` starts a comment. When it is set, the transmitter's client RPCs and every receiver
HTTP route but ``/healthz`` and ``/readyz`` need ``authorization: Bearer TOKEN`` (gRPC metadata or HTTP header).
Tokens are compared in constant time (over every entry, on SHA-256 digests), never logged, and the file is re-read
on SIGHUP (a file that does not parse leaves the previous table in force).

**Internal RPCs** (``ChannelService.Transmit`` / ``ValidateChannel``, ``ReceiverService.Deliver``) are callable only
by the services: with TLS on, by a peer whose certificate the CA signed (mutual TLS); with TLS off and auth on, with
the service credential ``EDSC_SERVICE_TOKEN`` (or ``EDSC_SERVICE_TOKEN_FILE``). A client token there is
PERMISSION_DENIED.

The principal of the current call is available to handlers through :func:`current_principal`.
"""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Optional

import grpc

from shared.errors import EditDSCError, quote

log = logging.getLogger("editdsc.auth")
ROLES = ("user", "admin")
MIN_TOKEN_CHARS = 16
_TOKEN_RE = re.compile(r"[\x21-\x7e]+")
_NAME_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. ``name`` is empty for the anonymous caller of a service without auth."""

    name: str
    role: str = "user"          # user | admin | service

    @property
    def is_admin(self) -> bool:
        return self.role in ("admin", "service") or not self.name

    @property
    def owner(self) -> str:
        """What results and sessions record as their owner."""
        return self.name


ANONYMOUS = Principal("", "user")
SERVICE = Principal("service", "service")
_current: contextvars.ContextVar[Principal] = contextvars.ContextVar("editdsc_principal", default=ANONYMOUS)


def current_principal() -> Principal:
    """The principal of the call being handled (ANONYMOUS when auth is off)."""
    return _current.get()


class TokenFileError(EditDSCError):
    """The tokens file does not parse."""


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def parse_tokens(text: str, source: str = "tokens file") -> list[tuple[Principal, bytes]]:
    """Lines ``PRINCIPAL TOKEN [ROLE]`` → (principal, SHA-256 of the token). Errors name the line, never the token."""
    out: list[tuple[Principal, bytes]] = []
    names, digests = set(), set()
    for no, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) not in (2, 3):
            raise TokenFileError(f"{source} line {no}: expected 'PRINCIPAL TOKEN [ROLE]'")
        name, token = parts[0], parts[1]
        role = parts[2] if len(parts) == 3 else "user"
        if not _NAME_RE.fullmatch(name):
            raise TokenFileError(f"{source} line {no}: principal {quote(name, 40)} must be 1-64 letters, "
                                 "digits, '.', '_', '-' (not starting with '.')")
        if role not in ROLES:
            raise TokenFileError(f"{source} line {no}: role {quote(role, 20)} must be one of {', '.join(ROLES)}")
        if len(token) < MIN_TOKEN_CHARS or not _TOKEN_RE.fullmatch(token):
            raise TokenFileError(f"{source} line {no}: the token must be at least {MIN_TOKEN_CHARS} printable "
                                 "characters")
        d = _digest(token)
        if name in names:
            raise TokenFileError(f"{source} line {no}: principal {name} appears twice")
        if d in digests:
            raise TokenFileError(f"{source} line {no}: this token is already used by another principal")
        names.add(name)
        digests.add(d)
        out.append((Principal(name, role), d))
    return out


class TokenTable:
    """Tokens read from a file; :meth:`reload` re-reads it (on SIGHUP)."""

    def __init__(self, path: str | Path | None = None, entries: Iterable[tuple[Principal, bytes]] = ()):
        self.path = Path(path) if path else None
        self._entries: list[tuple[Principal, bytes]] = list(entries)
        self._lock = threading.Lock()
        if self.path is not None:
            self.reload(strict=True)

    @classmethod
    def from_text(cls, text: str) -> "TokenTable":
        return cls(entries=parse_tokens(text))

    def reload(self, strict: bool = False) -> bool:
        """Re-read the file; on an error keep the current table (``strict``: raise instead). True when loaded."""
        try:
            if not self.path.is_file():
                raise TokenFileError(f"tokens file {self.path} does not exist")
            entries = parse_tokens(self.path.read_text(), str(self.path))
        except (OSError, TokenFileError, UnicodeDecodeError) as exc:
            if strict:
                raise TokenFileError(str(exc)) from None
            log.error("tokens file not reloaded; the previous table stays in force", extra={"detail": str(exc)})
            return False
        with self._lock:
            self._entries = entries
        log.info("tokens loaded", extra={"principals": len(entries)})
        return True

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, token: str) -> Optional[Principal]:
        """The principal of ``token``, comparing against every entry in constant time."""
        d = _digest(token)
        with self._lock:
            entries = list(self._entries)
        found = None
        for principal, digest in entries:
            if hmac.compare_digest(d, digest):
                found = principal
        return found


def bearer(value: str | None) -> Optional[str]:
    """The token of an ``authorization: Bearer TOKEN`` value (None when absent or another scheme)."""
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


@dataclass
class AuthPolicy:
    """What a service requires.

    Parameters
    ----------
    tokens : the client tokens (None: auth off for client RPCs).
    service_token : the service credential for internal RPCs when TLS is off (None: none required).
    mtls : internal callers are authenticated by mutual TLS (the gRPC server requires a CA-signed client
        certificate, so reaching a handler proves it).
    client_methods, internal_methods : full method names (``/editdsc.v1.X/Y``).
    """

    tokens: Optional[TokenTable]
    service_token: Optional[str]
    mtls: bool
    client_methods: frozenset[str]
    internal_methods: frozenset[str]

    @property
    def enabled(self) -> bool:
        return self.tokens is not None or self.service_token is not None

    def authenticate(self, method: str, authorization: str | None) -> Principal:
        """The caller's principal, or a ``(code, message)`` raised as :class:`AuthError`."""
        token = bearer(authorization)
        if method in self.internal_methods:
            if self.mtls:
                return SERVICE
            if self.service_token is None:
                return SERVICE if self.tokens is None else self._internal_refused(token)
            if token is not None and hmac.compare_digest(_digest(token), _digest(self.service_token)):
                return SERVICE
            return self._internal_refused(token)
        if method in self.client_methods and self.tokens is not None:
            if token is None:
                raise AuthError(grpc.StatusCode.UNAUTHENTICATED,
                                "this service needs 'authorization: Bearer TOKEN' (edsc send --token / EDSC_TOKEN)")
            principal = self.tokens.lookup(token)
            if principal is None:
                raise AuthError(grpc.StatusCode.UNAUTHENTICATED, "the token is not valid")
            return principal
        return ANONYMOUS

    def _internal_refused(self, token: str | None) -> Principal:
        if token is not None and self.tokens is not None and self.tokens.lookup(token) is not None:
            raise AuthError(grpc.StatusCode.PERMISSION_DENIED, "this RPC is internal to the services; client "
                                                               "tokens cannot call it")
        raise AuthError(grpc.StatusCode.UNAUTHENTICATED, "this RPC is internal to the services and needs the "
                                                         "service credential")


class AuthError(Exception):
    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _aborting(handler: grpc.RpcMethodHandler, code: grpc.StatusCode, message: str) -> grpc.RpcMethodHandler:
    def abort(request, context):
        context.abort(code, message)

    def abort_stream(request, context):
        context.abort(code, message)
        yield  # pragma: no cover

    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(abort_stream, request_deserializer=handler.request_deserializer,
                                                    response_serializer=handler.response_serializer)
    return grpc.unary_unary_rpc_method_handler(abort, request_deserializer=handler.request_deserializer,
                                               response_serializer=handler.response_serializer)


def _as(principal: Principal, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    if handler.unary_unary:
        inner = handler.unary_unary

        def unary(request, context):
            token = _current.set(principal)
            try:
                return inner(request, context)
            finally:
                _current.reset(token)
        return grpc.unary_unary_rpc_method_handler(unary, request_deserializer=handler.request_deserializer,
                                                   response_serializer=handler.response_serializer)
    if handler.unary_stream:
        inner_s = handler.unary_stream

        def stream(request, context):
            token = _current.set(principal)
            try:
                yield from inner_s(request, context)
            finally:
                try:
                    _current.reset(token)
                except ValueError:      # resumed in another context: nothing to restore there
                    pass
        return grpc.unary_stream_rpc_method_handler(stream, request_deserializer=handler.request_deserializer,
                                                    response_serializer=handler.response_serializer)
    return handler


class AuthInterceptor(grpc.ServerInterceptor):
    """Authenticates every call once (before its handler) by :class:`AuthPolicy`; the handler runs with
    :func:`current_principal` set. Calls outside the policy's method sets (health, reflection) pass unchanged."""

    def __init__(self, policy: AuthPolicy, on_refused: Callable[[str, grpc.StatusCode], None] | None = None):
        self.policy = policy
        self.on_refused = on_refused

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method not in (self.policy.client_methods | self.policy.internal_methods):
            return handler
        auth = None
        for key, value in handler_call_details.invocation_metadata or ():
            if key == "authorization":
                auth = value
        try:
            principal = self.policy.authenticate(method, auth)
        except AuthError as exc:
            if self.on_refused:
                self.on_refused(method, exc.code)
            return _aborting(handler, exc.code, exc.message)
        return _as(principal, handler)
