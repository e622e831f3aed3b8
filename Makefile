# rpc_eval: the two commands a newcomer needs are `make report` and `make test`.
# Both create .venv at the repository root and install the package on first use.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SCALE  ?= default
SEED   ?= 20240601
DATA   := synthetic_data/$(SCALE)
OUT    ?= $(if $(filter default,$(SCALE)),report,report-$(SCALE))

.PHONY: report test test-fast bench lint install data clean help reference

help:
	@echo "make report   install (first time) and build the reports in $(OUT)/ (SCALE=national: national-scale data; FORCE=1: rebuild all)"
	@echo "make test     install (first time) and run the whole test suite (two workers)"
	@echo "make test-fast  the suite without the tests marked slow (reports, browser, simulations)"
	@echo "make bench    time the main workloads (results in benchmarks/results/)"
	@echo "make lint     run ruff and mypy (type checks of rpc_eval/)"
	@echo "make reference  re-run the R scripts in tests/reference/ and fail on drift (needs R)"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

$(DATA)/parents.csv: | $(STAMP)
	$(PY) -m rpc_eval.cli synth --scale $(SCALE) --seed $(SEED) --out $(DATA)

data: $(DATA)/parents.csv

report: $(STAMP) $(DATA)/parents.csv
	$(PY) -m rpc_eval.cli report --data $(DATA) --out $(OUT) $(if $(FORCE),--force,)

test: $(STAMP)
	OPENBLAS_NUM_THREADS=1 $(PY) -m pytest -n 2

# two workers on two cores: one BLAS thread each, so they do not compete
test-fast: $(STAMP)
	OPENBLAS_NUM_THREADS=1 $(PY) -m pytest -m "not slow" -n 2

bench: $(STAMP)
	OPENBLAS_NUM_THREADS=1 $(PY) benchmarks/run.py

reference: $(STAMP)
	$(PY) tests/reference/check_drift.py

lint: $(STAMP)
	$(VENV)/bin/ruff check rpc_eval tests benchmarks notebooks
	$(VENV)/bin/mypy rpc_eval

clean:
	rm -rf report report-* build *.egg-info .pytest_cache
