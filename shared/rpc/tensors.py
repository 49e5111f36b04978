"""Tensors on the wire: raw little-endian bytes + dtype + shape (never pickle)."""

from __future__ import annotations

import math

import numpy as np
import torch

from shared.errors import InvalidArgumentError
from shared.rpc.editdsc.v1 import common_pb2 as pb

_TO_PROTO = {
    torch.float32: pb.D_TYPE_FLOAT32, torch.float64: pb.D_TYPE_FLOAT64, torch.complex64: pb.D_TYPE_COMPLEX64,
    torch.int64: pb.D_TYPE_INT64, torch.int32: pb.D_TYPE_INT32, torch.uint8: pb.D_TYPE_UINT8, torch.bool: pb.D_TYPE_BOOL,
}
_NUMPY = {
    pb.D_TYPE_FLOAT32: np.dtype("<f4"), pb.D_TYPE_FLOAT64: np.dtype("<f8"), pb.D_TYPE_COMPLEX64: np.dtype("<c8"),
    pb.D_TYPE_INT64: np.dtype("<i8"), pb.D_TYPE_INT32: np.dtype("<i4"), pb.D_TYPE_UINT8: np.dtype("u1"),
    pb.D_TYPE_BOOL: np.dtype("?"),
}
MAX_ELEMENTS = 1 << 28


def tensor_to_proto(t: torch.Tensor) -> pb.Tensor:
    """Encode a tensor (any device) as a :class:`Tensor` message."""
    t = t.detach().to("cpu").resolve_conj().contiguous()
    if t.dtype not in _TO_PROTO:
        raise InvalidArgumentError(f"tensor dtype {t.dtype} cannot be sent")
    code = _TO_PROTO[t.dtype]
    data = t.numpy().astype(_NUMPY[code], copy=False).tobytes(order="C")
    return pb.Tensor(data=data, dtype=code, shape=list(t.shape))


def tensor_from_proto(msg: pb.Tensor, what: str = "tensor") -> torch.Tensor:
    """Decode a :class:`Tensor` message; malformed messages raise InvalidArgumentError naming ``what``."""
    if msg.dtype not in _NUMPY:
        raise InvalidArgumentError(f"{what}: unknown or unspecified dtype {msg.dtype}")
    shape = [int(s) for s in msg.shape]
    if any(s < 0 for s in shape):
        raise InvalidArgumentError(f"{what}: negative dimension in shape {shape}")
    n = math.prod(shape) if shape else 1
    if n > MAX_ELEMENTS:
        raise InvalidArgumentError(f"{what}: {n} elements exceed the limit of {MAX_ELEMENTS}")
    dt = _NUMPY[msg.dtype]
    if len(msg.data) != n * dt.itemsize:
        raise InvalidArgumentError(f"{what}: {len(msg.data)} bytes do not match shape {shape} of {dt}")
    arr = np.frombuffer(msg.data, dtype=dt).reshape(shape).astype(dt.newbyteorder("="), copy=True)
    return torch.from_numpy(arr)


def has_tensor(msg, field: str) -> bool:
    return msg.HasField(field) and msg.__getattribute__(field).dtype != pb.D_TYPE_UNSPECIFIED
