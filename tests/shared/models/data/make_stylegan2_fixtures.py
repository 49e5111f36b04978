"""Regenerate the StyleGAN2 test fixtures from rosinality's own ``model.py`` (a development tool, not a test).

Usage::

    python tests/shared/models/data/make_stylegan2_fixtures.py /path/to/rosinality/stylegan2-pytorch

Writes, next to this file:

- ``stylegan2_rosinality_keys.json``: the ordered ``state_dict`` key -> shape lists of rosinality's
  ``Generator(128, 512, 8, channel_multiplier=1)``, ``Generator(1024, 512, 8, channel_multiplier=2)``,
  ``Discriminator(128, channel_multiplier=1)`` and ``Discriminator(1024, channel_multiplier=2)``.
- ``stylegan2_rosinality_tiny.pt``: a tiny random model (size 32, style_dim 32, n_mlp 4, widths 16/16/8/8)
  built by rosinality's code with only the width table edited, its state_dicts, inputs and rosinality's
  outputs (mapping, const-noise synthesis from W and W+, discriminator logits).

rosinality's ``op`` package compiles CUDA extensions at import time; on CPU its code paths are pure PyTorch
(``upfirdn2d_native``, the CPU branch of ``fused_leaky_relu``, plain ``F.conv2d``), so the compile step is
stubbed out. Nothing of rosinality's code is stored in this repository; only its outputs are.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import torch
import torch.utils.cpp_extension

HERE = Path(__file__).resolve().parent
TINY_TABLE = "4: 16,\n            8: 16,\n            16: 8,\n            32: 8,"
TINY_WIDTHS = {4: 16, 8: 16, 16: 8, 32: 8}
ORIGINAL_TABLE = "4: 512,\n            8: 512,\n            16: 512,\n            32: 512,"


def load_rosinality(root: Path, tiny: bool):
    """Import rosinality's model.py (optionally with the 4..32 widths shrunk) as a fresh module."""
    torch.utils.cpp_extension.load = lambda *args, **kwargs: None  # only the CUDA paths need it
    sys.path.insert(0, str(root))
    source = (root / "model.py").read_text()
    if tiny:
        assert source.count(ORIGINAL_TABLE) == 2, "unexpected model.py layout"
        source = source.replace(ORIGINAL_TABLE, TINY_TABLE)
    module = type(sys)("rosinality_model_tiny" if tiny else "rosinality_model")
    module.__file__ = str(root / "model.py")
    importlib.import_module("op")
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    return module


def key_shapes(module: torch.nn.Module) -> list[list]:
    return [[k, list(v.shape)] for k, v in module.state_dict().items()]


def main(root: Path) -> None:
    ros = load_rosinality(root, tiny=False)
    keys = {
        "generator_128_cm1": key_shapes(ros.Generator(128, 512, 8, channel_multiplier=1)),
        "generator_1024_cm2": key_shapes(ros.Generator(1024, 512, 8, channel_multiplier=2)),
        "discriminator_128_cm1": key_shapes(ros.Discriminator(128, channel_multiplier=1)),
        "discriminator_1024_cm2": key_shapes(ros.Discriminator(1024, channel_multiplier=2)),
    }
    lines = []
    for name, pairs in keys.items():  # one "key": shape pair per line, in state_dict order
        body = ",\n".join(f"    {json.dumps(k)}: {json.dumps(shape)}" for k, shape in pairs)
        lines.append(f"  {json.dumps(name)}: {{\n{body}\n  }}")
    (HERE / "stylegan2_rosinality_keys.json").write_text("{\n" + ",\n".join(lines) + "\n}\n")

    tiny = load_rosinality(root, tiny=True)
    torch.manual_seed(1234)
    g = tiny.Generator(32, 32, 4, channel_multiplier=1)
    d = tiny.Discriminator(32, channel_multiplier=1)
    with torch.no_grad():  # make every bias / noise strength non-trivial so every path matters
        for name, p in list(g.named_parameters()) + list(d.named_parameters()):
            if name.endswith("bias") or name.endswith("noise.weight"):
                p.add_(0.2 * torch.randn_like(p))
        z = torch.randn(2, 32)
        w_plus = torch.randn(2, g.n_latent, 32)
        images = torch.randn(3, 3, 32, 32)
        w = g.get_latent(z)
        image_w, _ = g([w], input_is_latent=True, randomize_noise=False)
        image_w_plus, _ = g([w_plus], input_is_latent=True, randomize_noise=False)
        logits = d(images)
    torch.save({
        "generator": {"size": 32, "style_dim": 32, "n_mlp": 4, "channels": TINY_WIDTHS,
                      "state_dict": g.state_dict()},
        "discriminator": {"size": 32, "channels": TINY_WIDTHS, "state_dict": d.state_dict()},
        "z": z, "w": w, "w_plus": w_plus, "image_w": image_w, "image_w_plus": image_w_plus,
        "images": images, "logits": logits,
    }, HERE / "stylegan2_rosinality_tiny.pt")
    print("wrote", HERE / "stylegan2_rosinality_keys.json", HERE / "stylegan2_rosinality_tiny.pt")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
