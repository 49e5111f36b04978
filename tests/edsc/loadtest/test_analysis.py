"""edsc.loadtest.analysis on synthetic records: the CSV round trip, percentiles, per-SNR grouping, error rates by
code, LPIPS / edit-success means, throughput, and that the plots and report are written."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edsc.loadtest import analysis


def raw_row(i: int, snr: float, e2e: float, *, status: str = "OK", http: int | None = 200, stage: int = 0,
            start: float = 1000.0, lpips: float | None = None, jecc: str = "reached") -> dict:
    """One record as the load generator writes it (submit + fetch = e2e)."""
    ok = status == "OK"
    return {"request_id": f"r{i}", "stage": stage, "mode": "closed", "concurrency": 2 ** stage, "rate": None,
            "ticket": i, "start_unix": start, "end_unix": start + e2e, "snr_db": snr, "channel": "awgn",
            "seed": i, "image": "synthface", "instruction": "add glasses", "status": status,
            "http_status": http if ok else None, "error": "" if ok else "boom", "e2e_s": e2e,
            "submit_s": e2e - 0.01 if ok else e2e, "fetch_s": 0.01 if ok else None, "lpips": lpips,
            "jecc_status": jecc if ok else None, "edit_success": (jecc in ("reached", "already_at_target")) if ok
            else None, "timings": {"total_s": e2e - 0.02, "inversion_s": 0.5, "receiver.store_s": 0.001} if ok else {},
            "reference_id": "ref-0", "in_flight": 1}


@pytest.fixture()
def rows():
    """Stage 0: 100 OK requests at 6 dB with e2e 1..100 s over 10 s of wall time... plus errors at other SNRs."""
    out = []
    for i in range(100):                                   # 6 dB: latencies 1, 2, ..., 100 (starts 0..9.9 s)
        out.append(raw_row(i, 6.0, float(i + 1), start=1000.0 + i * 0.1, lpips=0.2,
                           jecc="reached" if i % 4 else "max_iterations"))
    for i in range(100, 110):                              # -6 dB: 8 OK (lpips 0.6), 1 exhausted, 1 fetch 404
        status = "RESOURCE_EXHAUSTED" if i == 100 else "OK"
        r = raw_row(i, -6.0, 2.0, status=status, start=1001.0, lpips=0.6 if status == "OK" else None)
        if i == 101:
            r["http_status"], r["lpips"] = 404, None
        out.append(r)
    out.append(raw_row(110, 18.0, 3.0, stage=1, start=2000.0, lpips=0.05, jecc="already_at_target"))
    out.append(raw_row(111, 18.0, 5.0, stage=1, start=2000.0, status="DEADLINE_EXCEEDED"))
    return out


@pytest.fixture()
def table(rows, tmp_path):
    columns, flat = analysis.flatten(rows)
    analysis.write_csv(tmp_path / "requests.csv", columns, flat)
    return analysis.read_csv(tmp_path / "requests.csv")


def test_csv_round_trip_columns_and_types(table, tmp_path):
    header = (tmp_path / "requests.csv").read_text().splitlines()[0].split(",")
    assert header[:len(analysis.BASE_COLUMNS)] == list(analysis.BASE_COLUMNS)
    assert header[len(analysis.BASE_COLUMNS):] == ["t_total_s", "t_inversion_s", "t_receiver.store_s"]
    assert len(table) == 112
    first = table[0]
    assert first["request_id"] == "r0" and first["start_s"] == 0.0 and first["e2e_s"] == 1.0
    assert first["snr_db"] == 6.0 and first["edit_success"] is False and first["t_inversion_s"] == 0.5
    assert isinstance(first["stage"], int) and first["lpips"] == 0.2
    failed = next(r for r in table if r["request_id"] == "r100")
    assert failed["fetch_s"] is None and failed["t_total_s"] is None and failed["outcome"] == "RESOURCE_EXHAUSTED"


@pytest.mark.parametrize("status, http, code", [("OK", 200, "OK"), ("OK", 404, "HTTP_404"), ("OK", None, "HTTP_0"),
                                                ("UNAVAILABLE", None, "UNAVAILABLE"), (None, None, "UNKNOWN")])
def test_outcome_code(status, http, code):
    assert analysis.outcome_code(status, http) == code


def test_percentiles_are_numpy_linear():
    p = analysis.percentiles(range(1, 101))
    assert p == {"p50": pytest.approx(50.5), "p95": pytest.approx(95.05), "p99": pytest.approx(99.01)}
    assert analysis.percentiles([]) == {"p50": None, "p95": None, "p99": None}
    assert analysis.percentiles([None, 2.0, 4.0], (50,)) == {"p50": 3.0}


def test_summary_overall_per_snr_per_stage(table):
    s = analysis.summarize(table)
    # active time: stage 0 from 1000.0 to the end of r99 (1009.9 + 100), stage 1 from 2000 to 2005
    assert s["active_duration_s"] == pytest.approx(109.9 + 5.0)
    o = s["overall"]
    assert o["count"] == 112 and o["ok"] == 100 + 8 + 1
    assert o["errors_by_code"] == {"DEADLINE_EXCEEDED": 1, "HTTP_404": 1, "RESOURCE_EXHAUSTED": 1}
    assert o["error_rate"] == pytest.approx(3 / 112)
    assert o["error_rate_by_code"]["HTTP_404"] == pytest.approx(1 / 112)
    assert o["throughput_rps"] == pytest.approx(109 / 114.9)

    assert set(s["per_snr"]) == {"-6", "6", "18"}
    six = s["per_snr"]["6"]
    assert six["count"] == 100 and six["error_rate"] == 0.0 and six["errors_by_code"] == {}
    assert six["latency_s"]["p50"] == pytest.approx(50.5) and six["latency_s"]["p95"] == pytest.approx(95.05)
    assert six["latency_s"]["p99"] == pytest.approx(99.01) and six["latency_s"]["max"] == 100.0
    assert six["mean_lpips"] == pytest.approx(0.2) and six["lpips_count"] == 100
    assert six["edit_success_rate"] == pytest.approx(0.75)
    assert six["mean_timings_s"]["inversion_s"] == pytest.approx(0.5)
    assert six["throughput_rps"] == pytest.approx(100 / 114.9)

    low = s["per_snr"]["-6"]
    assert low["count"] == 10 and low["ok"] == 8
    assert low["error_rate_by_code"] == {"HTTP_404": pytest.approx(0.1), "RESOURCE_EXHAUSTED": pytest.approx(0.1)}
    assert low["mean_lpips"] == pytest.approx(0.6) and low["latency_s"]["p50"] == 2.0

    high = s["per_snr"]["18"]
    assert high["count"] == 2 and high["ok"] == 1 and high["edit_success_rate"] == 1.0
    assert high["errors_by_code"] == {"DEADLINE_EXCEEDED": 1}

    stages = s["per_stage"]
    assert [st["stage"] for st in stages] == [0, 1] and [st["concurrency"] for st in stages] == [1, 2]
    assert stages[0]["count"] == 110 and stages[1]["count"] == 2
    assert stages[1]["throughput_rps"] == pytest.approx(1 / 5.0)
    assert set(stages[1]["per_snr"]) == {"18"}


def test_snr_key():
    assert analysis.snr_key(6.0) == "6" and analysis.snr_key(-6.5) == "-6.5" and analysis.snr_key(0) == "0"


def test_load_raw_skips_a_torn_line(rows, tmp_path):
    path = tmp_path / "requests.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows[:3]) + '{"request_id": "torn')
    assert [r["request_id"] for r in analysis.load_raw(path)] == ["r0", "r1", "r2"]


def test_plots_and_report_are_written(table, tmp_path):
    summary = {"settings": {"transmitter": "h:1", "snrs": [-6, 6, 18]}, "machine": analysis.machine_info(),
               "lpips_reference": "test", **analysis.summarize(table)}
    plots = analysis.make_plots(table, summary, tmp_path)
    assert {p.name for p in plots} == {"latency_over_time.png", "latency_vs_load.png", "throughput.png",
                                       "lpips_vs_snr.png", "errors_by_code.png", "stage_breakdown.png"}
    for p in plots:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = analysis.write_report(summary, plots, tmp_path / "report.md").read_text()
    assert "| -6 dB | 10 |" in report and "RESOURCE_EXHAUSTED 1" in report and "![throughput](throughput.png)" in report


def test_machine_info_has_cores_and_cpu_model():
    m = analysis.machine_info()
    assert m["cpu_count"] >= 1 and m["cpu_model"]
    assert np.isfinite(m.get("memory_gib", 1.0))


def test_per_replica_counts_and_report(rows, tmp_path):
    for r in rows:
        if r["status"] == "OK":
            r["served_by"] = "10.0.0.1:50051" if r["ticket"] % 3 else "10.0.0.2:50051"
    columns, flat = analysis.flatten(rows)
    analysis.write_csv(tmp_path / "requests.csv", columns, flat)
    table = analysis.read_csv(tmp_path / "requests.csv")
    assert "served_by" in columns and table[1]["served_by"] == "10.0.0.1:50051"
    summary = analysis.summarize(table)
    per = summary["per_replica"]
    answered = [r for r in table if r["served_by"]]
    assert set(per) == {"10.0.0.1:50051", "10.0.0.2:50051"}
    assert sum(g["count"] for g in per.values()) == len(answered) == 110
    assert per["10.0.0.2:50051"]["count"] == sum(1 for r in answered if r["ticket"] % 3 == 0)
    assert sum(g["share"] for g in per.values()) == pytest.approx(1.0)
    assert per["10.0.0.1:50051"]["ok"] + per["10.0.0.2:50051"]["ok"] == summary["overall"]["ok"]
    summary["plots"] = []
    report = analysis.write_report({**summary, "settings": {"auth": "bearer token", "tls_ca": "/x/ca.pem"}}, [],
                                   tmp_path / "report.md").read_text()
    assert "## Per transmitter replica (`served_by`)" in report and "`10.0.0.2:50051` (" in report
    assert "2 request(s) got no answer from any replica" in report
    assert "Security: bearer token, TLS verified with `/x/ca.pem`." in report


def test_one_replica_has_no_per_replica_section(table):
    assert "per_replica" not in analysis.summarize(table)
    assert set(analysis.summarize(table, replicas=True)["per_replica"]) == set()
