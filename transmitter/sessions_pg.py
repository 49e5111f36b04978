"""The transmitter's sessions and ledger in PostgreSQL, shared by every transmitter replica.

Same contract as :class:`transmitter.sessions.SQLiteStateStore`: answering a request and advancing its session is
one transaction; the first answer of a request id wins (``INSERT … ON CONFLICT DO NOTHING RETURNING``); a turn
advances only from the expected one (``UPDATE … WHERE turn = %s RETURNING``), so two replicas can never both apply
turn N of a session.
"""

from __future__ import annotations

import json
import time
from typing import Callable

from shared.pg import connect_pool, migrate
from transmitter.sessions import (MAX_HISTORY, Finished, Session, SessionConflict, SessionWrite, StateStore,
                                  _w_bytes, _w_tensor)

MIGRATIONS = [
    """
    CREATE TABLE IF NOT EXISTS tx_sessions (
        owner TEXT NOT NULL,
        id TEXT NOT NULL,
        turn INTEGER NOT NULL,
        w BYTEA NOT NULL,
        dim INTEGER NOT NULL,
        history JSONB NOT NULL,
        created DOUBLE PRECISION NOT NULL,
        last_used DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (owner, id)
    );
    CREATE INDEX IF NOT EXISTS tx_sessions_last_used ON tx_sessions (last_used);
    CREATE TABLE IF NOT EXISTS tx_requests (
        owner TEXT NOT NULL,
        id TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        response BYTEA NOT NULL,
        created DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (owner, id)
    );
    CREATE INDEX IF NOT EXISTS tx_requests_created ON tx_requests (created);
    """,
]


class PostgresStateStore(StateStore):
    """Sessions and ledger in the database at ``url``; bounds as :class:`~transmitter.sessions.SQLiteStateStore`."""

    def __init__(self, url: str, max_sessions: int = 1000, session_ttl_s: float = 3600.0,
                 max_requests: int = 100_000, request_ttl_s: float = 7 * 24 * 3600.0,
                 clock: Callable[[], float] = time.time, pool_size: int = 4):
        self.max_sessions, self.session_ttl_s = max_sessions, session_ttl_s
        self.max_requests, self.request_ttl_s = max_requests, request_ttl_s
        self._clock = clock
        self.pool = connect_pool(url, pool_size)
        self.schema_version = migrate(self.pool, "transmitter_state", MIGRATIONS)
        self._commits = 0

    def close(self) -> None:
        self.pool.close()

    def session(self, owner: str, session_id: str) -> Session | None:
        now = self._clock()
        with self.pool.connection() as conn:
            row = conn.execute("UPDATE tx_sessions SET last_used = %s WHERE owner = %s AND id = %s AND last_used >= %s "
                               "RETURNING id, owner, turn, w, dim, history, created",
                               (now, owner, session_id, now - self.session_ttl_s)).fetchone()
        if row is None:
            return None
        return Session(id=row[0], owner=row[1], turn=int(row[2]), w=_w_tensor(bytes(row[3]), int(row[4])),
                       history=row[5], created=float(row[6]), last_used=now)

    def finished(self, owner: str, request_id: str) -> Finished | None:
        with self.pool.connection() as conn:
            row = conn.execute("SELECT id, fingerprint, response, created FROM tx_requests WHERE owner = %s AND "
                               "id = %s", (owner, request_id)).fetchone()
        return Finished(row[0], row[1], bytes(row[2]), float(row[3])) if row else None

    def __len__(self) -> int:
        with self.pool.connection() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM tx_sessions WHERE last_used >= %s",
                                    (self._clock() - self.session_ttl_s,)).fetchone()[0])

    def commit(self, request_id: str, fingerprint: str, response: bytes, write: SessionWrite) -> Finished:
        now = self._clock()
        blob, dim = _w_bytes(write.w)
        owner = write.owner
        with self.pool.connection() as conn:
            with conn.transaction():
                inserted = conn.execute(
                    "INSERT INTO tx_requests (owner, id, fingerprint, response, created) VALUES (%s, %s, %s, %s, %s) "
                    "ON CONFLICT (owner, id) DO NOTHING RETURNING id",
                    (owner, request_id, fingerprint, response, now)).fetchone()
                if inserted is None:                                         # first write wins
                    row = conn.execute("SELECT id, fingerprint, response, created FROM tx_requests WHERE owner = %s "
                                       "AND id = %s", (owner, request_id)).fetchone()
                    return Finished(row[0], row[1], bytes(row[2]), float(row[3]))
                if write.turn <= 1:
                    conn.execute(
                        "INSERT INTO tx_sessions (owner, id, turn, w, dim, history, created, last_used) "
                        "VALUES (%s, %s, 1, %s, %s, %s::jsonb, %s, %s) ON CONFLICT (owner, id) DO UPDATE SET turn = 1, "
                        "w = excluded.w, dim = excluded.dim, history = excluded.history, created = excluded.created, "
                        "last_used = excluded.last_used",
                        (owner, write.session_id, blob, dim, json.dumps([write.edit]), now, now))
                else:
                    row = conn.execute(
                        "UPDATE tx_sessions SET turn = %s, w = %s, dim = %s, last_used = %s, "
                        "history = (CASE WHEN jsonb_array_length(history) >= %s THEN history - 0 ELSE history END) "
                        "|| jsonb_build_array(%s::jsonb) "
                        "WHERE owner = %s AND id = %s AND turn = %s RETURNING turn",
                        (write.turn, blob, dim, now, MAX_HISTORY, json.dumps(write.edit), owner, write.session_id,
                         write.turn - 1)).fetchone()
                    if row is None:                                          # rolls the answer back too
                        raise SessionConflict(f"session {write.session_id} is no longer at turn {write.turn - 1}")
            self._commits += 1
            conn.execute("DELETE FROM tx_sessions WHERE last_used < %s", (now - self.session_ttl_s,))
            conn.execute("DELETE FROM tx_sessions WHERE (owner, id) IN (SELECT owner, id FROM tx_sessions ORDER BY "
                         "last_used DESC OFFSET %s)", (self.max_sessions,))
            if self._commits % 64 == 1:
                conn.execute("DELETE FROM tx_requests WHERE created < %s", (now - self.request_ttl_s,))
                conn.execute("DELETE FROM tx_requests WHERE (owner, id) IN (SELECT owner, id FROM tx_requests ORDER "
                             "BY created DESC OFFSET %s)", (self.max_requests,))
        return Finished(request_id, fingerprint, response, now)
