# `make reproduce` builds the reproduction report; `make test` runs the checks.
# Both create .venv and install what they need on first use (Python >= 3.11 and pip only).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
OUT ?= reproduction

.PHONY: install test lint reproduce reproduce-quick bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,torch]"
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .

test: $(STAMP) lint
	$(BIN)/python -m pytest -n 2 -q

reproduce: $(STAMP)
	$(BIN)/specgd reproduce --out $(OUT)

reproduce-quick: $(STAMP)
	$(BIN)/specgd reproduce --quick --out $(OUT)-quick

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
