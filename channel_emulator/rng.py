r"""Seeds and random generators: every realisation is a pure function of (message, parameters, seed).

Sionna 2.x blocks draw their randomness from ``self.torch_rng``, which by default is the *global*
generator :meth:`sionna.phy.config.Config.torch_rng` (seeded through ``sionna.phy.config.seed``). A service that
handles concurrent requests cannot rely on a global generator, so :class:`LocalRNG` overrides that property:
a block built with it draws from a :class:`torch.Generator` handed to each call (kept thread-locally, so one
block can serve concurrent requests). The Sionna computations themselves are unchanged.

Independent streams are derived from the user's seed with SplitMix64 (:func:`derive_seed`), so that e.g. the
fading and the noise of a request use different generators: changing the SNR keeps the fading realisation and the
unit-variance noise pattern (common random numbers across an SNR sweep).

Note: under ``torch.compile`` Sionna ignores explicit generators (it uses the global RNG for graph fusion);
the emulator runs eagerly.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from functools import lru_cache
from typing import Iterator, Optional

import torch

__all__ = ["MASK64", "STREAM_FADING", "STREAM_NOISE", "STREAM_PROBE", "sionna_device", "LocalRNG", "derive_seed", "make_generator", "resolve_seed"]

MASK64 = (1 << 64) - 1
#: Stream identifiers for :func:`derive_seed`.
STREAM_FADING = 1
STREAM_NOISE = 2
STREAM_PROBE = 3


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & MASK64
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


@lru_cache(maxsize=4096)
def derive_seed(seed: int, *path: int) -> int:
    """A 63-bit seed derived deterministically from ``seed`` and a path of stream/index numbers."""
    s = _splitmix64(int(seed) & MASK64)
    for p in path:
        # the path element goes through a different mixer input domain than the running state, so the
        # combination is not symmetric (derive(a, b) != derive(b, a))
        s = _splitmix64((s + _splitmix64((int(p) & MASK64) ^ 0xD1B54A32D192ED03)) & MASK64)
    return s >> 1  # torch.Generator.manual_seed accepts any int64-representable value


def make_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A fresh :class:`torch.Generator` on ``device`` seeded with ``seed``."""
    g = torch.Generator(device=device)
    g.manual_seed(int(seed))
    return g


def resolve_seed(seed: Optional[int]) -> int:
    """``seed`` itself, or a fresh random 63-bit seed when ``seed`` is None (reported so runs can be replayed)."""
    if seed is None:
        return int.from_bytes(os.urandom(8), "little") >> 1
    return int(seed)


_DEVICE_NAMES: dict[object, str] = {}


def sionna_device(device: torch.device | str) -> str:
    """Sionna's device string for ``device`` (``'cpu'`` or ``'cuda:<i>'``)."""
    name = _DEVICE_NAMES.get(device)
    if name is None:
        d = torch.device(device)
        name = f"cuda:{d.index if d.index is not None else torch.cuda.current_device()}" if d.type == "cuda" \
            else d.type
        if not (d.type == "cuda" and d.index is None):  # "cuda" alone follows the current device
            _DEVICE_NAMES[device] = name
    return name


class LocalRNG:
    """Mixin for Sionna blocks: draw from a per-call :class:`torch.Generator` instead of Sionna's global one.

    Use as ``class SeededAWGN(LocalRNG, AWGN)`` and run calls inside ``with block.using(generator): ...``.
    Calling the block outside :meth:`using` raises, so no draw can silently fall back to the global RNG.
    """

    def _local(self) -> threading.local:
        tls = self.__dict__.get("_tls_rng")
        if tls is None:
            tls = threading.local()
            object.__setattr__(self, "_tls_rng", tls)
        return tls

    @property
    def torch_rng(self) -> torch.Generator:  # overrides sionna.phy.object.Object.torch_rng
        g = getattr(self._local(), "generator", None)
        if g is None:
            raise RuntimeError(f"{type(self).__name__} was called without a local generator (use .using(g))")
        return g

    def set_generator(self, generator: Optional[torch.Generator]) -> Optional[torch.Generator]:
        """Make ``generator`` this thread's generator; return the previous one (for a try/finally restore)."""
        tls = self._local()
        previous = getattr(tls, "generator", None)
        tls.generator = generator
        return previous

    @contextmanager
    def using(self, generator: torch.Generator) -> Iterator[None]:
        """Draw from ``generator`` for the duration of the ``with`` block (this thread only)."""
        tls = self._local()
        previous = getattr(tls, "generator", None)
        tls.generator = generator
        try:
            yield
        finally:
            tls.generator = previous
