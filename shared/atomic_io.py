"""Atomic file writes: a reader sees the old file or the new one, never a half-written one.

Each writer goes through a temporary file in the destination's folder (same file system), flushed and fsynced,
then ``os.replace``-d over the destination. A failure removes the temporary file and leaves the old one. The
file gets the permissions a plain ``open(path, "w")`` would give it (those of the file it replaces, or
``0o666`` less the umask), not the private ``0o600`` of a temporary file: bundles are read by other users.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

__all__ = ["atomic_path", "write_bytes_atomic", "write_text_atomic", "write_json_atomic", "save_torch_atomic",
           "save_safetensors_atomic"]


def _read_umask() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)                  # no /proc: read it by setting it (once, at import)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _publish(tmp: str | os.PathLike, path: Path) -> None:
    """Gives ``tmp`` the mode ``path`` has (or a new file's) and renames it over ``path``."""
    try:
        mode = os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o666 & ~_UMASK
    os.chmod(tmp, mode)
    os.replace(tmp, path)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yields a temporary path next to ``path``; when the block ends without an error it replaces ``path``.

    For writers that want a file name rather than bytes (``safetensors.torch.save_file``, ``sqlite3``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        _publish(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Writes ``data`` to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        _publish(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Writes ``text`` (UTF-8) to ``path`` atomically."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | os.PathLike, obj: Any, sort_keys: bool = False) -> Path:
    """Writes ``obj`` as indented JSON plus a final newline, atomically (values JSON cannot hold go through ``str``)."""
    return write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=sort_keys, default=str) + "\n")


def save_torch_atomic(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save(obj)`` to ``path``, atomically."""
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    return write_bytes_atomic(path, buf.getvalue())


def save_safetensors_atomic(tensors: Mapping[str, Any], path: str | os.PathLike,
                            metadata: Mapping[str, str] | None = None) -> Path:
    """Writes ``tensors`` (name -> tensor; moved to the CPU and made contiguous) as a safetensors file at
    ``path``, atomically, with optional string ``metadata``."""
    from safetensors.torch import save_file

    path = Path(path)
    with atomic_path(path) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp),
                  metadata=dict(metadata) if metadata is not None else None)
    return path
