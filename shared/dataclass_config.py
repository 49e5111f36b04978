"""One rule for every configuration dataclass read from JSON (bundle manifests, run directories, requests)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from shared.errors import InvalidArgumentError


def checked_fields(cls: type, d: Mapping[str, Any]) -> dict[str, Any]:
    """``d`` as a plain dict after checking that every key names a field of the dataclass ``cls``.

    Raises :class:`InvalidArgumentError` ``"unknown <cls> keys: a, b"`` otherwise.
    """
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise InvalidArgumentError(f"unknown {cls.__name__} keys: {', '.join(unknown)}")
    return dict(d)
