# Config access, validation, parameter builders and target lists shared by every stage.
import importlib.util
import json
import os
import shlex
import shutil
import sys
from pathlib import Path

from snakemake.utils import validate


def staa_command() -> str:
    """The command that runs the `staa` CLI in the jobs (see staa_cli): the interpreter that runs
    this workflow (its `staa` script beside it, or `python -m staa.cli`), so `.venv/bin/snakemake`
    works without activating the environment, locally and under SLURM (whose jobs rerun Snakemake
    with this same interpreter, on the same filesystem). Under `--sdm conda`: the python of the
    job's conda environment (workflow/envs/staa.yaml installs staa). Asked before src/ is put on
    sys.path, since the jobs import the installed package, not that path."""
    methods = {getattr(m, "name", str(m)) for m in workflow.deployment_settings.deployment_method}
    if "CONDA" in methods:
        return "python -m staa.cli"
    if importlib.util.find_spec("staa") is not None:
        script = Path(sys.executable).with_name("staa")  # its console script (`pip install` writes it)
        if script.is_file() and os.access(script, os.X_OK):
            return shlex.quote(str(script))
        return shlex.quote(sys.executable) + " -m staa.cli"
    on_path = shutil.which("staa")
    if on_path:
        return shlex.quote(on_path)
    raise ValueError(
        f"the interpreter running Snakemake ({sys.executable}) cannot import staa and no `staa` is on PATH; "
        "run `make env` and then .venv/bin/snakemake, or install the project into this environment (pip install -e .)"
    )


# How every shell command of the workflow starts: shell words, each quoted, braces doubled (Snakemake
# formats the command). Prefixed by staa_cli(), not a {STAA} placeholder: Snakemake's linter flags a
# value from outside the rules, and as a param it would rerun every job when the environment moves.
STAA = staa_command().replace("{", "{{").replace("}", "}}")


def staa_cli(args: str) -> str:
    """A rule's shell command: the STAA prefix (the `staa` CLI of this interpreter), then `args`
    verbatim, Snakemake placeholders included."""
    return f"{STAA} {args}"


sys.path.insert(0, str(Path(workflow.basedir).parent / "src"))
from staa.config import (  # noqa: E402  (torch-free: keeps `snakemake -n` fast)
    CORPUS_VERSION,
    clip_length,
    config_warnings,
    dataset_victims,
    expand_sweeps,
    load_config_file,
    run_seeds,
    schema_errors,
    semantic_errors,
    sweep_points,
    variant_threats,
    victim_seed,
)
from staa.data.readers.manifest import DEFAULT_MANIFEST, manifest_path  # noqa: E402  (torch-free too)
from staa.provenance import settings_hash  # noqa: E402  (torch-free too)

# Snakemake has parsed the config files already, but its YAML reader keeps the last of two equal
# keys silently: read them again strictly. Then our schema messages (naming each key), then
# Snakemake's own validation, which also fills the schema's defaults: every default lives in the
# schema (staa.settings), so the builders below read the config without defaults of their own.
for _configfile in workflow.overwrite_configfiles or []:
    load_config_file(_configfile)
_schema = Path(workflow.basedir) / "schemas" / "config.schema.yaml"
_errors = schema_errors(config, _schema) or schema_errors(expand_sweeps(config), _schema) or semantic_errors(config)
if _errors:
    raise ValueError("invalid configuration:\n  - " + "\n  - ".join(_errors))
validate(config, schema="../schemas/config.schema.yaml")
if workflow.is_main_process:  # once, not again in every cluster job that rereads the workflow
    for _line in config_warnings(config):
        print(_line, file=sys.stderr)
# a sweep's points become variants like any other (docs/design.md: the sparsity trade-off)
SWEEPS = sweep_points(config)
DECLARED_VARIANTS = list((config.get("generator") or {}).get("variants") or {})
if "generator" in config:
    config["generator"] = expand_sweeps(config)["generator"]


# wildcards match one path component; a baseline is never called "staa" (STAA-Net's folder)
wildcard_constraints:
    dataset="[^/]+",
    victim="[^/]+",
    threat="[^/]+",
    variant="[^/]+",
    method="(?!staa$)[^/]+",
    seed="[0-9]+",


RESULTS = "results"
# = staa.report.tables.REPORT_TABLES (not imported: that package pulls in matplotlib at parse time;
# tests/test_report.py keeps the two equal)
REPORT_TABLES = ("whitebox", "transfer", "timing", "ablation", "per_class")
SEED = int(config["seed"])
SEEDS = run_seeds(config)  # generators, attacks and baselines run once per seed (run.seeds)


def as_json(obj) -> str:
    """Canonical JSON for `--params`: stable key order, so params compare equal across runs."""
    return json.dumps(obj, sort_keys=True)


def run_datasets() -> list[str]:
    return list(config["run"]["datasets"])


def ds_cfg(dataset: str) -> dict:
    return config["datasets"][dataset]


def victims_of(dataset: str) -> list[str]:
    return dataset_victims(config, dataset)


def job_threads() -> int:
    return int(config["run"]["threads"])


# ---- parameter builders: exactly the config values each step depends on -------------------------


def synth_params(wildcards) -> str:
    ds = ds_cfg(wildcards.dataset)
    return as_json(
        {
            **ds.get("synthetic", {}),
            "sample_rate": ds["sample_rate"],
            "seed": SEED,
            "version": CORPUS_VERSION,
        }
    )


def data_params(wildcards) -> str:
    ds = ds_cfg(wildcards.dataset)
    keys = ("reader", "root", "sample_rate", "clip_seconds", "on_bad_audio", "split", "reader_options")
    p = {k: ds[k] for k in keys if k in ds}
    p["split"] = {**p["split"], "seed": SEED}
    return as_json(p)


def data_input(wildcards) -> list[str]:
    """The corpus on disk: the generated manifest, or a real corpus' root folder (so a missing
    corpus is reported before anything runs, dry runs included)."""
    ds = ds_cfg(wildcards.dataset)
    if ds["reader"] == "synthetic":
        return [f"{ds['root']}/metadata.csv"]
    if ds["reader"] == "manifest":
        options = ds.get("reader_options") or {}
        return [str(manifest_path(ds["root"], options.get("manifest", DEFAULT_MANIFEST)))]
    return [ds["root"]]


def victim_params(wildcards) -> str:
    return as_json({**config["victims"][wildcards.victim], "seed": int(wildcards.seed)})


def victim_model_files(wildcards) -> list[str]:
    """The model files on disk a victim's job reads: an exported program (and its class-name sidecar,
    when arch.classes does not list them), or the files of a local `pretrained` checkpoint folder.
    As inputs, a changed file reruns the job (an exported victim's checkpoint pins its program by
    sha256: without this the next job would refuse the changed file, and Snakemake saw nothing to do).
    A hub name is no file; a missing program is reported by Snakemake as a missing input."""
    v = config["victims"][wildcards.victim]
    arch = v.get("arch") or {}
    if v["family"] == "exported":
        if not isinstance(arch.get("program"), str) or not arch["program"]:
            return []
        program = Path(arch["program"]).expanduser()
        sidecar = program.with_suffix(".classes.json")  # staa.models.exported.sidecar_path
        return [str(program)] + ([str(sidecar)] if arch.get("classes") is None and sidecar.is_file() else [])
    local = Path(arch["pretrained"]).expanduser() if isinstance(arch.get("pretrained"), str) else None
    if v["family"] in ("hf", "wav2vec2", "wavlm") and local is not None and local.is_dir():
        return sorted(str(f) for f in local.iterdir() if f.is_file() and not f.name.startswith("."))
    return []


def victim_model(dataset: str, victim: str, seed) -> str:
    """The checkpoint of `victim` that run `seed` uses (one per seed only under run.victim_seeds)."""
    return f"{RESULTS}/victims/{dataset}/{victim}/seed{victim_seed(config, victim, int(seed))}/model.pt"


def victim_seeds(victim: str) -> list[int]:
    return sorted({victim_seed(config, victim, s) for s in SEEDS})


def generator_params(wildcards) -> str:
    gen = config["generator"]
    return as_json(
        {
            "threat": wildcards.threat,
            "variant": wildcards.variant,
            "arch": gen["arch"],
            "train": gen["train"],
            "variant_cfg": gen["variants"][wildcards.variant],
            "seed": int(wildcards.seed),
        }
    )


def subset_file(dataset: str, seed) -> str:
    return f"{RESULTS}/attacks/{dataset}/subsets/seed{seed}.csv"


def n_examples() -> int:
    """Listening examples (clean/adversarial pairs) each STAA-Net crafting job keeps."""
    return int(config["attack_eval"]["n_examples"])


def example_files(run_dir: str, kinds: tuple[str, ...] = (".npz", "_clean.wav", "_adv.wav")) -> list[str]:
    """The listening examples of a crafting job's folder (may hold wildcards), declared, not globbed."""
    return [f"{run_dir}/examples/example_{k}{kind}" for k in range(n_examples()) for kind in kinds]


def craft_params(wildcards) -> str:
    ev = config["attack_eval"]
    return as_json(
        {
            "dataset": wildcards.dataset,
            "threat": wildcards.threat,
            "variant": wildcards.variant,
            "seed": int(wildcards.seed),
            **{k: ev[k] for k in ("throughput_batch", "n_examples", "timing_utterances")},
        }
    )


def staa_run_dir(wildcards) -> str:
    return f"{RESULTS}/attacks/{wildcards.dataset}/staa/{wildcards.threat}/{wildcards.variant}/seed{wildcards.seed}"


def staa_score_inputs(wildcards) -> dict:
    d, s, run = wildcards.dataset, wildcards.seed, staa_run_dir(wildcards)
    inputs = {
        "classes": f"{RESULTS}/data/{d}/classes.json",
        "test": f"{RESULTS}/data/{d}/test.npy",
        "adv": f"{run}/adversarial.npy",
        "mask": f"{run}/mask.npy",
        "alog": f"{run}/attack_log.csv",
        "craft": f"{run}/craft.json",
        "victim": victim_model(d, wildcards.victim, s),
    }
    if baselines_enabled(d):
        inputs["subset"] = subset_file(d, s)  # STAA-Net is scored on the baselines' subset too
    return inputs


def score_settings() -> dict:
    """The attack_eval values the scoring step depends on (every attack alike)."""
    ev = config["attack_eval"]
    return {k: ev[k] for k in ("frame_ms", "timing_utterances")}


def staa_score_params(wildcards) -> str:
    return as_json(
        {
            "dataset": wildcards.dataset,
            "attack": "staa",
            "method": "staa",
            "threat": wildcards.threat,
            "variant": wildcards.variant,
            "victim": wildcards.victim,
            "seed": int(wildcards.seed),
            "scope": "full",
            **score_settings(),
        }
    )


def baselines_enabled(dataset: str | None = None) -> bool:
    """Baselines are configured, and run on `dataset` (baselines.datasets; default: every dataset)."""
    b = config.get("baselines") or {}
    if not b.get("methods"):
        return False
    return dataset is None or dataset in (b.get("datasets") or run_datasets())


def generators_of(dataset: str) -> list[tuple[str, str]]:
    """(threat, variant) pairs trained for `dataset`."""
    if "generator" not in config:
        return []
    vics = victims_of(dataset)
    return [
        (t, v)
        for v in config["generator"]["variants"]
        for t in variant_threats(config, v)
        if t in vics and dataset in (config["generator"]["variants"][v].get("datasets") or [dataset])
    ]


def baseline_methods() -> dict:
    """Every baseline's settings as run: its entry, with `baselines.budget_cuts` applied."""
    b = config.get("baselines") or {}
    cuts = b.get("budget_cuts") or {}
    return {name: {**m, **cuts.get(name, {})} for name, m in (b.get("methods") or {}).items()}


def full_budget_methods() -> dict:
    """The baselines' settings before budget cuts (what a cut run is extrapolated to)."""
    return dict((config.get("baselines") or {}).get("methods") or {})


def subset_params(wildcards) -> str:
    return as_json({"subset_size": config["baselines"]["subset_size"], "seed": int(wildcards.seed)})


def baseline_params(wildcards) -> str:
    return as_json(
        {
            "name": wildcards.method,
            "threat": wildcards.threat,
            "settings": baseline_methods()[wildcards.method],
            "seed": int(wildcards.seed),
            # the baselines take the bound STAA-Net's training uses: absolute, or level-relative
            "eps_mode": config["generator"]["train"]["eps_mode"],
        }
    )


def baseline_score_inputs(wildcards) -> dict:
    d, s = wildcards.dataset, wildcards.seed
    run = f"{RESULTS}/attacks/{d}/{wildcards.method}/{wildcards.threat}/seed{s}"
    return {
        "classes": f"{RESULTS}/data/{d}/classes.json",
        "test": f"{RESULTS}/data/{d}/test.npy",
        "subset": subset_file(d, s),  # the utterances the adversarials were crafted on
        "adv": f"{run}/adversarial.npy",
        "alog": f"{run}/attack_log.csv",
        "victim": victim_model(d, wildcards.victim, s),
    }


def baseline_score_params(wildcards) -> str:
    return as_json(
        {
            "dataset": wildcards.dataset,
            "attack": wildcards.method,
            "method": baseline_methods()[wildcards.method]["method"],
            "threat": wildcards.threat,
            "variant": None,
            "victim": wildcards.victim,
            "seed": int(wildcards.seed),
            "scope": "subset",
            **score_settings(),
        }
    )


def timing_variant() -> str:
    """The STAA-Net variant that is timed: 'full' if declared, else the first variant."""
    variants = list(config["generator"]["variants"])
    return "full" if "full" in variants else variants[0]


def timing_seed() -> int:
    """Timing is about speed, not about a seed's luck: it runs on the first seed's artefacts."""
    return SEEDS[0]


def timing_params(wildcards) -> str:
    return as_json(
        {
            "dataset": wildcards.dataset,
            "threat": wildcards.threat,
            "variant": timing_variant(),
            "methods": baseline_methods(),
            "full_methods": full_budget_methods(),
            "seed": timing_seed(),
            **config["timing"],
        }
    )


def report_params(wildcards) -> str:
    return as_json(
        {
            "style": config.get("report", {}).get("style", {}),
            "config_name": config["name"],
            "config_sha256": settings_hash(config),
            "victims_order": list(config["victims"]),
            "seeds": SEEDS,
            "ablation_variants": DECLARED_VARIANTS,
            "sweeps": {
                name: {
                    "key": config["generator"]["sweeps"][name]["key"],
                    "points": [{"value": pt["value"], "variant": pt["variant"]} for pt in pts],
                }
                for name, pts in SWEEPS.items()
            },
            "datasets_info": {
                ds: {
                    "reader": ds_cfg(ds)["reader"],
                    "clip_seconds": ds_cfg(ds).get("clip_seconds"),
                    "sample_rate": ds_cfg(ds)["sample_rate"],
                }
                for ds in run_datasets()
            },
        }
    )


def threats_of(dataset: str) -> list[str]:
    if "generator" not in config:
        return []
    return [t for t in config["generator"]["threats"] if t in victims_of(dataset)]


# ---- targets -------------------------------------------------------------------------------------


def data_targets(dataset: str) -> list[str]:
    d = f"{RESULTS}/data/{dataset}"
    return [f"{d}/{s}.{ext}" for s in ("train", "dev", "test") for ext in ("npy", "csv")] + [f"{d}/card.md"]


def victim_targets(dataset: str, name: str = "metrics.json") -> list[str]:
    return [f"{RESULTS}/victims/{dataset}/{v}/seed{s}/{name}" for v in victims_of(dataset) for s in victim_seeds(v)]


def staa_attack_targets(dataset: str) -> list[str]:
    return [
        f"{RESULTS}/attacks/{dataset}/staa/{t}/{v}/seed{s}/on_{victim}/metrics.json"
        for t, v in generators_of(dataset)
        for s in SEEDS
        for victim in victims_of(dataset)
    ]


def baseline_targets(dataset: str) -> list[str]:
    if not baselines_enabled(dataset):
        return []
    return [
        f"{RESULTS}/attacks/{dataset}/{m}/{t}/seed{s}/on_{v}/metrics.json"
        for m in baseline_methods()
        for t in threats_of(dataset)
        for s in SEEDS
        for v in victims_of(dataset)
    ]


def timing_targets(dataset: str) -> list[str]:
    if not baselines_enabled(dataset):
        return []
    return [f"{RESULTS}/timing/{dataset}/{t}.csv" for t in threats_of(dataset)]


def report_inputs(wildcards) -> dict:
    dss = run_datasets()
    return {
        "victims": [m for ds in dss for m in victim_targets(ds)],
        "victim_logs": [m for ds in dss for m in victim_targets(ds, "train_log.csv")],
        "generator_logs": [
            f"{RESULTS}/generators/{ds}/{t}/{v}/seed{s}/train_log.csv"
            for ds in dss
            for t, v in generators_of(ds)
            for s in SEEDS
        ],
        "attacks": [m for ds in dss for m in staa_attack_targets(ds) + baseline_targets(ds)],
        # read beside each metrics.json by the summary's paired tests
        "per_utterance": [
            m.replace("metrics.json", "per_utterance.csv")
            for ds in dss
            for m in staa_attack_targets(ds) + baseline_targets(ds)
        ],
        "timing": [t for ds in dss for t in timing_targets(ds)],
        # the listening examples of the timed variant's first seed (read by name: the .npz files)
        "examples": (
            [
                f
                for ds in dss
                for t in threats_of(ds)
                for f in example_files(f"{RESULTS}/attacks/{ds}/staa/{t}/{timing_variant()}/seed{SEEDS[0]}", (".npz",))
            ]
            if "generator" in config
            else []
        ),
        "listening": (
            [
                f
                for ds in dss
                for t in threats_of(ds)
                for f in example_files(
                    f"{RESULTS}/attacks/{ds}/staa/{t}/{timing_variant()}/seed{SEEDS[0]}", ("_clean.wav", "_adv.wav")
                )
            ]
            if "generator" in config
            else []
        ),
    }


def all_targets() -> list[str]:
    out = []
    for ds in run_datasets():
        out += data_targets(ds) + victim_targets(ds) + staa_attack_targets(ds) + baseline_targets(ds)
        out += timing_targets(ds)
    out.append(f"{RESULTS}/tables/victims.csv")
    if "generator" in config:
        out.append(f"{RESULTS}/summary.md")
    return out
