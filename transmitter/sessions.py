"""Conversation sessions of the transmitter: a follow-up instruction edits the session's last latent without
re-inverting (the paper's conversational use). Bounded in number (least recently used evicted) and expiring."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable

import torch


@dataclass
class Session:
    id: str
    w: torch.Tensor                 # (D,) the latent the next edit starts from (the last sent edit)
    turn: int                       # edits done so far
    created: float
    last_used: float
    history: list[dict[str, Any]] = field(default_factory=list)   # edits so far (to_dict)


class SessionStore:
    """Thread-safe, bounded, expiring map session id → :class:`Session`."""

    def __init__(self, max_sessions: int = 1000, ttl_s: float = 3600.0,
                 clock: Callable[[], float] = time.monotonic):
        if max_sessions < 1:
            raise ValueError("max_sessions must be >= 1")
        self.max_sessions = max_sessions
        self.ttl_s = ttl_s
        self._clock = clock
        self._items: "OrderedDict[str, Session]" = OrderedDict()
        self._lock = threading.Lock()

    def _expire(self, now: float) -> None:
        for sid in [sid for sid, s in self._items.items() if now - s.last_used > self.ttl_s]:
            del self._items[sid]

    def get(self, session_id: str) -> Session | None:
        with self._lock:
            now = self._clock()
            self._expire(now)
            s = self._items.get(session_id)
            if s is not None:
                s.last_used = now
                self._items.move_to_end(session_id)
            return s

    def update(self, session_id: str, w: torch.Tensor, edit: dict[str, Any], reset: bool) -> Session:
        """Record an edit: the session's latent becomes ``w``; ``reset`` starts over (a new image)."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            s = self._items.get(session_id)
            if s is None or reset:
                s = Session(session_id, w.detach().cpu().clone(), 0, now, now)
                self._items[session_id] = s
            s.w = w.detach().cpu().clone()
            s.turn += 1
            s.last_used = now
            s.history.append(edit)
            self._items.move_to_end(session_id)
            while len(self._items) > self.max_sessions:
                self._items.popitem(last=False)
            return s

    def __len__(self) -> int:
        with self._lock:
            self._expire(self._clock())
            return len(self._items)
