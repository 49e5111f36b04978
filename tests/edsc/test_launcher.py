"""edsc.launcher's supervision: a service that dies is restarted with back-off and serves again; `edsc up` does it
and still stops everything on SIGTERM. The services run as real processes on free loopback ports (tiny bundle)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from edsc.launcher import SERVICES, Launcher, Ports, RestartPolicy, Supervisor, free_ports
from shared.config import REPO_ROOT

FAST_ENV = {"EDSC_DEVICE": "cpu", "EDSC_TRANSMITTER_INVERSION_STEPS": "2", "EDSC_TRANSMITTER_EDIT_STEPS": "2",
            "EDSC_TRANSMITTER_TORCH_THREADS": "1"}



# ------------------------------------------------------------------------------------------ the policy, no processes

def test_restart_policy_doubles_to_its_cap():
    p = RestartPolicy(initial_s=0.5, max_s=30.0)
    assert [p.delay(n) for n in range(1, 9)] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


class FakeProc:
    def __init__(self, pid: int):
        self.pid, self.returncode = pid, None

    def poll(self):
        return self.returncode


class FakeLauncher:
    """What the supervisor uses of a Launcher, with processes that die when told to."""

    def __init__(self):
        self.procs = {name: FakeProc(i) for i, name in enumerate(SERVICES)}
        self.log_dir = None
        self._lock = threading.RLock()
        self.stopped: set = set()
        self.serving = True
        self.started: list[str] = []

    def held(self, name):
        return name in self.stopped

    def start(self, name):
        self.started.append(name)
        self.procs[name] = FakeProc(100 + len(self.started))
        return self.procs[name]

    def healthy(self, name, timeout_s=1.0):
        return self.serving


def test_supervisor_backs_off_resets_and_leaves_stopped_services(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr("edsc.launcher.time.monotonic", lambda: now[0])
    launcher, lines = FakeLauncher(), []
    sup = Supervisor(launcher, RestartPolicy(initial_s=0.5, max_s=2.0, reset_after_s=10.0), notify=lines.append)

    def crash_and_restart(code=-9):
        launcher.procs["channel"].returncode = code
        sup.check()                                     # noticed: restart scheduled
        delay = sup.events[-1]["delay_s"]
        now[0] += delay - 0.01
        sup.check()
        assert launcher.started.count("channel") == sup.restarts.get("channel", 0)    # not yet
        now[0] += 0.02
        sup.check()                                     # restarted
        sup.check()                                     # seen serving
        return delay

    launcher.serving = True
    assert [crash_and_restart() for _ in range(4)] == [0.5, 1.0, 2.0, 2.0]
    assert lines[0] == "the channel service exited (code -9); restarting in 0.5 s (restart 1)"
    assert "the channel service restarted (restart 1, pid 101)" in lines
    assert "the channel service is serving again (restart 1)" in lines
    now[0] += 10.0
    sup.check()                                         # serving long enough: the back-off starts over
    assert crash_and_restart(1) == 0.5 and sup.restarts["channel"] == 5
    launcher.stopped.add("receiver")                    # stopped through the launcher: left alone
    launcher.procs["receiver"].returncode = 0
    now[0] += 60
    sup.check()
    sup.check()
    assert "receiver" not in launcher.started and launcher.started == ["channel"] * 5


# ------------------------------------------------------------------------------------------ real processes

def _pid_on(launcher: Launcher, name: str) -> int:
    return launcher.procs[name].pid


def test_supervisor_restarts_a_killed_service(tiny_bundle, tmp_path, capfd):
    tx, ch, rx, http = free_ports(4)
    launcher = Launcher(ports=Ports(tx, ch, rx, http, 0, 0), bundle=tiny_bundle, store_dir=tmp_path / "store",
                        log_dir=tmp_path / "logs", env=FAST_ENV)
    try:
        launcher.start_all()
        launcher.wait_healthy(180)
        supervisor = launcher.supervise(RestartPolicy(initial_s=0.5, max_s=4.0, reset_after_s=60.0))
        old = _pid_on(launcher, "channel")
        os.kill(old, signal.SIGKILL)
        deadline = time.monotonic() + 120
        while not any(e["event"] == "serving" for e in supervisor.events) and time.monotonic() < deadline:
            time.sleep(0.2)
        kinds = [(e["event"], e["service"]) for e in supervisor.events]
        assert kinds == [("exited", "channel"), ("restarted", "channel"), ("serving", "channel")], kinds
        assert _pid_on(launcher, "channel") != old and launcher.healthy("channel")
        assert all(launcher.procs[n].poll() is None for n in SERVICES)
        err = capfd.readouterr().err
        assert "edsc: the channel service exited (code -9); restarting in 0.5 s (restart 1)" in err
        assert "edsc: the channel service is serving again (restart 1)" in err
        logged = [json.loads(x) for x in (tmp_path / "logs" / "supervisor.log").read_text().splitlines()]
        assert [x["event"] for x in logged] == ["exited", "restarted", "serving"] and logged[0]["code"] == -9
        launcher.stop("receiver")                       # stopped on purpose: stays stopped
        time.sleep(1.5)
        assert launcher.procs["receiver"].poll() is not None and len(supervisor.events) == 3
    finally:
        codes = launcher.stop_all()
    assert not launcher.supervisor.is_alive()
    assert all(c is not None for c in codes.values()), codes


def _children(pid: int) -> dict[int, str]:
    """Child processes of ``pid`` → their command line (Linux /proc)."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == pid:
                out[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError, IndexError):
            continue
    return out


def _read_until(stream, needle: str, lines: list, timeout_s: float) -> bool:
    """Read lines (in a thread, so a silent child cannot block the test) until one contains ``needle``."""
    found = threading.Event()

    def pump():
        for line in stream:
            lines.append(line)
            if needle in line:
                found.set()
                return

    threading.Thread(target=pump, daemon=True).start()
    return found.wait(timeout_s)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the children through /proc")
def test_edsc_up_restarts_a_killed_service_and_stops_on_sigterm(tiny_bundle, tmp_path):
    tx, ch, rx, http, results = free_ports(5)
    env = dict(os.environ, **FAST_ENV, PYTHONPATH=str(REPO_ROOT))
    cmd = [sys.executable, "-m", "edsc.cli.main", "up", "--bundle", str(tiny_bundle),
           "--store", str(tmp_path / "store"), "--logs", str(tmp_path / "logs"), "--transmitter-port", str(tx),
           "--channel-port", str(ch), "--receiver-port", str(rx), "--http-port", str(http),
           "--results-port", str(results), "--transmitter-metrics-port", "0", "--channel-metrics-port", "0"]
    up = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out_lines, err_lines = [], []
    try:
        assert _read_until(up.stdout, "all services healthy", out_lines, 240), (out_lines, up.poll())
        children = _children(up.pid)
        assert sorted(c.split(" -m ")[1].strip() for c in children.values()) == \
            ["channel_emulator.server", "edsc.web.server", "receiver.server", "transmitter.server"]
        assert any(f"console        http://127.0.0.1:{http}/" in x for x in out_lines), out_lines
        # the console is on --http-port and serves the receivers' API there by proxy; the receiver on --results-port
        assert 'data-testid="submit-button"' in httpx.get(f"http://127.0.0.1:{http}/", timeout=10).text
        for port in (http, results):
            assert httpx.get(f"http://127.0.0.1:{port}/v1/results", timeout=10).json() == {"items": [],
                                                                                           "next_cursor": None}
        victim = next(pid for pid, c in children.items() if "transmitter.server" in c)
        os.kill(victim, signal.SIGKILL)
        assert _read_until(up.stderr, "the transmitter service is serving again (restart 1)", err_lines, 120), \
            err_lines
        assert any("edsc: the transmitter service exited (code -9); restarting in 0.5 s (restart 1)" in x
                   for x in err_lines), err_lines
        now = _children(up.pid)
        assert victim not in now and len(now) == 4
        up.send_signal(signal.SIGTERM)
        assert up.wait(60) == 0
        rest = up.stderr.read()
        assert "edsc: stopped web (0), transmitter (0)" in rest, rest
        for pid in now:                                 # every child is gone (reaped by edsc up)
            assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    finally:
        if up.poll() is None:
            up.kill()
            up.wait(30)
        for pid in _children(up.pid):
            os.kill(pid, signal.SIGKILL)


def test_console_child_settings_and_port_clash(tmp_path, monkeypatch):
    """The console is one more child: a client of the others (their addresses, the callers' tokens, none of its
    own) on its own port, which may not clash with another service's."""
    from shared.errors import InvalidArgumentError

    monkeypatch.delenv("EDSC_SERVICE_TOKEN", raising=False)
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("alice alice-token-0123456789abcdef\n")
    launcher = Launcher(ports=Ports(41001, 41002, 41003, 41010, 0, 0, 41020), store_dir=tmp_path / "s",
                        env={"EDSC_AUTH_TOKENS_FILE": str(tokens)})
    assert launcher.names[-1] == "web" and "web" not in launcher.addresses
    assert launcher.console_url == "http://127.0.0.1:41020" and launcher.http_url == "http://127.0.0.1:41010"
    env = launcher.service_env("web")
    assert (env["EDSC_WEB_PORT"], env["EDSC_WEB_TRANSMITTER"], env["EDSC_WEB_RESULTS"], env["EDSC_WEB_AUTH"]) == \
        ("41020", "127.0.0.1:41001", "http://127.0.0.1:41010", "1")
    assert "EDSC_SERVICE_TOKEN" not in env and "EDSC_SERVICE_TOKEN" in launcher.service_env("transmitter")
    with pytest.raises(InvalidArgumentError, match="port 41010 would serve both receiver HTTP and web HTTP"):
        Launcher(ports=Ports(41001, 41002, 41003, 41010, 0, 0, 41010), store_dir=tmp_path / "s")
    assert "web" not in Launcher(ports=Ports(41001, 41002, 41003, 41010, 0, 0), store_dir=tmp_path / "s").names
