"""Streams of SynthFace faces for training and evaluation.

:class:`FaceStream` renders faces in deterministic chunks (cached as uint8, which is what the predictors' own
quantisation sees anyway); :class:`FacePool` draws training batches from a sliding window of recent chunks, so one
render serves ``batch_size / fresh_per_step`` training samples on average (rendering is the slow part on a CPU);
:func:`heldout_faces` renders a fixed evaluation set. The batch of step ``s`` is a pure function of ``(seed, s)``.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import Tensor

from edsc.world.seeds import make_generator
from shared.errors import InvalidArgumentError

__all__ = ["FaceStream", "FacePool", "heldout_faces", "images_to_uint8", "uint8_to_images"]


def images_to_uint8(images: Tensor) -> Tensor:
    """[−1, 1] float → uint8 ``round((x + 1)·127.5)`` (what a PNG of the image holds)."""
    return torch.floor((images.clamp(-1.0, 1.0) + 1.0) * 127.5 + 0.5).clamp(0, 255).to(torch.uint8)


def uint8_to_images(q: Tensor) -> Tensor:
    """uint8 → [−1, 1] float32 (inverse of :func:`images_to_uint8` on the uint8 grid)."""
    return q.to(torch.float32) / 127.5 - 1.0


def _sample_degrees_mixed(n: int, g: torch.Generator, frac_prob: float) -> Tensor:
    from edsc.world.synthface import ATTRIBUTES, NUM_DEGREES, MAX_DEGREE

    m = len(ATTRIBUTES)
    ints = torch.randint(0, NUM_DEGREES, (n, m), generator=g).float()
    fracs = torch.rand(n, m, generator=g) * MAX_DEGREE
    use = torch.rand(n, m, generator=g) < frac_prob
    return torch.where(use, fracs, ints)


class FaceStream:
    """An endless, deterministic sequence of SynthFace faces, rendered in chunks on demand.

    Face ``k`` lives in chunk ``k // chunk``; chunk ``c`` draws its identities and degrees from a generator
    seeded with ``stable_seed(namespace, seed, c)``, so any chunk can be re-rendered identically at any time
    (after a resume, in another process). Rendered chunks are cached as uint8 (LRU, ``cache_chunks`` of them).

    Parameters
    ----------
    namespace : e.g. ``"train"``; held-out sets use another namespace, so they never share a face with training
    seed : data seed
    chunk : faces per chunk
    size : image side
    frac_prob : probability that an attribute's degree is fractional (uniform in [0, 5]) instead of an integer
    cache_chunks : cached chunks
    """

    def __init__(self, namespace: str, seed: int, chunk: int = 64, size: int = 128, frac_prob: float = 0.0,
                 cache_chunks: int = 64):
        if chunk < 1:
            raise InvalidArgumentError(f"chunk must be >= 1, got {chunk}")
        if not 0.0 <= frac_prob <= 1.0:
            raise InvalidArgumentError(f"frac_prob must lie in [0, 1], got {frac_prob}")
        self.namespace, self.seed, self.chunk, self.size = str(namespace), int(seed), int(chunk), int(size)
        self.frac_prob = float(frac_prob)
        self.cache_chunks = max(1, int(cache_chunks))
        self._cache: OrderedDict[int, tuple[Tensor, Tensor, Tensor]] = OrderedDict()
        self.rendered = 0  # faces rendered so far (cache misses × chunk)

    def params(self, c: int) -> tuple[Tensor, Tensor]:
        """(identity (chunk, D), degrees (chunk, 5)) of chunk ``c`` without rendering."""
        from edsc.world.synthface import sample_identity

        g = make_generator(self.namespace, self.seed, c)
        ident = sample_identity(self.chunk, g)
        deg = _sample_degrees_mixed(self.chunk, g, self.frac_prob)
        return ident, deg

    def get_chunk(self, c: int) -> tuple[Tensor, Tensor, Tensor]:
        """(images uint8 (chunk, 3, S, S), identity (chunk, D), degrees (chunk, 5)) of chunk ``c``."""
        from edsc.world.synthface import render

        if c in self._cache:
            self._cache.move_to_end(c)
            return self._cache[c]
        ident, deg = self.params(c)
        imgs = images_to_uint8(render(ident, deg, self.size))
        self.rendered += self.chunk
        self._cache[c] = (imgs, ident, deg)
        while len(self._cache) > self.cache_chunks:
            self._cache.popitem(last=False)
        return self._cache[c]

    def faces(self, indices: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Faces by global index: (images [−1, 1] float (n, 3, S, S), identity (n, D), degrees (n, 5))."""
        indices = indices.long().flatten()
        chunks = sorted(set((indices // self.chunk).tolist()))
        data = {c: self.get_chunk(c) for c in chunks}
        imgs, ids, degs = [], [], []
        for k in indices.tolist():
            c, j = divmod(k, self.chunk)
            im, i, d = data[c]
            imgs.append(im[j])
            ids.append(i[j])
            degs.append(d[j])
        return uint8_to_images(torch.stack(imgs)), torch.stack(ids), torch.stack(degs)


class FacePool:
    """Training batches from a sliding window over a :class:`FaceStream`.

    At step ``s`` the newest chunk is ``c = s·fresh_per_step // chunk`` and the window holds chunks
    ``c − window + 1 .. c``; the batch is ``batch_size`` faces drawn uniformly (with a generator seeded by
    ``(namespace, seed, "batch", s)``) from the window. On average ``fresh_per_step`` faces are rendered per
    step and each face is seen ``batch_size / fresh_per_step`` times. The batch of step ``s`` depends on nothing
    but ``(seed, s)``.
    """

    def __init__(self, stream: FaceStream, batch_size: int, fresh_per_step: int, window: int = 16):
        if fresh_per_step < 1 or batch_size < 1 or window < 1:
            raise InvalidArgumentError("batch_size, fresh_per_step and window must be >= 1")
        self.stream = stream
        self.batch_size = int(batch_size)
        self.fresh = int(fresh_per_step)
        self.window = int(window)
        stream.cache_chunks = max(stream.cache_chunks, self.window + 1)

    def batch(self, step: int) -> tuple[Tensor, Tensor, Tensor]:
        s = self.stream
        newest = (int(step) * self.fresh) // s.chunk
        first = max(0, newest - self.window + 1)
        n_faces = (newest - first + 1) * s.chunk
        g = make_generator(s.namespace, s.seed, "batch", int(step))
        idx = torch.randint(0, n_faces, (self.batch_size,), generator=g) + first * s.chunk
        return s.faces(idx)


def heldout_faces(purpose: str, seed: int, n: int, size: int = 128, frac_prob: float = 0.0,
                  chunk: int = 64) -> tuple[Tensor, Tensor, Tensor]:
    """A fixed held-out set: (images [−1, 1] (n, 3, S, S), identity (n, D), degrees (n, 5)).

    Drawn from the namespace ``"heldout/<purpose>"``, disjoint by construction from every ``"train"`` stream.
    """
    stream = FaceStream(f"heldout/{purpose}", seed, chunk=chunk, size=size, frac_prob=frac_prob, cache_chunks=1)
    return stream.faces(torch.arange(int(n)))
