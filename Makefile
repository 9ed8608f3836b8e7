# ml-connector — the two commands are `make demo` and `make test`; both set up .venv on their own.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.mlc-installed
LOCKS   := requirements.txt requirements-dev.txt
# pyproject.toml: the package installs itself as a local Airflow provider (connection types in the UI).
PACKAGE := pyproject.toml plugins/mlc/__init__.py plugins/mlc/provider.py
# Python 3.11 is the supported interpreter; prefer an explicit python3.11 when one is on PATH.
PYTHON  ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
UV      := $(shell command -v uv 2>/dev/null)

# Test workers (pytest-xdist): one per core by default; TEST_WORKERS=1 runs the suite in one process.
TEST_WORKERS ?= auto

.PHONY: help venv test check demo up lock clean bench faults

help:
	@echo "make demo   run every DAG once through Airflow's scheduler against the sandbox, print a summary"
	@echo "make test   run the whole test suite (every tier, over every core)"
	@echo "make check  the fast tier for the edit-test loop: formats, mappings, hooks; no DAG runs, no Airflow processes"
	@echo "make up     sandbox + airflow standalone on http://127.0.0.1:8080 until Ctrl-C"
	@echo "make bench  the benchmarks the issues name; writes bench/results.json"
	@echo "make faults every DAG under every sandbox fault: one table (lost / duplicated records per case)"
	@echo "make lock   re-resolve requirements*.in into the pinned requirements*.txt (needs uv)"

venv: $(STAMP)

# (Re)build the virtualenv when it is missing, on another Python than 3.11, or older than a lock.
$(STAMP): $(LOCKS) $(PACKAGE)
	@if ! $(PY) -c 'import sys; assert sys.version_info[:2] == (3, 11)' 2>/dev/null; then \
	  $(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "ml-connector needs Python 3.11, found " + sys.version.split()[0])' && \
	  rm -rf $(VENV) && echo "creating $(VENV) with $(PYTHON)" && \
	  if [ -n "$(UV)" ]; then $(UV) venv -q --python $(PYTHON) $(VENV); else $(PYTHON) -m venv $(VENV); fi; \
	fi
	@echo "installing the pinned dependencies into $(VENV) ..."
	@if [ -n "$(UV)" ]; then \
	  VIRTUAL_ENV=$(VENV) $(UV) pip sync -q $(LOCKS) && VIRTUAL_ENV=$(VENV) $(UV) pip install -q --no-deps -e .; \
	else \
	  $(PY) -m pip --version >/dev/null 2>&1 || $(PY) -m ensurepip >/dev/null; \
	  $(PY) -m pip install -q --disable-pip-version-check -r requirements.txt -r requirements-dev.txt && \
	  $(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .; \
	fi
	@touch $(STAMP)

test: venv
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup

check: venv
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup -m "not integration and not system"

demo: venv
	$(PY) bin/mlc demo

up: venv
	$(PY) bin/mlc up

lock:
	@test -n "$(UV)" || { echo "make lock needs uv (pip install uv)"; exit 1; }
	$(UV) pip compile -q --python-version 3.11 requirements.in -o requirements.txt
	$(UV) pip compile -q --python-version 3.11 requirements-dev.in -o requirements-dev.txt

clean:
	rm -rf $(VENV) .mlc .pytest_cache

bench: venv
	$(PY) bench/dag_import_bench.py
	$(PY) bench/formats_bench.py
	$(PY) bench/intacct_bench.py
	$(PY) bench/dag_bench.py
	$(PY) bench/dag_bench.py intacct_to_snowflake
	$(PY) bench/stampli_bench.py
	$(PY) bench/stampli_memory_bench.py
	$(PY) bench/edi_tools_bench.py
	$(PY) bench/exact_bench.py
	$(PY) bench/partner_parse_bench.py
	$(PY) bench/render_bench.py
	$(PY) bench/report.py

# The fault matrix: tests/test_fault_matrix.py writes one row per DAG and fault; the table is printed even
# when a case failed, and the target fails when pytest or any cell did.
faults: venv
	@mkdir -p .mlc && rm -f .mlc/faults.jsonl
	@MLC_FAULTS_REPORT=.mlc/faults.jsonl $(PY) -m pytest -q -n $(TEST_WORKERS) tests/test_fault_matrix.py; status=$$?; \
	  $(PY) tests/fault_matrix_report.py .mlc/faults.jsonl --json .mlc/faults.json || status=1; exit $$status
