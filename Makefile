# make demo: start the demo (sample API + gateway) on 127.0.0.1.
# make test: lint, type-check and run every test.
# Both create .venv and install what is missing, so a fresh machine needs only these two.

VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: demo test lint typecheck unit system bench clean

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

system:
	bash scripts/ensure-system.sh

demo: $(INSTALLED)
	$(BIN)/apiward demo

lint: $(INSTALLED)
	$(BIN)/ruff check src tests bench

typecheck: $(INSTALLED)
	$(BIN)/mypy

test: $(INSTALLED) system lint typecheck
	$(BIN)/pytest -p no:cacheprovider

bench: $(INSTALLED)
	bash bench/run.sh

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
