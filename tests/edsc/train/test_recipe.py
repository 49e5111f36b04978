"""Tests of edsc/train/recipe.py and `edsc train`: stage bookkeeping, assembly, storage precision, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from edsc.random_bundle import make_random_bundle
from edsc.train import recipe
from edsc.train.fields import pretrain_fields_on_world
from shared.bundle import Bundle
from shared.errors import InvalidArgumentError
from shared.models.field import FieldBank, FieldConfig
from shared.models.stylegan2 import Generator

REPO = Path(__file__).resolve().parents[3]


def _write(d: Path, json_name: str, meta: dict, weights: str, module: torch.nn.Module, finished: bool = True):
    d.mkdir(parents=True, exist_ok=True)
    (d / json_name).write_text(json.dumps(meta))
    save_file({k: v.contiguous() for k, v in module.state_dict().items()}, str(d / weights))
    (d / "metrics.json").write_text(json.dumps({"complete": finished, "seconds": 1.0}))


@pytest.fixture(scope="module")
def stage_root(tmp_path_factory) -> Path:
    """A run root whose seven stages are 'done', with the tiny random bundle's modules as their outputs."""
    tmp = tmp_path_factory.mktemp("recipe")
    b = Bundle(make_random_bundle(tmp / "tiny", size=64))
    root = tmp / "runs"
    specs = b.manifest.components
    g = root / "generator"
    _write(g, "generator.json", {"generator": specs["generator"].config, "noise_mode": "const"},
           "g_ema.safetensors", b.generator)
    (g / "metrics.json").write_text(json.dumps({"finished": True}))
    for stage, comp, js, wt in [("predictor", "predictor", "predictor.json", "predictor.safetensors"),
                                ("eval_predictor", "eval_predictor", "predictor.json", "predictor.safetensors"),
                                ("identity", "identity_encoder", "identity_encoder.json",
                                 "identity_encoder.safetensors"),
                                ("parser", "language", "language.json", "language.safetensors"),
                                ("fields", "fields", "fields.json", "fields.safetensors"),
                                ("adapters", "adapters", "adapters.json", "adapters.safetensors")]:
        _write(root / stage, js, {"arch": specs[comp].arch, "config": specs[comp].config}, wt, b.load(comp))
    (root / "parser" / "vocab.json").write_text(json.dumps(b.vocabulary().to_dict()))
    return root


def test_stage_done_needs_output_and_finished_metrics(tmp_path, stage_root):
    assert all(recipe.stage_done(stage_root, s) for s in recipe.STAGES)
    d = tmp_path / "generator"
    d.mkdir()
    (d / "g_ema.safetensors").write_bytes(b"x")              # exported at a checkpoint, run not finished
    assert not recipe.stage_done(tmp_path, "generator")
    (d / "metrics.json").write_text(json.dumps({"finished": False}))
    assert not recipe.stage_done(tmp_path, "generator")
    (d / "metrics.json").write_text(json.dumps({"finished": True}))
    assert recipe.stage_done(tmp_path, "generator")
    with pytest.raises(InvalidArgumentError, match="unknown stage"):
        recipe.stage_done(tmp_path, "decoder")


def test_stages_needing_earlier_ones_say_which(tmp_path):
    with pytest.raises(InvalidArgumentError, match="generator, predictor, identity"):
        recipe.run_stage("fields", tmp_path)
    with pytest.raises(InvalidArgumentError, match="edsc train generator"):
        recipe.run_stage("adapters", tmp_path)
    with pytest.raises(InvalidArgumentError, match="preset"):
        recipe.run_stage("fields", tmp_path, preset="tpu")


def test_done_stage_is_skipped(stage_root):
    assert recipe.run_stage("predictor", stage_root) == {"stage": "predictor", "skipped": True}


def test_assemble_writes_a_loadable_half_precision_bundle(tmp_path, stage_root):
    out = recipe.assemble_bundle(stage_root, tmp_path / "bundle", version="test")
    b = Bundle(out)
    assert b.version == "synthface-128@test" and b.manifest.provenance["kind"] == "trained"
    assert set(b.manifest.components) == {"generator", "predictor", "eval_predictor", "identity_encoder",
                                          "language", "fields", "adapters"}
    stored = load_file(str(out / "generator.safetensors"))
    big = [k for k, v in stored.items() if v.numel() >= recipe.HALF_MIN_NUMEL]
    small = [k for k, v in stored.items() if v.numel() < recipe.HALF_MIN_NUMEL]
    assert big and all(stored[k].dtype == torch.float16 for k in big)
    assert all(stored[k].dtype != torch.float16 for k in small)
    # modules come back in float32 and compute (almost) what the float32 originals compute
    src = recipe.load_generator(stage_root)
    g = b.generator
    assert all(p.dtype == torch.float32 for p in g.parameters())
    z = torch.randn(2, 512, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a, c = src.synthesis(src.mapping(z)), g.synthesis(g.mapping(z))
    assert (a - c).abs().max() < 2e-2 and (a - c).abs().max() > 0
    assert b.vocabulary().token_to_idx == json.loads((stage_root / "parser" / "vocab.json").read_text())[
        "text_token_to_idx"]
    assert b.manifest.provenance["stages"]["predictor"]["complete"] is True


def test_assemble_refuses_unfinished_stages(tmp_path, stage_root):
    with pytest.raises(InvalidArgumentError, match="not done"):
        recipe.assemble_bundle(tmp_path / "empty", tmp_path / "b")


def test_world_warm_start_learns_the_exact_moves():
    torch.manual_seed(0)
    g = Generator(64, 512, n_mlp=2, channels={4: 16, 8: 16, 16: 16, 32: 16, 64: 16}).eval().requires_grad_(False)
    names = ["bangs", "age"]
    fields = FieldBank.residual(names, FieldConfig(hidden=64, layers=2))
    m = pretrain_fields_on_world(fields, g, names, steps=60, batch_size=64, lr=3e-3, progress=False)
    assert m["steps"] == 60 and m["final_loss"] < 0.5 * m["first_loss"]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edsc.cli.main", "train", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=120)


def test_cli_status_and_errors(tmp_path, stage_root):
    r = _cli("status", "--runs", str(stage_root))
    assert r.returncode == 0 and all(json.loads(r.stdout)["done"].values())
    r = _cli("fields", "--runs", str(tmp_path / "nothing"), "--device", "cpu")
    assert r.returncode == 2 and "not done yet" in r.stderr and "Traceback" not in r.stderr
    r = _cli("generator", "--threads", "0")
    assert r.returncode == 2 and "--threads" in r.stderr and "Traceback" not in r.stderr
    r = _cli("decoder")
    assert r.returncode == 2 and "invalid choice" in r.stderr
