# One command each, from a fresh clone: `make run` (install + serve) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Torch first and pinned, so that pip does not pull a multi-GB CUDA build by accident;
# pyproject keeps an open range for users who bring their own (e.g. CUDA) build.
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: install browser data run test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Debian chromium for the dashboard's browser tests (Playwright drives it; no browser download).
browser:
	@command -v chromium >/dev/null || { \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

# Debian's Fashion-MNIST files for the fashion-mnist task (elsewhere the task downloads them).
data:
	@[ -d /usr/share/datasets/fashion-mnist ] || ! command -v apt-get >/dev/null || { \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null; }

run: install data
	$(BIN)/xbarnas serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint browser data
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python bench/simulator_speed.py
	$(BIN)/python bench/evaluate_speed.py
	$(BIN)/python bench/verify_baseline.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
