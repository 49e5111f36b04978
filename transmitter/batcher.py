"""Micro-batching of concurrent transmitter requests.

Requests are queued; one worker thread takes the first, waits up to ``max_wait_s`` for up to ``max_batch - 1``
more, and runs them through :meth:`TransmitterPipeline.run` together (batched inversion and JECC), so throughput
grows with load instead of queueing one image at a time. Items that cannot share a pipeline call (with / without
inversion, different step budgets) run as separate groups of the same batch. ``max_batch = 1`` turns it off.

A group stops within one inversion or editing step once every one of its jobs was cancelled or passed its
deadline: nobody is left to receive the answer.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Callable, Optional

import grpc
import torch

from shared.rpc.status import ServiceError
from transmitter.instruction import Edit
from transmitter.pipeline import TransmitterPipeline, TxOutput

ProgressFn = Callable[[str, int, int], None]


@dataclass
class Job:
    """One request waiting for the model."""

    edit: Edit
    snr_db: float
    image: Optional[torch.Tensor]            # (3, R, R) in [−1, 1], or None for a session follow-up
    w_start: Optional[torch.Tensor]          # (D,) session latent, or None
    inversion_steps: int
    edit_steps: int
    progress: Optional[ProgressFn] = None
    deadline: Optional[float] = None         # time.monotonic() deadline
    cancelled: threading.Event = field(default_factory=threading.Event)
    future: Future = field(default_factory=Future)
    enqueued: float = field(default_factory=time.perf_counter)
    started: float = 0.0
    finished: float = 0.0
    batch_size: int = 0

    @property
    def key(self) -> tuple:
        return (self.image is None, self.inversion_steps if self.image is not None else 0, self.edit_steps)


class GroupCancelled(Exception):
    """Every job of a running group was cancelled or passed its deadline."""


def abandoned(job: Job, now: float) -> bool:
    """Nobody waits for ``job`` any more (cancelled, or past its deadline)."""
    return job.cancelled.is_set() or (job.deadline is not None and now >= job.deadline)


class MicroBatcher:
    """Runs :class:`Job` objects through a :class:`TransmitterPipeline` in micro-batches (one worker thread)."""

    def __init__(self, pipeline: TransmitterPipeline, max_batch: int = 8, max_wait_s: float = 0.02,
                 on_batch: Callable[[int], None] | None = None, on_cancel: Callable[[int], None] | None = None):
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        self.pipeline = pipeline
        self.max_batch = max_batch
        self.max_wait_s = max(0.0, max_wait_s)
        self.on_batch = on_batch
        self.on_cancel = on_cancel
        self._q: "queue.Queue[Job | None]" = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="micro-batcher", daemon=True)
        self._thread.start()

    def submit(self, job: Job) -> Future:
        if self._stop.is_set():
            raise ServiceError(grpc.StatusCode.UNAVAILABLE, "the transmitter is shutting down")
        self._q.put(job)
        return job.future

    def close(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._q.put(None)
        self._thread.join(timeout)
        while True:   # fail whatever is left
            try:
                job = self._q.get_nowait()
            except queue.Empty:
                break
            if job is not None and not job.future.done():
                job.future.set_exception(ServiceError(grpc.StatusCode.UNAVAILABLE, "the transmitter shut down"))

    # ------------------------------------------------------------------ worker
    def _collect(self, first: Job) -> list[Job]:
        batch = [first]
        end = time.monotonic() + self.max_wait_s
        while len(batch) < self.max_batch:
            left = end - time.monotonic()
            try:
                job = self._q.get(timeout=left) if left > 0 else self._q.get_nowait()
            except queue.Empty:
                break
            if job is None:
                self._stop.set()
                break
            batch.append(job)
        return batch

    def _loop(self) -> None:
        while not self._stop.is_set():
            first = self._q.get()
            if first is None:
                break
            batch = self._collect(first)
            live = []
            now = time.monotonic()
            for job in batch:
                if job.cancelled.is_set():
                    job.future.set_exception(ServiceError(grpc.StatusCode.CANCELLED, "cancelled by the client"))
                elif abandoned(job, now):
                    job.future.set_exception(ServiceError(grpc.StatusCode.DEADLINE_EXCEEDED,
                                                          "deadline exceeded while queued"))
                else:
                    live.append(job)
            groups: dict[tuple, list[Job]] = {}
            for job in live:
                groups.setdefault(job.key, []).append(job)
            for jobs in groups.values():
                self._run(jobs)

    def _run(self, jobs: list[Job]) -> None:
        p = self.pipeline
        first = jobs[0]
        if self.on_batch:
            self.on_batch(len(jobs))

        def progress(stage: str, step: int, total: int) -> None:
            if all(abandoned(job, time.monotonic()) for job in jobs):
                raise GroupCancelled(f"every request of this group left during {stage} step {step}")
            for job in jobs:
                if job.progress is not None:
                    try:
                        job.progress(stage, step, total)
                    except Exception:  # noqa: BLE001 - a broken listener must not stop the batch
                        pass

        started = time.perf_counter()
        for job in jobs:
            job.started = started
            job.batch_size = len(jobs)
        try:
            start = {"w_start": torch.stack([j.w_start for j in jobs])} if first.image is None else \
                {"images": torch.stack([j.image for j in jobs])}
            outs = p.run([j.edit for j in jobs], [j.snr_db for j in jobs], **start,
                         inversion_steps=first.inversion_steps, edit_steps=first.edit_steps, progress=progress)
        except GroupCancelled as exc:
            finished = time.perf_counter()
            for job in jobs:
                job.finished = finished
                if not job.future.done():
                    job.future.set_exception(ServiceError(grpc.StatusCode.CANCELLED, f"abandoned: {exc}"))
            if self.on_cancel:
                self.on_cancel(len(jobs))
            return
        except Exception as exc:  # noqa: BLE001 - every job of the group gets the error
            finished = time.perf_counter()
            for job in jobs:
                job.finished = finished
                if not job.future.done():
                    job.future.set_exception(exc)
            return
        finished = time.perf_counter()
        for job, out in zip(jobs, outs):
            job.finished = finished
            if not job.future.done():
                job.future.set_result(out)


__all__ = ["Job", "MicroBatcher", "TxOutput"]
