"""The cuda generator recipe's phases equal the configs of the runs that trained the shipped generator."""

import json
from pathlib import Path

import pytest

from edsc.train.generator import GeneratorTrainConfig
from edsc.train.recipe import CUDA_GENERATOR_PHASES, _CUDA_GENERATOR_COMMON

DOCS = Path(__file__).resolve().parents[3] / "docs" / "results" / "generator-training"


@pytest.mark.parametrize("name,overrides", [(n, o) for n, o, _ in CUDA_GENERATOR_PHASES])
def test_recipe_phase_equals_the_documented_run(name, overrides):
    documented = json.loads((DOCS / f"{name}-config.json").read_text())
    recipe = GeneratorTrainConfig(**{**_CUDA_GENERATOR_COMMON, **overrides}, device="cuda").to_dict()
    defaults = GeneratorTrainConfig().to_dict()
    # runs written before a field existed lack it: they trained with its default
    full = {**defaults, **documented}
    diff = {k: (recipe[k], full.get(k)) for k in recipe if recipe[k] != full.get(k) and k != "threads"}
    assert diff == {}
