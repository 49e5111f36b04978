"""Requests in flight, keyed by request id: a retry of a request that is still running joins it instead of starting
a second computation, and the work is abandoned once nobody waits for it any more.

A :class:`Flight` is one execution of one request. Callers *attend* it (:meth:`Flights.attend`): the first one
starts it, later ones with the same id and the same request join it, each may listen to its progress, and when the
last one leaves before it is done its ``cancelled`` event is set (the micro-batcher then stops the work within one
step). A caller arriving after that starts a fresh flight.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional

import grpc

from shared.rpc.status import ServiceError

ProgressFn = Callable[[str, int, int], None]


@dataclass
class Flight:
    request_id: str
    fingerprint: str
    future: Future = field(default_factory=Future)
    cancelled: threading.Event = field(default_factory=threading.Event)
    waiters: int = 0
    deadline: float = 0.0                                     # latest waiter deadline (time.monotonic())
    listeners: list[ProgressFn] = field(default_factory=list)
    last: Optional[tuple[str, int, int]] = None               # the latest progress event (for late joiners)
    computed: bool = False          # the model is done: what is left (forward, record) runs to the end regardless
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def progress(self, stage: str, step: int, total: int) -> None:
        """Fan a progress event out to every listener (a failing listener is dropped)."""
        with self._lock:
            self.last = (stage, step, total)
            listeners = list(self.listeners)
        for fn in listeners:
            try:
                fn(stage, step, total)
            except Exception:  # noqa: BLE001 - a broken listener must not stop the work
                with self._lock:
                    if fn in self.listeners:
                        self.listeners.remove(fn)

    def seconds_left(self) -> float:
        return self.deadline - time.monotonic()


def mismatch(request_id: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.ALREADY_EXISTS,
                        f"request id {request_id} was already used for a different request; use a new id")


class Flights:
    """Thread-safe registry request id → the live :class:`Flight`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, Flight] = {}

    def live(self, request_id: str, fingerprint: str) -> Flight | None:
        """The flight a caller would join now (None: it would have to start one)."""
        with self._lock:
            f = self._items.get(request_id)
        if f is None or f.future.done() or (f.cancelled.is_set() and not f.computed):
            return None
        if f.fingerprint != fingerprint:
            raise mismatch(request_id)
        return f

    @contextmanager
    def attend(self, request_id: str, fingerprint: str, deadline: float, start: Callable[[Flight], None],
               progress: ProgressFn | None = None) -> Iterator[Flight]:
        """Join the live flight of ``request_id`` or create one and call ``start(flight)``; yields the flight.
        On exit this caller leaves; the last caller to leave an unfinished flight cancels it."""
        with self._lock:
            f = self._items.get(request_id)
            if f is not None and f.fingerprint != fingerprint and not f.future.done():
                raise mismatch(request_id)
            created = f is None or f.future.done() or (f.cancelled.is_set() and not f.computed)
            if created:
                f = Flight(request_id, fingerprint)
                self._items[request_id] = f
            f.waiters += 1
            f.deadline = max(f.deadline, deadline)
            if progress is not None:
                with f._lock:
                    f.listeners.append(progress)
                    last = f.last
                if last is not None:
                    progress(*last)
        try:
            if created:
                start(f)
            yield f
        finally:
            with self._lock:
                f.waiters -= 1
                if progress is not None:
                    with f._lock:
                        if progress in f.listeners:
                            f.listeners.remove(progress)
                if f.waiters <= 0 and not f.future.done() and not f.computed:
                    f.cancelled.set()

    def finish(self, flight: Flight) -> None:
        """Forget ``flight`` (called by its runner once its future is set)."""
        with self._lock:
            if self._items.get(flight.request_id) is flight:
                del self._items[flight.request_id]

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
