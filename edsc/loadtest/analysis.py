"""From the load generator's records to ``requests.csv``, ``summary.json``, PNG plots and ``report.md``.

Pure numpy / csv / matplotlib (Agg); no torch, no Locust. Every number of the summary is computed from the CSV rows,
so the tests can feed a synthetic CSV.

Definitions
-----------
* ``e2e_s`` (end-to-end latency) = the gRPC ``Submit`` time (the transmitter answers once the receiver has stored
  the result) + the HTTP fetch of the PNG.
* ``outcome``: ``OK`` when Submit answered OK and the fetch answered 200; else the gRPC status code name, or
  ``HTTP_<status>`` when only the fetch failed (``HTTP_0``: no answer).
* Latency percentiles (linear interpolation, numpy's default) are over the ``OK`` requests only; error rates are
  over all requests.
* A group's throughput is its ``OK`` requests divided by the *active time* of the run: per stage, from its first
  request's start to its last request's end, summed over the stages (per SNR: the same denominator as overall).
* ``served_by``: the transmitter replica that answered a request (``SubmitResponse.served_by``); with several
  replicas the summary has ``per_replica`` (requests each one answered, and their statistics).
* ``edit_success`` is true when the JECC outcome is ``reached`` or ``already_at_target`` (false on
  ``passed_target`` and ``max_iterations``); its rate is over the ``OK`` requests.
"""

from __future__ import annotations

import csv
import json
import math
import os
import platform
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Iterable, Optional

import numpy as np

BASE_COLUMNS = (
    "request_id", "stage", "mode", "concurrency", "rate", "ticket", "start_unix", "end_unix", "start_s",
    "snr_db", "channel", "seed", "image", "instruction", "status", "http_status", "outcome", "error",
    "e2e_s", "submit_s", "fetch_s", "lpips", "jecc_status", "edit_success", "attribute", "jecc_iterations",
    "batch_size", "in_flight", "measured_snr_db", "k", "channel_uses", "bundle_version", "reference_id",
    "attempts", "fetch_attempts", "served_by",
)
#: Transmitter / channel / receiver stage times (SubmitResponse.timings) come as ``t_<key>`` columns, these first.
TIMING_ORDER = ("total_s", "validate_s", "queue_s", "compute_s", "inversion_s", "jecc_s", "adapter_s", "forward_s",
                "channel.channel_s", "channel.receiver_call_s")
FLOAT_COLUMNS = {"rate", "start_unix", "end_unix", "start_s", "snr_db", "e2e_s", "submit_s", "fetch_s", "lpips",
                 "measured_snr_db"}
INT_COLUMNS = {"stage", "concurrency", "ticket", "seed", "http_status", "jecc_iterations", "batch_size", "in_flight",
               "k", "channel_uses", "attempts", "fetch_attempts"}
PERCENTILES = (50, 95, 99)


# ============================================================================================ rows and the CSV

def load_raw(path: Path) -> list[dict[str, Any]]:
    """The load generator's JSON lines (a torn last line, from a killed run, is skipped)."""
    rows = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def outcome_code(status: Optional[str], http_status: Optional[int]) -> str:
    """``OK``, a gRPC code name, or ``HTTP_<n>`` (see the module docstring)."""
    if status != "OK":
        return status or "UNKNOWN"
    return "OK" if http_status == 200 else f"HTTP_{int(http_status or 0)}"


def timing_columns(rows: Iterable[dict[str, Any]]) -> list[str]:
    """``t_<key>`` for every timing key seen, the usual ones first, then the rest sorted."""
    keys = set()
    for r in rows:
        keys.update((r.get("timings") or {}).keys())
    ordered = [k for k in TIMING_ORDER if k in keys] + sorted(keys - set(TIMING_ORDER))
    return [f"t_{k}" for k in ordered]


def flatten(rows: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    """Raw rows → (columns, flat rows): adds ``start_s`` (from the run's first start), ``outcome`` and the timing
    columns, drops the nested ``timings``."""
    t_cols = timing_columns(rows)
    t0 = min((r["start_unix"] for r in rows), default=0.0)
    flat = []
    for r in sorted(rows, key=lambda r: r["start_unix"]):
        f = {c: r.get(c) for c in BASE_COLUMNS}
        f["start_s"] = r["start_unix"] - t0
        f["outcome"] = outcome_code(r.get("status"), r.get("http_status"))
        timings = r.get("timings") or {}
        for c in t_cols:
            f[c] = timings.get(c[2:])
        flat.append(f)
    return list(BASE_COLUMNS) + t_cols, flat


def write_csv(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> Path:
    """One row per request; empty cells for missing values; floats with full precision."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({c: "" if r.get(c) is None else r.get(c) for c in columns})
    return Path(path)


def _cast(column: str, text: str) -> Any:
    if text == "":
        return None
    if column in FLOAT_COLUMNS or column.startswith("t_"):
        return float(text)
    if column in INT_COLUMNS:
        return int(float(text))
    if column == "edit_success":
        return text.lower() in ("true", "1")
    return text


def read_csv(path: Path) -> list[dict[str, Any]]:
    """``requests.csv`` back into typed rows (None for empty cells)."""
    with open(path, newline="", encoding="utf-8") as fh:
        return [{k: _cast(k, v) for k, v in row.items()} for row in csv.DictReader(fh)]


# ============================================================================================ statistics

def percentiles(values: Iterable[float], qs: Iterable[float] = PERCENTILES) -> dict[str, Optional[float]]:
    """``{"p50": ..., "p95": ..., "p99": ...}`` (linear interpolation); None for an empty list."""
    arr = np.asarray([v for v in values if v is not None], dtype=float)
    return {f"p{q:g}": (float(np.percentile(arr, q)) if arr.size else None) for q in qs}


def _mean(values: Iterable[Optional[float]]) -> Optional[float]:
    vals = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return float(np.mean(vals)) if vals else None


def active_duration(rows: list[dict[str, Any]]) -> float:
    """Sum over stages of (last end − first start): the time the run was actually sending."""
    by_stage: dict[Any, list[dict]] = defaultdict(list)
    for r in rows:
        by_stage[r.get("stage")].append(r)
    total = 0.0
    for rs in by_stage.values():
        starts = [r["start_unix"] for r in rs if r.get("start_unix") is not None]
        ends = [r["end_unix"] for r in rs if r.get("end_unix") is not None]
        if starts and ends:
            total += max(ends) - min(starts)
    return total


def group_stats(rows: list[dict[str, Any]], duration_s: float) -> dict[str, Any]:
    """Count, throughput, latency percentiles, errors by code, LPIPS and edit success of some requests.

    Parameters
    ----------
    rows : typed CSV rows (:func:`read_csv`); duration_s : the throughput's denominator (see module docstring)

    Output
    ------
    dict with ``count``, ``ok``, ``throughput_rps``, ``latency_s`` (p50/p95/p99/mean/max of e2e over OK),
    ``submit_s`` and ``fetch_s`` (p50/p95), ``error_rate``, ``errors_by_code`` (counts),
    ``error_rate_by_code`` (fractions of ``count``), ``mean_lpips`` / ``lpips_count``, ``edit_success_rate``,
    ``mean_timings_s`` (mean of every ``t_*`` column over OK)
    """
    n = len(rows)
    ok = [r for r in rows if r.get("outcome") == "OK"]
    codes = Counter(r.get("outcome") or "UNKNOWN" for r in rows)
    errors = {c: k for c, k in sorted(codes.items()) if c != "OK"}
    e2e = [r["e2e_s"] for r in ok if r.get("e2e_s") is not None]
    lp = [r["lpips"] for r in ok if r.get("lpips") is not None]
    success = [bool(r["edit_success"]) for r in ok if r.get("edit_success") is not None]
    t_cols = sorted({c for r in rows for c in r if c.startswith("t_")})
    return {
        "count": n,
        "ok": len(ok),
        "throughput_rps": (len(ok) / duration_s) if duration_s > 0 else None,
        "latency_s": {**percentiles(e2e), "mean": _mean(e2e), "max": max(e2e) if e2e else None},
        "submit_s": percentiles([r.get("submit_s") for r in ok], (50, 95)),
        "fetch_s": percentiles([r.get("fetch_s") for r in ok], (50, 95)),
        "error_rate": (n - len(ok)) / n if n else None,
        "errors_by_code": errors,
        "error_rate_by_code": {c: k / n for c, k in errors.items()},
        "mean_lpips": _mean(lp),
        "lpips_count": len(lp),
        "edit_success_rate": (sum(success) / len(success)) if success else None,
        "mean_timings_s": {c[2:]: _mean(r.get(c) for r in ok) for c in t_cols},
    }


def snr_key(snr: float) -> str:
    """``6.0`` → ``"6"``, ``-6.5`` → ``"-6.5"`` (the per-SNR keys of summary.json)."""
    return f"{float(snr):g}"


def per_replica(rows: list[dict[str, Any]], duration_s: float) -> dict[str, Any]:
    """:func:`group_stats` of the requests each transmitter replica answered (by ``served_by``), plus ``share``
    (its fraction of the answered requests). Requests without an answer (a failed Submit) name no replica."""
    by: dict[str, list] = defaultdict(list)
    for r in rows:
        if r.get("served_by"):
            by[r["served_by"]].append(r)
    answered = sum(len(rs) for rs in by.values())
    return {addr: {**group_stats(by[addr], duration_s), "share": len(by[addr]) / answered} for addr in sorted(by)}


def summarize(rows: list[dict[str, Any]], stages: Optional[list[dict]] = None,
              replicas: bool = False) -> dict[str, Any]:
    """Overall, per SNR and per stage statistics of a run (see :func:`group_stats`).

    ``stages`` (the runner's ``stages.json``) adds each stage's stop reason and Locust's own aggregate.
    ``per_replica`` (:func:`per_replica`) is added when more than one replica answered, or always with
    ``replicas`` (the transmitter address named several).
    """
    duration = active_duration(rows)
    by_snr: dict[float, list] = defaultdict(list)
    by_stage: dict[int, list] = defaultdict(list)
    for r in rows:
        by_snr[float(r["snr_db"])].append(r)
        by_stage[r.get("stage") or 0].append(r)
    info = {s["index"]: s for s in (stages or [])}
    per_stage = []
    for idx in sorted(by_stage):
        rs = by_stage[idx]
        first = rs[0]
        entry = {"stage": idx, "mode": first.get("mode"), "concurrency": first.get("concurrency"),
                 "rate": first.get("rate"), **group_stats(rs, active_duration(rs)),
                 "per_snr": {snr_key(s): group_stats([r for r in rs if float(r["snr_db"]) == s], active_duration(rs))
                             for s in sorted({float(r["snr_db"]) for r in rs})}}
        if idx in info:
            entry["stop_reason"] = info[idx].get("stop_reason")
            entry["locust"] = info[idx].get("locust")
        per_stage.append(entry)
    out = {
        "active_duration_s": duration,
        "overall": group_stats(rows, duration),
        "per_snr": {snr_key(s): group_stats(by_snr[s], duration) for s in sorted(by_snr)},
        "per_stage": per_stage,
    }
    if replicas or len({r.get("served_by") for r in rows if r.get("served_by")}) > 1:
        out["per_replica"] = per_replica(rows, duration)
    return out


def machine_info() -> dict[str, Any]:
    """The machine the load test ran on (the services too, when they are local): cores, CPU model, memory."""
    info: dict[str, Any] = {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                            "python": platform.python_version()}
    if hasattr(os, "sched_getaffinity"):
        info["cpus_usable"] = len(os.sched_getaffinity(0))
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["memory_gib"] = round(int(line.split()[1]) / 2 ** 20, 1)
    except OSError:
        pass
    info.setdefault("cpu_model", platform.processor() or "unknown")
    if hasattr(os, "getloadavg"):
        info["load_average"] = [round(v, 2) for v in os.getloadavg()]
    return info


# ============================================================================================ plots

def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _level_label(per_stage: list[dict]) -> str:
    return "arrival rate (requests/s)" if per_stage and per_stage[0].get("mode") == "open" else "concurrency (users)"


def _level(entry: dict) -> float:
    return float(entry["rate"] if entry.get("mode") == "open" else entry["concurrency"] or 0)


def plot_latency_over_time(rows: list[dict], path: Path) -> Path:
    """Every request's e2e latency at its start time, coloured by SNR; failures marked x on the axis."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for snr in sorted({float(r["snr_db"]) for r in rows}):
        rs = [r for r in rows if float(r["snr_db"]) == snr and r.get("outcome") == "OK"]
        ax.scatter([r["start_s"] for r in rs], [r["e2e_s"] for r in rs], s=14, label=f"{snr:g} dB")
    bad = [r for r in rows if r.get("outcome") != "OK"]
    if bad:
        ax.scatter([r["start_s"] for r in bad], [r.get("e2e_s") or 0.0 for r in bad], marker="x", c="red",
                   label="failed")
    firsts = {}
    for r in rows:
        firsts[r.get("stage")] = min(firsts.get(r.get("stage"), r["start_s"]), r["start_s"])
    if len(firsts) > 1:
        for stage, t in sorted(firsts.items(), key=lambda kv: kv[1]):
            ax.axvline(t, color="grey", ls="--", lw=0.8)
            ax.annotate(f"stage {int(stage or 0) + 1}", (t, 1.0), xycoords=("data", "axes fraction"),
                        xytext=(3, -12), textcoords="offset points", fontsize=8, color="grey")
    ax.set_xlabel("request start (s since the run began)")
    ax.set_ylabel("end-to-end latency (s)")
    ax.set_title("Latency over time")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def plot_latency_vs_load(summary: dict, path: Path) -> Path:
    """p50 / p95 / p99 of the e2e latency per stage against its load level."""
    plt = _plt()
    stages = summary["per_stage"]
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    xs = [_level(s) for s in stages]
    for q, marker in (("p50", "o"), ("p95", "s"), ("p99", "^")):
        ys = [s["latency_s"][q] for s in stages]
        ax.plot(xs, [y if y is not None else np.nan for y in ys], marker=marker, label=q)
    ax.set_xlabel(_level_label(stages))
    ax.set_ylabel("end-to-end latency (s)")
    ax.set_title("Latency percentiles vs load")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def plot_throughput(rows: list[dict], summary: dict, path: Path) -> Path:
    """Left: completed requests per second over time; right: each stage's throughput against its load level."""
    plt = _plt()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    ok = [r for r in rows if r.get("outcome") == "OK" and r.get("end_unix") is not None]
    if ok:
        t0 = min(r["start_unix"] for r in rows)
        ends = np.array([r["end_unix"] - t0 for r in ok])
        width = max(1.0, float(ends.max()) / 25)
        edges = np.arange(0.0, ends.max() + width, width)
        counts, _ = np.histogram(ends, bins=edges)
        a1.bar(edges[:-1], counts / width, width=width, align="edge", alpha=0.7)
    a1.set_xlabel("time (s since the run began)")
    a1.set_ylabel("completed requests / s")
    a1.set_title("Throughput over time")
    a1.grid(alpha=0.3)
    stages = summary["per_stage"]
    a2.plot([_level(s) for s in stages], [s["throughput_rps"] or 0.0 for s in stages], marker="o")
    a2.set_xlabel(_level_label(stages))
    a2.set_ylabel("throughput (OK requests / s)")
    a2.set_title("Throughput vs load")
    a2.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def plot_lpips_vs_snr(rows: list[dict], path: Path) -> Path:
    """LPIPS of each received image against its noise-free reference, and the mean ± std per SNR."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    pts = [(float(r["snr_db"]), r["lpips"]) for r in rows if r.get("lpips") is not None]
    if pts:
        snrs = sorted({p[0] for p in pts})
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=12, alpha=0.4, label="requests")
        means = [np.mean([p[1] for p in pts if p[0] == s]) for s in snrs]
        stds = [np.std([p[1] for p in pts if p[0] == s]) for s in snrs]
        ax.errorbar(snrs, means, yerr=stds, marker="o", capsize=4, color="black", label="mean ± std")
        ax.legend()
    else:
        ax.text(0.5, 0.5, "no LPIPS values (--no-lpips, or no successful request)", ha="center",
                transform=ax.transAxes)
    ax.set_xlabel("SNR (dB)")
    ax.set_ylabel("LPIPS vs the noise-free edit")
    ax.set_title("LPIPS vs SNR")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def plot_errors_by_code(rows: list[dict], path: Path) -> Path:
    """Requests per outcome code (OK in green)."""
    plt = _plt()
    codes = Counter(r.get("outcome") or "UNKNOWN" for r in rows)
    names = sorted(codes, key=lambda c: (c != "OK", c))
    fig, ax = plt.subplots(figsize=(6.5, 4.0))
    ax.bar(names, [codes[c] for c in names], color=["tab:green" if c == "OK" else "tab:red" for c in names])
    ax.set_ylabel("requests")
    ax.set_title("Outcomes by status code")
    ax.tick_params(axis="x", rotation=20)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


STAGE_PARTS = (("queue", ("t_queue_s",)), ("inversion", ("t_inversion_s",)), ("JECC", ("t_jecc_s",)),
               ("A_CE", ("t_adapter_s",)), ("channel", ("t_channel.channel_s",)), ("receiver", ("t_receiver.",)),
               ("HTTP fetch", ("fetch_s",)))


def _part_value(row: dict, prefixes: tuple[str, ...]) -> float:
    total = 0.0
    for p in prefixes:
        if p.endswith("."):
            total += sum(v for k, v in row.items() if k.startswith(p) and v is not None)
        elif row.get(p) is not None:
            total += row[p]
    return total


def plot_stage_breakdown(rows: list[dict], path: Path) -> Path:
    """Mean time per pipeline stage and SNR (stacked), from the SubmitResponse timings and the fetch."""
    plt = _plt()
    ok = [r for r in rows if r.get("outcome") == "OK"]
    snrs = sorted({float(r["snr_db"]) for r in ok})
    fig, ax = plt.subplots(figsize=(7, 4.5))
    bottom = np.zeros(len(snrs))
    for label, prefixes in STAGE_PARTS:
        vals = np.array([np.mean([_part_value(r, prefixes) for r in ok if float(r["snr_db"]) == s]) for s in snrs])
        if snrs and vals.any():
            ax.bar([snr_key(s) + " dB" for s in snrs], vals, bottom=bottom, label=label)
            bottom += vals
    ax.set_ylabel("mean time (s)")
    ax.set_title("Where the time goes (OK requests)")
    if snrs:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def make_plots(rows: list[dict], summary: dict, out: Path) -> list[Path]:
    """Every plot of the report, as PNG files in ``out``."""
    out = Path(out)
    return [plot_latency_over_time(rows, out / "latency_over_time.png"),
            plot_latency_vs_load(summary, out / "latency_vs_load.png"),
            plot_throughput(rows, summary, out / "throughput.png"),
            plot_lpips_vs_snr(rows, out / "lpips_vs_snr.png"),
            plot_errors_by_code(rows, out / "errors_by_code.png"),
            plot_stage_breakdown(rows, out / "stage_breakdown.png")]


# ============================================================================================ the report

def _f(v: Optional[float], digits: int = 3) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def _row(name: str, g: dict) -> str:
    lat = g["latency_s"]
    errs = ", ".join(f"{c} {k}" for c, k in g["errors_by_code"].items()) or "none"
    success = "–" if g["edit_success_rate"] is None else f"{100 * g['edit_success_rate']:.0f} %"
    return (f"| {name} | {g['count']} | {_f(g['throughput_rps'])} | {_f(lat['p50'])} | {_f(lat['p95'])} | "
            f"{_f(lat['p99'])} | {100 * (g['error_rate'] or 0):.1f} % ({errs}) | {_f(g['mean_lpips'], 4)} | "
            f"{success} |")


TABLE_HEAD = ("| | requests | throughput (req/s) | p50 (s) | p95 (s) | p99 (s) | errors | mean LPIPS | edit success |\n"
              "|---|---|---|---|---|---|---|---|---|")


def write_report(summary: dict, plots: list[Path], path: Path) -> Path:
    """A short Markdown report: settings, machine, overall / per-SNR / per-stage (/ per-replica) tables, the
    plots."""
    s, m = summary.get("settings", {}), summary.get("machine", {})
    lines = ["# edsc loadtest report", ""]
    lines += [f"Transmitter `{s.get('transmitter')}`, receiver `{s.get('receiver')}`, channel `{s.get('channel')}` "
              f"{s.get('channel_params', {})}, SNRs {s.get('snrs')} ({s.get('snr_mode')}), "
              f"{s.get('load')}, stages end after {s.get('requests') or '∞'} requests or "
              f"{s.get('duration_s') or '∞'} s. Bundle `{summary.get('bundle_version')}`.", ""]
    if "auth" in s or "tls_ca" in s:
        tls = f"TLS verified with `{s['tls_ca']}`" if s.get("tls_ca") else "no TLS"
        lines += [f"Security: {s.get('auth', 'none')}, {tls}.", ""]
    lines += [f"Machine: {m.get('cpu_count')} cores ({m.get('cpus_usable')} usable), {m.get('cpu_model')}, "
              f"{m.get('memory_gib')} GiB, load average {m.get('load_average')} at the start.", ""]
    lines += ["## Overall and per SNR", "", TABLE_HEAD, _row("all", summary["overall"])]
    lines += [_row(f"{k} dB", g) for k, g in summary["per_snr"].items()]
    lines += ["", "## Per stage", "", TABLE_HEAD]
    for st in summary["per_stage"]:
        level = f"rate {st['rate']:g}/s" if st.get("mode") == "open" else f"concurrency {st['concurrency']}"
        lines.append(_row(f"stage {st['stage'] + 1}: {level}", st))
    if "per_replica" in summary:
        lines += ["", "## Per transmitter replica (`served_by`)", "", TABLE_HEAD.replace("| requests |", "| answered |")]
        lines += [_row(f"`{addr}` ({100 * g['share']:.0f} %)", g) for addr, g in summary["per_replica"].items()]
        unanswered = summary["overall"]["count"] - sum(g["count"] for g in summary["per_replica"].values())
        if unanswered:
            lines += ["", f"{unanswered} request(s) got no answer from any replica (failed Submit)."]
    lines += ["", "## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots]
    lines += ["", "## Notes", "",
              "* Latency = gRPC Submit (answered once the receiver stored the result) + HTTP fetch of the PNG; "
              "percentiles over OK requests, error rates over all.",
              f"* LPIPS: {summary.get('lpips_reference', 'off')}",
              "* Edit success: JECC outcome `reached` or `already_at_target` "
              "(not `passed_target` or `max_iterations`).", ""]
    Path(path).write_text("\n".join(lines), encoding="utf-8")
    return Path(path)
