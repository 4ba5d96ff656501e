"""Bad inputs that reach make, the seeds, the YAML reader and the workflow's jobs: each ends in one
clear line naming the variable, key or file, and nothing a user typed is run by a shell.

The catalogue in docs/bad-inputs.md (section "Make variables, seeds and the workflow's interpreter")
lists these cases with their messages."""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import REPO, SCHEMA, SNAKEFILE, load_default_config, tiny_config
from staa.config import (
    ALIAS_EXPANSION_LIMIT,
    NAME_PATTERN,
    SEED_MAX,
    SEEDS_OVERLAY_MAX,
    SEEDS_SLOW_PLANNING,
    load_config_file,
    sweep_value_name,
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


# ---- make: variables checked at parse time, quoted in every recipe -------------------------------


def _fake_venv(path: Path) -> Path:
    """A VENV for make that is the running environment (its bin/ linked, the install stamp fresh):
    make then never builds an environment, and its recipes run this interpreter's tools."""
    path.mkdir(parents=True)
    (path / "bin").symlink_to(Path(sys.executable).parent)
    (path / ".staa-installed").touch()
    return path


@pytest.fixture
def make_dir(tmp_path) -> Path:
    """A copy of the repository's make entry point (Makefile, its prerequisites, links to config/,
    workflow/ and src/) in a temp folder, so that make's outputs (results/) stay there."""
    root = tmp_path / "repo"
    root.mkdir()
    for name in ("Makefile", "requirements.txt", "pyproject.toml"):
        shutil.copy2(REPO / name, root / name)
    for name in ("config", "workflow", "src"):
        (root / name).symlink_to(REPO / name)
    time.sleep(0.01)  # the stamp is newer than the prerequisites
    _fake_venv(root / "venv")
    return root


def _make(root: Path, *args: str, venv: str = "venv", timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(root), f"VENV={venv}", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=ENV,
    )


def _make_error(res: subprocess.CompletedProcess) -> str:
    """make's one line for a variable refused at parse time (`Makefile:N: *** MESSAGE.  Stop.`)."""
    assert res.returncode != 0, res.stdout + res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    m = re.fullmatch(r"Makefile:\d+: \*\*\* (.*)\.  Stop\.", lines[0])
    assert m, lines[0]
    return m.group(1)


def test_seeds_injection_runs_nothing_and_fails(make_dir):
    """The reported case: `make dry-run SEEDS='1;touch PWNED'` ran the touch and returned 0."""
    res = _make(make_dir, "dry-run", "SEEDS=1;touch PWNED")
    msg = _make_error(res)
    assert msg.startswith("SEEDS='1;touch PWNED': expected a positive integer")
    assert _no_pwned(make_dir)
    assert not (make_dir / "results").exists()  # nothing written before the check


@pytest.mark.parametrize("value", ["abc", "2.5", "0", "-1", "1 2", "$(shell touch PWNED)", "3;touch${IFS}PWNED"])
def test_bad_seeds_is_one_line_naming_seeds(make_dir, value):
    """SEEDS=abc used to say `config key 'run.seeds': [] should be non-empty` and leave
    results/seeds-abc.yaml; SEEDS=2.5 printed a shell arithmetic error."""
    msg = _make_error(_make(make_dir, "dry-run", f"SEEDS={value}"))
    assert msg == (f"SEEDS='{value}': expected a positive integer, the number of seeds (SEEDS=3 runs seeds 0, 1 and 2)")
    assert not (make_dir / "results").exists() and _no_pwned(make_dir)


@pytest.mark.parametrize(
    "args,expected",
    [
        (["CORES=x"], "CORES='x': expected a positive integer or all (CORES=4)"),
        (["CORES=0"], "CORES='0': expected a positive integer or all (CORES=4)"),
        (["CORES=2;touch PWNED"], "CORES='2;touch PWNED': expected a positive integer or all (CORES=4)"),
        (
            ["CONFIG=nope.yaml"],
            "CONFIG: 'nope.yaml' is not a file; expected one or more existing config files (CONFIG=config/paper.yaml)",
        ),
        (
            ["CONFIG=config"],  # a folder
            "CONFIG: 'config' is not a file; expected one or more existing config files (CONFIG=config/paper.yaml)",
        ),
        (
            ["CONFIG=config/*.yaml"],  # a pattern is not expanded
            "CONFIG: 'config/*.yaml' is not a file; expected one or more existing config files "
            "(CONFIG=config/paper.yaml)",
        ),
        (["VENV="], "VENV='': expected one folder path of letters, digits and . _ - / + ~ (VENV=.venv)"),
        (
            ["PYTHON=python3 -c 1"],
            "PYTHON='python3 -c 1': expected one interpreter, a name on PATH or a path (PYTHON=python3.11)",
        ),
    ],
)
def test_bad_make_variable_is_one_line_naming_it(make_dir, args, expected):
    """-n: nothing would run even if a check were missing (`make reproduce` runs the whole DAG)."""
    res = _make(make_dir, "-n", "reproduce", *args)  # a later VENV= overrides _make's
    assert _make_error(res) == expected
    assert _no_pwned(make_dir)


def test_config_with_shell_syntax_is_taken_verbatim(make_dir):
    """An existing config file whose name holds shell syntax: quoted, it is read as named and nothing
    is executed (the old recipes expanded CONFIG unquoted)."""
    cfg = make_dir / "c;touch${IFS}PWNED;x.yaml"
    shutil.copy(REPO / "config" / "config.yaml", cfg)
    res = _make(make_dir, "dry-run", f"CONFIG={cfg.name}", "SEEDS=2")
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"{cfg.name} + results/seeds-2.yaml: valid" in res.stdout
    assert "This was a dry-run" in res.stdout + res.stderr
    assert (make_dir / "results" / "seeds-2.yaml").read_text().endswith("run:\n  seeds: [0, 1]\n")
    assert _no_pwned(make_dir)


@pytest.mark.parametrize("venv", ["v;touch${IFS}PWNED", "v$(touch PWNED)", "v'x", "v#x", "v:x"])
def test_venv_with_shell_or_make_syntax_is_refused(make_dir, venv):
    """VENV names make's install-stamp target and every tool's path: it used to reach the recipes
    unquoted (`v;touch PWNED/bin/staa`)."""
    msg = _make_error(_make(make_dir, "dry-run", venv=venv))
    assert msg == f"VENV='{venv}': expected one folder path of letters, digits and . _ - / + ~ (VENV=.venv)"
    assert _no_pwned(make_dir)


def test_venv_and_config_with_a_tilde_are_home_paths(make_dir, tmp_path):
    home = tmp_path / "home"
    _fake_venv(home / "venv")
    shutil.copy(REPO / "config" / "config.yaml", home / "c.yaml")
    env = {**ENV, "HOME": str(home)}
    res = subprocess.run(
        ["make", "--no-print-directory", "-C", str(make_dir), "VENV=~/venv", "CONFIG=~/c.yaml", "-n", "dry-run"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    assert f"'{home}/venv/bin'/staa validate-config '{home}/c.yaml'" in res.stdout


def test_snakemake_args_are_words_not_shell(make_dir):
    """SNAKEMAKE_ARGS is split at spaces and each word is passed as it is: `;` ends no command."""
    res = _make(make_dir, "reproduce", "CORES=1", "SNAKEMAKE_ARGS=-n --quiet;touch${IFS}PWNED")
    assert res.returncode != 0  # Snakemake refuses the option `--quiet;touch${IFS}PWNED`
    assert "--quiet;touch${IFS}PWNED" in res.stderr
    assert _no_pwned(make_dir)


def test_a_failing_step_fails_the_target(make_dir):
    """Each recipe line stops at its first failure, a pipe's included (`staa paper-bench | tee`)."""
    res = _make(make_dir, "-p", "-n", "gpu-check")
    assert re.search(r"^\.SHELLFLAGS := -euo pipefail -c$", res.stdout, re.M), res.stdout[-2000:]
    assert re.search(r"^SHELL := bash$", res.stdout, re.M)
    # a failing config check stops the target before Snakemake (exit status of the target: non-zero)
    (make_dir / "dup.yaml").write_text("seed: 0\nseed: 1\n")
    res = _make(make_dir, "dry-run", "CONFIG=dup.yaml")
    assert res.returncode != 0 and "duplicate key 'seed'" in res.stderr and "snakemake -n" not in res.stdout


def test_too_many_seeds_for_the_overlay(make_dir):
    res = _make(make_dir, "dry-run", f"SEEDS={SEEDS_OVERLAY_MAX + 1}")
    assert res.returncode != 0
    assert res.stderr.splitlines()[0] == (
        f"staa seeds-overlay: error: SEEDS={SEEDS_OVERLAY_MAX + 1}: expected at most {SEEDS_OVERLAY_MAX} seeds "
        "(Snakemake plans about 0.3 s per seed); list more under run.seeds in a config if you mean it"
    )
    assert not (make_dir / "results" / f"seeds-{SEEDS_OVERLAY_MAX + 1}.yaml").exists()


def test_seeds_overlay_subcommand(tmp_path):
    out = tmp_path / "sub" / "seeds-3.yaml"
    ok = subprocess.run(STAA + ["seeds-overlay", "--seeds", "3", "--out", str(out)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert load_config_file(out) == {"run": {"seeds": [0, 1, 2]}}
    assert [p.name for p in out.parent.iterdir()] == ["seeds-3.yaml"]  # written atomically: no temp file left
    for bad in ("", "x", " 3", "3_0", "+3", "٣"):  # int() would take some of these
        res = subprocess.run(
            STAA + ["seeds-overlay", "--seeds", bad, "--out", str(tmp_path / "b.yaml")], capture_output=True, text=True
        )
        assert res.returncode == 2
        assert res.stderr.strip() == (
            f"staa seeds-overlay: error: SEEDS={bad!r}: expected a positive integer, the number of seeds "
            "(SEEDS=3 runs seeds 0, 1 and 2)"
        )
        assert not (tmp_path / "b.yaml").exists()
    (tmp_path / "file").write_text("x")
    res = subprocess.run(
        STAA + ["seeds-overlay", "--seeds", "2", "--out", str(tmp_path / "file" / "x.yaml")],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2
    assert res.stderr.strip().startswith(f"staa seeds-overlay: error: {tmp_path / 'file' / 'x.yaml'}: cannot write")


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


# ---- YAML: aliases that expand too far, recursive aliases, deep nesting ----------------------------


def _bomb(levels: int = 9) -> str:
    """A "billion laughs" value: `levels` anchors, each a list of nine aliases of the one before."""
    parts = ['&a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    parts += [f"&a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "[" + ", ".join(parts) + "]"


def _bomb_config(tmp_path: Path) -> tuple[Path, int]:
    """The default config with the bomb as its `name`, and the line of that key."""
    lines = (REPO / "config" / "config.yaml").read_text().splitlines()
    line = next(i for i, ln in enumerate(lines) if ln.startswith("name: "))
    lines[line] = f"name: {_bomb()}"
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path, line + 1


def _limited_memory():  # 3 GB of address space: the old reader needed 3.8 GB before its MemoryError
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))


def test_alias_bomb_is_refused_in_one_line(tmp_path):
    """Used to take 3.8 GB and 49 s before a MemoryError traceback."""
    path, line = _bomb_config(tmp_path)
    t0 = time.perf_counter()
    res = subprocess.run(
        STAA + ["validate-config", str(path)], capture_output=True, text=True, timeout=120, preexec_fn=_limited_memory
    )
    assert time.perf_counter() - t0 < 30
    assert res.returncode == 2
    assert res.stderr.strip() == (
        f"staa validate-config: error: {path}: line {line}: alias *a3 makes the aliases expand to more than "
        f"{ALIAS_EXPANSION_LIMIT} nodes (an alias bomb?); expected aliases that repeat a few small blocks"
    )


def test_alias_bomb_is_refused_by_the_workflow_before_its_checks(tmp_path):
    """Snakemake reads the file first (its reader keeps aliases shared, which is cheap); the workflow
    then reads it with ours before the schema check would walk the expansion."""
    path, line = _bomb_config(tmp_path)
    res = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--directory", str(tmp_path), "-n"]
        + ["--configfile", str(path)],
        capture_output=True,
        text=True,
        timeout=180,
        env=ENV,
        preexec_fn=_limited_memory,
    )
    assert res.returncode != 0
    assert f"{path}: line {line}: alias *a3 makes the aliases expand to more than" in res.stdout + res.stderr
    assert "MemoryError" not in res.stdout + res.stderr


@pytest.mark.parametrize(
    "text,expected",
    [
        (
            "seed: 0\nrun: &r\n  datasets: [*r]\n",
            "line 3: alias *r refers to the node it is part of (a recursive structure); expected a tree of keys",
        ),
        (
            "seed: " + "[" * 5000 + "]" * 5000 + "\n",
            "refused: its collections nest too deeply to read; expected a config",
        ),
    ],
)
def test_recursive_alias_and_deep_nesting_are_one_line(tmp_path, text, expected):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_config_file(path)
    assert str(exc.value) == f"{path}: {expected}"


def test_small_aliases_within_the_limit_load(tmp_path):
    """The limit counts what aliases add: four levels of nine (6561 leaves) pass, five do not."""
    (tmp_path / "ok.yaml").write_text(f"x: {_bomb(4)}\n")
    assert len(load_config_file(tmp_path / "ok.yaml")["x"]) == 4
    (tmp_path / "big.yaml").write_text(f"x: {_bomb(5)}\n")
    with pytest.raises(ConfigError, match="alias bomb"):
        load_config_file(tmp_path / "big.yaml")


@pytest.mark.parametrize(
    "name", sorted(p.name for p in (REPO / "config").glob("*.yaml")) + ["../tests/slurm_tiny.yaml"]
)
def test_shipped_configs_still_load(name):
    data = load_config_file(REPO / "config" / name)
    if name == "config.yaml":  # its `*small_ssl` alias still reads as the anchored block
        assert data["victims"]["wavlm"]["arch"]["small_config"] == data["victims"]["wav2vec2"]["arch"]["small_config"]
    if "seed" in data and "victims" in data:  # a complete config (the others are overlays)
        validate_config(data, SCHEMA)


# ---- the workflow's jobs run with the workflow's interpreter ---------------------------------------


def test_jobs_run_without_the_environment_on_path(tmp_path):
    """`.venv/bin/snakemake` without activating the environment used to plan the DAG and then fail
    every job with `staa: command not found`."""
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(tiny_config()))
    bare = os.pathsep.join(d for d in ("/usr/bin", "/bin") if Path(d) != Path(sys.executable).parent)
    assert shutil.which("staa", path=bare) is None  # the environment's tools are not on this PATH
    env = {"HOME": os.environ.get("HOME", str(tmp_path)), "PATH": bare, "PYTHONPATH": ENV["PYTHONPATH"]}
    res = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--directory", str(tmp_path), "--cores", "1", "-p"]
        + ["results/corpora/synth/metadata.csv", "--configfile", str(tmp_path / "c.yaml")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    log = tmp_path / "results" / "logs" / "synth_corpus" / "synth.log"
    assert res.returncode == 0, res.stderr[-3000:] + (log.read_text() if log.exists() else "")
    assert (tmp_path / "results" / "corpora" / "synth" / "metadata.csv").is_file()
    assert "command not found" not in log.read_text()


def test_every_rule_runs_staa_through_the_workflow_interpreter():
    """No shell command calls a bare `staa` (found on PATH only)."""
    found = 0
    for smk in sorted((REPO / "workflow").rglob("*.smk")) + [SNAKEFILE]:
        for block in re.findall(r"\n    shell:\n((?:        .*\n?)+)", smk.read_text()):
            found += 1
            assert block.lstrip().startswith("staa_cli("), f"{smk.name}: {block}"
            assert not re.search(r"(^|[\s;&|(])staa\s", block.replace("staa_cli(", "")), block
    assert found >= 10


# ---- sweeps: a name collision is named as one ------------------------------------------------------


def test_sweep_values_that_share_a_name_are_named():
    cfg = tiny_config()
    cfg["generator"]["sweeps"]["density"]["values"] = [0.05, 0.1, 0.1000000001]
    msg = _config_error(cfg)
    assert (
        "generator.sweeps.density.values: 0.1 and 0.1000000001 share the variant name density_0p1; "
        "expected values that differ in their first 6 significant digits"
    ) in msg
    assert "repeats" not in msg
    cfg["generator"]["sweeps"]["density"]["values"] = [0.05, 0.1, 0.1]
    msg = _config_error(cfg)  # a true repeat is still called one, once
    assert msg.count("generator.sweeps.density.values: [0.05, 0.1, 0.1] repeats a value; expected distinct values") == 1


def test_sweep_value_names_are_valid_names():
    """1e+06 used to make a variant name with '+' that the name check then refused."""
    for value in (1e6, 1e-7, -2.5, 0.05, 3, None, "last"):
        assert re.match(NAME_PATTERN, "s_" + sweep_value_name(value)), value
    assert sweep_value_name(1e6) == "1e06" and sweep_value_name(1e-5) == "1em05"


# ---- a user's model file is an input of its victim's job --------------------------------------------


def _exported_workdir(tmp_path: Path) -> tuple[Path, list[str]]:
    import torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(1, 2)

        def forward(self, x):
            return self.lin(x.mean(-1, keepdim=True))

    wd = tmp_path / "wd"
    (wd / "models").mkdir(parents=True)
    batch = torch.export.Dim("batch", min=1, max=1024)
    prog = torch.export.export(Net().eval(), (torch.randn(2, 4000),), dynamic_shapes=({0: batch},))
    torch.export.save(prog, wd / "models" / "m.pt2")
    (wd / "models" / "m.classes.json").write_text('["angry", "sad"]')  # the sidecar: no arch.classes
    cfg = tiny_config()
    cfg["victims"]["mine"] = {"family": "exported", "train": False, "arch": {"program": "models/m.pt2"}}
    cfg["datasets"]["synth"]["victims"].append("mine")
    (wd / "c.yaml").write_text(yaml.safe_dump(cfg))
    data = ["results/corpora/synth/metadata.csv"]
    data += [f"results/data/synth/{s}.{e}" for s in ("train", "dev", "test") for e in ("npy", "csv")]
    data += ["results/data/synth/classes.json", "results/data/synth/card.md"]
    victim = [f"results/victims/synth/mine/seed0/{n}" for n in ("model.pt", "metrics.json", "train_log.csv")]
    return wd, data + victim


def _set_up_to_date(wd: Path, outputs: list[str]) -> None:
    """Every output newer than every model file, in DAG order (what a finished run leaves)."""
    t = time.time() - 1000
    for f in (wd / "models").rglob("*"):
        os.utime(f, (t, t))
    for i, f in enumerate(outputs, start=1):
        p = wd / f
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x")
        os.utime(p, (t + 10 * i, t + 10 * i))


def _dry_run(wd: Path, victim: str = "mine") -> str:
    res = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--directory", str(wd), "-n"]
        + [f"results/victims/synth/{victim}/seed0/metrics.json", "--configfile", str(wd / "c.yaml")],
        capture_output=True,
        text=True,
        timeout=300,
        env=ENV,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout + res.stderr


def test_a_changed_exported_program_reruns_its_victim(tmp_path):
    """Used to say nothing to do; the next job then refused the changed file's sha256."""
    wd, outputs = _exported_workdir(tmp_path)
    _set_up_to_date(wd, outputs)
    assert "rule train_victim:" not in _dry_run(wd)
    for changed in ("models/m.pt2", "models/m.classes.json"):
        _set_up_to_date(wd, outputs)
        (wd / changed).touch()
        out = _dry_run(wd)
        assert "rule train_victim:" in out and f"Updated input files: {changed}" in out, out[-3000:]


def test_a_changed_local_pretrained_checkpoint_reruns_its_victim(tmp_path):
    """The files of a local `pretrained` folder (here a wav2vec2 victim's) are inputs of its job too."""
    wd, outputs = _exported_workdir(tmp_path)
    local = wd / "models" / "w2v"
    local.mkdir()
    for name in ("config.json", "preprocessor_config.json"):
        (local / name).write_text("{}")
    (local / "model.safetensors").write_bytes(b"x")
    cfg = yaml.safe_load((wd / "c.yaml").read_text())
    cfg["victims"]["wav2vec2"]["arch"] = {"pretrained": "models/w2v"}
    (wd / "c.yaml").write_text(yaml.safe_dump(cfg))
    outputs = [o.replace("/mine/", "/wav2vec2/") for o in outputs]
    _set_up_to_date(wd, outputs)
    assert "rule train_victim:" not in _dry_run(wd, "wav2vec2")
    (local / "model.safetensors").touch()
    out = _dry_run(wd, "wav2vec2")
    assert "rule train_victim:" in out and "Updated input files: models/w2v/model.safetensors" in out, out[-3000:]


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


# ---- names Snakemake refuses once planning has begun ------------------------------------------------


@pytest.mark.parametrize(
    "name,expected",
    [
        (
            "a" * 25,
            "name 'aaaaaaaaaaaaaaaaaaaaaaaaa' ends in 'a' repeated 25 times, which Snakemake refuses as a "
            "periodic wildcard; expected a name without such a repetition",
        ),
        ("emo" + "ab" * 20, "ends in 'ab' repeated 20 times, which Snakemake refuses as a periodic wildcard"),
        ("v" + "x1" * 60, "is 121 characters long; expected at most 100 (it names a folder of every job)"),
    ],
)
def test_names_snakemake_cannot_plan_are_refused_up_front(tmp_path, name, expected):
    """A victim named with 25 a's passed the check and ended in Snakemake's PeriodicWildcardError
    while planning (like a 20-digit seed); a 300-character name in `File name too long`."""
    cfg = tiny_config()
    cfg["victims"][name] = cfg["victims"].pop("zhao19")
    cfg["datasets"]["synth"]["victims"] = ["emo18", name, "wav2vec2"]
    assert "config section 'victims': " in _config_error(cfg) and expected in _config_error(cfg)
    ok = tiny_config()
    ok["victims"]["emo18_" + "1" * 19] = ok["victims"].pop("zhao19")  # 19 repeats: Snakemake takes it
    ok["datasets"]["synth"]["victims"] = ["emo18", "emo18_" + "1" * 19, "wav2vec2"]
    validate_config(ok, SCHEMA)
