"""Tests of shared/models/field.py."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from shared.errors import BundleError, InvalidArgumentError
from shared.models.field import (
    FieldBank,
    FieldConfig,
    ResidualField,
    Talk2EditField,
    load_talk2edit_fields,
)

DATA = Path(__file__).parent / "data" / "talk2edit_layouts.json"


class _PixelNorm(nn.Module):
    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(1, keepdim=True) + 1e-8)


class _EqualLinearLRelu(nn.Module):
    """rosinality's EqualLinear(512, 512, lr_mul=0.01, activation='fused_lrelu'), written for the test."""

    def __init__(self, dim=512, lr_mul=0.01):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(dim, dim) / lr_mul)
        self.bias = nn.Parameter(torch.randn(dim) * 0.1)
        self.scale = lr_mul / math.sqrt(dim)
        self.lr_mul = lr_mul

    def forward(self, x):
        return F.leaky_relu(F.linear(x, self.weight * self.scale) + self.bias * self.lr_mul, 0.2) * math.sqrt(2)


def _style(seed=0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(_PixelNorm(), *[_EqualLinearLRelu() for _ in range(8)])


@pytest.fixture(scope="module")
def layouts() -> dict:
    return json.loads(DATA.read_text())


def _published_field_sd(layouts, seed) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(s, generator=g) * 0.04 for k, s in layouts["field"]}


# ---------------------------------------------------------------------------------------------------------------
# Talk-to-Edit field
# ---------------------------------------------------------------------------------------------------------------

def test_talk2edit_field_layout(layouts):
    f = Talk2EditField(mapping=_style())
    got = [(k, tuple(v.shape)) for k, v in f.state_dict().items()]
    assert got == [(k, tuple(s)) for k, s in layouts["field"]]  # the mapping is not part of the state dict
    assert sum(p.numel() for p in f.parameters()) == 8 * (512 * 512 + 512)


def test_load_talk2edit_fields_maps_names(layouts):
    sds = {name: _published_field_sd(layouts, i)
           for i, name in enumerate(["Bangs", "Eyeglasses", "No_Beard", "Smiling", "Young"])}
    bank = load_talk2edit_fields(sds, mapping=_style(), replaced_layers=8)
    assert bank.attributes == ["bangs", "eyeglasses", "beard", "smiling", "age"]
    assert torch.equal(bank["beard"].field[3].Linear.weight, sds["No_Beard"]["field.3.Linear.weight"])
    assert all(isinstance(f, Talk2EditField) and f.has_mapping and not f.training for f in bank.values())
    bad = dict(sds["Bangs"])
    bad["field.7.Linear.bias"] = torch.zeros(256)
    with pytest.raises(BundleError, match="shape"):
        load_talk2edit_fields({"Bangs": bad})
    with pytest.raises(BundleError, match="no Talk-to-Edit field layers"):
        load_talk2edit_fields({"Bangs": {"net.0.weight": torch.zeros(2, 2)}})


def test_talk2edit_delta_is_map_of_field_minus_map_of_zero():
    style = _style(1)
    f = Talk2EditField(mapping=style)
    w = torch.randn(4, 512)
    with torch.no_grad():
        x = w
        for i, layer in enumerate(f.field):
            x = F.linear(x, layer.Linear.weight, layer.Linear.bias)
            if i < 7:
                x = F.leaky_relu(x, 0.2)
        mapped, mapped0 = x, torch.zeros_like(x)
        for layer in list(style)[1:]:  # no PixelNorm
            mapped, mapped0 = layer(mapped), layer(mapped0)
        ref = mapped - mapped0
        got = f.delta(w)
    assert torch.allclose(got, ref, atol=1e-5)
    assert torch.allclose(f.step(w, 1), w + ref, atol=1e-5)
    assert torch.allclose(f.step(w, -1), w - ref, atol=1e-5)
    mixed = f.step(w, torch.tensor([1, -1, 1, -1]))
    assert torch.allclose(mixed[1], w[1] - ref[1], atol=1e-5) and torch.allclose(mixed[2], w[2] + ref[2], atol=1e-5)


def test_talk2edit_delta_zero_when_field_output_is_zero():
    f = Talk2EditField(mapping=_style(2))
    last = f.field[-1].Linear
    with torch.no_grad():
        last.weight.zero_()
        last.bias.zero_()
    for w in (torch.zeros(2, 512), torch.randn(3, 512) * 5):
        d = f.delta(w)
        assert torch.equal(d, torch.zeros_like(d))  # Map(0) - Map(0), bit-exact
        assert torch.equal(f.step(w, -1), w)


def test_talk2edit_step_wplus_replaces_first_layers():
    f = Talk2EditField(mapping=_style(3), replaced_layers=8)
    w = torch.randn(2, 512)
    w_plus = torch.randn(2, 12, 512)
    w_next, wp_next = f.step_wplus(w, w_plus, -1)
    dw = f.delta(w)
    assert torch.allclose(w_next, w - dw, atol=1e-6)
    assert torch.allclose(wp_next[:, :8], w_plus[:, :8] - dw.unsqueeze(1), atol=1e-6)
    assert torch.equal(wp_next[:, 8:], w_plus[:, 8:])


def test_talk2edit_gradients_reach_field_only():
    style = _style(4)
    f = Talk2EditField(mapping=style)
    f.step(torch.randn(2, 512), 1).pow(2).sum().backward()
    assert all(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in f.parameters())


def test_talk2edit_mapping_required_and_validated():
    f = Talk2EditField()
    with pytest.raises(InvalidArgumentError, match="set_mapping"):
        f.step(torch.zeros(1, 512), 1)
    with pytest.raises(InvalidArgumentError, match="PixelNorm"):
        f.set_mapping(nn.Sequential(nn.Linear(512, 512), nn.Linear(512, 512)))

    class _Gen(nn.Module):  # a generator-like object with a .style attribute is accepted
        def __init__(self):
            super().__init__()
            self.style = _style(5)

    f.set_mapping(_Gen())
    assert f.delta(torch.zeros(1, 512)).shape == (1, 512)


def test_talk2edit_with_project_stylegan_mapping():
    sg = pytest.importorskip("shared.models.stylegan2")
    torch.manual_seed(0)
    style = nn.Sequential(sg.PixelNorm(), *[sg.EqualLinear(512, 512, lr_mul=0.01, activation=True)
                                           for _ in range(8)])
    f = Talk2EditField(mapping=style)
    w = torch.randn(2, 512)
    with torch.no_grad():
        ref = style[1:](f(w)) - style[1:](torch.zeros(2, 512))
    assert torch.allclose(f.delta(w), ref, atol=1e-5)


# ---------------------------------------------------------------------------------------------------------------
# Residual field and bank
# ---------------------------------------------------------------------------------------------------------------

def test_residual_field_step():
    torch.manual_seed(0)
    f = ResidualField(FieldConfig(hidden=64, layers=3, step_scale=0.5))
    assert [tuple(l.weight.shape) for l in f.net] == [(64, 512), (64, 64), (512, 64)]
    w = torch.randn(5, 512)
    m = f(w)
    assert m.shape == (5, 512)
    assert torch.allclose(f.step(w, 1), w + 0.5 * m)
    assert torch.allclose(f.step(w, -1), w - 0.5 * m)
    assert torch.allclose(f.step(w, torch.tensor([1, 1, -1, -1, 1]))[2], w[2] - 0.5 * m[2])
    with pytest.raises(InvalidArgumentError, match="direction"):
        f.step(w, 0)
    with pytest.raises(InvalidArgumentError, match="shape"):
        f.step(torch.zeros(5, 256), 1)


def test_residual_field_zero_init_and_config():
    cfg = FieldConfig(layers=2, zero_init_last=True)
    assert FieldConfig.from_dict(cfg.to_dict()) == cfg
    f = ResidualField(cfg.to_dict())
    w = torch.randn(2, 512)
    assert torch.equal(f.step(w, 1), w)
    with pytest.raises(InvalidArgumentError, match="unknown FieldConfig keys"):
        FieldConfig.from_dict({"width": 3})


def test_field_bank():
    bank = FieldBank.residual(["bangs", "age"], FieldConfig(hidden=32, layers=2))
    w = torch.randn(2, 512)
    assert torch.equal(bank.step(w, "age", -1), bank["age"].step(w, -1))
    assert torch.equal(bank.step(w, 0, 1), bank["bangs"].step(w, 1))
    assert set(k.split(".")[0] for k in bank.state_dict()) == {"bangs", "age"}
    with pytest.raises(InvalidArgumentError, match="no field for attribute"):
        bank.step(w, "smiling", 1)
    with pytest.raises(InvalidArgumentError, match="outside"):
        bank.step(w, 2, 1)
