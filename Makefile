# Two entry points, as the README says:
#   make demo   set up .venv, install meshlint with its dev tools, lint the bundled examples,
#               then serve examples/mesh with the included proxy and send it requests
#   make test   the whole test suite (what CI runs)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck format schemas docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	@echo "== meshlint lint examples/  (examples/mesh is clean; examples/broken holds real mistakes)"
	@$(BIN)/meshlint lint examples/ || echo "meshlint exited with status $$? (1: errors found, in examples/broken, as intended)"
	@echo
	@echo "== examples/mesh served by the included proxy, with meshlint route's prediction beside each request"
	@$(BIN)/python examples/demo.py

test: $(STAMP)
	$(BIN)/ruff check meshlint tests bench
	$(BIN)/ruff format --check meshlint tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check meshlint tests bench

format: $(STAMP)
	$(BIN)/ruff format meshlint tests bench
	$(BIN)/ruff check --fix meshlint tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

schemas: $(STAMP)
	$(BIN)/python -m meshlint.schemas

docs: $(STAMP)
	$(BIN)/meshlint rules --format markdown > docs/rules.md
	$(BIN)/python -m meshlint.translate.support > docs/translation.md

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
