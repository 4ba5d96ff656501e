"""One row per run across seeds: the mean over seeds and the 95 % interval that goes with it.

Within one seed a metric's interval is the percentile bootstrap over utterances that the attack
step stored in metrics.json; across several seeds it is the t-interval of the mean over the seed
means (`mean ± t(0.975, n-1) · sd / sqrt(n)`), which is what the reproducibility checklists ask for,
clipped to the metric's range (a rate to [0, 1], a share to [0, 100] %).
The `interval` column says which one a row carries, and tables and captions print it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

# metrics that carry an interval (`{key}_ci_low`, `{key}_ci_high`)
INTERVAL_KEYS: tuple[str, ...] = ("asr", "l0_percent", "l0_all_percent", "snr_peak_db", "snr_energy_db", "si_sdr_db")
RUN_KEYS: tuple[str, ...] = ("dataset", "attack", "method_family", "threat", "variant", "victim", "white_box", "subset")
BOOTSTRAP = "bootstrap over utterances"


def t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high) of the mean of `values` (NaN ignored) with Student's t; NaN bounds below 2 values."""
    from scipy import stats

    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return math.nan, math.nan, math.nan
    m = float(x.mean())
    if x.size < 2:
        return m, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return m, m - half, m + half


# a rate or share cannot leave its range: a t-interval over a few seeds is clipped to it
RANGES: dict[str, tuple[float, float]] = {
    "asr": (0.0, 1.0),
    "subset_asr": (0.0, 1.0),
    "transfer_asr_mean": (0.0, 1.0),
    "l0_percent": (0.0, 100.0),
    "l0_all_percent": (0.0, 100.0),
    "subset_l0_percent": (0.0, 100.0),
}


def clipped(key: str, low: float, high: float) -> tuple[float, float]:
    lo, hi = RANGES.get(key, (-math.inf, math.inf))
    return (
        min(max(low, lo), hi) if math.isfinite(low) else low,
        max(min(high, hi), lo) if math.isfinite(high) else high,
    )


def interval_label(n_seeds: int) -> str:
    return BOOTSTRAP if n_seeds < 2 else f"t over {n_seeds} seeds"


def over_seeds(attacks: pd.DataFrame) -> pd.DataFrame:
    """Collapse per-seed attack rows (from `load_attack_metrics`) to one row per run.

    Numeric metrics become the mean over seeds; each key of INTERVAL_KEYS gets its t-interval over
    seeds when there are two or more, and keeps its bootstrap interval when there is one. A seed whose
    generator collapsed (staa.report.flags) is never averaged with the seeds that learned: the row is
    the mean over the others, and only where every seed collapsed does it describe the collapsed
    seeds (`collapsed` True). Adds `n_seeds` (the seeds the row's values come from), `n_collapsed`,
    `seeds_note` ('2/3 seeds; 1 collapsed'), `seeds` and `collapsed_seeds` (comma-separated),
    `interval` and `victim_at_chance` (any of the row's seeds was scored on a victim at chance, where
    the rows were marked by flags.mark_victims); `path` stays the first seed's file and `paths` lists
    the row's files."""
    from staa.report.flags import collapsed_column, seeds_note, victims_at_chance

    if attacks.empty:
        out = attacks.copy()
        for c, dtype in (
            ("n_seeds", int),
            ("n_collapsed", int),
            ("seeds_note", str),
            ("seeds", str),
            ("collapsed_seeds", str),
            ("interval", str),
            ("paths", object),
            ("collapsed", bool),
            ("victim_at_chance", bool),
        ):
            out[c] = pd.Series(dtype=dtype)
        return out
    df = attacks.sort_values("seed", kind="stable") if "seed" in attacks else attacks.assign(seed=0)
    df = df.assign(collapsed=collapsed_column(df), victim_at_chance=victims_at_chance(df))
    numeric = [
        c
        for c in df.columns
        if pd.api.types.is_numeric_dtype(df[c])
        and not pd.api.types.is_bool_dtype(df[c])
        and c not in ("seed",)
        and c not in RUN_KEYS
    ]
    rows = []
    for _, grp in df.groupby(list(RUN_KEYS), sort=False, dropna=False):
        live = grp[~grp["collapsed"]]
        g = live if len(live) else grp  # every seed collapsed: the row describes them
        n_collapsed = int(grp["collapsed"].sum())
        row = g.iloc[0].to_dict()
        n = len(g)
        for c in numeric:
            vals = g[c].to_numpy(dtype=float)
            row[c] = float(np.nanmean(vals)) if np.isfinite(vals).any() else math.nan
        if n >= 2:
            for k in (*INTERVAL_KEYS, "subset_asr", "subset_l0_percent", "subset_snr_peak_db"):
                if k in g:
                    _, low, high = t_interval(g[k])
                    row[f"{k}_ci_low"], row[f"{k}_ci_high"] = clipped(k, low, high)
            row["per_class"] = _mean_per_class(g["per_class"].tolist())
        for c in ("n_utterances", "n_success"):
            if c in row and np.isfinite(row[c]):
                row[c] = int(round(row[c]))
        collapsed = not len(live)
        row.update(
            n_seeds=n,
            n_collapsed=n_collapsed,
            seeds_note=seeds_note(n, n_collapsed, collapsed),
            seeds=",".join(str(int(s)) for s in g["seed"]),
            collapsed_seeds=",".join(str(int(s)) for s in grp.loc[grp["collapsed"], "seed"]),
            interval=interval_label(n),
            paths=list(g["path"]),
            collapsed=collapsed,
            victim_at_chance=bool(g["victim_at_chance"].any()),
        )
        rows.append(row)
    return pd.DataFrame(rows)


def _nanmean(values: list) -> float:
    """Mean over the seeds that have a value (a class no seed fooled has no SNR: NaN)."""
    a = np.asarray(values, dtype=float)
    return float(a[np.isfinite(a)].mean()) if np.isfinite(a).any() else math.nan


def _mean_per_class(items: list) -> dict | None:
    """Per-class breakdowns averaged over seeds (None if any seed lacks one)."""
    if not items or any(not isinstance(d, dict) for d in items):
        return None
    out: dict[str, dict[str, float]] = {}
    for cls in items[0]:
        vals = [d.get(cls) for d in items]
        if any(v is None for v in vals):
            continue
        out[cls] = {k: _nanmean([v.get(k, math.nan) for v in vals]) for k in vals[0]}
    return out


def victims_over_seeds(victims: pd.DataFrame) -> pd.DataFrame:
    """Victims trained once per seed (run.victim_seeds): WA/UA means with their t-interval.

    Each seed's chance test (staa.report.flags.chance_test) is kept: `at_chance` when any seed is at
    chance, `at_chance_seeds` naming those seeds, and `p_wa` / `p_ua` the largest over the seeds."""
    from staa.report.flags import add_chance_flags

    if len(victims) and "at_chance" not in victims:
        victims = add_chance_flags(victims)
    if victims.empty or "seed" not in victims or not victims.duplicated(["dataset", "victim"]).any():
        out = victims.copy()
        out["n_seeds"] = 1
        for k in ("wa", "ua"):
            out[f"{k}_ci_low"] = out[f"{k}_ci_high"] = math.nan
        if len(out):
            seeds = out["seed"] if "seed" in out else pd.Series(0, index=out.index)
            out["at_chance_seeds"] = [str(int(s)) if a else "" for s, a in zip(seeds, out["at_chance"])]
        else:
            out["at_chance"] = pd.Series(dtype=bool)
            out["p_wa"] = out["p_ua"] = pd.Series(dtype=float)
            out["at_chance_seeds"] = pd.Series(dtype=str)
        return out
    rows = []
    for _, g in victims.groupby(["dataset", "victim"], sort=False):
        row = g.iloc[0].to_dict()
        for k in ("wa", "ua"):
            row[k], row[f"{k}_ci_low"], row[f"{k}_ci_high"] = t_interval(g[k])
        row["n_seeds"] = len(g)
        row["n_correct"] = float(g["n_correct"].mean())
        row["p_wa"], row["p_ua"] = float(g["p_wa"].max()), float(g["p_ua"].max())
        row["at_chance"] = bool(g["at_chance"].any())
        row["at_chance_seeds"] = ",".join(str(int(s)) for s in g.loc[g["at_chance"], "seed"])
        rows.append(row)
    return pd.DataFrame(rows)


def fooled(metrics_path: str | Path) -> pd.Series | None:
    """Per-utterance fooled flags (0/1, indexed by utt_id) from the per_utterance.csv beside a
    metrics.json, or None when it is absent."""
    from staa.utils import read_table

    path = Path(metrics_path).with_name("per_utterance.csv")
    if not path.is_file():
        return None
    per = read_table(path, ("utt_id", "fooled"), "per-utterance results", dtype={"utt_id": str})
    return per.set_index("utt_id")["fooled"].astype(float)


def mean_transfer(raw: pd.DataFrame) -> pd.DataFrame:
    """Mean transfer ASR (over the victims other than the threat model) of every run, with its interval.

    Per seed, each utterance's fooled flags are averaged over the transfer victims; the interval is
    the bootstrap over utterances of that per-utterance mean (one seed; read from the
    per_utterance.csv beside each metrics.json) or the t-interval over the seed means (several).
    A seed whose generator collapsed is left out (staa.report.flags); where every seed collapsed the
    row describes them, with `collapsed` True.
    Columns: the run keys without victim/white_box, `transfer_asr_mean`, `_ci_low`, `_ci_high`,
    `n_transfer_victims`, `n_seeds`, `interval`, `collapsed`, `n_collapsed`, `transfer_victims_at_chance`
    (the transfer victims at chance in any seed used, comma-separated)."""
    from staa.report.flags import collapsed_column, victims_at_chance
    from staa.stats import bootstrap_ci

    keys = [k for k in RUN_KEYS if k not in ("victim", "white_box")]
    cols = [
        *keys,
        "transfer_asr_mean",
        "transfer_asr_mean_ci_low",
        "transfer_asr_mean_ci_high",
        "n_transfer_victims",
        "n_seeds",
        "interval",
        "collapsed",
        "n_collapsed",
        "transfer_victims_at_chance",
    ]
    tr = raw[~raw["white_box"]] if len(raw) else raw
    if tr.empty:
        return pd.DataFrame(columns=cols)
    tr = tr if "seed" in tr else tr.assign(seed=0)
    tr = tr.assign(collapsed=collapsed_column(tr), victim_at_chance=victims_at_chance(tr))
    rows = []
    for key, grp in tr.groupby(keys, sort=False, dropna=False):
        dead = set(grp.loc[grp["collapsed"], "seed"])  # a generator collapses for every victim
        live = grp[~grp["seed"].isin(dead)]
        g = live if len(live) else grp
        per_seed, per_utt = [], None
        for _, gs in g.groupby("seed", sort=True):
            per_seed.append(float(gs["asr"].mean()))
            flags = [fooled(p) for p in gs["path"]]
            if len(per_seed) == 1 and all(f is not None for f in flags):
                per_utt = pd.concat(flags, axis=1, join="inner").mean(axis=1).to_numpy()
        n = len(per_seed)
        if n >= 2:
            m, low, high = t_interval(per_seed)
            low, high = clipped("transfer_asr_mean", low, high)
        elif per_utt is not None and per_utt.size:
            m = per_seed[0]
            _, low, high = bootstrap_ci(per_utt)
        else:
            m, low, high = per_seed[0], math.nan, math.nan
        at_chance = ",".join(dict.fromkeys(g.loc[g["victim_at_chance"], "victim"]))
        rows.append(
            [
                *key,
                m,
                low,
                high,
                int(g["victim"].nunique()),
                n,
                interval_label(n),
                not len(live),
                len(dead),
                at_chance,
            ]
        )
    return pd.DataFrame(rows, columns=cols)
