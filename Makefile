# Two commands on a fresh machine with only python3 and pip: `make demo` and `make test`.
# Each creates .venv when absent and installs the project with what it needs; the stamp
# makes a second run quick.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint typecheck unit test-install bench clean

$(STAMP): setup.py pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q --upgrade pip
	$(PY) -m pip install --disable-pip-version-check -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/managed-credentials demo

lint: $(STAMP)
	$(PY) -m ruff check .

typecheck: $(STAMP)
	$(PY) -m mypy
	$(PY) -m mypy tools

unit: $(STAMP)
	$(PY) -m pytest

# pip install of a clean copy with pip 24.2 and the newest pip, the resolver check beside the newest
# cryptography/protobuf/OpenTelemetry, and install + emulator round trip on each Python 3.10-3.13
# found; throw-away venvs only (tools/check_install.py says what each step does and what pip chose).
test-install:
	$(PYTHON) tools/check_install.py

test: lint typecheck unit test-install

bench: $(STAMP)
	$(PY) -m pip install --disable-pip-version-check -q -e '.[bench]'
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
