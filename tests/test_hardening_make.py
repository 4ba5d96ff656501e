"""Bad inputs that reach make, the seeds, the YAML reader and the workflow's jobs: each ends in one
clear line naming the variable, key or file, and nothing a user typed is run by a shell.

The catalogue in docs/bad-inputs.md (section "Make variables, seeds and the workflow's interpreter")
lists these cases with their messages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import REPO, SCHEMA, SNAKEFILE, load_default_config, tiny_config
from staa.config import (
    SEED_MAX,
    SEEDS_SLOW_PLANNING,
    validate_config,
)
from staa.errors import ConfigError

STAA = [sys.executable, "-m", "staa.cli"]
# the sources under test, for the `staa` subprocesses that make and Snakemake start
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}


def _config_error(cfg: dict) -> str:
    with pytest.raises(ConfigError) as exc:
        validate_config(cfg, SCHEMA)
    return str(exc.value)


def _no_pwned(*roots: Path) -> bool:
    return not any(list(r.rglob("PWNED*")) for r in roots) and not list(REPO.glob("PWNED*"))


# ---- seeds: bounded in the schema, a long list warned about ---------------------------------------


def _schema_seed_max() -> int:
    return yaml.safe_load(SCHEMA.read_text())["definitions"]["seed"]["maximum"]


def test_seed_bound_is_the_schemas():
    assert _schema_seed_max() == SEED_MAX == 2**31 - 1


@pytest.mark.parametrize("where", ["seed", "run.seeds", "victims.emo18.seed"])
def test_seeds_at_the_bound_pass_and_above_are_refused(where):
    """A seed of 10^15 used to pass and end in `Overflow when unpacking long long` in training."""

    def with_seed(value: int) -> dict:
        cfg = load_default_config()
        if where == "seed":
            cfg["seed"] = value
        elif where == "run.seeds":
            cfg["run"]["seeds"] = [0, value]
        else:
            cfg["victims"]["emo18"]["seed"] = value
        return cfg

    validate_config(with_seed(SEED_MAX), SCHEMA)
    key = {"seed": "seed", "run.seeds": "run.seeds.1", "victims.emo18.seed": "victims.emo18.seed"}[where]
    for value in (SEED_MAX + 1, 10**15, 10**20):
        assert f"config key '{key}': {value} is greater than the maximum of {SEED_MAX}" in _config_error(
            with_seed(value)
        )


def test_every_seed_derived_from_the_bound_is_valid():
    """What the steps compute from a seed (train_victim/train_generator, attack_baseline, timing,
    staa.utils.seed_everything, the corpus and split generators) at the largest seed."""
    import torch

    from staa.utils import seed_everything

    for epoch in (0, 1, 10**6):
        torch.manual_seed(SEED_MAX * 100003 + epoch)
        np.random.default_rng([SEED_MAX, epoch]).permutation(4)
    torch.Generator(device="cpu").manual_seed(SEED_MAX)
    np.random.default_rng([SEED_MAX, 1, 2, 3, 4])
    np.random.default_rng(SEED_MAX)
    seed_everything(SEED_MAX)
    with pytest.raises((RuntimeError, ValueError, OverflowError)):  # what the bound keeps out
        torch.manual_seed(10**15 * 100003)


def _seeds_config(tmp_path: Path, n: int) -> Path:
    cfg = tiny_config()
    cfg["run"]["seeds"] = list(range(n))
    path = tmp_path / f"seeds{n}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_long_seed_list_warns_in_validate_config(tmp_path):
    """500 seeds planned for more than two minutes without a word."""
    n = SEEDS_SLOW_PLANNING + 1
    res = subprocess.run(STAA + ["validate-config", str(_seeds_config(tmp_path, n))], capture_output=True, text=True)
    assert res.returncode == 0 and "valid" in res.stdout
    assert res.stderr.strip() == (
        f"warning: run.seeds lists {n} seeds; Snakemake plans about 0.3 s per seed (default config), "
        f"so expect about {n * 0.3:.0f} s of planning before the first job"
    )
    res = subprocess.run(
        STAA + ["validate-config", str(_seeds_config(tmp_path, SEEDS_SLOW_PLANNING))], capture_output=True, text=True
    )
    assert res.returncode == 0 and res.stderr == ""


def test_long_seed_list_warns_in_the_workflow(tmp_path):
    n = SEEDS_SLOW_PLANNING + 1
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-s",
            str(SNAKEFILE),
            "--directory",
            str(tmp_path),
            "-n",
            "results/corpora/synth/metadata.csv",  # one target: the warning, without planning every seed
            "--configfile",
            str(_seeds_config(tmp_path, n)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=ENV,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"warning: run.seeds lists {n} seeds; Snakemake plans about 0.3 s per seed" in res.stderr


@pytest.mark.parametrize("value", [-1, 2.5, "7", True, SEED_MAX + 1])
def test_demos_split_seed_is_checked_like_a_seed(value):
    """DEMoS' `reader_options.split_seed` (free-form reader options): -1 used to pass the config
    check and end in numpy's `ValueError: expected non-negative integer` in the data stage."""
    cfg = load_default_config()
    cfg["datasets"]["synth"]["reader_options"] = {"split_seed": value}
    assert (
        f"datasets.synth.reader_options.split_seed: expected an integer from 0 to {SEED_MAX}, got {value!r}"
        in _config_error(cfg)
    )
