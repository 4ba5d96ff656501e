# The two user commands: `make reproduce` (the whole experiment on the embedded default config)
# and `make test`. Both create the virtual environment on first use.
PYTHON ?= python3
VENV ?= .venv
CORES ?= all
CONFIG ?=
SNAKEMAKE_ARGS ?=
# SEEDS=3: run the stochastic stages (generators, attacks, baselines) with seeds 0, 1, 2 on top of
# CONFIG (an overlay written to results/seeds-3.yaml); tables and figures then report the mean and
# the t-interval over seeds. Victims stay trained once unless the config sets run.victim_seeds.
SEEDS ?=
ifneq ($(SEEDS),)
SEEDS_FILE := results/seeds-$(SEEDS).yaml
override CONFIG := $(or $(CONFIG),config/config.yaml) $(SEEDS_FILE)
endif
BIN := $(VENV)/bin
# rules call the `staa` CLI: put the environment first on PATH for Snakemake and its jobs
export PATH := $(abspath $(VENV))/bin:$(PATH)
STAMP := $(VENV)/.staa-installed

.PHONY: env reproduce test report dry-run lint clean paper-smoke paper-smoke-ci gpu-check

env: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

# Config files are checked by our own reader first: Snakemake's YAML reader keeps the last of two
# equal keys silently and reports a missing or malformed file with a traceback.
SEEDS_WRITE = $(if $(SEEDS),mkdir -p results && printf 'run:\n  seeds: [%s]\n' "$$(seq -s ', ' 0 $$(($(SEEDS) - 1)))" > $(SEEDS_FILE))
CONFIG_CHECK = $(BIN)/staa validate-config $(or $(CONFIG),config/config.yaml)

reproduce: env
	@$(SEEDS_WRITE)
	@$(CONFIG_CHECK)
	$(BIN)/snakemake --cores $(CORES) $(if $(CONFIG),--configfile $(CONFIG)) $(SNAKEMAKE_ARGS)

# The paper DAG at paper model size on fixture corpora in the real DEMoS/IEMOCAP layouts
# (docs/paper-scale.md), in its own working folder so that it never mixes with the default run's
# results. paper-smoke-ci is its CI slice: every rule once at paper size, one corpus.
SMOKE_CONFIG = config/paper.yaml config/paper-smoke.yaml
SMOKE_DIR = results/paper-smoke
paper-smoke: env
	$(BIN)/staa fixture-corpus --layout demos --out $(SMOKE_DIR)/results/fixtures/DEMoS --params '{"n_speakers": 6, "utterances_per_class": 1}'
	$(BIN)/staa fixture-corpus --layout iemocap --out $(SMOKE_DIR)/results/fixtures/IEMOCAP --params '{"utterances_per_class": 1, "dialogs": 1}'
	$(BIN)/staa validate-config $(SMOKE_CONFIG)
	$(BIN)/snakemake --cores $(CORES) --directory $(SMOKE_DIR) $(SNAKEMAKE_ARGS) --configfile $(SMOKE_CONFIG)
	$(BIN)/staa check-smoke --results $(SMOKE_DIR)/results

paper-smoke-ci:
	$(MAKE) --no-print-directory paper-smoke SMOKE_CONFIG="$(SMOKE_CONFIG) config/paper-smoke-ci.yaml" SMOKE_DIR=results/paper-smoke-ci

# On a machine with a CUDA GPU: the CUDA tests, then the paper-scale timing and model costs on the GPU
# (results/gpu_check/: paper_bench_timing.csv, paper_bench_models.csv, paper_bench.md).
gpu-check: env
	@$(BIN)/python -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 'gpu-check: no CUDA device is visible to torch')"
	$(BIN)/python -m pytest -q -rs tests/test_cuda.py tests/test_attacks.py -k "cuda"
	mkdir -p results/gpu_check
	$(BIN)/staa paper-bench --gpus 1 --threads 4 --utterances 5 --out results/gpu_check/paper_bench | tee results/gpu_check/paper_bench.md

report: env
	@$(SEEDS_WRITE)
	@$(CONFIG_CHECK)
	$(BIN)/snakemake --cores 1 $(if $(CONFIG),--configfile $(CONFIG)) --report results/report.html

dry-run: env
	@$(SEEDS_WRITE)
	@$(CONFIG_CHECK)
	$(BIN)/snakemake -n $(if $(CONFIG),--configfile $(CONFIG))

# ruff (lint and format, pyproject.toml [tool.ruff]), snakefmt (the workflow's formatting) and Snakemake's own linter;
# `make test` runs it first and fails on a finding.
lint: env
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/snakefmt --check workflow
	$(BIN)/snakemake --lint

# The SLURM integration test (.ci/slurm_test.sh) installs and starts a throw-away one-node SLURM
# cluster, so it runs only in CI (CI=true) or when asked (STAA_SLURM_TEST=1); it skips when not root.
# The paper smoke's CI slice (every rule once at paper model size) runs in CI or with STAA_PAPER_SMOKE=1.
test: env lint
	@if [ "$${CI:-}" = "true" ] || [ "$${STAA_SLURM_TEST:-}" = "1" ]; then \
		STAA_VENV=$(abspath $(VENV)) bash .ci/slurm_test.sh; \
	else \
		echo "SKIP: SLURM integration test (runs in CI, or with STAA_SLURM_TEST=1)"; \
	fi
	@if [ "$${CI:-}" = "true" ] || [ "$${STAA_PAPER_SMOKE:-}" = "1" ]; then \
		$(MAKE) --no-print-directory paper-smoke-ci CORES=2; \
	else \
		echo "SKIP: paper smoke, CI slice (runs in CI, or with STAA_PAPER_SMOKE=1)"; \
	fi
	$(BIN)/python -m pytest -q tests

clean:
	rm -rf results .snakemake
