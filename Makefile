# The two entry points of the README. Both create .venv on first use.
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned: a looser requirement would pull a multi-GB CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,grid]'
	touch $(STAMP)

# Integration tests read real data from here when it exists; override with XSTILTS_DATA_DIR=...
XSTILTS_DATA_DIR ?= $(abspath ../shared/data)
export XSTILTS_DATA_DIR

.PHONY: install demo lint results studies test
install: $(STAMP)

demo: $(STAMP)
	$(BIN)/xstilts run configs/demo.yaml

# docs/results.md (and .json) from finished runs of the shipped configs, with the commit, command,
# machine and date each run recorded; refuses runs made by another config; a shipped config not
# run yet is listed as not measured.
results: $(STAMP)
	$(BIN)/python scripts/results.py --runs runs --out docs/results.md --allow-missing

# The shipped studies' offline setups, run (or resumed) on two local workers and verified into
# docs/studies/<study>/ (report.md with figures/, verdicts.json; report.html is left out of git).
STUDIES := rq1-typology rq2-order phang2020
studies: $(STAMP)
	for study in $(STUDIES); do \
		OMP_NUM_THREADS=1 $(BIN)/xstilts study run studies/$$study.yaml --setup offline --workers 2 && \
		$(BIN)/xstilts study verify studies/$$study.yaml --setup offline --out docs/studies/$$study || exit 2; \
	done

# Style and the one-way layers of docs/architecture.md (contracts in pyproject.toml).
lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/lint-imports --no-cache

# Two pytest workers, one torch thread each: most of the suite's time is subprocesses starting
# and small single-threaded models, which two processes overlap better than two threads.
test: lint
	HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -ra -n 2
