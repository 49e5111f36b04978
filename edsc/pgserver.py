"""A throw-away PostgreSQL server on loopback for tests, benchmarks and trying replicas on one machine.

It uses the machine's PostgreSQL binaries (Debian: ``apt-get install postgresql``; initdb refuses to run as root,
so as root it runs them as the ``postgres`` user), a fresh data folder, trust authentication for the user
``edsc`` and a free port; :meth:`TempPostgres.stop` removes everything.

    with TempPostgres() as url:
        edsc up --database-url URL ...
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Optional

from shared.errors import EditDSCError


def postgres_bindir() -> Optional[Path]:
    """The newest installed PostgreSQL's bin folder (None when there is none)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TempPostgres:
    """Start with :meth:`start` (returns the URL), stop with :meth:`stop`; or use as a context manager."""

    def __init__(self, fsync: bool = False):
        self.fsync = fsync
        self.root: Optional[Path] = None
        self.url: Optional[str] = None
        self._as_pg: list[str] = []

    def start(self) -> str:
        bindir = postgres_bindir()
        if bindir is None:
            raise EditDSCError("PostgreSQL is not installed (apt-get install postgresql)")
        self.root = Path(tempfile.mkdtemp(prefix="edsc-pg-"))
        data, sock = self.root / "data", self.root / "sock"
        sock.mkdir()
        port = _free_port()
        if os.geteuid() == 0:
            self._as_pg = ["runuser", "-u", "postgres", "--"]
            for p in (self.root, sock):
                shutil.chown(p, "postgres")
        self._bindir = bindir
        try:
            subprocess.run(self._as_pg + [str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "edsc",
                                          "--no-sync"], check=True, capture_output=True, timeout=120)
            opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {sock}" + ("" if self.fsync else " -c fsync=off")
            subprocess.run(self._as_pg + [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(self.root / "log"),
                                          "-w", "-o", opts, "start"], check=True, capture_output=True, timeout=120)
        except subprocess.CalledProcessError as exc:
            self.stop()
            raise EditDSCError(f"PostgreSQL did not start: {exc.stderr.decode(errors='replace')[-300:]}") from None
        self.url = f"postgresql://edsc@127.0.0.1:{port}/postgres"
        return self.url

    def stop(self) -> None:
        if self.root is None:
            return
        if (self.root / "data" / "postmaster.pid").exists():
            subprocess.run(self._as_pg + [str(self._bindir / "pg_ctl"), "-D", str(self.root / "data"), "-m",
                                          "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
