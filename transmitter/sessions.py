"""Durable state of the transmitter: conversation sessions and the ledger of finished requests.

Every session and every answer belongs to a principal (its *owner*; empty with auth off): session ids and request
ids live in their owner's namespace, so another principal can neither see nor continue nor overwrite them.

A **session** lets a follow-up instruction edit the last sent latent without re-inverting (the paper's
conversational use); it holds the latent, the turn, the edit history and its owner. The **ledger** maps a request
id (the idempotency key) to the answer its first completed attempt got, so a retry is answered from it and nothing
is computed twice. Both live in one store so that recording an answer and advancing its session is one atomic
step: after a crash either both happened or neither did.

:class:`StateStore` is the interface; :class:`SQLiteStateStore` (one file in the transmitter's data directory,
WAL journal, ``synchronous=FULL``) is the default implementation. A session turn advances with optimistic
concurrency (``turn = expected``), so two writers can never both apply turn N.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from shared.errors import EditDSCError

MAX_HISTORY = 100          # edits kept in a session's history (oldest dropped)


class SessionConflict(EditDSCError):
    """The session moved on (another request advanced it) between reading and writing it."""


@dataclass
class Session:
    id: str
    w: torch.Tensor                 # (D,) the latent the next edit starts from (the last sent edit)
    turn: int                       # edits done so far
    created: float                  # unix seconds
    last_used: float                # unix seconds
    owner: str = ""
    history: list[dict[str, Any]] = field(default_factory=list)   # edits so far (Edit.to_dict), oldest first


@dataclass(frozen=True)
class Finished:
    """The stored answer of a completed request."""

    request_id: str
    fingerprint: str                # what the request asked for (the same id with another request is refused)
    response: bytes                 # the serialized SubmitResponse
    created: float


@dataclass(frozen=True)
class SessionWrite:
    """The session change a completed request makes: ``turn`` is the turn it produced (1 for a new image)."""

    session_id: str
    w: torch.Tensor                 # (D,)
    turn: int
    edit: dict[str, Any]
    owner: str = ""


class StateStore(ABC):
    """Sessions + ledger. Implementations are thread-safe."""

    @abstractmethod
    def session(self, owner: str, session_id: str) -> Session | None:
        """``owner``'s live session (None when unknown, expired, or another principal's)."""

    @abstractmethod
    def finished(self, owner: str, request_id: str) -> Finished | None:
        """The stored answer of ``owner``'s ``request_id`` (None when it never completed or was pruned)."""

    @abstractmethod
    def commit(self, request_id: str, fingerprint: str, response: bytes, write: SessionWrite) -> Finished:
        """Record the answer and advance the session (both ``write.owner``'s) in one step. First write wins: when
        the request id already has an answer, nothing changes and that answer is returned. Raises
        :class:`SessionConflict` when the session is no longer at ``write.turn - 1`` (for a follow-up)."""

    @abstractmethod
    def close(self) -> None: ...

    def __len__(self) -> int:       # live sessions
        raise NotImplementedError


SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    owner TEXT NOT NULL,
    id TEXT NOT NULL,
    turn INTEGER NOT NULL,
    w BLOB NOT NULL,
    dim INTEGER NOT NULL,
    history TEXT NOT NULL,
    created REAL NOT NULL,
    last_used REAL NOT NULL,
    PRIMARY KEY (owner, id)
);
CREATE INDEX IF NOT EXISTS sessions_last_used ON sessions (last_used);
CREATE TABLE IF NOT EXISTS requests (
    owner TEXT NOT NULL,
    id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    response BLOB NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (owner, id)
);
CREATE INDEX IF NOT EXISTS requests_created ON requests (created);
PRAGMA user_version = 1;
"""


def _w_bytes(w: torch.Tensor) -> tuple[bytes, int]:
    flat = w.detach().to("cpu", torch.float32).contiguous().reshape(-1)   # (D,)
    return flat.numpy().tobytes(), int(flat.numel())


def _w_tensor(blob: bytes, dim: int) -> torch.Tensor:
    return torch.frombuffer(bytearray(blob), dtype=torch.float32)[:dim].clone()


class SQLiteStateStore(StateStore):
    """Sessions and ledger in ``path`` (SQLite).

    Parameters
    ----------
    path : the database file (its folder is created).
    max_sessions : sessions kept; the least recently used beyond it are dropped.
    session_ttl_s : a session expires this long after its last use.
    max_requests : answers kept in the ledger (oldest dropped); a retry after its answer was dropped is
        recomputed, and the receiver keeps the result it stored first.
    request_ttl_s : answers older than this are dropped.
    clock : unix time source (tests).
    """

    def __init__(self, path: str | Path, max_sessions: int = 1000, session_ttl_s: float = 3600.0,
                 max_requests: int = 100_000, request_ttl_s: float = 7 * 24 * 3600.0,
                 clock: Callable[[], float] = time.time):
        if max_sessions < 1 or max_requests < 1:
            raise ValueError("max_sessions and max_requests must be >= 1")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_sessions = max_sessions
        self.session_ttl_s = session_ttl_s
        self.max_requests = max_requests
        self.request_ttl_s = request_ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        self._commits = 0

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------------ reads
    def session(self, owner: str, session_id: str) -> Session | None:
        now = self._clock()
        with self._lock:
            row = self._db.execute("SELECT id, owner, turn, w, dim, history, created, last_used FROM sessions "
                                   "WHERE owner = ? AND id = ? AND last_used >= ?",
                                   (owner, session_id, now - self.session_ttl_s)).fetchone()
            if row is None:
                return None
            self._db.execute("UPDATE sessions SET last_used = ? WHERE owner = ? AND id = ?",
                             (now, owner, session_id))
        return Session(id=row[0], owner=row[1], turn=int(row[2]), w=_w_tensor(row[3], int(row[4])),
                       history=json.loads(row[5]), created=float(row[6]), last_used=now)

    def finished(self, owner: str, request_id: str) -> Finished | None:
        with self._lock:
            row = self._db.execute("SELECT id, fingerprint, response, created FROM requests WHERE owner = ? AND "
                                   "id = ?", (owner, request_id)).fetchone()
        return Finished(row[0], row[1], bytes(row[2]), float(row[3])) if row else None

    def __len__(self) -> int:
        now = self._clock()
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM sessions WHERE last_used >= ?",
                                        (now - self.session_ttl_s,)).fetchone()[0])

    # ------------------------------------------------------------------ the write
    def commit(self, request_id: str, fingerprint: str, response: bytes, write: SessionWrite) -> Finished:
        now = self._clock()
        blob, dim = _w_bytes(write.w)
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                owner = write.owner
                row = db.execute("SELECT id, fingerprint, response, created FROM requests WHERE owner = ? AND id = ?",
                                 (owner, request_id)).fetchone()
                if row is not None:                                  # first write wins
                    db.execute("ROLLBACK")
                    return Finished(row[0], row[1], bytes(row[2]), float(row[3]))
                if write.turn <= 1:                                  # a new image: the session starts over
                    history = json.dumps([write.edit])
                    db.execute("INSERT INTO sessions (owner, id, turn, w, dim, history, created, last_used) "
                               "VALUES (?, ?, 1, ?, ?, ?, ?, ?) ON CONFLICT (owner, id) DO UPDATE SET "
                               "turn = 1, w = excluded.w, dim = excluded.dim, history = excluded.history, "
                               "created = excluded.created, last_used = excluded.last_used",
                               (owner, write.session_id, blob, dim, history, now, now))
                else:
                    cur = db.execute("SELECT history FROM sessions WHERE owner = ? AND id = ? AND turn = ?",
                                     (owner, write.session_id, write.turn - 1)).fetchone()
                    if cur is None:
                        raise SessionConflict(f"session {write.session_id} is no longer at turn {write.turn - 1}")
                    history = json.dumps((json.loads(cur[0]) + [write.edit])[-MAX_HISTORY:])
                    db.execute("UPDATE sessions SET turn = ?, w = ?, dim = ?, history = ?, last_used = ? "
                               "WHERE owner = ? AND id = ? AND turn = ?",
                               (write.turn, blob, dim, history, now, owner, write.session_id, write.turn - 1))
                db.execute("INSERT INTO requests (owner, id, fingerprint, response, created) VALUES (?, ?, ?, ?, ?)",
                           (owner, request_id, fingerprint, response, now))
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            self._commits += 1
            self._prune(now, requests=self._commits % 64 == 1)
        return Finished(request_id, fingerprint, response, now)

    def _prune(self, now: float, requests: bool = True) -> None:
        """Drop expired sessions (and, with ``requests``, old answers), enforcing the size bounds (the caller
        holds the lock)."""
        db = self._db
        db.execute("DELETE FROM sessions WHERE last_used < ?", (now - self.session_ttl_s,))
        db.execute("DELETE FROM sessions WHERE rowid IN (SELECT rowid FROM sessions ORDER BY last_used DESC "
                   "LIMIT -1 OFFSET ?)", (self.max_sessions,))
        if not requests:
            return
        db.execute("DELETE FROM requests WHERE created < ?", (now - self.request_ttl_s,))
        db.execute("DELETE FROM requests WHERE rowid IN (SELECT rowid FROM requests ORDER BY created DESC "
                   "LIMIT -1 OFFSET ?)", (self.max_requests,))

    def prune(self) -> None:
        with self._lock:
            self._prune(self._clock())


def open_state_store(data_dir: str | Path, database_url: str | None = None, **bounds) -> StateStore:
    """PostgreSQL when ``database_url`` is given (replicas share it), else SQLite in ``data_dir``."""
    if database_url:
        from transmitter.sessions_pg import PostgresStateStore
        return PostgresStateStore(database_url, **bounds)
    return SQLiteStateStore(Path(data_dir) / "transmitter.sqlite3", **bounds)
