"""The receiver's result store in PostgreSQL, shared by every receiver replica (psycopg 3 + psycopg-pool).

Rows and PNGs live in the database (``bytea``). The first write wins (``INSERT … ON CONFLICT DO NOTHING``), and a
stored result is announced with ``NOTIFY edsc_results`` in the same transaction: every replica's listener thread
(``LISTEN``) wakes its long-polls, so a client waiting on one replica gets a result another one stored. Schema
changes are versioned migrations applied at start (:mod:`shared.pg`).
"""

from __future__ import annotations

from typing import Any

from receiver.store import ResultStore, StoredResult
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

    columns = COLUMNS
    get_columns = COLUMNS + ", png"
    placeholder = "%s"

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

    def _row(self, row: tuple) -> StoredResult:
        png = bytes(row[5]) if len(row) > 5 else None                 # get() reads the PNG, list() does not
        return StoredResult(owner=row[0], id=row[1], created=float(row[2]), session_id=row[3] or "",
                            image_path=None, metadata=row[4], image_bytes=png)

    def _fetch_all(self, sql: str, args: list[Any]) -> list[tuple]:
        with self.pool.connection() as conn:
            return conn.execute(sql, args).fetchall()
