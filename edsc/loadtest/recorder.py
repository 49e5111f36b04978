"""Per-request records of the load generator, assembled from Locust's ``request`` events.

Every request of the load test produces two Locust events: the gRPC ``Submit`` (fired by the interceptor of
:mod:`edsc.loadtest.user`, ``request_type="grpc"``) and the HTTP fetch of the edited image (fired by Locust's
``HttpSession``, ``request_type="GET"``). Both carry ``context={"request_id": ...}``; :class:`Recorder` listens to
them, joins them per request and appends one JSON line per finished request to the raw file. The CLI turns that
file into ``requests.csv`` (:mod:`edsc.loadtest.analysis`).

No Locust import here: the recorder only receives plain arguments (and is tested without gevent).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Optional

GRPC = "grpc"
SUCCESS_STATUSES = ("reached", "already_at_target")      # JECC outcomes that count as a successful edit


def grpc_code_name(exception: Optional[BaseException]) -> str:
    """``OK`` without an exception, else the gRPC status code name (``UNKNOWN`` when there is none)."""
    if exception is None:
        return "OK"
    code = getattr(exception, "code", None)
    try:
        return code().name if callable(code) else "UNKNOWN"
    except Exception:  # noqa: BLE001 - a broken exception object still needs a row
        return "UNKNOWN"


def response_fields(response) -> dict[str, Any]:
    """The columns a ``SubmitResponse`` gives: JECC outcome, micro-batch, stage timings, bundle, measured SNR, and
    ``served_by`` (the transmitter replica that answered, ``HOST:PORT``)."""
    status = response.outcome.status
    return {
        "jecc_status": status, "edit_success": status in SUCCESS_STATUSES,
        "attribute": response.outcome.attribute, "jecc_iterations": response.outcome.iterations,
        "batch_size": response.batch_size, "k": response.k, "channel_uses": response.channel_uses,
        "bundle_version": response.bundle_version,
        "measured_snr_db": response.channel_report.measured_es_n0_db,
        "served_by": response.served_by,
        "timings": {k: float(v) for k, v in response.timings.items()},
    }


class Recorder:
    """Joins the events of each request and writes one JSON line per finished request.

    Parameters
    ----------
    raw_path : the JSON-lines file (appended to)
    images_dir : where received PNGs are written as ``<request id>.png``; None: not kept

    Output
    ------
    One JSON object per line: the fields given to :meth:`begin`, then ``status`` (gRPC code name of the last
    attempt), ``error``, ``submit_s``, ``fetch_s``, ``http_status``, ``attempts`` and ``fetch_attempts`` (how many
    times the request was sent / its image fetched), ``e2e_s`` (submit + fetch), ``end_unix``, the
    :func:`response_fields` and ``image_path``.
    """

    def __init__(self, raw_path: Path, images_dir: Optional[Path] = None):
        self.raw_path = Path(raw_path)
        self.images_dir = Path(images_dir) if images_dir else None
        if self.images_dir is not None:
            self.images_dir.mkdir(parents=True, exist_ok=True)
        self._open: dict[str, dict[str, Any]] = {}
        self._file = open(self.raw_path, "a", encoding="utf-8")
        self.finished = 0

    # ------------------------------------------------------------------ the request's life
    def begin(self, request_id: str, **fields: Any) -> None:
        """A request starts now (``start_unix``); ``fields`` are its planned columns (SNR, stage, ...)."""
        self._open[request_id] = {"request_id": request_id, **fields, "start_unix": time.time(),
                                  "status": None, "error": "", "submit_s": None, "fetch_s": None,
                                  "http_status": None, "image_path": "", "attempts": 0, "fetch_attempts": 0}

    def on_request(self, request_type: str, name: str, response_time: float, response_length: int = 0,
                   response=None, context: Optional[dict] = None, exception: Optional[BaseException] = None,
                   start_time: Optional[float] = None, **_: Any) -> None:
        """Locust ``events.request`` listener (response_time in ms). A request retried within its window fires
        several events: the last one decides the status, ``submit_s`` / ``fetch_s`` run from the first attempt's
        start to the last one's end (back-off pauses included), ``attempts`` / ``fetch_attempts`` count them."""
        row = self._open.get((context or {}).get("request_id", ""))
        if row is None:
            return
        seconds = response_time / 1000.0
        if request_type == GRPC:
            row["attempts"] += 1
            row["submit_s"] = self._span(row, "_submit_t0", "submit_s", start_time, seconds)
            row["status"] = grpc_code_name(exception)
            row["error"] = ""
            if exception is not None:
                details = getattr(exception, "details", None)
                row["error"] = (details() if callable(details) else str(exception)) or ""
            elif response is not None:
                row.update(response_fields(response))
        else:
            row["fetch_attempts"] += 1
            row["fetch_s"] = self._span(row, "_fetch_t0", "fetch_s", start_time, seconds)
            row["http_status"] = int(getattr(response, "status_code", 0) or 0)
            if exception is not None and not row["error"]:
                row["error"] = f"HTTP fetch: {exception}"
            elif exception is None and row["error"].startswith("HTTP fetch: "):
                row["error"] = ""             # an earlier fetch attempt failed, this one did not
            if row["http_status"] == 200 and self.images_dir is not None:
                path = self.images_dir / f"{row['request_id']}.png"
                path.write_bytes(response.content)
                row["image_path"] = str(path)

    @staticmethod
    def _span(row: dict[str, Any], first_key: str, total_key: str, start_time: Optional[float],
              seconds: float) -> float:
        """Seconds from the first attempt's start to this attempt's end (the sum of attempts without start times)."""
        if start_time is None:
            return (row[total_key] or 0.0) + seconds
        first = row.setdefault(first_key, start_time)
        return start_time + seconds - first

    def finish(self, request_id: str, error: str = "") -> dict[str, Any]:
        """The request is over (successfully or not): compute its end-to-end time and write its line."""
        row = self._open.pop(request_id)
        row.pop("_submit_t0", None)
        row.pop("_fetch_t0", None)
        if row["status"] is None:                 # it never reached the transmitter's answer
            row["status"] = "CANCELLED" if not error else "UNKNOWN"
        if error and not row["error"]:
            row["error"] = error
        row["end_unix"] = time.time()
        parts = [row["submit_s"], row["fetch_s"]]
        row["e2e_s"] = sum(p for p in parts if p is not None) if row["submit_s"] is not None else None
        self._file.write(json.dumps(row) + "\n")
        self._file.flush()
        self.finished += 1
        return row

    @property
    def in_flight(self) -> int:
        return len(self._open)

    def close(self) -> None:
        self._file.close()
