"""PostgreSQL plumbing both ends' stores use: a connection pool, versioned migrations, a LISTEN thread.

Migrations are numbered per component (``schema_migrations(component, version)``); :func:`migrate` applies the
missing ones in order, each in its own transaction, under an advisory lock so that replicas starting together
apply each one once.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable, Sequence

from shared.errors import EditDSCError

log = logging.getLogger("editdsc.pg")


class DatabaseError(EditDSCError):
    """The database cannot be reached or its schema is newer than this code."""


def connect_pool(url: str, size: int = 4):
    """An open :class:`psycopg_pool.ConnectionPool` (autocommit connections) to ``url``; fails fast."""
    from psycopg_pool import ConnectionPool

    pool = ConnectionPool(url, min_size=1, max_size=max(1, size), kwargs={"autocommit": True}, open=False,
                          name="editdsc")
    try:
        pool.open(wait=True, timeout=15.0)
    except Exception as exc:  # noqa: BLE001 - PoolTimeout, OperationalError: say what and where
        pool.close()
        raise DatabaseError(f"cannot connect to the database ({type(exc).__name__}); check EDSC_DATABASE_URL") \
            from None
    return pool


def migrate(pool, component: str, migrations: Sequence[str]) -> int:
    """Apply ``migrations[v:]`` where ``v`` is the component's recorded version; returns the new version."""
    with pool.connection() as conn:
        with conn.transaction():
            # one lock for every component: replicas starting together must not race on CREATE TABLE either
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (0x6564_7363,))
            conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT PRIMARY KEY, version "
                         "INTEGER NOT NULL)")
            row = conn.execute("SELECT version FROM schema_migrations WHERE component = %s", (component,)).fetchone()
            version = int(row[0]) if row else 0
            if version > len(migrations):
                raise DatabaseError(f"the database's {component} schema is version {version}; this code knows "
                                    f"{len(migrations)}: upgrade editdsc")
            for i in range(version, len(migrations)):
                conn.execute(migrations[i])
                conn.execute("INSERT INTO schema_migrations (component, version) VALUES (%s, %s) ON CONFLICT "
                             "(component) DO UPDATE SET version = excluded.version", (component, i + 1))
                log.info("schema migrated", extra={"component": component, "version": i + 1})
    return len(migrations)


class Listener:
    """A thread that LISTENs on ``channel`` and calls ``callback(payload)`` for every notification (reconnecting
    after a dropped connection)."""

    def __init__(self, url: str, channel: str, callback: Callable[[str], None]):
        self.url, self.channel, self.callback = url, channel, callback
        self._stop = threading.Event()
        self._conn = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"listen-{channel}", daemon=True)
        self._thread.start()
        self._ready.wait(10.0)

    def _run(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True) as conn:
                    self._conn = conn
                    conn.execute(f"LISTEN {self.channel}")
                    self._ready.set()
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=0.5):
                            try:
                                self.callback(note.payload)
                            except Exception:  # noqa: BLE001 - a listener's failure must not stop the thread
                                log.exception("notification callback failed")
            except Exception as exc:  # noqa: BLE001 - reconnect
                if self._stop.is_set():
                    return
                log.warning("LISTEN connection lost; reconnecting", extra={"detail": type(exc).__name__})
                self._stop.wait(1.0)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5.0)
