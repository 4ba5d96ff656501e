# Config access, validation, parameter builders and target lists shared by every stage.
import json
import sys
from pathlib import Path

from snakemake.utils import validate

sys.path.insert(0, str(Path(workflow.basedir).parent / "src"))
from staa.config import (  # noqa: E402  (torch-free: keeps `snakemake -n` fast)
    CORPUS_VERSION,
    clip_length,
    dataset_victims,
    load_config_file,
    schema_errors,
    semantic_errors,
    variant_threats,
)
from staa.data.readers.manifest import DEFAULT_MANIFEST, manifest_path  # noqa: E402  (torch-free too)
from staa.provenance import settings_hash  # noqa: E402  (torch-free too)

# Snakemake has parsed the config files already, but its YAML reader keeps the last of two equal
# keys silently: read them again strictly. Then our schema messages (naming each key), then
# Snakemake's own validation, which also fills the schema's defaults.
for _configfile in workflow.overwrite_configfiles or []:
    load_config_file(_configfile)
_errors = schema_errors(config, Path(workflow.basedir) / "schemas" / "config.schema.yaml") or semantic_errors(config)
if _errors:
    raise ValueError("invalid configuration:\n  - " + "\n  - ".join(_errors))
validate(config, schema="../schemas/config.schema.yaml")

# wildcards match one path component; a baseline is never called "staa" (STAA-Net's folder)
wildcard_constraints:
    dataset="[^/]+",
    victim="[^/]+",
    threat="[^/]+",
    variant="[^/]+",
    method="(?!staa$)[^/]+",


RESULTS = "results"
# = staa.report.tables.REPORT_TABLES (not imported: that package pulls in matplotlib at parse time;
# tests/test_report.py keeps the two equal)
REPORT_TABLES = ("whitebox", "transfer", "timing", "ablation", "per_class")
SEED = int(config["seed"])


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
    return int(config["run"].get("threads", 1))


# ---- parameter builders: exactly the config values each step depends on -------------------------


def synth_params(wildcards) -> str:
    ds = ds_cfg(wildcards.dataset)
    return as_json({**ds.get("synthetic", {}), "sample_rate": ds.get("sample_rate", 16000), "seed": SEED,
                    "version": CORPUS_VERSION})


def data_params(wildcards) -> str:
    ds = ds_cfg(wildcards.dataset)
    keys = ("reader", "root", "sample_rate", "clip_seconds", "on_bad_audio", "split", "reader_options")
    p = {k: ds[k] for k in keys if k in ds}
    p["split"] = {**p.get("split", {}), "seed": SEED}
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
    v = dict(config["victims"][wildcards.victim])
    v.setdefault("seed", SEED)
    return as_json(v)


def generator_params(wildcards) -> str:
    gen = config["generator"]
    return as_json({"threat": wildcards.threat, "variant": wildcards.variant, "arch": gen["arch"],
                    "train": gen["train"], "variant_cfg": gen["variants"][wildcards.variant], "seed": SEED})


def staa_attack_inputs(wildcards) -> dict:
    d = wildcards.dataset
    inputs = {
        "classes": f"{RESULTS}/data/{d}/classes.json",
        "test": f"{RESULTS}/data/{d}/test.npy",
        "generator": f"{RESULTS}/generators/{d}/{wildcards.threat}/{wildcards.variant}/generator.pt",
        "victim": f"{RESULTS}/victims/{d}/{wildcards.victim}/model.pt",
    }
    if baselines_enabled(d):
        inputs["subset"] = f"{RESULTS}/attacks/{d}/subset.csv"
    return inputs


def staa_attack_params(wildcards) -> str:
    ev = config.get("attack_eval", {})
    return as_json({"dataset": wildcards.dataset, "threat": wildcards.threat, "variant": wildcards.variant,
                    "victim": wildcards.victim, **ev})


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
    return [(t, v) for v in config["generator"]["variants"] for t in variant_threats(config, v)
            if t in vics and dataset in (config["generator"]["variants"][v].get("datasets") or [dataset])]


def baseline_methods() -> dict:
    """Every baseline's settings as run: its entry, with `baselines.budget_cuts` applied."""
    b = config.get("baselines") or {}
    cuts = b.get("budget_cuts") or {}
    return {name: {**m, **cuts.get(name, {})} for name, m in (b.get("methods") or {}).items()}


def full_budget_methods() -> dict:
    """The baselines' settings before budget cuts (what a cut run is extrapolated to)."""
    return dict((config.get("baselines") or {}).get("methods") or {})


def subset_params(wildcards) -> str:
    return as_json({"subset_size": config["baselines"].get("subset_size", 20), "seed": SEED})


def baseline_params(wildcards) -> str:
    return as_json({"name": wildcards.method, "threat": wildcards.threat,
                    "settings": baseline_methods()[wildcards.method], "seed": SEED})


def score_params(wildcards) -> str:
    return as_json({"dataset": wildcards.dataset, "name": wildcards.method,
                    "method": baseline_methods()[wildcards.method]["method"], "threat": wildcards.threat,
                    "victim": wildcards.victim, "frame_ms": config.get("attack_eval", {}).get("frame_ms", 20)})


def timing_variant() -> str:
    """The STAA-Net variant that is timed: 'full' if declared, else the first variant."""
    variants = list(config["generator"]["variants"])
    return "full" if "full" in variants else variants[0]


def timing_params(wildcards) -> str:
    return as_json({"dataset": wildcards.dataset, "threat": wildcards.threat, "variant": timing_variant(),
                    "methods": baseline_methods(), "full_methods": full_budget_methods(), "seed": SEED,
                    **config.get("timing", {})})


def report_params(wildcards) -> str:
    return as_json({"style": config.get("report", {}).get("style", {}),
                    "config_name": config.get("name", "config"), "config_sha256": settings_hash(config),
                    "victims_order": list(config["victims"]),
                    "datasets_info": {ds: {"reader": ds_cfg(ds)["reader"], "clip_seconds": ds_cfg(ds).get("clip_seconds"),
                                           "sample_rate": ds_cfg(ds).get("sample_rate", 16000)}
                                      for ds in run_datasets()}})


def threats_of(dataset: str) -> list[str]:
    if "generator" not in config:
        return []
    return [t for t in config["generator"]["threats"] if t in victims_of(dataset)]


# ---- targets -------------------------------------------------------------------------------------


def data_targets(dataset: str) -> list[str]:
    d = f"{RESULTS}/data/{dataset}"
    return [f"{d}/{s}.{ext}" for s in ("train", "dev", "test") for ext in ("npy", "csv")] + [f"{d}/card.md"]


def victim_targets(dataset: str) -> list[str]:
    return [f"{RESULTS}/victims/{dataset}/{v}/metrics.json" for v in victims_of(dataset)]


def staa_attack_targets(dataset: str) -> list[str]:
    return [f"{RESULTS}/attacks/{dataset}/staa/{t}/{v}/on_{victim}/metrics.json"
            for t, v in generators_of(dataset) for victim in victims_of(dataset)]


def baseline_targets(dataset: str) -> list[str]:
    if not baselines_enabled(dataset):
        return []
    return [f"{RESULTS}/attacks/{dataset}/{m}/{t}/on_{v}/metrics.json"
            for m in baseline_methods() for t in threats_of(dataset) for v in victims_of(dataset)]


def timing_targets(dataset: str) -> list[str]:
    if not baselines_enabled(dataset):
        return []
    return [f"{RESULTS}/timing/{dataset}/{t}.csv" for t in threats_of(dataset)]


def report_inputs(wildcards) -> dict:
    dss = run_datasets()
    return {
        "victims": [m for ds in dss for m in victim_targets(ds)],
        "victim_logs": [f"{RESULTS}/victims/{ds}/{v}/train_log.csv" for ds in dss for v in victims_of(ds)],
        "generator_logs": [f"{RESULTS}/generators/{ds}/{t}/{v}/train_log.csv" for ds in dss for t, v in generators_of(ds)],
        "attacks": [m for ds in dss for m in staa_attack_targets(ds) + baseline_targets(ds)],
        # read beside each metrics.json by the summary's paired tests
        "per_utterance": [m.replace("metrics.json", "per_utterance.csv")
                          for ds in dss for m in staa_attack_targets(ds) + baseline_targets(ds)],
        "timing": [t for ds in dss for t in timing_targets(ds)],
        "examples": [f"{RESULTS}/attacks/{ds}/staa/{t}/{timing_variant()}/on_{t}/metrics.json"
                     for ds in dss for t in threats_of(ds)] if "generator" in config else [],
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
