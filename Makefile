# `make reproduce` builds the reproduction report; `make test` runs the checks.
# Both create .venv and install what they need on first use (Python >= 3.11 and pip only).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
OUT ?= reproduction

.PHONY: install test test-slow lint docs docs-serve reproduce reproduce-quick clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,docs,torch]"
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .

# The documentation site, built in strict mode: a broken link or anchor, a missing API reference
# or a docstring warning fails the build.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir build/site

docs-serve: $(STAMP)
	$(BIN)/mkdocs serve

# The fast suite (at most a few minutes on 2 cores); long end-to-end checks are marked slow.
test: $(STAMP) lint docs
	$(BIN)/python -m pytest -n 2 -q -m "not slow"

# The long end-to-end checks: the quick reproduction opened in headless Chromium, the
# benchmark harness. The browser test needs Chromium (Debian package `chromium`).
test-slow: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q -m slow

reproduce: $(STAMP)
	$(BIN)/specgd reproduce --out $(OUT)

reproduce-quick: $(STAMP)
	$(BIN)/specgd reproduce --quick --out $(OUT)-quick

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build
