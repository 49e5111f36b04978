"""The load-generator process: ``python -m edsc.loadtest.runner PLAN.json``.

Runs the stages of a :class:`~edsc.loadtest.plan.Plan` one after the other with Locust as a library (one
``Environment`` and ``LocalRunner`` per stage, users from :mod:`edsc.loadtest.user`), writes one JSON line per
request to ``plan.raw_path`` and, per stage, what happened to ``stages.json`` next to it.

This process is gevent-patched (importing Locust does it); it is started by ``edsc loadtest`` and never imported
by the CLI or the tests.

Parameters
----------
PLAN.json : the plan written by the CLI
``EDSC_TOKEN`` (environment) : the bearer token, when the services need one; it is kept out of the plan and every
    file this process writes

Output
------
``plan.raw_path`` (JSON lines, see :class:`~edsc.loadtest.recorder.Recorder`), ``stages.json`` in the same folder,
the received PNGs in ``plan.images_dir``, progress lines on stderr. Exit status 0 when every stage ran (failed
requests are data, not errors), 1 on an internal failure.
"""

from __future__ import annotations

import locust  # noqa: F401  (first: gevent's monkey-patching)

import json
import random
import signal
import sys
import time
from pathlib import Path
from typing import Optional

import gevent
from locust.env import Environment
from locust.log import setup_logging

from edsc.loadtest.plan import Plan, RequestSpec, Schedule, Stage, decode_request, distinct_image
from edsc.loadtest.recorder import Recorder
from edsc.loadtest.user import ArrivalUser, ClosedLoopUser, bind
from shared.rpc.editdsc.v1 import transmitter_pb2

POLL_S = 0.02
PROGRESS_EVERY_S = 5.0
QUIT_GRACE_S = 5.0


class StageRun:
    """One stage in progress: hands out requests until its request count or duration is used up, counts them.

    Parameters
    ----------
    plan : the run's plan; stage : the load level; recorder : where the rows go
    """

    def __init__(self, plan: Plan, stage: Stage, recorder: Recorder):
        self.plan, self.stage, self.recorder = plan, stage, recorder
        self.schedule = Schedule(plan, stage.index)
        self.templates = [decode_request(t.request_b64, transmitter_pb2.SubmitRequest) for t in plan.templates]
        self._arrivals = random.Random(plan.seed * 104729 + stage.index)
        self.issued = self.completed = 0
        self.closed = False
        self.stop_reason = ""
        self.t0 = self.deadline = None
        self.started_unix = self.ended_unix = None

    # ------------------------------------------------------------------ the schedule
    def start(self) -> None:
        self.t0 = time.monotonic()
        self.started_unix = time.time()
        if self.plan.duration_s:
            self.deadline = self.t0 + self.plan.duration_s

    def close(self, reason: str) -> None:
        if not self.closed:
            self.closed, self.stop_reason = True, reason

    def check_deadline(self) -> None:
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.close("duration")

    def take(self) -> Optional[RequestSpec]:
        """The next request, or None once the stage hands out no more."""
        self.check_deadline()
        if self.closed:
            return None
        spec = self.schedule.spec(self.issued)
        self.issued += 1
        if self.plan.requests and self.issued >= self.plan.requests:
            self.close("requests")
        return spec

    def interarrival(self) -> float:
        """Seconds to the next arrival of an open-loop stage."""
        rate = float(self.stage.rate)
        return self._arrivals.expovariate(rate) if self.stage.arrivals == "poisson" else 1.0 / rate

    @property
    def in_flight(self) -> int:
        return self.issued - self.completed

    @property
    def finished(self) -> bool:
        return self.closed and self.completed == self.issued

    # ------------------------------------------------------------------ one request
    def request_for(self, spec: RequestSpec) -> transmitter_pb2.SubmitRequest:
        req = transmitter_pb2.SubmitRequest()
        req.CopyFrom(self.templates[spec.template])
        req.channel.snr_db = spec.snr_db
        req.seed = spec.seed
        req.request_id = spec.request_id
        if req.image and not self.plan.reuse_images:
            req.image = distinct_image(req.image, spec.request_id)
        return req

    def begin(self, spec: RequestSpec) -> None:
        tpl = self.plan.templates[spec.template]
        self.recorder.begin(spec.request_id, stage=spec.stage, mode=self.stage.mode,
                            concurrency=self.stage.concurrency, rate=self.stage.rate, ticket=spec.ticket,
                            snr_db=spec.snr_db, channel=self.plan.channel, seed=spec.seed, image=tpl.image,
                            instruction=tpl.instruction, reference_id=tpl.reference_id,
                            in_flight=self.in_flight)

    def end(self, spec: RequestSpec, error: str = "") -> None:
        self.recorder.finish(spec.request_id, error)
        self.completed += 1

    def describe(self) -> dict:
        return {"index": self.stage.index, "mode": self.stage.mode, "concurrency": self.stage.concurrency,
                "rate": self.stage.rate, "arrivals": self.stage.arrivals if self.stage.rate else None,
                "started_unix": self.started_unix, "ended_unix": self.ended_unix, "issued": self.issued,
                "completed": self.completed, "stop_reason": self.stop_reason}


def locust_stats(env: Environment) -> dict:
    """Locust's own aggregate per request name (milliseconds), kept as a cross-check of our own numbers."""
    out = {}
    for (name, method), entry in sorted(env.stats.entries.items()):
        out[f"{method} {name}"] = {
            "requests": entry.num_requests, "failures": entry.num_failures,
            "median_ms": entry.median_response_time, "avg_ms": entry.avg_response_time,
            "p95_ms": entry.get_response_time_percentile(0.95), "max_ms": entry.max_response_time}
    return out


def run_stage(plan: Plan, stage: Stage, recorder: Recorder, stopping: dict) -> dict:
    """Run one stage to its end (request count or duration, then drain) and describe it."""
    run = StageRun(plan, stage, recorder)
    user_cls = bind(ArrivalUser if stage.mode == "open" else ClosedLoopUser, run)
    env = Environment(user_classes=[user_cls], host=plan.receiver)
    env.events.request.add_listener(recorder.on_request)
    runner = env.create_local_runner()
    users = 1 if stage.mode == "open" else int(stage.concurrency)
    label = (f"rate {stage.rate:g}/s ({stage.arrivals})" if stage.mode == "open" else f"concurrency {users}")
    print(f"edsc loadtest: stage {stage.index + 1}/{len(plan.stages)}: {label}", file=sys.stderr, flush=True)
    stopping["run"] = run
    run.start()
    runner.start(users, spawn_rate=max(100.0, users * 10.0))
    last_note = time.monotonic()
    quit_by = None
    while not run.finished:
        run.check_deadline()
        if stopping.get("signal") and quit_by is None:
            run.close("interrupted")
            quit_by = time.monotonic() + QUIT_GRACE_S
        if quit_by is not None and time.monotonic() > quit_by:
            break
        if time.monotonic() - last_note > PROGRESS_EVERY_S:
            last_note = time.monotonic()
            print(f"  {run.completed} done, {run.in_flight} in flight", file=sys.stderr, flush=True)
        gevent.sleep(POLL_S)
    runner.quit()
    run.ended_unix = time.time()
    out = run.describe()
    out["locust"] = locust_stats(env)
    print(f"  stage {stage.index + 1} done: {run.completed} requests in {run.ended_unix - run.started_unix:.1f} s "
          f"(stopped by {run.stop_reason})", file=sys.stderr, flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m edsc.loadtest.runner PLAN.json", file=sys.stderr)
        return 2
    plan = Plan.load(Path(argv[0]))
    setup_logging("WARNING", None)
    stopping: dict = {}

    def on_signal() -> None:
        stopping["signal"] = True

    gevent.signal_handler(signal.SIGTERM, on_signal)
    gevent.signal_handler(signal.SIGINT, on_signal)
    recorder = Recorder(Path(plan.raw_path), Path(plan.images_dir) if plan.images_dir else None)
    stages = []
    try:
        for stage in plan.stages:
            stages.append(run_stage(plan, stage, recorder, stopping))
            if stopping.get("signal"):
                break
    finally:
        recorder.close()
        Path(plan.raw_path).with_name("stages.json").write_text(json.dumps(stages, indent=2))
    return 130 if stopping.get("signal") else 0


if __name__ == "__main__":
    sys.exit(main())
