# The two user commands: `make reproduce` (the whole experiment on the embedded default config)
# and `make test`. Both create the virtual environment on first use.
PYTHON ?= python3
VENV ?= .venv
CORES ?= all
CONFIG ?=
SNAKEMAKE_ARGS ?=
BIN := $(VENV)/bin
# rules call the `staa` CLI: put the environment first on PATH for Snakemake and its jobs
export PATH := $(abspath $(VENV))/bin:$(PATH)
STAMP := $(VENV)/.staa-installed

.PHONY: env reproduce test report dry-run lint clean

env: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

# Config files are checked by our own reader first: Snakemake's YAML reader keeps the last of two
# equal keys silently and reports a missing or malformed file with a traceback.
CONFIG_CHECK = $(BIN)/staa validate-config $(or $(CONFIG),config/config.yaml)

reproduce: env
	@$(CONFIG_CHECK)
	$(BIN)/snakemake --cores $(CORES) $(if $(CONFIG),--configfile $(CONFIG)) $(SNAKEMAKE_ARGS)

report: env
	@$(CONFIG_CHECK)
	$(BIN)/snakemake --cores 1 $(if $(CONFIG),--configfile $(CONFIG)) --report results/report.html

dry-run: env
	@$(CONFIG_CHECK)
	$(BIN)/snakemake -n $(if $(CONFIG),--configfile $(CONFIG))

lint: env
	$(BIN)/snakemake --lint

# The SLURM integration test (.ci/slurm_test.sh) installs and starts a throw-away one-node SLURM
# cluster, so it runs only in CI (CI=true) or when asked (STAA_SLURM_TEST=1); it skips when not root.
test: env
	@if [ "$${CI:-}" = "true" ] || [ "$${STAA_SLURM_TEST:-}" = "1" ]; then \
		STAA_VENV=$(abspath $(VENV)) bash .ci/slurm_test.sh; \
	else \
		echo "SKIP: SLURM integration test (runs in CI, or with STAA_SLURM_TEST=1)"; \
	fi
	$(BIN)/python -m pytest -q tests

clean:
	rm -rf results .snakemake
