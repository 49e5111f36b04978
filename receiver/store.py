"""Durable result store of the receiver: one SQLite row per result + its PNG, written atomically.

The PNG is written first (temporary file + rename, :func:`shared.image_io.write_bytes_atomic`), then the row is
committed (WAL journal, ``synchronous=FULL``), so a row never points at a missing file and a restart loses nothing
that was acknowledged. Readers can wait for a result that is still in flight (:meth:`ResultStore.wait`).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.image_io import write_bytes_atomic
from shared.rpc.status import valid_request_id

SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    session_id TEXT,
    image_file TEXT NOT NULL,
    metadata TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS results_created ON results (created, id);
"""


@dataclass
class StoredResult:
    id: str
    created: float
    session_id: str
    image_path: Path
    metadata: dict[str, Any]

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "created": self.created, "session_id": self.session_id, **self.metadata}


class ResultStore:
    """Results under ``root``: ``results.sqlite3`` and ``images/<id>.png``. Thread-safe."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.images = self.root / "images"
        self.images.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._db = sqlite3.connect(self.root / "results.sqlite3", check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def put(self, result_id: str, png: bytes, metadata: dict[str, Any], session_id: str = "") -> StoredResult:
        """Store (or replace) a result durably; wakes every waiter."""
        valid_request_id(result_id)
        name = f"{result_id}.png"
        write_bytes_atomic(self.images / name, png)
        created = time.time()
        meta = json.dumps(metadata, default=str, allow_nan=True)
        with self._cond:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("INSERT OR REPLACE INTO results (id, created, session_id, image_file, metadata) "
                             "VALUES (?, ?, ?, ?, ?)", (result_id, created, session_id, name, meta))
            self._db.execute("COMMIT")
            self._cond.notify_all()
        return StoredResult(result_id, created, session_id, self.images / name, metadata)

    def _row(self, row) -> StoredResult:
        return StoredResult(id=row[0], created=row[1], session_id=row[2] or "", image_path=self.images / row[3],
                            metadata=json.loads(row[4]))

    def get(self, result_id: str) -> StoredResult | None:
        with self._lock:
            row = self._db.execute("SELECT id, created, session_id, image_file, metadata FROM results WHERE id = ?",
                                   (result_id,)).fetchone()
        return self._row(row) if row else None

    def wait(self, result_id: str, timeout_s: float) -> StoredResult | None:
        """The result, waiting up to ``timeout_s`` for it to be stored."""
        deadline = time.monotonic() + max(0.0, timeout_s)
        while True:
            found = self.get(result_id)
            left = deadline - time.monotonic()
            if found is not None or left <= 0:
                return found
            with self._cond:
                self._cond.wait(min(left, 1.0))

    def list(self, limit: int = 50, after: str | None = None, session_id: str | None = None
             ) -> tuple[list[StoredResult], str | None]:
        """Newest first; ``after`` is the cursor returned by the previous page."""
        sql = "SELECT id, created, session_id, image_file, metadata FROM results"
        where, args = [], []
        if after:
            created_s, _, rid = after.partition(":")
            try:
                created = float(created_s)
            except ValueError:
                raise ValueError(f"bad cursor {after!r}") from None
            where.append("(created < ? OR (created = ? AND id < ?))")
            args += [created, created, rid]
        if session_id:
            where.append("session_id = ?")
            args.append(session_id)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created DESC, id DESC LIMIT ?"
        args.append(limit + 1)
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        items = [self._row(r) for r in rows[:limit]]
        cursor = f"{items[-1].created!r}:{items[-1].id}" if len(rows) > limit and items else None
        return items, cursor

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM results").fetchone()[0])
