"""Run the three services as separate local processes (``edsc up``, ``edsc demo``, tests, benchmark).

Each service runs as ``python -m <package>.server`` with its settings passed as environment variables;
:meth:`Launcher.stop` sends SIGTERM (graceful shutdown) and kills what has not exited after a grace period.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from edsc.client import wait_until_serving
from shared.config import REPO_ROOT

SERVICES = ("receiver", "channel", "transmitter")     # start order (downstream first)
MODULES = {"transmitter": "transmitter.server", "channel": "channel_emulator.server", "receiver": "receiver.server"}


@dataclass
class Ports:
    transmitter: int = 50051
    channel: int = 50052
    receiver: int = 50053
    http: int = 8080
    transmitter_metrics: int = 9101     # 0: off
    channel_metrics: int = 9102


@dataclass
class Launcher:
    """Starts, watches and stops the three services on loopback."""

    ports: Ports = field(default_factory=Ports)
    bundle: Optional[Path] = None
    store_dir: Path = Path("receiver-data")
    log_dir: Optional[Path] = None       # each service's stderr goes to <log_dir>/<name>.log (None: inherit)
    host: str = "127.0.0.1"
    env: dict[str, str] = field(default_factory=dict)      # extra EDSC_* settings for every service
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def addresses(self) -> dict[str, str]:
        return {"transmitter": f"{self.host}:{self.ports.transmitter}", "channel": f"{self.host}:{self.ports.channel}",
                "receiver": f"{self.host}:{self.ports.receiver}"}

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.ports.http}"

    def service_env(self, name: str) -> dict[str, str]:
        p, a = self.ports, self.addresses
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        if self.bundle is not None:
            env["EDSC_BUNDLE"] = str(self.bundle)
        common = {"transmitter": {"PORT": p.transmitter, "CHANNEL_ADDRESS": a["channel"],
                                  "METRICS_PORT": p.transmitter_metrics},
                  "channel": {"PORT": p.channel, "RECEIVER_ADDRESS": a["receiver"], "METRICS_PORT": p.channel_metrics},
                  "receiver": {"PORT": p.receiver, "HTTP_PORT": p.http, "STORE_DIR": self.store_dir}}[name]
        prefix = f"EDSC_{name.upper()}_"
        env[prefix + "HOST"] = self.host
        for key, value in common.items():
            env[prefix + key] = str(value)
        env.update({k: str(v) for k, v in self.env.items()})
        return env

    def start(self, name: str) -> subprocess.Popen:
        if name in self.procs and self.procs[name].poll() is None:
            return self.procs[name]
        out = None
        if self.log_dir is not None:
            Path(self.log_dir).mkdir(parents=True, exist_ok=True)
            out = open(Path(self.log_dir) / f"{name}.log", "ab")
        proc = subprocess.Popen([sys.executable, "-m", MODULES[name]], env=self.service_env(name), cwd=REPO_ROOT,
                                stdout=out, stderr=subprocess.STDOUT if out else None, start_new_session=True)
        if out is not None:
            out.close()
        self.procs[name] = proc
        return proc

    def start_all(self) -> None:
        for name in SERVICES:
            self.start(name)

    def dead(self) -> Optional[str]:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                return name
        return None

    def wait_healthy(self, timeout_s: float = 180.0, names: tuple[str, ...] = SERVICES) -> None:
        addrs = {n: self.addresses[n] for n in names}
        wait_until_serving(addrs, f"{self.http_url}/readyz" if "receiver" in names else None, timeout_s,
                           alive=self.dead)

    def stop(self, name: str, timeout_s: float = 15.0, kill: bool = False, signalled: bool = False
             ) -> Optional[int]:
        """SIGTERM (or SIGKILL with ``kill``) one service and wait for it (a second SIGTERM is never sent: it would
        hit the interpreter's default handler during its own shutdown)."""
        proc = self.procs.get(name)
        if proc is None:
            return None
        if proc.poll() is None:
            if kill or not signalled:
                proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        return proc.returncode

    def stop_all(self, timeout_s: float = 15.0) -> dict[str, Optional[int]]:
        codes = {}
        for name in reversed(SERVICES):       # transmitter first, so nothing new enters
            if name in self.procs and self.procs[name].poll() is None:
                self.procs[name].send_signal(signal.SIGTERM)
        for name in reversed(SERVICES):
            codes[name] = self.stop(name, timeout_s, signalled=True)
        return codes

    def __enter__(self) -> "Launcher":
        self.start_all()
        return self

    def __exit__(self, *exc) -> None:
        self.stop_all()
