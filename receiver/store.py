"""Durable result store of the receiver: the :class:`ResultStore` interface, and its SQLite implementation (one
row per result + its PNG file, written atomically); :mod:`receiver.store_pg` has the PostgreSQL one.

The PNG is written first (temporary file + rename, :func:`shared.atomic_io.write_bytes_atomic`), then the row is
committed (WAL journal, ``synchronous=FULL``), so a row never points at a missing file and a restart loses nothing
that was acknowledged. The request id is the key and the first write wins: a second ``put`` with a stored id
changes nothing and returns what is stored (each attempt writes its own file name, so a losing attempt cannot
touch the winner's image). Readers can wait for a result that is still in flight (:meth:`ResultStore.wait`, or
:meth:`ResultStore.add_listener` for callers that must not block a thread).
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from shared.errors import InvalidArgumentError
from shared.atomic_io import write_bytes_atomic
from shared.rpc.status import quote, valid_id, valid_request_id

#: Versioned schema: MIGRATIONS[i] takes the database from user_version i to i + 1 (applied at open).
MIGRATIONS = [
    """
    CREATE TABLE IF NOT EXISTS results (
        id TEXT PRIMARY KEY,
        created REAL NOT NULL,
        session_id TEXT,
        image_file TEXT NOT NULL,
        metadata TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS results_created ON results (created, id);
    """,
    # results get an owner (the principal who asked); ids live in their owner's namespace
    """
    CREATE TABLE results_v2 (
        owner TEXT NOT NULL,
        id TEXT NOT NULL,
        created REAL NOT NULL,
        session_id TEXT,
        image_file TEXT NOT NULL,
        metadata TEXT NOT NULL,
        PRIMARY KEY (owner, id)
    );
    INSERT INTO results_v2 (owner, id, created, session_id, image_file, metadata)
        SELECT '', id, created, session_id, image_file, metadata FROM results;
    DROP TABLE results;
    ALTER TABLE results_v2 RENAME TO results;
    CREATE INDEX results_created ON results (created, id);
    CREATE INDEX results_owner_created ON results (owner, created, id);
    """,
]
COLUMNS = "owner, id, created, session_id, image_file, metadata"


def migrate(db: sqlite3.Connection) -> int:
    """Apply the migrations the database lacks, each in one transaction; returns the schema version."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    for i in range(version, len(MIGRATIONS)):
        db.execute("BEGIN IMMEDIATE")
        try:
            for statement in MIGRATIONS[i].split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {i + 1}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    return len(MIGRATIONS)


@dataclass
class StoredResult:
    id: str
    created: float
    session_id: str
    image_path: Optional[Path]          # the PNG file (file-backed stores)
    metadata: dict[str, Any]
    owner: str = ""
    image_bytes: Optional[bytes] = None  # the PNG itself (database-backed stores)

    def read_image(self) -> bytes:
        return self.image_bytes if self.image_bytes is not None else self.image_path.read_bytes()

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "created": self.created, "session_id": self.session_id, **self.metadata}


def finite_json(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None (stored JSON stays strict JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(v) for v in value]
    return value


class ResultStore(ABC):
    """Results keyed by (owner, request id); first write wins. Thread-safe.

    Every result has an owner (the principal who asked; empty with auth off). Reads name the owner whose
    namespace they look in; ``owner=None`` (administrators) looks in every namespace. Implementations:
    :class:`SQLiteResultStore` (default) and :class:`receiver.store_pg.PostgresResultStore` (shared by replicas).
    """

    max_metadata_bytes: int = 32 * 1024

    def __init__(self) -> None:
        self._listeners: list[Callable[[str], None]] = []

    def add_listener(self, fn: Callable[[str], None]) -> None:
        """Call ``fn(result_id)`` after every newly stored result (in any replica sharing the store, for stores
        that can tell); from a store thread: keep it short."""
        self._listeners.append(fn)

    def _notify(self, result_id: str) -> None:
        for fn in list(self._listeners):
            fn(result_id)

    def put(self, result_id: str, png: bytes, metadata: dict[str, Any], session_id: str = "", owner: str = ""
            ) -> tuple[StoredResult, bool]:
        """Store ``owner``'s result durably unless that id is stored already (first write wins).

        Output
        ------
        (the stored result, True when this call stored it / False when it was stored before)
        """
        valid_request_id(result_id)
        if session_id:
            valid_id(session_id, "session id")
        meta = json.dumps(finite_json(metadata), default=str, allow_nan=False)
        if len(meta) > self.max_metadata_bytes:
            raise InvalidArgumentError(f"the result's metadata is {len(meta)} bytes of JSON; the limit is "
                                       f"{self.max_metadata_bytes}")
        existing = self.get(result_id, owner)
        if existing is not None:
            return existing, False
        created = time.time()
        if not self._insert(owner, result_id, created, session_id, png, meta):
            return self.get(result_id, owner), False          # a concurrent attempt stored it first
        self._notify(result_id)
        return self.get(result_id, owner), True

    @abstractmethod
    def _insert(self, owner: str, result_id: str, created: float, session_id: str, png: bytes, meta: str) -> bool:
        """Insert unless (owner, id) exists; True when inserted."""

    #: the columns :meth:`_row` reads from a listed row, and from a row of :meth:`get` (None: the same)
    columns: str = ""
    get_columns: Optional[str] = None
    #: the database driver's parameter placeholder
    placeholder: str = "?"

    @abstractmethod
    def _fetch_all(self, sql: str, args: list[Any]) -> list[tuple]:
        """The rows of one query."""

    @abstractmethod
    def _row(self, row: tuple) -> StoredResult:
        """A result from a row of :attr:`columns` (or :attr:`get_columns`)."""

    def get(self, result_id: str, owner: str | None = "") -> StoredResult | None:
        """``owner``'s result ``result_id`` (``owner=None``: the newest with that id in any namespace)."""
        rows = self._fetch_all(*get_query(self.get_columns or self.columns, self.placeholder, result_id, owner))
        return self._row(rows[0]) if rows else None

    def list(self, limit: int = 50, after: str | None = None, session_id: str | None = None,
             owner: str | None = "") -> tuple[list[StoredResult], str | None]:
        """``owner``'s results (``None``: everyone's), newest first; ``after`` is the cursor of the previous page."""
        rows = self._fetch_all(*list_query(self.columns, self.placeholder, limit, after, session_id, owner))
        items = [self._row(r) for r in rows[:limit]]
        return items, make_cursor(items, len(rows) > limit)

    def count(self) -> int:
        return int(self._fetch_all("SELECT COUNT(*) FROM results", [])[0][0])

    @abstractmethod
    def close(self) -> None: ...

    def wait(self, result_id: str, timeout_s: float, owner: str | None = "") -> StoredResult | None:
        """The result, waiting up to ``timeout_s`` for it to be stored (blocks a thread: servers use
        :meth:`add_listener` instead)."""
        deadline = time.monotonic() + max(0.0, timeout_s)
        arrived = threading.Event()

        def listener(rid: str) -> None:
            if rid == result_id:
                arrived.set()

        self.add_listener(listener)
        try:
            while True:
                found = self.get(result_id, owner)
                left = deadline - time.monotonic()
                if found is not None or left <= 0:
                    return found
                arrived.wait(min(left, 0.5))
                arrived.clear()
        finally:
            self._listeners.remove(listener)


def parse_cursor(after: str) -> tuple[float, str]:
    created_s, _, rid = after.partition(":")
    try:
        created = float(created_s)
    except ValueError:
        raise ValueError(f"bad cursor {quote(after, 40)}") from None
    if not math.isfinite(created):
        raise ValueError(f"bad cursor {quote(after, 40)}")
    return created, rid


def make_cursor(items: list[StoredResult], more: bool) -> str | None:
    return f"{items[-1].created!r}:{items[-1].id}" if more and items else None


def get_query(columns: str, placeholder: str, result_id: str, owner: str | None) -> tuple[str, list[Any]]:
    """The SQL and arguments that read ``owner``'s result ``result_id`` (``owner=None``: the newest with that id
    in any namespace); ``placeholder`` is the driver's (``?`` SQLite, ``%s`` psycopg)."""
    p = placeholder
    if owner is None:
        return f"SELECT {columns} FROM results WHERE id = {p} ORDER BY created DESC LIMIT 1", [result_id]
    return f"SELECT {columns} FROM results WHERE owner = {p} AND id = {p}", [owner, result_id]


def list_query(columns: str, placeholder: str, limit: int, after: str | None, session_id: str | None,
               owner: str | None) -> tuple[str, list[Any]]:
    """The SQL and arguments of one page of results, newest first: ``owner``'s (None: everyone's), of
    ``session_id`` when given, after the cursor ``after``; ``limit + 1`` rows, so the caller can tell whether
    another page follows."""
    p = placeholder
    where, args = [], []
    if owner is not None:
        where.append(f"owner = {p}")
        args.append(owner)
    if after:
        created, rid = parse_cursor(after)
        where.append(f"(created < {p} OR (created = {p} AND id < {p}))")
        args += [created, created, rid]
    if session_id:
        where.append(f"session_id = {p}")
        args.append(session_id)
    sql = f"SELECT {columns} FROM results" + (" WHERE " + " AND ".join(where) if where else "")
    return sql + f" ORDER BY created DESC, id DESC LIMIT {p}", args + [limit + 1]


class SQLiteResultStore(ResultStore):
    """Results under ``root``: ``results.sqlite3`` and ``images/<id>.<token>.png``.

    The PNG is written first (atomically), then the row is committed; each attempt writes its own file name, so
    a losing attempt cannot touch the winner's image.

    Parameters
    ----------
    root : the folder (created).
    max_metadata_bytes : a result's metadata JSON may not be longer (bounds every response that lists results).
    """

    columns = COLUMNS
    placeholder = "?"

    def __init__(self, root: str | Path, max_metadata_bytes: int = 32 * 1024):
        super().__init__()
        self.root = Path(root)
        self.max_metadata_bytes = max_metadata_bytes
        self.images = self.root / "images"
        self.images.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._db = sqlite3.connect(self.root / "results.sqlite3", check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self.schema_version = migrate(self._db)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _insert(self, owner: str, result_id: str, created: float, session_id: str, png: bytes, meta: str) -> bool:
        name = f"{result_id}.{secrets.token_hex(8)}.png"
        write_bytes_atomic(self.images / name, png)
        with self._cond:
            self._db.execute("BEGIN IMMEDIATE")
            cur = self._db.execute(f"INSERT INTO results ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) "
                                   "ON CONFLICT (owner, id) DO NOTHING",
                                   (owner, result_id, created, session_id, name, meta))
            self._db.execute("COMMIT")
            new = cur.rowcount == 1
            if new:
                self._cond.notify_all()
        if not new:
            (self.images / name).unlink(missing_ok=True)
        return new

    def _row(self, row: tuple) -> StoredResult:
        return StoredResult(owner=row[0], id=row[1], created=row[2], session_id=row[3] or "",
                            image_path=self.images / row[4], metadata=json.loads(row[5]))

    def _fetch_all(self, sql: str, args: list[Any]) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()


def open_result_store(store_dir: str | Path, database_url: str | None = None,
                      max_metadata_bytes: int = 32 * 1024) -> ResultStore:
    """PostgreSQL when ``database_url`` is given (``postgresql://…``), else SQLite + files under ``store_dir``."""
    if database_url:
        from receiver.store_pg import PostgresResultStore
        return PostgresResultStore(database_url, max_metadata_bytes=max_metadata_bytes)
    return SQLiteResultStore(store_dir, max_metadata_bytes=max_metadata_bytes)
