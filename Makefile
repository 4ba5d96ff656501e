# The two user commands: `make reproduce` (the whole experiment on the embedded default config)
# and `make test`. Both create the virtual environment on first use.
PYTHON ?= python3
VENV ?= .venv
CORES ?= all
CONFIG ?=
SNAKEMAKE_ARGS ?=
# SEEDS=3: run the stochastic stages (generators, attacks, baselines) with seeds 0, 1, 2 on top of
# CONFIG (an overlay written to results/seeds-3.yaml by `staa seeds-overlay`); tables and figures
# then report the mean and the t-interval over seeds. Victims stay trained once unless the config
# sets run.victim_seeds.
SEEDS ?=

# Every recipe line stops at its first failing command, a pipe included (`staa ... | tee` fails
# when staa does), so a failing step always fails the target.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c

# ---- the variables a user sets: taken verbatim, checked here (before anything runs), quoted in recipes
# $(value ...): make syntax in a value is not expanded either; each value reaches the shell only
# through $(call q,...) (one single-quoted word) or $(call qwords,...) (one quoted word per word).
override PYTHON := $(value PYTHON)
override VENV := $(value VENV)
override CORES := $(value CORES)
override CONFIG := $(value CONFIG)
override SNAKEMAKE_ARGS := $(value SNAKEMAKE_ARGS)
override SEEDS := $(value SEEDS)
# the shell no longer expands ~ in a quoted word: make does, for these paths
override VENV := $(patsubst ~/%,$(HOME)/%,$(VENV))
override CONFIG := $(patsubst ~/%,$(HOME)/%,$(CONFIG))
q = '$(subst ','\'',$(1))'
hash := \#
qwords = $(foreach w,$(1),$(call q,$(w)))
nodigits = $(subst 0,,$(subst 1,,$(subst 2,,$(subst 3,,$(subst 4,,$(subst 5,,$(subst 6,,$(subst 7,,$(subst 8,,$(subst 9,,$(1)))))))))))
# $(call posint,V): non-empty if V is one word of digits, not all zeros
posint = $(and $(filter 1,$(words $(1))),$(if $(call nodigits,$(1)),,1),$(subst 0,,$(1)))
# $(call isfile,F): non-empty if F exists and is not a folder (matched literally, not as a pattern)
isfile = $(and $(filter $(1),$(wildcard $(1))),$(if $(wildcard $(1)/.),,1))

ifneq ($(words $(PYTHON)),1)
$(error PYTHON='$(PYTHON)': expected one interpreter, a name on PATH or a path (PYTHON=python3.11))
endif
# VENV names make targets (its install stamp): no spaces, and none of make's or the shell's syntax
ifneq ($(words $(VENV))$(strip $(foreach c,: ; % $$ $(hash) * ? [ ] = \ ' " ` ( ) < > | & !,$(findstring $(c),$(VENV)))),1)
$(error VENV='$(VENV)': expected one folder path of letters, digits and . _ - / + ~ (VENV=.venv))
endif
ifeq ($(if $(filter all,$(CORES)),1,$(call posint,$(CORES))),)
$(error CORES='$(CORES)': expected a positive integer or all (CORES=4))
endif
ifneq ($(SEEDS),)
ifeq ($(call posint,$(SEEDS)),)
$(error SEEDS='$(SEEDS)': expected a positive integer, the number of seeds (SEEDS=3 runs seeds 0, 1 and 2))
endif
endif
$(foreach f,$(CONFIG),$(if $(call isfile,$(f)),,$(error CONFIG: '$(f)' is not a file; expected one or more existing config files (CONFIG=config/paper.yaml))))

ifneq ($(SEEDS),)
SEEDS_FILE := results/seeds-$(SEEDS).yaml
override CONFIG := $(or $(CONFIG),config/config.yaml) $(SEEDS_FILE)
endif
BIN := $(VENV)/bin
Q_BIN := $(call q,$(BIN))
STAMP := $(VENV)/.staa-installed
# the extra Snakemake options: split at spaces, each word quoted (no shell syntax reaches a shell)
SNAKEMAKE_EXTRA := $(call qwords,$(SNAKEMAKE_ARGS))

.PHONY: env reproduce test report dry-run lint clean paper-smoke paper-smoke-ci gpu-check

env: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	$(call q,$(PYTHON)) -m venv $(call q,$(VENV))
	$(Q_BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(Q_BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(call q,$(STAMP))

# Config files are checked by our own reader first: Snakemake's YAML reader keeps the last of two
# equal keys silently and reports a missing or malformed file with a traceback.
SEEDS_WRITE = $(if $(SEEDS),$(Q_BIN)/staa seeds-overlay --seeds $(call q,$(SEEDS)) --out $(call q,$(SEEDS_FILE)))
CONFIG_CHECK = $(Q_BIN)/staa validate-config $(call qwords,$(or $(CONFIG),config/config.yaml))
CONFIG_ARGS = $(if $(CONFIG),--configfile $(call qwords,$(CONFIG)))

reproduce: env
	@$(SEEDS_WRITE)
	@$(CONFIG_CHECK)
	$(Q_BIN)/snakemake --cores $(call q,$(CORES)) $(CONFIG_ARGS) $(SNAKEMAKE_EXTRA)

# The paper DAG at paper model size on fixture corpora in the real DEMoS/IEMOCAP layouts
# (docs/paper-scale.md), in its own working folder so that it never mixes with the default run's
# results. paper-smoke-ci is its CI slice: every rule once at paper size, one corpus.
SMOKE_CONFIG = config/paper.yaml config/paper-smoke.yaml
SMOKE_DIR = results/paper-smoke
override SMOKE_CONFIG := $(value SMOKE_CONFIG)
override SMOKE_DIR := $(value SMOKE_DIR)
paper-smoke: env
	$(Q_BIN)/staa fixture-corpus --layout demos --out $(call q,$(SMOKE_DIR)/results/fixtures/DEMoS) --params '{"n_speakers": 6, "utterances_per_class": 1}'
	$(Q_BIN)/staa fixture-corpus --layout iemocap --out $(call q,$(SMOKE_DIR)/results/fixtures/IEMOCAP) --params '{"utterances_per_class": 1, "dialogs": 1}'
	$(Q_BIN)/staa validate-config $(call qwords,$(SMOKE_CONFIG))
	$(Q_BIN)/snakemake --cores $(call q,$(CORES)) --directory $(call q,$(SMOKE_DIR)) $(SNAKEMAKE_EXTRA) --configfile $(call qwords,$(SMOKE_CONFIG))
	$(Q_BIN)/staa check-smoke --results $(call q,$(SMOKE_DIR)/results)

paper-smoke-ci:
	$(MAKE) --no-print-directory paper-smoke SMOKE_CONFIG=$(call q,$(SMOKE_CONFIG) config/paper-smoke-ci.yaml) SMOKE_DIR=results/paper-smoke-ci

# On a machine with a CUDA GPU: the CUDA tests, then the paper-scale timing and model costs on the GPU
# (results/gpu_check/: paper_bench_timing.csv, paper_bench_models.csv, paper_bench.md).
gpu-check: env
	@$(Q_BIN)/python -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 'gpu-check: no CUDA device is visible to torch')"
	$(Q_BIN)/python -m pytest -q -rs tests/test_cuda.py tests/test_attacks.py -k "cuda"
	mkdir -p results/gpu_check
	$(Q_BIN)/staa paper-bench --gpus 1 --threads 4 --utterances 5 --out results/gpu_check/paper_bench | tee results/gpu_check/paper_bench.md

report: env
	@$(SEEDS_WRITE)
	@$(CONFIG_CHECK)
	$(Q_BIN)/snakemake --cores 1 $(CONFIG_ARGS) --report results/report.html

dry-run: env
	@$(SEEDS_WRITE)
	@$(CONFIG_CHECK)
	$(Q_BIN)/snakemake -n $(CONFIG_ARGS)

# ruff (lint and format, pyproject.toml [tool.ruff]), snakefmt (the workflow's formatting) and Snakemake's own linter;
# `make test` runs it first and fails on a finding.
lint: env
	$(Q_BIN)/ruff check src tests
	$(Q_BIN)/ruff format --check src tests
	$(Q_BIN)/snakefmt --check workflow
	$(Q_BIN)/snakemake --lint

# The SLURM integration test (.ci/slurm_test.sh) installs and starts a throw-away one-node SLURM
# cluster, so it runs only in CI (CI=true) or when asked (STAA_SLURM_TEST=1); it skips when not root.
# The paper smoke's CI slice (every rule once at paper model size) runs in CI or with STAA_PAPER_SMOKE=1.
test: env lint
	@if [ "$${CI:-}" = "true" ] || [ "$${STAA_SLURM_TEST:-}" = "1" ]; then \
		STAA_VENV=$(call q,$(abspath $(VENV))) bash .ci/slurm_test.sh; \
	else \
		echo "SKIP: SLURM integration test (runs in CI, or with STAA_SLURM_TEST=1)"; \
	fi
	@if [ "$${CI:-}" = "true" ] || [ "$${STAA_PAPER_SMOKE:-}" = "1" ]; then \
		$(MAKE) --no-print-directory paper-smoke-ci CORES=2; \
	else \
		echo "SKIP: paper smoke, CI slice (runs in CI, or with STAA_PAPER_SMOKE=1)"; \
	fi
	$(Q_BIN)/python -m pytest -q tests

clean:
	rm -rf results .snakemake
