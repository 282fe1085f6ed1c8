# One command to run cctop, one to test it; both build .venv themselves.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench screenshots clean

$(BIN)/cctop: pyproject.toml setup.py cctop/sources/transcripts/_linescan.c cctop/sources/transcripts/_isotime.c
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(BIN)/cctop

run: $(BIN)/cctop
	$(BIN)/cctop $(ARGS)

test: $(BIN)/cctop
	$(BIN)/ruff check cctop tests bench scripts
	$(BIN)/mypy
	$(BIN)/pytest -q $(PYTEST_ARGS)

bench: $(BIN)/cctop
	$(BIN)/python bench/run.py $(ARGS)

screenshots: $(BIN)/cctop
	$(BIN)/python scripts/screenshots.py

clean:
	rm -rf $(VENV)
