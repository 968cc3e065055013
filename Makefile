# Two entry points for a fresh machine: `make demo` (set up + a real training run) and `make test`.
# Set-up pins torch via constraints.txt (a CPU build); pyproject.toml keeps wide ranges for users.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

demo: setup
	$(BIN)/torchclassify train --data circles --out runs/demo-circles --overwrite

test: setup
	$(BIN)/python -m pytest -n 2 -q

bench: setup
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,bench]'
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf runs .pytest_cache
