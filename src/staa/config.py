"""Config validation beyond the JSON schema: cross-references and ranges (torch-free, fast).

The schema (workflow/schemas/config.schema.yaml) rejects unknown keys and wrong types; these
checks catch what a schema cannot express (a threat model that is not a victim, a frame longer
than the clip, a variant naming an unknown loss) before any job starts.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from staa.errors import ConfigError

LOSS_TERMS = ("mag", "qua", "spa")
# Bumped whenever the procedural corpus' audio changes, so cached corpora are regenerated.
CORPUS_VERSION = 3
SYNTH_EMOTIONS = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
BASELINE_METHODS = ("pgd", "sparsefool", "onepixel")
_POSITIVE_SETTINGS = ("eps", "alpha", "steps", "lam", "deepfool_steps", "maxiter", "popsize", "k",
                      "max_population", "eval_batch")


def schema_errors(config: dict[str, Any], schema_path: str | Path) -> list[str]:
    """All JSON-schema violations as readable lines; an unknown key is named with its path."""
    import jsonschema
    import yaml

    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    lines = []
    for err in sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path))):
        where = ".".join(str(p) for p in err.absolute_path) or "<top level>"
        if err.validator == "additionalProperties":
            allowed = sorted(err.schema.get("properties", {}))
            extra = sorted(set(err.instance) - set(allowed)) if isinstance(err.instance, dict) else []
            lines.append(f"unknown key(s) {extra} in config section '{where}'; allowed keys: {allowed}")
        else:
            lines.append(f"config key '{where}': {err.message}")
    return lines


def validate_config(config: dict[str, Any], schema_path: str | Path) -> None:
    """Schema + semantic checks; raises ConfigError listing every problem found."""
    errors = schema_errors(config, schema_path)
    if not errors:
        errors = semantic_errors(config)
    if errors:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(errors))


def dataset_victims(config: dict[str, Any], dataset: str) -> list[str]:
    return list(config["datasets"][dataset].get("victims") or list(config["victims"]))


def clip_length(ds_cfg: dict[str, Any]) -> int:
    return int(round(float(ds_cfg.get("clip_seconds", 1.0)) * int(ds_cfg.get("sample_rate", 16000))))


def variant_threats(config: dict[str, Any], variant: str) -> list[str]:
    gen = config["generator"]
    return list(gen["variants"][variant].get("threats") or gen["threats"])


def semantic_errors(config: dict[str, Any]) -> list[str]:
    errs: list[str] = []
    datasets, victims = config["datasets"], config["victims"]
    for ds in config["run"]["datasets"]:
        if ds not in datasets:
            errs.append(f"run.datasets names {ds!r}, which is not declared under datasets ({sorted(datasets)})")
    min_len = None
    for name, ds in datasets.items():
        for v in ds.get("victims") or []:
            if v not in victims:
                errs.append(f"datasets.{name}.victims names {v!r}, which is not declared under victims ({sorted(victims)})")
        if ds["reader"] == "synthetic":
            emos = (ds.get("synthetic") or {}).get("emotions", [])
            bad = [e for e in emos if e not in SYNTH_EMOTIONS]
            if bad:
                errs.append(f"datasets.{name}.synthetic.emotions: unknown {bad}; expected some of {list(SYNTH_EMOTIONS)}")
        split = ds.get("split") or {}
        if split.get("dev_fraction", 0.2) + split.get("test_fraction", 0.2) >= 1:
            errs.append(f"datasets.{name}.split: dev_fraction + test_fraction must be < 1")
        length = clip_length(ds)
        min_len = length if min_len is None else min(min_len, length)
    gen = config.get("generator")
    if gen:
        for t in gen["threats"]:
            if t not in victims:
                errs.append(f"generator.threats names {t!r}, which is not a trained victim ({sorted(victims)})")
            for ds in config["run"]["datasets"]:
                if ds in datasets and t in victims and t not in dataset_victims(config, ds):
                    errs.append(f"generator.threats names {t!r}, which is not among datasets.{ds}.victims")
        train = gen["train"]
        _check_eps(errs, "generator.train.eps", train.get("eps", 0.03))
        if train.get("flex_eps"):
            _check_eps(errs, "generator.train.flex_eps.eps", train["flex_eps"]["eps"])
            _check_eps(errs, "generator.train.flex_eps.then", train["flex_eps"]["then"])
        _check_frame(errs, "generator.train.frame_length", train.get("frame_length", 1), min_len)
        reduction = train.get("reduction", "mean")
        for vname, var in gen["variants"].items():
            for term, w in (var.get("losses") or {}).items():
                if term not in LOSS_TERMS:
                    errs.append(f"generator.variants.{vname}.losses: unknown loss {term!r}; expected some of {list(LOSS_TERMS)}")
                elif w < 0:
                    errs.append(f"generator.variants.{vname}.losses.{term}: weight must be >= 0, got {w}")
            for t in var.get("threats") or []:
                if t not in gen["threats"]:
                    errs.append(f"generator.variants.{vname}.threats names {t!r}, not in generator.threats {gen['threats']}")
            if "eps" in var:
                _check_eps(errs, f"generator.variants.{vname}.eps", var["eps"])
            if (var.get("sparsity_target", train.get("sparsity_target")) is not None) and reduction != "mean":
                errs.append(f"generator.variants.{vname}: sparsity_target needs generator.train.reduction 'mean' "
                            f"(a density budget is a fraction of the clip), got {reduction!r}")
            if "frame_length" in var:
                _check_frame(errs, f"generator.variants.{vname}.frame_length", var["frame_length"], min_len)
    for bname, b in ((config.get("baselines") or {}).get("methods") or {}).items():
        if b["method"] not in BASELINE_METHODS:
            errs.append(f"baselines.methods.{bname}.method: unknown method {b['method']!r}; expected one of {list(BASELINE_METHODS)}")
        for key in _POSITIVE_SETTINGS:
            if key in b and (not isinstance(b[key], (int, float)) or b[key] <= 0):
                errs.append(f"baselines.methods.{bname}.{key}: must be a positive number, got {b[key]!r}")
        if b.get("method") == "onepixel" and min_len is not None and isinstance(b.get("k"), int) and b["k"] > min_len:
            errs.append(f"baselines.methods.{bname}.k = {b['k']} is larger than the clip length ({min_len} samples)")
    return errs


def _check_eps(errs: list[str], key: str, eps: Any) -> None:
    if not isinstance(eps, (int, float)) or eps <= 0:
        errs.append(f"{key}: must be > 0, got {eps!r}")


def _check_frame(errs: list[str], key: str, frame: Any, length: int | None) -> None:
    if not isinstance(frame, int) or frame < 1:
        errs.append(f"{key}: must be an integer >= 1, got {frame!r}")
    elif length is not None and frame > length:
        errs.append(f"{key} = {frame} is larger than the clip length ({length} samples)")
