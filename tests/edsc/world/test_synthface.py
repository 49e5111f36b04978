"""Tests of the SynthFace renderer (edsc/world/synthface.py), its contact sheet and the `edsc world` commands."""

from __future__ import annotations

import argparse
import json

import pytest
import torch
from PIL import Image

from edsc.cli import world as world_cli
from edsc.world.sheet import contact_sheet
from edsc.world.synthface import (
    ATTRIBUTES,
    DEGREE_NAMES,
    IDENTITY_DIMS,
    IDENTITY_PRIOR,
    NUM_DEGREES,
    SynthFace,
    identity_to_physical,
    render,
    sample_degrees,
    sample_identity,
)
from shared.errors import InvalidArgumentError

SIZE = 96  # smaller than 128 keeps the suite fast; the drawing is resolution independent


def _ids(n: int, seed: int = 0) -> torch.Tensor:
    return sample_identity(n, torch.Generator().manual_seed(seed))


def _mad(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().mean().item()


def _sweep(identity: torch.Tensor, attr: int, values, base=(0, 0, 0, 0, 2), size: int = SIZE) -> torch.Tensor:
    """Render identities (N, D) with attribute ``attr`` at each of ``values`` in one batch: (N, V, 3, S, S)."""
    values = torch.as_tensor(values, dtype=torch.float32)
    n, v = identity.shape[0], len(values)
    d = torch.tensor(base, dtype=torch.float32).repeat(n * v, 1)
    d[:, attr] = values.repeat(n)
    img = render(identity.repeat_interleave(v, dim=0), d, size=size)
    return img.view(n, v, *img.shape[1:]) if n > 1 else img


def test_constants_and_prior():
    assert ATTRIBUTES == ("bangs", "eyeglasses", "beard", "smiling", "age")
    assert NUM_DEGREES == 6
    assert len(IDENTITY_DIMS) >= 12
    assert tuple(IDENTITY_PRIOR) == IDENTITY_DIMS
    for name, (lo, hi, doc) in IDENTITY_PRIOR.items():
        assert lo < hi and doc, name
    for a in ATTRIBUTES:
        assert len(DEGREE_NAMES[a]) == NUM_DEGREES


def test_sampling():
    g = torch.Generator().manual_seed(3)
    ids = sample_identity(500, g)
    assert ids.shape == (500, len(IDENTITY_DIMS)) and ids.dtype == torch.float32
    assert ids.min() >= -1 and ids.max() <= 1 and ids.std() > 0.4
    again = [sample_identity(7, torch.Generator().manual_seed(1)) for _ in range(2)]
    assert torch.equal(again[0], again[1])
    deg = sample_degrees(600, g)
    assert deg.shape == (600, 5) and deg.dtype == torch.float32
    assert torch.equal(deg, deg.round()) and set(deg.unique().tolist()) == {0.0, 1.0, 2.0, 3.0, 4.0, 5.0}
    frac = sample_degrees(600, g, fractional=True)
    assert frac.min() >= 0 and frac.max() <= 5 and not torch.equal(frac, frac.round())
    phys = identity_to_physical(ids)
    for name, (lo, hi, _) in IDENTITY_PRIOR.items():
        assert phys[name].min() >= lo - 1e-6 and phys[name].max() <= hi + 1e-6


def test_shape_range_dtype():
    ids = _ids(4)
    deg = sample_degrees(4, torch.Generator().manual_seed(0))
    img = render(ids, deg)
    assert img.shape == (4, 3, 128, 128) and img.dtype == torch.float32
    assert img.min() >= -1.0 and img.max() <= 1.0
    assert torch.isfinite(img).all()
    assert img.std() > 0.1  # not blank
    assert render(ids, deg, size=64).shape == (4, 3, 64, 64)
    assert render(ids[:0], deg[:0]).shape == (0, 3, 128, 128)


def test_deterministic_and_batch_independent():
    ids = _ids(6, seed=5)
    deg = sample_degrees(6, torch.Generator().manual_seed(5), fractional=True)
    a = render(ids, deg, size=SIZE)
    b = render(ids, deg, size=SIZE)
    assert torch.equal(a, b)
    for i in range(6):
        single = render(ids[i : i + 1], deg[i : i + 1], size=SIZE)
        torch.testing.assert_close(single[0], a[i], atol=1e-5, rtol=0)
    world = SynthFace(size=SIZE, chunk=4)
    torch.testing.assert_close(world.render_batch(ids, deg), a, atol=1e-5, rtol=0)


@pytest.mark.parametrize("attr", range(len(ATTRIBUTES)), ids=ATTRIBUTES)
def test_degrees_monotone_and_distinct(attr):
    """The difference from degree 0 grows with the degree, and every step is visible, for several identities."""
    ids = _ids(3, seed=11)
    for base in ((0, 0, 0, 0, 2), (3, 3, 3, 3, 3)):
        sweeps = _sweep(ids, attr, range(NUM_DEGREES), base=base)
        for i, im in enumerate(sweeps):
            from0 = [_mad(im[j], im[0]) for j in range(NUM_DEGREES)]
            assert all(from0[j + 1] > from0[j] for j in range(NUM_DEGREES - 1)), (ATTRIBUTES[attr], base, i, from0)
            for j in range(NUM_DEGREES - 1):
                changed = ((im[j + 1] - im[j]).abs().amax(0) > 0.15).sum().item()  # pixels that change by > 7.5 %
                assert changed >= 12, (ATTRIBUTES[attr], base, i, j, changed)
                assert _mad(im[j + 1], im[j]) > 3e-4, (ATTRIBUTES[attr], base, i, j)


@pytest.mark.parametrize("attr", range(len(ATTRIBUTES)), ids=ATTRIBUTES)
def test_fractional_degree_lies_between(attr):
    ident = _ids(3, seed=2)[1:2]
    ints = _sweep(ident, attr, range(NUM_DEGREES))
    halves = _sweep(ident, attr, [k + 0.5 for k in range(NUM_DEGREES - 1)])
    for k in range(NUM_DEGREES - 1):
        step = _mad(ints[k + 1], ints[k])
        assert _mad(halves[k], ints[k]) < step and _mad(halves[k], ints[k + 1]) < step, (ATTRIBUTES[attr], k)
        assert _mad(ints[0], ints[k]) <= _mad(ints[0], halves[k]) <= _mad(ints[0], ints[k + 1]) + 1e-6
    # continuity: a tiny change of the degree changes the image a tiny bit
    near = _sweep(ident, attr, [2.0, 2.001])
    assert _mad(near[0], near[1]) < 0.02 * _mad(ints[2], ints[3]) + 1e-6


def test_every_identity_dimension_changes_the_image():
    base = torch.tensor([[2.0, 2.0, 3.0, 2.0, 2.0]])
    rows = []
    for seed in (0, 1):
        ident = _ids(1, seed=seed) * 0.5
        for k, name in enumerate(IDENTITY_DIMS):
            lo, hi = ident.clone(), ident.clone()
            v = 0.5 if name.endswith("_hue") else 1.0  # the hues are cyclic: -1 and +1 are the same colour
            lo[0, k], hi[0, k] = -v, v
            rows += [lo, hi]
    im = render(torch.cat(rows), base.repeat(len(rows), 1), size=SIZE)
    for j in range(0, len(rows), 2):
        name = IDENTITY_DIMS[(j // 2) % len(IDENTITY_DIMS)]
        assert _mad(im[j], im[j + 1]) > 2e-4, name
        assert ((im[j] - im[j + 1]).abs().amax(0) > 0.1).sum() >= 5, name


def test_input_validation():
    ids = _ids(2)
    with pytest.raises(InvalidArgumentError):
        render(ids[:, :5], torch.zeros(2, 5))
    with pytest.raises(InvalidArgumentError):
        render(ids, torch.zeros(3, 5))
    with pytest.raises(InvalidArgumentError):
        render(ids, torch.full((2, 5), 6.0))
    with pytest.raises(InvalidArgumentError):
        render(ids, torch.zeros(2, 5), size=8)


def test_contact_sheet_layout():
    sheet = contact_sheet(_ids(2), size=48)
    assert isinstance(sheet, Image.Image)
    assert sheet.width > 6 * 48 and sheet.height > 2 * len(ATTRIBUTES) * 48


def _cli(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="edsc")
    sub = parser.add_subparsers(dest="command")
    world_cli.register(sub)
    return parser.parse_args(argv)


def test_cli_sheet_writes_png(tmp_path):
    out = tmp_path / "sheet.png"
    args = _cli(["world", "sheet", "--out", str(out), "--identities", "2", "--seed", "4", "--size", "64"])
    assert args.func(args) == 0
    with Image.open(out) as im:
        im.verify()
    with Image.open(out) as im:
        assert im.format == "PNG" and im.width > 6 * 64


def test_cli_sample_writes_pngs_and_labels(tmp_path):
    out = tmp_path / "faces"
    args = _cli(["world", "sample", "--n", "3", "--out", str(out), "--seed", "1", "--size", "64"])
    assert args.func(args) == 0
    meta = json.loads((out / "labels.json").read_text())
    assert meta["attributes"] == list(ATTRIBUTES) and len(meta["faces"]) == 3
    for rec in meta["faces"]:
        with Image.open(out / rec["file"]) as im:
            assert im.size == (64, 64)
        assert set(rec["degrees"]) == set(ATTRIBUTES) and len(rec["identity"]) == len(IDENTITY_DIMS)
    # the labels reproduce the images
    rec = meta["faces"][0]
    img = render(torch.tensor([rec["identity"]]), torch.tensor([[rec["degrees"][a] for a in ATTRIBUTES]]), size=64)
    with Image.open(out / rec["file"]) as im:
        saved = torch.tensor(list(im.tobytes()), dtype=torch.float32).view(64, 64, 3).permute(2, 0, 1)
    assert (saved / 127.5 - 1.0 - img[0]).abs().max() < 0.02


def test_cli_rejects_bad_arguments(tmp_path):
    args = _cli(["world", "sheet", "--out", str(tmp_path / "x.png"), "--identities", "0"])
    with pytest.raises(InvalidArgumentError):
        args.func(args)
    args = _cli(["world", "sheet", "--out", str(tmp_path / "x.jpg")])
    with pytest.raises(InvalidArgumentError):
        args.func(args)
    args = _cli(["world", "sheet", "--out", str(tmp_path / "x.png"), "--base", "1,2"])
    with pytest.raises(InvalidArgumentError):
        args.func(args)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    ids = _ids(4)
    deg = sample_degrees(4, torch.Generator().manual_seed(0), fractional=True)
    cpu = render(ids, deg, size=SIZE)
    gpu = render(ids.cuda(), deg.cuda(), size=SIZE)
    assert gpu.is_cuda
    assert (gpu.cpu() - cpu).abs().mean() < 1e-3
