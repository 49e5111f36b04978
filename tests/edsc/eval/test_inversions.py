"""The inversion cache shared by `edsc eval` and `edsc bundle report` (edsc.eval.inversions)."""

import pytest
import torch

from edsc.eval.inversions import InversionCache, set_key, store_directory
from shared.bundle import Bundle


def test_memory_only_cache():
    cache = InversionCache(None)
    assert cache.get("a") is None and cache.path("a") is None and len(cache) == 0
    entry = {"w": torch.ones(4), "lpips": 0.5}
    assert cache.put("a", entry) is entry and cache.get("a") is entry and "a" in cache and len(cache) == 1


def test_disk_entries_are_read_back_once_and_counted(tmp_path):
    first = InversionCache(tmp_path / "store")
    w = torch.randn(2, 8, requires_grad=True)
    first.put("face", {"w": w, "lpips": 0.25, "wall": 1.5})
    assert (tmp_path / "store" / "face.pt").is_file() and first.loaded == 0
    second = InversionCache(tmp_path / "store")
    entry = second.get("face")
    assert torch.equal(entry["w"], w.detach()) and not entry["w"].requires_grad
    assert entry["lpips"] == 0.25 and entry["wall"] == 1.5
    assert second.get("face") is entry and second.loaded == 1 and len(second) == 1
    assert second.get("other") is None and second.loaded == 1


@pytest.fixture(scope="module")
def tx(tiny_bundle):
    from transmitter.inversion import InversionConfig
    from transmitter.jecc import JECCConfig
    from transmitter.pipeline import TransmitterPipeline

    return TransmitterPipeline(Bundle(tiny_bundle), InversionConfig(steps=2), JECCConfig(max_steps=2))


def test_store_directory_names_the_generator_and_the_inversion(tx, tmp_path):
    path = store_directory(tmp_path, tx.bundle, tx, 22)
    digest = tx.bundle.weights_sha256("generator")[:16]
    assert path.parent == tmp_path / f"generator-{digest}" and path.name.startswith(f"r22-{tx.init_mode}")
    assert store_directory(tmp_path, tx.bundle, tx, 23) != path


def test_set_key_changes_with_what_the_inversion_depends_on(tx):
    base = dict(steps=2, faces=3, seed=0, batch=3)
    keys = {set_key(tx.bundle, tx, **{**base, **change}) for change in
            ({}, {"steps": 3}, {"faces": 4}, {"seed": 1}, {"batch": 2})}
    assert len(keys) == 5 and all(len(k) == 20 for k in keys)
    assert set_key(tx.bundle, tx, **base) == set_key(tx.bundle, tx, **base)
