"""Loaders that read pipeline results into tidy, validated DataFrames.

Every loader takes an explicit list of files (the pipeline never globs a results folder). A
missing file, unreadable content, a missing required key/column or a value of the wrong type
raises :class:`staa.errors.DataError` naming the file and what was expected.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from staa import utils
from staa.errors import DataError
from staa.metrics_format import check_attack_metrics
from staa.report.flags import is_collapsed

PathLike = str | Path

VICTIM_KEYS: dict[str, type | tuple[type, ...]] = {
    "dataset": str,
    "victim": str,
    "family": str,
    "wa": (int, float),
    "ua": (int, float),
    "per_class_recall": dict,
    "confusion": list,
    "classes": list,
    "n_test": int,
    "n_params": int,
    "epochs": int,
}

ATTACK_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "dataset": str,
    "attack": str,
    "method_family": str,
    "threat": str,
    "victim": str,
    "white_box": bool,
    "asr": (int, float),
    "success_vs_truth": (int, float),
    "seconds_per_utterance": (int, float),
    "n_utterances": int,
    "n_success": int,
}
# present but allowed to be null (averages over successful examples: null when none succeeded)
ATTACK_NULLABLE: tuple[str, ...] = ("snr_peak_db", "snr_energy_db", "l0", "l0_percent")
# may be absent or null
ATTACK_OPTIONAL: tuple[str, ...] = (
    "delta_cosine",  # input dependence (newer records)
    "mask_overlap",
    "asr_ci_low",
    "asr_ci_high",
    "l0_percent_ci_low",
    "l0_percent_ci_high",
    "snr_peak_db_ci_low",
    "snr_peak_db_ci_high",
    "snr_energy_db_ci_low",
    "snr_energy_db_ci_high",
    "si_sdr_db_ci_low",
    "si_sdr_db_ci_high",
    "l0_all_percent",
    "l0_all_percent_ci_low",
    "l0_all_percent_ci_high",
    "si_sdr_db",
    "stoi",
    "l0_frames_percent",
    "seconds_per_utterance_median",
    "throughput_utt_per_s",
)
SUBSET_KEYS: tuple[str, ...] = (
    "asr",
    "success_vs_truth",
    "snr_peak_db",
    "snr_energy_db",
    "l0",
    "l0_percent",
    "n_utterances",
)

TIMING_COLUMNS: tuple[str, ...] = (
    "dataset",
    "method",
    "method_family",
    "threat",
    "seconds_per_utterance",
    "seconds_p25",
    "seconds_p75",
    "n",
    "speedup_vs_staa",
    "device",
    "threads",
    "batch_size",
)
VICTIM_LOG_COLUMNS: tuple[str, ...] = (
    "epoch",
    "train_loss",
    "train_acc",
    "dev_wa",
    "dev_ua",
    "lr",
    "seconds",
)
GENERATOR_LOG_COLUMNS: tuple[str, ...] = (
    "epoch",
    "loss",
    "adv",
    "mag",
    "qua",
    "spa",
    "fooling_rate",
    "mask_density",
    "eps",
    "lr",
    "seconds",
)
EXAMPLE_ARRAYS: tuple[str, ...] = ("x", "x_adv", "mask")
EXAMPLE_SCALARS: tuple[str, ...] = ("sample_rate", "label", "clean_pred", "adv_pred", "utt_id")

STAA = "staa"


# --------------------------------------------------------------------------------------------
# helpers
def read_json(path: PathLike) -> dict[str, Any]:
    """Read a metrics JSON object from `path`; DataError if missing, unparsable or not an object."""
    return utils.read_json(path, "metrics JSON file")


def _check_type(path: Path, key: str, value: Any, expected: type | tuple[type, ...], nullable: bool = False) -> None:
    if value is None:
        if nullable:
            return
        raise DataError(f"{path}: key '{key}' is null, expected {_type_name(expected)}")
    exp = expected if isinstance(expected, tuple) else (expected,)
    # bool is an int subclass: do not accept it for numbers, nor ints for bool
    if bool in exp:
        ok = isinstance(value, bool)
    elif exp == (int,):
        ok = not isinstance(value, bool) and (
            isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        )
    else:
        ok = isinstance(value, exp) and not isinstance(value, bool)
    if not ok:
        raise DataError(f"{path}: key '{key}' has type {type(value).__name__}, expected {_type_name(expected)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise DataError(f"{path}: key '{key}' is {value}, expected a finite number")


def _type_name(expected: type | tuple[type, ...]) -> str:
    exp = expected if isinstance(expected, tuple) else (expected,)
    names = {"int": "number", "float": "number", "str": "string", "bool": "boolean", "dict": "object", "list": "list"}
    return " or ".join(sorted({names.get(t.__name__, t.__name__) for t in exp}))


def _require(path: Path, obj: Mapping[str, Any], spec: Mapping[str, Any]) -> None:
    for key, typ in spec.items():
        if key not in obj:
            raise DataError(f"{path}: missing required key '{key}'")
        _check_type(path, key, obj[key], typ)


def _fraction(path: Path, key: str, value: Any) -> None:
    if value is not None and not (0.0 <= float(value) <= 1.0):
        raise DataError(f"{path}: key '{key}' = {value}, expected a fraction in [0, 1]")


def _unique_paths(paths: Iterable[PathLike]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p not in out:
            out.append(p)
    return out


def _seed(path: Path, obj: Mapping[str, Any]) -> int:
    """The run's seed (files written before seeds were recorded count as seed 0)."""
    seed = obj.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise DataError(f"{path}: key 'seed' = {seed!r}, expected a non-negative integer")
    return seed


def _float_or_nan(v: Any) -> float:
    return float("nan") if v is None else float(v)


# --------------------------------------------------------------------------------------------
# victims
def load_victim_metrics(paths: Sequence[PathLike]) -> pd.DataFrame:
    """One row per victim: dataset, victim, family, wa, ua, n_test, n_params, epochs, n_classes,
    classes, per_class_recall, confusion, path."""
    rows = []
    for path in _unique_paths(paths):
        obj = read_json(path)
        _require(path, obj, VICTIM_KEYS)
        for k in ("wa", "ua"):
            _fraction(path, k, obj[k])
        classes = obj["classes"]
        conf = np.asarray(obj["confusion"])
        if conf.shape != (len(classes), len(classes)):
            raise DataError(
                f"{path}: key 'confusion' has shape {conf.shape}, expected "
                f"({len(classes)}, {len(classes)}) to match 'classes'"
            )
        rows.append(
            {
                "dataset": obj["dataset"],
                "victim": obj["victim"],
                "family": obj["family"],
                "wa": float(obj["wa"]),
                "ua": float(obj["ua"]),
                "n_test": obj["n_test"],
                "n_params": obj["n_params"],
                "epochs": obj["epochs"],
                "n_classes": len(classes),
                "classes": list(classes),
                "per_class_recall": dict(obj["per_class_recall"]),
                "confusion": conf.tolist(),
                "seed": _seed(path, obj),
                "path": str(path),
            }
        )
    df = pd.DataFrame(
        rows,
        columns=[
            "dataset",
            "victim",
            "family",
            "wa",
            "ua",
            "n_test",
            "n_params",
            "epochs",
            "n_classes",
            "classes",
            "per_class_recall",
            "confusion",
            "seed",
            "path",
        ],
    )
    _no_duplicates(df, ["dataset", "victim", "seed"], "victim metrics")
    return df


# --------------------------------------------------------------------------------------------
# attacks
def _per_class(path: PathLike, obj: Any) -> dict[str, dict[str, float]] | None:
    """The {class: {n, asr, l0_all_percent}} breakdown; None when it is empty (no utterances)."""
    if obj is None or obj == {}:
        return None
    if not isinstance(obj, dict):
        raise DataError(f"{path}: key 'per_class' must be an object mapping class -> metrics, or absent")
    out = {}
    for cls, d in obj.items():
        if not isinstance(d, dict) or not {"n", "asr", "l0_all_percent"} <= set(d):
            raise DataError(f"{path}: per_class.{cls} must have keys n, asr, l0_all_percent")
        out[str(cls)] = {k: float(d[k]) for k in ("n", "asr", "l0_all_percent")}
        snr = d.get("snr_peak_db")  # per-class peak SNR over the class's fooled utterances (newer records)
        out[str(cls)]["snr_peak_db"] = float(snr) if isinstance(snr, (int, float)) else float("nan")
    return out


def load_attack_metrics(paths: Sequence[PathLike]) -> pd.DataFrame:
    """One row per (dataset, attack, variant, threat, victim) with all metric keys, plus
    ``subset_*`` columns flattened from ``subset_metrics`` (NaN when absent), ``collapsed``
    (:func:`staa.report.flags.is_collapsed`) and ``path``. Each file
    must be a record of the current format (staa.metrics_format): an older or newer one is named,
    with the rule that rewrites it.

    ``variant`` is the STAA variant, or "" for baselines.
    """
    rows = []
    for path in _unique_paths(paths):
        obj = read_json(path)
        check_attack_metrics(obj, path)  # format_version and the schema (workflow/schemas/metrics.schema.yaml)
        _require(path, obj, ATTACK_REQUIRED)
        for k in ATTACK_NULLABLE:
            if k not in obj:
                raise DataError(f"{path}: missing required key '{k}' (may be null)")
            _check_type(path, k, obj[k], (int, float), nullable=True)
        for k in ATTACK_OPTIONAL:
            _check_type(path, k, obj.get(k), (int, float), nullable=True)
        for k in ("asr", "success_vs_truth"):
            _fraction(path, k, obj[k])
        is_staa = obj["method_family"] == STAA or obj["attack"] == STAA
        variant = obj.get("variant")
        if is_staa:
            if "variant" not in obj:
                raise DataError(f"{path}: missing required key 'variant' (STAA run)")
            _check_type(path, "variant", variant, str)
        elif variant is not None:
            _check_type(path, "variant", variant, str)
        wb_expected = obj["victim"] == obj["threat"]
        if obj["white_box"] != wb_expected:
            raise DataError(
                f"{path}: key 'white_box' is {obj['white_box']} but victim "
                f"'{obj['victim']}' {'==' if wb_expected else '!='} threat '{obj['threat']}'"
            )
        row: dict[str, Any] = {
            "dataset": obj["dataset"],
            "attack": obj["attack"],
            "method_family": obj["method_family"],
            "threat": obj["threat"],
            "variant": variant or "",
            "victim": obj["victim"],
            "white_box": obj["white_box"],
        }
        for k in ("asr", "success_vs_truth", "seconds_per_utterance"):
            row[k] = float(obj[k])
        for k in ATTACK_NULLABLE + ATTACK_OPTIONAL:
            row[k] = _float_or_nan(obj.get(k))
        row["seed"] = _seed(path, obj)
        row["n_utterances"] = int(obj["n_utterances"])
        row["n_success"] = int(obj["n_success"])
        subset = obj.get("subset")
        row["subset"] = subset if isinstance(subset, str) else "full"
        sub = obj.get("subset_metrics")
        if sub is not None and not isinstance(sub, dict):
            raise DataError(f"{path}: key 'subset_metrics' must be an object or null")
        row["has_subset_metrics"] = bool(sub)
        for k in SUBSET_KEYS:
            if sub:
                if k not in sub:
                    raise DataError(f"{path}: missing key 'subset_metrics.{k}'")
                _check_type(path, f"subset_metrics.{k}", sub[k], (int, float), nullable=k.startswith(("snr", "l0")))
            row[f"subset_{k}"] = _float_or_nan(sub.get(k)) if sub else float("nan")
        row["per_class"] = _per_class(path, obj.get("per_class"))
        row["collapsed"] = is_collapsed(obj)  # staa.report.flags: a generator whose mask perturbs nothing
        row["path"] = str(path)
        rows.append(row)
    cols = [
        "dataset",
        "attack",
        "method_family",
        "threat",
        "variant",
        "victim",
        "white_box",
        "asr",
        "success_vs_truth",
        "seconds_per_utterance",
        *ATTACK_NULLABLE,
        *ATTACK_OPTIONAL,
        "seed",
        "n_utterances",
        "n_success",
        "subset",
        "has_subset_metrics",
        *[f"subset_{k}" for k in SUBSET_KEYS],
        "per_class",
        "collapsed",
        "path",
    ]
    df = pd.DataFrame(rows, columns=cols)
    df["white_box"] = df["white_box"].astype(bool)
    df["collapsed"] = df["collapsed"].astype(bool)
    df["has_subset_metrics"] = df["has_subset_metrics"].astype(bool)
    _no_duplicates(df, ["dataset", "attack", "variant", "threat", "victim", "seed"], "attack metrics")
    return df


# --------------------------------------------------------------------------------------------
# CSV inputs
def _read_csv(path: Path, columns: Sequence[str], what: str) -> pd.DataFrame:
    return utils.read_table(path, columns, what)


def _numeric(path: Path, df: pd.DataFrame, cols: Sequence[str]) -> None:
    for c in cols:
        if not pd.api.types.is_numeric_dtype(df[c]):
            conv = pd.to_numeric(df[c], errors="coerce")
            bad = df[c][conv.isna() & df[c].notna()]
            if len(bad):
                raise DataError(f"{path}: column '{c}' has non-numeric value {bad.iloc[0]!r}")
            df[c] = conv


def load_timing(paths: Sequence[PathLike]) -> pd.DataFrame:
    """Concatenate timing CSVs (one row per method and batch size) with a ``path`` column."""
    frames = []
    for path in _unique_paths(paths):
        df = _read_csv(path, TIMING_COLUMNS, "timing")
        _numeric(
            path,
            df,
            ["seconds_per_utterance", "seconds_p25", "seconds_p75", "n", "speedup_vs_staa", "threads", "batch_size"],
        )
        df["path"] = str(path)
        frames.append(df)
    if not frames:
        return pd.DataFrame(columns=[*TIMING_COLUMNS, "path"])
    return pd.concat(frames, ignore_index=True)


def _parts(path: Path, n: int) -> tuple[list[str], int]:
    """The n folder names above the file's `seed{N}` folder, outermost first (e.g. dataset, victim),
    and N (0 for a file not in a seed folder)."""
    parents = list(path.absolute().parents)
    seed = 0
    if parents and re.fullmatch(r"seed[0-9]+", parents[0].name):
        seed = int(parents[0].name[4:])
        parents = parents[1:]
    names = [p.name for p in parents[:n]]
    names += [""] * (n - len(names))
    return names[::-1], seed


def load_victim_logs(paths: Sequence[PathLike]) -> pd.DataFrame:
    """Victim training logs; dataset and victim come from ``{dataset}/{victim}/train_log.csv``."""
    frames = []
    for path in _unique_paths(paths):
        df = _read_csv(path, VICTIM_LOG_COLUMNS, "victim training log")
        _numeric(path, df, VICTIM_LOG_COLUMNS)
        (dataset, victim), seed = _parts(path, 2)
        df.insert(0, "seed", seed)
        df.insert(0, "victim", victim)
        df.insert(0, "dataset", dataset)
        frames.append(df)
    if not frames:
        return pd.DataFrame(columns=["dataset", "victim", "seed", *VICTIM_LOG_COLUMNS])
    return pd.concat(frames, ignore_index=True)


def load_generator_logs(paths: Sequence[PathLike]) -> pd.DataFrame:
    """Generator training logs; dataset, threat and variant come from
    ``{dataset}/{threat}/{variant}/train_log.csv``."""
    frames = []
    for path in _unique_paths(paths):
        df = _read_csv(path, GENERATOR_LOG_COLUMNS, "generator training log")
        _numeric(path, df, GENERATOR_LOG_COLUMNS)
        (dataset, threat, variant), seed = _parts(path, 3)
        df.insert(0, "seed", seed)
        df.insert(0, "variant", variant)
        df.insert(0, "threat", threat)
        df.insert(0, "dataset", dataset)
        frames.append(df)
    if not frames:
        return pd.DataFrame(columns=["dataset", "threat", "variant", "seed", *GENERATOR_LOG_COLUMNS])
    return pd.concat(frames, ignore_index=True)


def load_example(path: PathLike) -> dict[str, Any]:
    """Read one example ``.npz``: float arrays x, x_adv, mask (1-D) and scalars sample_rate
    (int), label, clean_pred, adv_pred, utt_id (str)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found (expected an example .npz)")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read .npz ({exc})") from exc
    for k in EXAMPLE_ARRAYS + EXAMPLE_SCALARS:
        if k not in data:
            raise DataError(f"{path}: missing required array '{k}'")
    out: dict[str, Any] = {}
    for k in EXAMPLE_ARRAYS:
        a = np.asarray(data[k], dtype=np.float64).squeeze()
        if a.ndim != 1 or a.size == 0:
            raise DataError(f"{path}: array '{k}' has shape {data[k].shape}, expected 1-D")
        out[k] = a
    if out["x"].shape != out["x_adv"].shape:
        raise DataError(f"{path}: 'x' {out['x'].shape} and 'x_adv' {out['x_adv'].shape} differ in shape")
    try:
        out["sample_rate"] = int(np.asarray(data["sample_rate"]).item())
    except (TypeError, ValueError) as exc:
        raise DataError(f"{path}: 'sample_rate' must be an integer scalar") from exc
    if out["sample_rate"] <= 0:
        raise DataError(f"{path}: 'sample_rate' = {out['sample_rate']}, expected > 0")
    for k in ("label", "clean_pred", "adv_pred", "utt_id"):
        out[k] = str(np.asarray(data[k]).item())
    out["path"] = str(path)
    return out


def attack_label(attack: str, variant: str | None, reference: str | None = None) -> str:
    """Display name of a run: baselines by entry name; STAA as ``staa`` for the reference
    variant (when given) and ``staa[variant]`` otherwise."""
    if not variant:
        return attack
    if reference is not None and variant == reference:
        return attack
    return f"{attack}[{variant}]"


def _no_duplicates(df: pd.DataFrame, keys: list[str], what: str) -> None:
    if df.empty:
        return
    dup = df[df.duplicated(keys, keep=False)]
    if len(dup):
        files = ", ".join(dup["path"].tolist()[:4])
        key = dict(zip(keys, dup.iloc[0][keys].tolist()))
        raise DataError(f"duplicate {what} for {key} in files: {files}")
