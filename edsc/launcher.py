"""Run the three services as separate local processes (``edsc up``, ``edsc demo``, tests, benchmark).

Each service runs as ``python -m <package>.server`` with its settings passed as environment variables;
:meth:`Launcher.stop` sends SIGTERM (graceful shutdown) and kills what has not exited after a grace period.

:meth:`Launcher.supervise` starts a :class:`Supervisor` thread that restarts a service which exits by itself
(crash, OOM kill, SIGKILL) after an exponential back-off (:class:`RestartPolicy`), says so on stderr and in
``<log_dir>/supervisor.log``, and reports when the restarted service serves again. Services stopped through the
launcher are not restarted.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import httpx

from edsc.client import wait_until_serving
from shared.config import REPO_ROOT
from shared.rpc.healthcheck import health_status

SERVICES = ("receiver", "channel", "transmitter")     # start order (downstream first)
MODULES = {"transmitter": "transmitter.server", "channel": "channel_emulator.server", "receiver": "receiver.server",
           "web": "edsc.web.server"}
GRPC_KINDS = ("transmitter", "channel", "receiver")


@dataclass
class Ports:
    transmitter: int = 50051
    channel: int = 50052
    receiver: int = 50053
    results: int = 8090                 # the receivers' HTTP API (replicas on consecutive ports)
    transmitter_metrics: int = 9101     # 0: off
    channel_metrics: int = 9102
    console: int = 0                    # the web console (edsc.web), which also proxies /v1/results; 0: not started


def free_ports(n: int) -> list[int]:
    """``n`` distinct free TCP ports on loopback (bound together, then released)."""
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def consecutive_free_ports(n: int) -> int:
    """A base port such that ``n`` consecutive ports from it are free on loopback (for replica ranges)."""
    for _ in range(200):
        base = random.randint(20000, 60000 - n)
        socks = []
        try:
            for i in range(n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", base + i))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise OSError(f"no {n} consecutive free ports on loopback")


def instance_names(kind: str, replicas: int) -> list[str]:
    """``transmitter`` for one replica; ``transmitter-0``, ``transmitter-1``, … for several."""
    return [kind] if replicas == 1 else [f"{kind}-{i}" for i in range(replicas)]


def kind_of(name: str) -> str:
    return name.split("-", 1)[0]


def index_of(name: str) -> int:
    return int(name.split("-", 1)[1]) if "-" in name else 0


@dataclass
class Launcher:
    """Starts, watches and stops the services on loopback: ``transmitter_replicas`` transmitters on consecutive
    ports from ``ports.transmitter``, one channel service, ``receiver_replicas`` receivers on consecutive gRPC ports
    from ``ports.receiver`` and HTTP ports from ``ports.results``, and, when ``ports.console`` is set, the web
    console (``web``, a client of the others) on that port. Several replicas share results and sessions
    through ``database_url`` (PostgreSQL); the channel service spreads deliveries over the receivers.

    ``tls_dir``: a local CA and per-service certificates there (created when missing), every port over TLS,
    mutual TLS between the services. Auth is on when ``EDSC_AUTH_TOKENS_FILE`` is set (in ``env`` or the
    environment); without TLS the services then share a random service credential made here.
    """

    ports: Ports = field(default_factory=Ports)
    bundle: Optional[Path] = None
    store_dir: Path = Path("receiver-data")
    data_dir: Optional[Path] = None      # the transmitter's sessions and ledger (None: beside store_dir)
    log_dir: Optional[Path] = None       # each service's stderr goes to <log_dir>/<name>.log (None: inherit)
    host: str = "127.0.0.1"
    env: dict[str, str] = field(default_factory=dict)      # extra EDSC_* settings for every service
    transmitter_replicas: int = 1
    receiver_replicas: int = 1
    database_url: Optional[str] = None
    tls_dir: Optional[Path] = None
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    supervisor: Optional["Supervisor"] = field(default=None, init=False, repr=False)
    _held: set = field(default_factory=set, init=False, repr=False)     # stopped on purpose: not restarted
    _lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False)
    _certs: Optional[dict] = field(default=None, init=False, repr=False)
    _service_token: Optional[str] = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        from shared.errors import InvalidArgumentError

        for what, n in (("transmitter", self.transmitter_replicas), ("receiver", self.receiver_replicas)):
            if not 1 <= n <= 64:
                raise InvalidArgumentError(f"--{what}-replicas must lie in [1, 64], got {n}")
        if max(self.transmitter_replicas, self.receiver_replicas) > 1 and not self.database_url:
            raise InvalidArgumentError("several replicas share results and sessions through PostgreSQL: give "
                                       "--database-url postgresql://… (or EDSC_DATABASE_URL)")
        used: dict[int, str] = {}
        for name in self.names:
            ports = {"HTTP" if kind_of(name) == "web" else "gRPC": self.port_of(name)}
            if kind_of(name) == "receiver":
                ports["HTTP"] = self.ports.results + index_of(name)
            metrics = {"transmitter": self.ports.transmitter_metrics, "channel": self.ports.channel_metrics}.get(
                kind_of(name), 0)
            if metrics:
                ports["metrics"] = metrics + index_of(name)
            for what, port in ports.items():
                if port in used:
                    raise InvalidArgumentError(f"port {port} would serve both {used[port]} and {name} {what}: "
                                               "choose port ranges that do not overlap")
                used[port] = f"{name} {what}"
        if self.tls_dir is not None:
            from shared.tls import SERVICE_NAMES, ensure_local_ca
            self._certs = ensure_local_ca(self.tls_dir, SERVICE_NAMES + (("web",) if self.ports.console else ()))
        if self.auth_on and self._certs is None:
            import secrets
            self._service_token = secrets.token_urlsafe(32)

    # ------------------------------------------------------------------ names and addresses
    @property
    def auth_on(self) -> bool:
        return bool(self.env.get("EDSC_AUTH_TOKENS_FILE") or os.environ.get("EDSC_AUTH_TOKENS_FILE"))

    @property
    def names(self) -> list[str]:
        """Every instance, in start order (downstream first)."""
        return (instance_names("receiver", self.receiver_replicas) + ["channel"]
                + instance_names("transmitter", self.transmitter_replicas) + (["web"] if self.ports.console else []))

    def port_of(self, name: str) -> int:
        return {"transmitter": self.ports.transmitter, "channel": self.ports.channel,
                "receiver": self.ports.receiver, "web": self.ports.console}[kind_of(name)] + index_of(name)

    @property
    def addresses(self) -> dict[str, str]:
        """gRPC HOST:PORT of every service (the web console, an HTTP server, is :attr:`console_url`)."""
        return {n: f"{self.host}:{self.port_of(n)}" for n in self.names if kind_of(n) in GRPC_KINDS}

    def target(self, kind: str) -> str:
        """The address clients use for a kind: one HOST:PORT, or a comma-separated list of the replicas."""
        return ",".join(a for n, a in self.addresses.items() if kind_of(n) == kind)

    @property
    def scheme(self) -> str:
        return "https" if self._certs else "http"

    def http_url_of(self, name: str) -> str:
        """A receiver's HTTP API (the console's own URL for ``web``)."""
        if kind_of(name) == "web":
            return f"{self.scheme}://{self.host}:{self.ports.console}"
        return f"{self.scheme}://{self.host}:{self.ports.results + index_of(name)}"

    @property
    def console_url(self) -> Optional[str]:
        """The web console (which also serves /v1/results by proxy), or None when it is not started."""
        return self.http_url_of("web") if self.ports.console else None

    @property
    def http_url(self) -> str:
        return self.http_url_of(instance_names("receiver", self.receiver_replicas)[0])

    @property
    def http_urls(self) -> list[str]:
        return [self.http_url_of(n) for n in instance_names("receiver", self.receiver_replicas)]

    @property
    def ca(self) -> Optional[Path]:
        return self._certs["ca"] if self._certs else None

    def grpc_credentials(self):
        """What the launcher (a peer of the services) presents for health checks: the transmitter's certificate."""
        if not self._certs:
            return None
        import grpc
        c = self._certs
        return grpc.ssl_channel_credentials(c["ca"].read_bytes(), c["transmitter_key"].read_bytes(),
                                            c["transmitter_cert"].read_bytes())

    def http_verify(self):
        import ssl
        return ssl.create_default_context(cafile=str(self.ca)) if self.ca else True

    def service_env(self, name: str) -> dict[str, str]:
        p = self.ports
        kind, i = kind_of(name), index_of(name)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        if self.bundle is not None:
            env["EDSC_BUNDLE"] = str(self.bundle)
        data_dir = self.data_dir if self.data_dir is not None else Path(self.store_dir).parent / "transmitter-data"
        store_dir = Path(self.store_dir) if i == 0 else Path(f"{self.store_dir}-{i}")
        metrics = {"transmitter": p.transmitter_metrics, "channel": p.channel_metrics}.get(kind, 0)
        common = {"transmitter": {"CHANNEL_ADDRESS": self.addresses["channel"], "DATA_DIR": data_dir},
                  "channel": {"RECEIVER_ADDRESS": self.target("receiver")},
                  "receiver": {"HTTP_PORT": p.results + i, "STORE_DIR": store_dir},
                  "web": {"TRANSMITTER": self.target("transmitter"), "RESULTS": ",".join(self.http_urls),
                          "AUTH": "1" if self.auth_on else "0"}}[kind]
        common.update({"PORT": self.port_of(name), **({"METRICS_PORT": metrics + i if metrics else 0}
                                                      if kind in ("transmitter", "channel") else {})})
        prefix = f"EDSC_{kind.upper()}_"
        env[prefix + "HOST"] = self.host
        for key, value in common.items():
            env[prefix + key] = str(value)
        if self.database_url and kind != "web":
            env["EDSC_DATABASE_URL"] = self.database_url
        if self._certs and kind == "web":       # a client of the services: their CA; its own HTTPS certificate
            c = self._certs
            env.update({prefix + "CA": str(c["ca"]), prefix + "TLS_CERT": str(c["web_cert"]),
                        prefix + "TLS_KEY": str(c["web_key"])})
        elif self._certs:
            c = self._certs
            env.update({prefix + "TLS_CERT": str(c[f"{kind}_cert"]), prefix + "TLS_KEY": str(c[f"{kind}_key"]),
                        prefix + "TLS_CA": str(c["ca"])})
        if self._service_token and kind != "web":        # the console passes its users' tokens, holds none
            env["EDSC_SERVICE_TOKEN"] = self._service_token
        env.update({k: str(v) for k, v in self.env.items()})
        return env

    def start(self, name: str) -> subprocess.Popen:
        with self._lock:
            self._held.discard(name)
            if name in self.procs and self.procs[name].poll() is None:
                return self.procs[name]
            out = None
            if self.log_dir is not None:
                Path(self.log_dir).mkdir(parents=True, exist_ok=True)
                out = open(Path(self.log_dir) / f"{name}.log", "ab")
            proc = subprocess.Popen([sys.executable, "-m", MODULES[kind_of(name)]], env=self.service_env(name),
                                    cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT if out else None,
                                    start_new_session=True)
            if out is not None:
                out.close()
            self.procs[name] = proc
            return proc

    def start_all(self) -> None:
        for name in self.names:
            self.start(name)

    def dead(self) -> Optional[str]:
        for name, proc in list(self.procs.items()):
            if proc.poll() is not None:
                return name
        return None

    def wait_healthy(self, timeout_s: float = 180.0, names: Optional[tuple[str, ...]] = None) -> None:
        names = tuple(self.names) if names is None else names
        addrs = {n: self.addresses[n] for n in names if kind_of(n) in GRPC_KINDS}
        ready = [f"{self.http_url_of(n)}/readyz" for n in names if kind_of(n) in ("receiver", "web")]
        wait_until_serving(addrs, ready, timeout_s, alive=self.dead, credentials=self.grpc_credentials(),
                           verify=self.http_verify())

    def healthy(self, name: str, timeout_s: float = 1.0) -> bool:
        """The service answers SERVING (a receiver: and its HTTP /readyz answers 200; the console: /readyz)."""
        if kind_of(name) != "web" and health_status(self.addresses[name], timeout=timeout_s,
                                                    credentials=self.grpc_credentials()) != "SERVING":
            return False
        if kind_of(name) not in ("receiver", "web"):
            return True
        try:
            return httpx.get(f"{self.http_url_of(name)}/readyz", timeout=timeout_s,
                             verify=self.http_verify()).status_code == 200
        except httpx.HTTPError:
            return False

    def signal_all(self, signum: int) -> None:
        """Send ``signum`` to every running service (SIGHUP: the services re-read the tokens file)."""
        for proc in list(self.procs.values()):
            if proc.poll() is None:
                proc.send_signal(signum)

    def stop(self, name: str, timeout_s: float = 15.0, kill: bool = False, signalled: bool = False
             ) -> Optional[int]:
        """SIGTERM (or SIGKILL with ``kill``) one service and wait for it (a second SIGTERM is never sent: it would
        hit the interpreter's default handler during its own shutdown). A supervisor does not restart it."""
        with self._lock:
            self._held.add(name)
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

    def held(self, name: str) -> bool:
        """Stopped through :meth:`stop` (and not started again since)."""
        return name in self._held

    def supervise(self, policy: Optional["RestartPolicy"] = None,
                  notify: Optional[Callable[[str], None]] = None) -> "Supervisor":
        """Start (once) the thread that restarts services which exit by themselves; :meth:`stop_all` ends it."""
        if self.supervisor is None or not self.supervisor.is_alive():
            self.supervisor = Supervisor(self, policy or RestartPolicy(), notify)
            self.supervisor.start()
        return self.supervisor

    def stop_all(self, timeout_s: float = 15.0) -> dict[str, Optional[int]]:
        if self.supervisor is not None:
            self.supervisor.stop()
        with self._lock:
            self._held.update(self.procs)
        codes = {}
        for name in reversed(self.names):       # transmitters first, so nothing new enters
            if name in self.procs and self.procs[name].poll() is None:
                self.procs[name].send_signal(signal.SIGTERM)
        for name in reversed(self.names):
            if name in self.procs:
                codes[name] = self.stop(name, timeout_s, signalled=True)
        return codes

    def __enter__(self) -> "Launcher":
        self.start_all()
        return self

    def __exit__(self, *exc) -> None:
        self.stop_all()


@dataclass(frozen=True)
class RestartPolicy:
    """When a service that exited by itself is started again.

    The n-th restart in a row waits ``initial_s`` · ``multiplier``^(n−1), at most ``max_s``; the count starts
    again once a restarted service has been serving for ``reset_after_s``.
    """

    initial_s: float = 0.5
    max_s: float = 30.0
    multiplier: float = 2.0
    reset_after_s: float = 60.0

    def delay(self, restart: int) -> float:
        return min(self.max_s, self.initial_s * self.multiplier ** (restart - 1))


def print_notice(message: str) -> None:
    print(f"edsc: {message}", file=sys.stderr, flush=True)


class Supervisor(threading.Thread):
    """Watches the launcher's processes; restarts one that exited without being stopped through the launcher.

    Parameters
    ----------
    launcher : whose services to watch; policy : the back-off
    notify : told each event as one line (default: ``edsc: <line>`` on stderr); every event is also appended to
        ``<log_dir>/supervisor.log`` as a JSON line when the launcher has a log folder
    poll_s : how often the processes are looked at

    Attributes
    ----------
    restarts : restarts per service so far (all of them, not only the current run of failures)
    """

    def __init__(self, launcher: Launcher, policy: RestartPolicy = RestartPolicy(),
                 notify: Optional[Callable[[str], None]] = None, poll_s: float = 0.2):
        super().__init__(name="edsc-supervisor", daemon=True)
        self.launcher, self.policy, self.poll_s = launcher, policy, poll_s
        self.notify = notify or print_notice
        self.restarts: dict[str, int] = {}
        self._streak: dict[str, int] = {}            # restarts since the service last served for reset_after_s
        self._due: dict[str, float] = {}             # service → monotonic time of its pending restart
        self._unconfirmed: dict[str, int] = {}       # restarted, not yet seen serving → restart number
        self._serving_since: dict[str, float] = {}
        self._halt = threading.Event()
        self.events: list[dict] = []

    def stop(self, timeout_s: float = 5.0) -> None:
        self._halt.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout_s)

    def run(self) -> None:
        while not self._halt.wait(self.poll_s):
            try:
                self.check()
            except Exception as exc:  # noqa: BLE001 - the supervisor must outlive one bad look
                self._event("error", "", f"the supervisor's check failed ({type(exc).__name__}: {exc})")

    def check(self) -> None:
        """One look at every service: schedule, perform and confirm restarts."""
        now = time.monotonic()
        for name, proc in list(self.launcher.procs.items()):
            if self._halt.is_set() or self.launcher.held(name):
                self._due.pop(name, None)
                continue
            code = proc.poll()
            if code is None:
                self._watch_running(name, now)
                continue
            if name not in self._due:
                streak = self._streak.get(name, 0) + 1
                self._streak[name] = streak
                delay = self.policy.delay(streak)
                self._due[name] = now + delay
                self._unconfirmed.pop(name, None)
                self._serving_since.pop(name, None)
                self._event("exited", name, f"the {name} service exited (code {code}); restarting in {delay:.1f} s "
                                            f"(restart {self.restarts.get(name, 0) + 1})", code=code, delay_s=delay)
            elif now >= self._due[name]:
                with self.launcher._lock:
                    if self._halt.is_set() or self.launcher.held(name):
                        continue
                    self.launcher.start(name)
                del self._due[name]
                self.restarts[name] = self.restarts.get(name, 0) + 1
                self._unconfirmed[name] = self.restarts[name]
                self._event("restarted", name, f"the {name} service restarted (restart {self.restarts[name]}, "
                                               f"pid {self.launcher.procs[name].pid})")

    def _watch_running(self, name: str, now: float) -> None:
        if name in self._unconfirmed:
            if self.launcher.healthy(name, timeout_s=min(1.0, self.poll_s * 5)):
                n = self._unconfirmed.pop(name)
                self._serving_since[name] = now
                self._event("serving", name, f"the {name} service is serving again (restart {n})")
        elif name in self._serving_since and now - self._serving_since[name] >= self.policy.reset_after_s:
            del self._serving_since[name]
            self._streak.pop(name, None)

    def _event(self, kind: str, name: str, message: str, **extra) -> None:
        event = {"time_unix": time.time(), "event": kind, "service": name, "message": message, **extra}
        self.events.append(event)
        self.notify(message)
        if self.launcher.log_dir is not None:
            try:
                Path(self.launcher.log_dir).mkdir(parents=True, exist_ok=True)
                with open(Path(self.launcher.log_dir) / "supervisor.log", "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(event) + "\n")
            except OSError:
                pass
