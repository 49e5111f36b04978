"""Tests of shared/atomic_io.py: a failed write leaves the old file and no temporary file behind."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from shared.atomic_io import (
    atomic_path,
    save_safetensors_atomic,
    save_torch_atomic,
    write_bytes_atomic,
    write_json_atomic,
)


def test_writers_replace_the_file_and_leave_no_temporary(tmp_path):
    p = tmp_path / "sub" / "a.json"
    write_json_atomic(p, {"b": 1, "a": [1, 2]}, sort_keys=True)
    assert json.loads(p.read_text()) == {"a": [1, 2], "b": 1} and p.read_text().endswith("\n")
    write_bytes_atomic(p, b"new")
    assert p.read_bytes() == b"new"
    assert [q.name for q in p.parent.iterdir()] == ["a.json"]


def test_a_failing_block_keeps_the_old_file(tmp_path):
    p = tmp_path / "x.bin"
    p.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_path(p) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("boom")
    assert p.read_bytes() == b"old"
    assert [q.name for q in tmp_path.iterdir()] == ["x.bin"]


def test_a_failing_serialiser_keeps_the_old_file(tmp_path):
    p = tmp_path / "m.safetensors"
    save_safetensors_atomic({"w": torch.arange(4.0)}, p, metadata={"k": "v"})
    with pytest.raises(Exception):
        save_safetensors_atomic({"w": object()}, p)                       # not a tensor: nothing replaces p
    assert torch.equal(load_file(str(p))["w"], torch.arange(4.0))
    assert [q.name for q in tmp_path.iterdir()] == ["m.safetensors"]


def test_safetensors_and_torch_round_trip(tmp_path):
    t = torch.arange(6.0).view(2, 3).t()                                  # (3, 2), not contiguous
    out = save_safetensors_atomic({"t": t}, tmp_path / "t.safetensors", metadata={"source": "test"})
    assert torch.equal(load_file(str(out))["t"], t)
    save_torch_atomic({"step": 3, "t": t}, tmp_path / "c.pt")
    back = torch.load(tmp_path / "c.pt", weights_only=True)
    assert back["step"] == 3 and torch.equal(back["t"], t)


def test_files_get_the_mode_a_plain_write_gives(tmp_path):
    import os
    import stat

    mask = os.umask(0o022)
    os.umask(mask)
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    new = write_bytes_atomic(tmp_path / "new.txt", b"x")                   # not the 0o600 of a temporary file
    assert stat.S_IMODE(new.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode) == 0o666 & ~mask
    os.chmod(new, 0o640)
    with atomic_path(new) as tmp:
        tmp.write_bytes(b"y")
    assert stat.S_IMODE(new.stat().st_mode) == 0o640 and new.read_bytes() == b"y"   # a replaced file keeps its mode
