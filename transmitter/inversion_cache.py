"""The transmitter's in-memory cache of inversions: the same photo sent again skips SE_I.

An SNR sweep sends one image with one instruction at several SNRs; the inversion depends on neither, so only the
first request inverts and the others start JECC from its latent. Entries are keyed by (sha256 of the image bytes
as sent, r_inv, owner): another principal's upload never reads this one's latent. The cache is a small LRU held
in memory only (a restarted transmitter inverts again).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Optional

import torch

DEFAULT_ENTRIES = 64


@dataclass(frozen=True)
class CachedInversion:
    """One stored inversion."""

    w: torch.Tensor                  # (D,) the inverted latent
    lpips: Optional[float]           # LPIPS(G(w), S_I) of that inversion


class InversionCache:
    """A thread-safe LRU of inversions.

    Parameters
    ----------
    max_entries : how many inversions are kept (0: the cache is off)
    """

    def __init__(self, max_entries: int = DEFAULT_ENTRIES):
        if max_entries < 0:
            raise ValueError("max_entries must be >= 0")
        self.max_entries = max_entries
        self._items: "OrderedDict[tuple[str, int, str], CachedInversion]" = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(image_sha256: str, inversion_steps: int, owner: str) -> tuple[str, int, str]:
        return (image_sha256, int(inversion_steps), owner)

    def get(self, key: tuple[str, int, str]) -> Optional[CachedInversion]:
        """The stored inversion (marked as recently used), or None."""
        with self._lock:
            found = self._items.get(key)
            if found is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return found

    def put(self, key: tuple[str, int, str], w: torch.Tensor, lpips: Optional[float]) -> None:
        """Store ``w`` (D,) for ``key``, dropping the least recently used entries beyond the bound."""
        if self.max_entries == 0:
            return
        entry = CachedInversion(w=w.detach().reshape(-1).clone(), lpips=lpips)
        with self._lock:
            self._items[key] = entry
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
