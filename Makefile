# The two commands a new user needs:
#   make quickstart   set everything up, then run the whole lifecycle on a throwaway local chain
#   make test         set everything up, then run the linters and the test suite
# While working: make test-fast (ruff and the tests not marked slow; no mypy).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: quickstart test test-fast lint man bench clean

# torch==2.13.0 (constraints.txt) pins a version, not a build: from PyPI on Linux that is the CUDA
# build (gigabytes). So the install adds PyTorch's CPU index, where 2.13.0+cpu wins the pin,
# unless pip already has an index configured (a mirror: `pip config list`, PIP_INDEX_URL...),
# which a command-line --extra-index-url would replace. Override: make TORCH_INDEX=URL, or
# TORCH_INDEX= for none.
TORCH_INDEX ?= $(shell $(PYTHON) -m pip config list 2>/dev/null | grep -q 'index-url' \
                 || echo https://download.pytorch.org/whl/cpu)

# The setup talks on stderr only, so `make quickstart | jq` sees nothing but the summary.
$(STAMP): pyproject.toml constraints.txt
	@echo "setting up $(VENV): python -m venv, pip install -e '.[dev,plot]'$(if $(TORCH_INDEX), (torch from $(TORCH_INDEX)))" >&2
	@$(PYTHON) -m venv $(VENV) >&2
	@$(BIN)/python -m pip install -q --upgrade pip >&2
	@$(BIN)/python -m pip install -q $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) \
		-c constraints.txt -e '.[dev,plot]' >&2
	@touch $(STAMP)

quickstart: $(STAMP)
	@$(BIN)/nnet quickstart

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest

# The inner loop: tests marked @pytest.mark.slow (over ~3 s each: real daemons under load,
# subprocess pipes, long property runs) are left to `make test`, which CI runs.
test-fast: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/python -m pytest -m "not slow"

man: $(STAMP)
	$(BIN)/python -m nnet.manpage man

bench: $(STAMP)
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
