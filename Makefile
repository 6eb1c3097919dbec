# Two commands on a fresh machine with only python3 and pip: `make demo` and `make test`.
# Each creates .venv when absent and installs the project with what it needs; the stamp
# makes a second run quick.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# The DKMS reference environment: the real alibabacloud-dkms-gcs 1.0.2, which cannot share .venv
# (it pins cryptography<42 and protobuf<4); the checkout is imported from PYTHONPATH, not installed.
REF_VENV := .venv-dkms-reference
REF_PY := $(REF_VENV)/bin/python
REF_STAMP := $(REF_VENV)/.installed-stamp
REF_DIR := tests/dkms_reference

.PHONY: demo test test-under-load lint typecheck unit test-dkms-reference test-install bench clean

$(STAMP): setup.py pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q --upgrade pip
	$(PY) -m pip install --disable-pip-version-check -q -e '.[test]'
	touch $(STAMP)

$(REF_STAMP): $(REF_DIR)/requirements.txt
	test -x $(REF_PY) || $(PYTHON) -m venv $(REF_VENV)
	$(REF_PY) -m pip install --disable-pip-version-check -q -r $(REF_DIR)/requirements.txt
	touch $(REF_STAMP)

demo: $(STAMP)
	$(VENV)/bin/managed-credentials demo

lint: $(STAMP)
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports

typecheck: $(STAMP)
	$(PY) -m mypy
	$(PY) -m mypy tools

unit: $(STAMP)
	$(PY) -m pytest

# Differential and golden-fixture checks of our DKMS client against dkms-gcs / dkms-transfer.
test-dkms-reference: $(REF_STAMP)
	PYTHONPATH=$(CURDIR) $(REF_PY) -m pytest -c $(REF_DIR)/pytest.ini --rootdir $(REF_DIR) --confcutdir $(REF_DIR) $(REF_DIR)

# pip install of a clean copy with pip 24.2 and the newest pip, the resolver check beside the newest
# cryptography/protobuf/OpenTelemetry, and install + emulator round trip on each Python 3.10-3.13
# found; throw-away venvs only (tools/check_install.py says what each step does and what pip chose).
test-install:
	$(PYTHON) tools/check_install.py

test: lint typecheck unit test-dkms-reference test-install

# The whole suite while two busy-loop processes compete for the CPU, as on a loaded CI box: a test
# that passes on a quiet machine and fails here asserts timing, not ordering, and must be fixed.
test-under-load: $(STAMP)
	$(PY) tools/under_load.py --busy 2 -- $(PY) -m pytest

bench: $(STAMP)
	$(PY) -m pip install --disable-pip-version-check -q -e '.[bench]'
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) $(REF_VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
