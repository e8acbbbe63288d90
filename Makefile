# Long-Task Lab: `make run` starts the whole lab, `make test` runs every test.
# Both create .venv and install requirements.txt the first time (and again when it changes).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test setup lint bench clean

run: $(STAMP)
	$(PY) -m labs up

test: $(STAMP)
	$(PY) -m pytest -q

setup: $(STAMP)

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (Long-Task Lab)" >/dev/null
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check labs tests benchmarks app.py
	$(VENV)/bin/ruff format --check labs tests benchmarks app.py

bench: $(STAMP)
	$(PY) benchmarks/throughput.py

clean:
	rm -rf .lab .pytest_cache artifacts
