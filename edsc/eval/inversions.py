"""The inversion cache shared by `edsc eval` and `edsc bundle report`.

GAN inversion is by far the costliest step of both tools and deterministic for a given generator, start, r_inv,
batch composition and machine, so both keep every inversion in an :class:`InversionCache`: a memory layer over
an optional directory of one small ``torch.save`` file per entry, written atomically. An entry is a dict of
tensors and numbers; what it holds is up to the caller.

Two ways of naming entries, one per kind of work:

* :func:`store_directory` + :func:`~edsc.eval.metrics.image_keys`: one entry per *image*, named by the image's
  content hash, in a directory named by the generator and the inversion (r_inv, start, degree guard). For sets
  whose images may be inverted in any batch (``edsc eval``: the same face meets several experiments, and a
  received image identical to one seen before is inverted once).
* :func:`set_key`: one entry for a *whole set* inverted in fixed batches (``edsc bundle report``), named by
  everything the result depends on, the batch size and the set included (batches change float rounding).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch

from shared.bundle import Bundle

__all__ = ["InversionCache", "store_directory", "set_key"]


def _start_label(transmitter) -> str:
    """The start of a :class:`~transmitter.pipeline.TransmitterPipeline`'s inversion as a path-safe label:
    ``mean``, or ``<mode>-<sha256 of its inversion fingerprint>`` with the encoder start or the degree guard."""
    start = transmitter.init_mode
    fingerprint = transmitter.inversion_fingerprint
    if fingerprint != start:   # the encoder start (F, P, latent layout) or the degree guard (P)
        start += "-" + hashlib.sha256(fingerprint.encode()).hexdigest()[:16]
    return start


def store_directory(root: str | Path, bundle: Bundle, transmitter, steps: int) -> Path:
    """Where the per-image entries of one inversion setting live under ``root``:
    ``generator-<sha256 of the generator, 16 digits>/r<steps>-<start>/`` (start: see :func:`_start_label`)."""
    digest = (bundle.weights_sha256("generator") or "unhashed")[:16]
    return Path(root) / f"generator-{digest}" / f"r{int(steps)}-{_start_label(transmitter)}"


def set_key(bundle: Bundle, transmitter, steps: int, faces: int, seed: int, batch: int) -> str:
    """sha256 (first 20 hex digits) of what a whole set's inversion depends on: the generator file's sha256, the
    mean latent (the codec's mean), the start and guard (``TransmitterPipeline.inversion_fingerprint``), r_inv,
    the set (face count, seed), the inversion batch size, the device type and the torch version."""
    w_init = bundle.adapters.normalizer.mean.detach().float().cpu().contiguous()
    h = hashlib.sha256()
    for part in (bundle.weights_sha256("generator"), hashlib.sha256(w_init.numpy().tobytes()).hexdigest(),
                 transmitter.inversion_fingerprint, steps, faces, seed, batch, bundle.device.type,
                 torch.__version__):
        h.update(f"{part}|".encode())
    return h.hexdigest()[:20]


class InversionCache:
    """Inversions kept in memory and, with a directory, on disk (one ``<name>.pt`` file per entry).

    Parameters
    ----------
    directory : where entries are saved and looked up; None keeps them in memory only.
    device : where tensors read from disk are placed.

    Entries are dicts of tensors and numbers. :meth:`get` looks in memory, then on disk; :meth:`put` keeps the
    entry in memory as given and writes a CPU copy to disk.
    """

    def __init__(self, directory: str | Path | None, device: torch.device | str = "cpu"):
        self.directory = None if directory is None else Path(directory)
        self.device = torch.device(device)
        self._memory: dict[str, dict[str, Any]] = {}
        self.loaded = 0                  # entries read back from disk

    def __contains__(self, name: str) -> bool:
        return name in self._memory

    def __len__(self) -> int:
        """Entries in memory (computed here or read back)."""
        return len(self._memory)

    def path(self, name: str) -> Path | None:
        """The file of entry ``name`` (None without a directory)."""
        return None if self.directory is None else self.directory / f"{name}.pt"

    def get(self, name: str) -> dict[str, Any] | None:
        """Entry ``name`` from memory, else from disk (then kept in memory); None when it was never saved."""
        if name in self._memory:
            return self._memory[name]
        path = self.path(name)
        if path is None or not path.is_file():
            return None
        entry = torch.load(path, map_location=self.device, weights_only=True)
        self._memory[name] = entry
        self.loaded += 1
        return entry

    def put(self, name: str, entry: dict[str, Any]) -> dict[str, Any]:
        """Keep ``entry`` under ``name``, and save a CPU copy when there is a directory; returns ``entry``."""
        from shared.atomic_io import save_torch_atomic as save_torch

        self._memory[name] = entry
        path = self.path(name)
        if path is not None:
            save_torch({k: v.detach().cpu() if isinstance(v, torch.Tensor) else v for k, v in entry.items()}, path)
        return entry
