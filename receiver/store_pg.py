"""The receiver's result store in PostgreSQL, shared by every receiver replica (psycopg 3 + psycopg-pool).

Rows and PNGs live in the database (``bytea``). The first write wins (``INSERT … ON CONFLICT DO NOTHING``), and a
stored result is announced with ``NOTIFY edsc_results`` in the same transaction: every replica's listener thread
(``LISTEN``) wakes its long-polls, so a client waiting on one replica gets a result another one stored. Schema
changes are versioned migrations applied at start (:mod:`shared.pg`).
"""

from __future__ import annotations

from typing import Optional

from receiver.store import ResultStore, StoredResult, make_cursor, parse_cursor
from shared.pg import Listener, connect_pool, migrate

CHANNEL = "edsc_results"
MIGRATIONS = [
    """
    CREATE TABLE IF NOT EXISTS results (
        owner TEXT NOT NULL,
        id TEXT NOT NULL,
        created DOUBLE PRECISION NOT NULL,
        session_id TEXT NOT NULL DEFAULT '',
        png BYTEA NOT NULL,
        metadata JSONB NOT NULL,
        PRIMARY KEY (owner, id)
    );
    CREATE INDEX IF NOT EXISTS results_created ON results (created DESC, id DESC);
    CREATE INDEX IF NOT EXISTS results_owner_created ON results (owner, created DESC, id DESC);
    """,
]
COLUMNS = "owner, id, created, session_id, metadata"


class PostgresResultStore(ResultStore):
    """Results in the database at ``url`` (``postgresql://user@host:port/db``).

    Parameters
    ----------
    url : a libpq connection URL.
    max_metadata_bytes : a result's metadata JSON may not be longer.
    pool_size : connections kept open.
    """

    def __init__(self, url: str, max_metadata_bytes: int = 32 * 1024, pool_size: int = 4):
        super().__init__()
        self.max_metadata_bytes = max_metadata_bytes
        self.pool = connect_pool(url, pool_size)
        self.schema_version = migrate(self.pool, "receiver_results", MIGRATIONS)
        self._listener = Listener(url, CHANNEL, self._notify)

    def close(self) -> None:
        self._listener.close()
        self.pool.close()

    def _insert(self, owner: str, result_id: str, created: float, session_id: str, png: bytes, meta: str) -> bool:
        with self.pool.connection() as conn:
            with conn.transaction():
                row = conn.execute("INSERT INTO results (owner, id, created, session_id, png, metadata) "
                                   "VALUES (%s, %s, %s, %s, %s, %s::jsonb) ON CONFLICT (owner, id) DO NOTHING "
                                   "RETURNING id", (owner, result_id, created, session_id, png, meta)).fetchone()
                if row is not None:
                    conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, result_id))
        return row is not None

    @staticmethod
    def _row(row, png: Optional[bytes] = None) -> StoredResult:
        return StoredResult(owner=row[0], id=row[1], created=float(row[2]), session_id=row[3] or "",
                            image_path=None, metadata=row[4], image_bytes=png)

    def get(self, result_id: str, owner: str | None = "") -> StoredResult | None:
        with self.pool.connection() as conn:
            if owner is None:
                row = conn.execute(f"SELECT {COLUMNS}, png FROM results WHERE id = %s ORDER BY created DESC LIMIT 1",
                                   (result_id,)).fetchone()
            else:
                row = conn.execute(f"SELECT {COLUMNS}, png FROM results WHERE owner = %s AND id = %s",
                                   (owner, result_id)).fetchone()
        return self._row(row[:5], bytes(row[5])) if row else None

    def list(self, limit: int = 50, after: str | None = None, session_id: str | None = None,
             owner: str | None = "") -> tuple[list[StoredResult], str | None]:
        where, args = [], []
        if owner is not None:
            where.append("owner = %s")
            args.append(owner)
        if after:
            created, rid = parse_cursor(after)
            where.append("(created < %s OR (created = %s AND id < %s))")
            args += [created, created, rid]
        if session_id:
            where.append("session_id = %s")
            args.append(session_id)
        sql = f"SELECT {COLUMNS} FROM results" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY created DESC, id DESC LIMIT %s"
        args.append(limit + 1)
        with self.pool.connection() as conn:
            rows = conn.execute(sql, args).fetchall()
        items = [self._row(r) for r in rows[:limit]]
        return items, make_cursor(items, len(rows) > limit)

    def count(self) -> int:
        with self.pool.connection() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM results").fetchone()[0])
