# make demo: start the demo (sample API + gateway) on 127.0.0.1.
# make test: lint, type-check and run every test.
# Both create .venv and install what is missing, so a fresh machine needs only these two.

VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
COMPILED := $(VENV)/.compiled
COMPILED_SOURCES := $(shell grep -v '^\#' scripts/compiled-modules.txt)

.PHONY: demo test lint typecheck unit system bench clean compiled

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# The hot modules run as mypyc-compiled extensions; any change to one of them rebuilds all.
$(COMPILED): $(INSTALLED) scripts/compiled-modules.txt scripts/build_compiled.py $(COMPILED_SOURCES)
	$(BIN)/python scripts/build_compiled.py
	touch $@

compiled: $(COMPILED)

system:
	bash scripts/ensure-system.sh

demo: $(COMPILED)
	$(BIN)/apiward demo

lint: $(INSTALLED)
	$(BIN)/ruff check src tests bench scripts

typecheck: $(INSTALLED)
	$(BIN)/mypy

test: $(COMPILED) system lint typecheck
	$(BIN)/pytest -p no:cacheprovider

bench: $(COMPILED)
	bash bench/run.sh

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build
	find src -name '*.so' -delete
