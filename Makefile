# Set-up and entry points. `make demo` and `make test` each create the virtual environments they need.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DS_VENV := .venv-deepsparse
DATA_DIR ?= $(abspath ../shared/data/sst2)
export HARNESS_DATA_DIR ?= $(DATA_DIR)
export PIP_DISABLE_PIP_VERSION_CHECK = 1

.PHONY: setup demo test test-quick bench-harness deepsparse-env browser clean-cache help

help:
	@echo "make demo           set up and run the default job (about 17 minutes on 2 cores)"
	@echo "make test           set up and run the test suite"
	@echo "make bench-harness  micro-benchmarks of the harness's own hot paths (pytest-benchmark)"

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --no-compile -r requirements.lock
	$(PY) -m compileall -qq -j 2 $(VENV)/lib >/dev/null || true  # the .pyc pip would write, on two cores not one
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

$(DS_VENV)/.installed: requirements-deepsparse.lock
	@if $(PYTHON) -m venv $(DS_VENV) && $(DS_VENV)/bin/python -m pip install -q -r requirements-deepsparse.lock; then \
	  touch $@; \
	else \
	  echo "DeepSparse environment could not be created (deepsparse 1.8.0 needs x86-64 Linux and Python 3.8-3.11);"; \
	  echo "deepsparse configurations will be recorded as unsupported"; rm -rf $(DS_VENV); \
	fi

deepsparse-env: $(DS_VENV)/.installed

# Headless Chromium renders the HTML reports in tests (tests/helpers/browser.py finds it the same way:
# `chromium` on PATH). Without it those tests skip, except under CI (CI set), where they fail.
browser:
	@command -v chromium >/dev/null 2>&1 || { (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "chromium not installed: browser tests will be skipped (and fail where CI is set)"; }

setup:  # the two environments side by side (one CPU each), then the browser
	@$(MAKE) --no-print-directory -j2 $(VENV)/.installed deepsparse-env
	@$(MAKE) --no-print-directory browser

demo: setup
	$(VENV)/bin/harness demo

test: setup
	$(PY) -m pytest -q -n 2 --dist loadfile tests  # two workers (pytest-xdist); one shared harness cache

bench-harness: setup
	$(PY) -m pytest -q benchmarks/micro --benchmark-only

clean-cache:
	rm -rf .cache
