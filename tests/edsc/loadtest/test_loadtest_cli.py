"""`edsc loadtest` end to end: the three services as real processes on free loopback ports (tiny random bundle,
r_inv = r_edit = 3), the command as a subprocess (Locust in its own process), and clean errors for bad input."""

from __future__ import annotations

import csv
import json
import socket
import subprocess
import sys

import pytest

from edsc.cli.main import main
from edsc.launcher import Launcher, Ports
from edsc.loadtest.analysis import BASE_COLUMNS
from transmitter.jecc import STATUSES

PLOTS = ("latency_over_time.png", "latency_vs_load.png", "throughput.png", "lpips_vs_snr.png", "errors_by_code.png",
         "stage_breakdown.png")


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def edsc(*argv: str, timeout: float = 400) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edsc.cli.main", *argv], capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def services(tiny_bundle, tmp_path_factory):
    root = tmp_path_factory.mktemp("loadtest-services")
    tx, ch, rx, http = free_ports(4)
    launcher = Launcher(ports=Ports(tx, ch, rx, http, 0, 0), bundle=tiny_bundle, store_dir=root / "store",
                        log_dir=root / "logs",
                        env={"EDSC_DEVICE": "cpu", "EDSC_TRANSMITTER_INVERSION_STEPS": "3",
                             "EDSC_TRANSMITTER_EDIT_STEPS": "3", "EDSC_TRANSMITTER_TORCH_THREADS": "1"})
    launcher.start_all()
    try:
        launcher.wait_healthy(180)
        yield launcher
    finally:
        launcher.stop_all()


def test_six_requests_at_three_snrs(services, tmp_path):
    out = tmp_path / "lt"
    r = edsc("loadtest", "--transmitter", services.addresses["transmitter"], "--receiver", services.http_url,
             "--snr=-6,6,18", "--requests", "6", "--concurrency", "2", "--instruction", "add glasses",
             "--out", str(out))
    assert r.returncode == 0, r.stderr
    with open(out / "requests.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6 and len({row["request_id"] for row in rows}) == 6
    columns = rows[0].keys()
    assert set(BASE_COLUMNS) <= set(columns)
    assert {"t_total_s", "t_queue_s", "t_inversion_s", "t_jecc_s", "t_channel.channel_s"} <= set(columns)
    assert {row["status"] for row in rows} == {"OK"} and {row["outcome"] for row in rows} == {"OK"}
    assert sorted(float(row["snr_db"]) for row in rows) == [-6.0, -6.0, 6.0, 6.0, 18.0, 18.0]
    for row in rows:
        assert float(row["e2e_s"]) >= float(row["submit_s"]) > 0 and float(row["fetch_s"]) > 0
        assert 0.0 <= float(row["lpips"]) < 1.5 and row["jecc_status"] in STATUSES
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["per_snr"]) == {"-6", "6", "18"}
    assert summary["overall"]["count"] == 6 and summary["overall"]["error_rate"] == 0.0
    assert summary["overall"]["throughput_rps"] > 0 and summary["overall"]["latency_s"]["p95"] > 0
    assert summary["machine"]["cpu_count"] >= 1 and summary["settings"]["snrs"] == [-6.0, 6.0, 18.0]
    assert summary["per_stage"][0]["stop_reason"] == "requests"
    assert summary["per_stage"][0]["locust"]["grpc /editdsc.v1.TransmitterService/Submit"]["requests"] == 6
    for name in PLOTS:
        assert (out / name).stat().st_size > 1000, name
    assert "## Overall and per SNR" in (out / "report.md").read_text()
    assert not (out / "images").exists() and len(list((out / "references").glob("*.png"))) == 1
    assert "requests  6 (6 OK)" in r.stdout


def test_a_bad_instruction_stops_at_the_reference(services, tmp_path):
    r = edsc("loadtest", "--transmitter", services.addresses["transmitter"], "--receiver", services.http_url,
             "--requests", "2", "--instruction", "zzqx vvbn", "--out", str(tmp_path / "lt"))
    assert r.returncode == 2 and "reference request" in r.stderr and "INVALID_ARGUMENT" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "lt" / "requests.csv").exists()


@pytest.mark.parametrize("flags, message", [
    (["--snr", "6,abc"], "'abc' is not a number"),
    (["--snr", "6,55"], "outside [-30, 40] dB"),
    (["--receiver", "localhost:8080"], "use an http(s) base URL"),
    (["--transmitter", "no-port"], "use HOST:PORT"),
    (["--transmitter", "127.0.0.1:{port}"], "is not reachable"),
    (["--rate", "2", "--sweep-concurrency", "1,2"], "exclude each other"),
    (["--requests", "0"], "at least 1"),
    (["--concurrency", "0"], "must be positive"),
    (["--retry-for", "-5"], "--retry-for -5.0: must be a finite number of seconds >= 0"),
])
def test_bad_input_exits_2(flags, message, tmp_path, capsys):
    port = free_ports(1)[0]
    code = main(["loadtest", *[f.format(port=port) for f in flags], "--out", str(tmp_path / "lt")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("edsc: error:") and message in err, err


def test_unreachable_transmitter_as_a_command(tmp_path):
    """The installed command: exit status 2, one clear line, no traceback."""
    port = free_ports(1)[0]
    r = edsc("loadtest", "--transmitter", f"127.0.0.1:{port}", "--out", str(tmp_path / "lt"), timeout=200)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stderr.startswith("edsc: error: the transmitter at") and "is not reachable" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("flags, env, message", [
    (["--ca", "{tmp}/missing.pem"], {}, "--ca {tmp}/missing.pem: no such file"),
    ([], {"EDSC_TLS_CA": "{tmp}/missing.pem"}, "EDSC_TLS_CA {tmp}/missing.pem: no such file"),
    (["--ca", "{tmp}/not-pem.txt"], {}, "not a PEM CA certificate"),
    (["--token", "two words-0123456789"], {}, "--token: the token must be printable ASCII without spaces"),
    ([], {"EDSC_TOKEN": "tab\tseparated-0123456789"}, "EDSC_TOKEN: the token must be printable ASCII without spaces"),
    (["--transmitter", "127.0.0.1:1,localhost:2"], {}, "a replica list takes IPv4 literals"),
    (["--transmitter", "127.0.0.1:1,127.0.0.1:1"], {}, "a replica is listed twice"),
    (["--transmitter", "dns://transmitter:50051"], {}, "use dns:///NAME:PORT"),
])
def test_token_ca_and_replica_flags_exit_2(flags, env, message, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("EDSC_TOKEN", raising=False)
    monkeypatch.delenv("EDSC_TLS_CA", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v.format(tmp=tmp_path))
    (tmp_path / "not-pem.txt").write_text("not a certificate\n")
    code = main(["loadtest", *[f.format(tmp=tmp_path) for f in flags], "--out", str(tmp_path / "lt")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("edsc: error:") and message.format(tmp=tmp_path) in err, err
    assert "0123456789" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "lt" / "raw").exists()
