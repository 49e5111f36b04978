"""The committed gRPC stubs match the .proto files (regenerate with `python -m shared.rpc.codegen`)."""

from __future__ import annotations

import filecmp

import pytest

from shared.rpc import codegen

pytest.importorskip("grpc_tools")


def test_stubs_match_proto(tmp_path):
    written = codegen.generate(tmp_path / "editdsc" / "v1")
    names = sorted(p.name for p in written if p.parent == tmp_path / "editdsc" / "v1")
    committed = sorted(p.name for p in codegen.STUB_DIR.iterdir() if p.is_file())
    assert names == committed, "stub files differ: run `python -m shared.rpc.codegen`"
    drift = [n for n in names if not filecmp.cmp(tmp_path / "editdsc" / "v1" / n, codegen.STUB_DIR / n, shallow=False)]
    assert not drift, f"stubs out of date with proto/: {drift}; run `python -m shared.rpc.codegen`"


def test_enum_zero_values_are_unspecified():
    from shared.rpc.editdsc.v1 import common_pb2
    for enum in common_pb2.DESCRIPTOR.enum_types_by_name.values():
        assert enum.values[0].number == 0 and enum.values[0].name.endswith("_UNSPECIFIED")


def test_tensor_codec_round_trip():
    import torch

    from shared.errors import InvalidArgumentError
    from shared.rpc.tensors import tensor_from_proto, tensor_to_proto
    for t in (torch.randn(2, 5), torch.randn(1, 7, dtype=torch.complex64), torch.arange(6).reshape(2, 3),
              torch.randn(3, dtype=torch.float64)):
        back = tensor_from_proto(tensor_to_proto(t))
        assert back.dtype == t.dtype and torch.equal(back, t)
    bad = tensor_to_proto(torch.randn(4))
    bad.shape[:] = [5]
    with pytest.raises(InvalidArgumentError):
        tensor_from_proto(bad)
