"""Fixtures of the evaluation tests: stand-in image links (the shipped DeepJSCC is 128 px, the tiny bundle 64 px)
and a cheap stand-in for the Inception feature extractor."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import torch
import torch.nn.functional as F


@dataclass
class FakeResult:
    images: torch.Tensor
    cbr: float
    info: dict = field(default_factory=dict)


class FakeLink:
    """An image link of any resolution. Analog (``cliff_db=None``): Gaussian noise whose power falls with the SNR.
    Digital: the image arrives intact at or above ``cliff_db`` and as a grey image below it. Deterministic."""

    def __init__(self, name: str, cbr: float, cliff_db: float | None = None):
        self.name, self.cbr, self.cliff_db = name, cbr, cliff_db
        self.calls = 0

    def transmit(self, images, snr_db, channel=None, seed=0):
        self.calls += 1
        if self.cliff_db is not None:
            ok = snr_db >= self.cliff_db
            out = images.clone() if ok else torch.zeros_like(images)
            return FakeResult(out, self.cbr, {"decode_ok": [ok] * images.shape[0]})
        gen = torch.Generator().manual_seed(int(seed))
        noise = torch.randn(images.shape, generator=gen) * 10 ** (-snr_db / 20) * 0.3
        return FakeResult((images + noise).clamp(-1, 1), self.cbr, {"snr_db": snr_db})


class PooledFeatures(torch.nn.Module):
    """A 48-d stand-in for InceptionV3 (4×4 average-pooled colours): FID/KID plumbing without the 2048-d cost."""

    num_features = 48

    def forward(self, images):
        return F.adaptive_avg_pool2d(images.float(), 4).flatten(1)


@pytest.fixture
def fake_links():
    return {"JPEG+LDPC": FakeLink("jpeg+ldpc", 0.0389, cliff_db=6.0), "DeepJSCC": FakeLink("deepjscc", 0.0833)}


@pytest.fixture
def pooled_features():
    return PooledFeatures()
