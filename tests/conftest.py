"""Shared fixtures: a tiny random-init bundle (session-wide) and test images."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory) -> Path:
    """A tiny untrained bundle (64 px) with every component of the real format."""
    from edsc.random_bundle import make_random_bundle
    return make_random_bundle(tmp_path_factory.mktemp("bundle") / "tiny", size=64, seed=0)


@pytest.fixture(scope="session")
def astronaut_png(tmp_path_factory) -> Path:
    """skimage's astronaut portrait (512x512) as a PNG file."""
    from skimage import data
    path = tmp_path_factory.mktemp("images") / "astronaut.png"
    Image.fromarray(data.astronaut()).save(path)
    return path
