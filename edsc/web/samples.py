"""The console's built-in sample faces, rendered from the SynthFace world (:mod:`edsc.world.synthface`).

Sample ``i`` is identity seed ``i + 1`` with a fixed mix of attribute degrees, so the same sample is the same
PNG (byte for byte) every time: the transmitter's inversion cache recognises it across submissions.
"""

from __future__ import annotations

from functools import lru_cache

from shared.errors import InvalidArgumentError

# Degrees in the order of SynthFace's attributes (bangs, eyeglasses, beard, smiling, age), one row per sample.
_DEGREES = (
    (0.0, 0.0, 0.0, 1.0, 2.0),
    (3.0, 0.0, 0.0, 2.0, 1.0),
    (1.0, 2.0, 0.0, 0.0, 3.0),
    (0.0, 0.0, 3.0, 1.0, 4.0),
    (4.0, 0.0, 0.0, 3.0, 1.0),
    (2.0, 3.0, 1.0, 0.0, 2.0),
)


def sample_list(count: int) -> list[dict]:
    """``[{"id", "label", "url"}]`` of the first ``count`` samples."""
    return [{"id": i, "label": f"Sample face {i + 1}", "url": f"/console/api/samples/{i}.png"} for i in range(count)]


@lru_cache(maxsize=64)
def sample_png(index: int, count: int, size: int) -> bytes:
    """PNG of sample ``index`` (0 ≤ index < count) at ``size`` × ``size``."""
    if not 0 <= index < count:
        raise InvalidArgumentError(f"sample {index} does not exist; the samples are 0..{count - 1}")
    import torch

    from edsc.world.synthface import render, sample_identity
    from shared.image_io import encode_png

    identity = sample_identity(1, torch.Generator().manual_seed(index + 1))                  # (1, D)
    degrees = torch.tensor([_DEGREES[index % len(_DEGREES)]])                               # (1, 5)
    return encode_png(render(identity, degrees, size=size)[0])                              # (3, S, S)
