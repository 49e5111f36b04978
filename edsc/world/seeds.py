"""Seeds of every random stream: a namespace path (``"predictor/jecc", 0, "data", 17``) hashed with SHA-256 into a
63-bit seed, so streams never depend on Python's salted ``hash`` and two namespaces never share numbers. Training
data use the namespace ``"train"``, held-out data ``"heldout/<purpose>"``."""

from __future__ import annotations

import hashlib
import random
from typing import Any

import numpy as np
import torch

__all__ = ["stable_seed", "make_generator", "seed_everything"]


def stable_seed(*parts: Any) -> int:
    """A 63-bit seed from a namespace path, stable across processes and platforms.

    >>> stable_seed("train", 0, 5) == stable_seed("train", 0, 5)
    True
    """
    text = "/".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big") >> 1


def make_generator(*parts: Any, device: torch.device | str = "cpu") -> torch.Generator:
    """A ``torch.Generator`` seeded with :func:`stable_seed` of ``parts``."""
    return torch.Generator(device=device).manual_seed(stable_seed(*parts))


def seed_everything(seed: int) -> None:
    """Seeds Python's ``random``, NumPy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)
