"""Result tables (victims, white-box, transfer, timing, ablation) as CSV, Markdown and LaTeX.

CSV files carry the input values unchanged; only the Markdown/LaTeX renderings are rounded.
Every table is always written (header only when there is no data) so the pipeline can declare
its outputs up front.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from staa.report.collect import (
    STAA,
    load_attack_metrics,
    load_timing,
    load_victim_metrics,
)
from staa.report.flags import (
    CHANCE_NOTE,
    CHANCE_TEST,
    COLLAPSED_TEXT,
    DAGGER,
    add_chance_flags,
    mark_victims,
)
from staa.report.seeds import interval_label, mean_transfer, over_seeds, victims_over_seeds
from staa.utils import write_csv, write_text

PathLike = str | Path

TABLE_NAMES: tuple[str, ...] = ("victims", "whitebox", "transfer", "timing", "ablation", "per_class")
# written by the report rule (workflow/rules/common.smk lists the same names); the victims table
# has its own rule so that it is ready before any attack has run
REPORT_TABLES: tuple[str, ...] = tuple(n for n in TABLE_NAMES if n != "victims")
FAMILY_ORDER: tuple[str, ...] = ("staa", "pgd", "sparsefool", "onepixel")
SUBSET_SUFFIX = " (subset)"


@dataclass
class Table:
    """A table: raw values, an optional same-shape boolean mask of cells to embolden, a caption
    and a note printed under the Markdown rendering."""

    name: str
    df: pd.DataFrame
    caption: str
    note: str = ""
    bold: pd.DataFrame | None = field(default=None)
    # value column -> (low, high) columns: rendered as one cell, "v ± h" for a t-interval over
    # seeds (row's `interval` starts with "t over") and "v [low, high]" for a bootstrap interval
    intervals: dict[str, tuple[str, str]] = field(default_factory=dict)
    # same-shape mask of cells marked with a dagger (a figure measured on a victim at chance)
    dagger: pd.DataFrame | None = field(default=None)
    # (row position, column) -> the text Markdown/LaTeX print instead of the value (a collapsed run)
    text: dict[tuple[int, str], str] = field(default_factory=dict)
    # printed under the Markdown table and under the LaTeX tabular (only when a row needs them)
    footnotes: list[str] = field(default_factory=list)


def _ci(*keys: str) -> dict[str, tuple[str, str]]:
    return {k: (f"{k}_ci_low", f"{k}_ci_high") for k in keys}


# --------------------------------------------------------------------------------------------
# ordering helpers
def family_rank(family: str) -> int:
    """Position of a method family in the fixed reporting order (unknown families last)."""
    return FAMILY_ORDER.index(family) if family in FAMILY_ORDER else len(FAMILY_ORDER)


def _variant_rank(variant: str, reference: str) -> tuple[int, str]:
    return (0 if variant == reference else 1, variant)


def _sort_runs(df: pd.DataFrame, reference: str, attack_col: str = "attack") -> pd.DataFrame:
    if df.empty:
        return df
    key = df.apply(
        lambda r: (
            r["dataset"],
            family_rank(r.get("method_family", "")),
            r[attack_col],
            _variant_rank(r.get("variant", "") or "", reference),
            r.get("threat", ""),
        ),
        axis=1,
    )
    return df.loc[sorted(df.index, key=lambda i: key[i])].reset_index(drop=True)


def victim_order(victims: pd.DataFrame, attacks: pd.DataFrame) -> list[str]:
    """Victim names in the order of the victim metrics list, then any others sorted."""
    order: list[str] = list(dict.fromkeys(victims["victim"].tolist())) if len(victims) else []
    extra = sorted(set(attacks["victim"]) - set(order)) if len(attacks) else []
    return order + extra


# --------------------------------------------------------------------------------------------
# the report flags (staa.report.flags) on a built table
COLLAPSE_NOTE = (
    f"{COLLAPSED_TEXT}: a STAA-Net generator whose hard mask perturbs no sample on any test utterance "
    "(no attack; its figures are not shown). A run some of whose seeds collapsed is the mean over the "
    "others (column n_seeds: '2/3 seeds; 1 collapsed')."
)


def _bool(col: pd.Series) -> pd.Series:
    """A flag column as booleans (a missing value is False)."""
    return col.where(col.notna(), False).astype(bool)


def _true(v: Any) -> bool:
    """A flag's value as a boolean (missing: False)."""
    return bool(v) if isinstance(v, (bool, np.bool_)) else False


def _flag(
    table: Table,
    shown: Sequence[str] = (),
    blank: Sequence[str] = (),
    dagger: Sequence[str] = (),
    chance: str = "victim_at_chance",
) -> Table:
    """Mark `table`'s rows in place: a collapsed run (column `collapsed`) prints COLLAPSED_TEXT in
    the `shown` columns and nothing in the `blank` ones; a run some of whose seeds collapsed says so
    in `n_seeds`; a row scored on a victim at chance (column `chance`) gets a dagger in the `dagger`
    columns. The footnotes say what each mark means."""
    df = table.df
    if df.empty:
        return table
    cols = list(df.columns)
    if "collapsed" in df:
        n_collapsed = df["n_collapsed"] if "n_collapsed" in df else pd.Series(0, index=df.index)
        n_seeds = df["n_seeds"] if "n_seeds" in df else pd.Series(1, index=df.index)
        for i, (coll, n_c, n_s) in enumerate(zip(_bool(df["collapsed"]), n_collapsed, n_seeds)):
            if coll:
                table.text.update({(i, c): COLLAPSED_TEXT for c in shown if c in cols})
                table.text.update({(i, c): "" for c in blank if c in cols})
            elif pd.notna(n_c) and int(n_c) > 0:
                table.text[(i, "n_seeds")] = f"{int(n_s)}/{int(n_s) + int(n_c)} seeds; {int(n_c)} collapsed"
        if _bool(df["collapsed"]).any() or (pd.to_numeric(n_collapsed, errors="coerce").fillna(0) > 0).any():
            table.footnotes.append(COLLAPSE_NOTE)
    if chance in df and _bool(df[chance]).any():
        mask = table.dagger if table.dagger is not None else pd.DataFrame(False, index=df.index, columns=df.columns)
        for i, flagged in enumerate(_bool(df[chance])):
            if flagged:
                for c in dagger:
                    if c in cols:
                        mask.iloc[i, cols.index(c)] = True
        table.dagger = mask
        table.footnotes.append(CHANCE_NOTE)
    return table


# --------------------------------------------------------------------------------------------
# table builders (pure: DataFrames in, Table out)
def victims_table(victims: pd.DataFrame) -> Table:
    victims = victims_over_seeds(victims)
    if victims.empty:
        for c in ("n_correct", "p_wa", "p_ua", "at_chance", "at_chance_seeds"):
            if c not in victims:
                victims[c] = pd.Series(dtype=object)
    cols = [
        "dataset",
        "victim",
        "family",
        "wa",
        "wa_ci_low",
        "wa_ci_high",
        "ua",
        "ua_ci_low",
        "ua_ci_high",
        "n_test",
        "n_params",
        "epochs",
        "n_seeds",
        "n_correct",
        "p_wa",
        "p_ua",
        "at_chance",
        "at_chance_seeds",
    ]
    df = victims[cols].sort_values(["dataset"], kind="stable").reset_index(drop=True)
    df["interval"] = ["" if n < 2 else interval_label(n) for n in df["n_seeds"]]
    table = Table(
        "victims",
        df,
        "Clean accuracy of the victim models on the test split "
        "(WA: weighted accuracy, UA: unweighted accuracy, fractions 0-1; with victims trained once "
        "per seed, the mean ± the 95 % t-interval over seeds). n_correct: correct test predictions; "
        f"p_wa, p_ua: the chance test ({CHANCE_TEST}; the largest p over seeds); at_chance: flagged, "
        "in the seeds at_chance_seeds.",
        intervals=_ci("wa", "ua"),
    )
    if _bool(df["at_chance"]).any():
        table.dagger = pd.DataFrame(False, index=df.index, columns=df.columns)
        table.dagger.loc[_bool(df["at_chance"]), ["wa", "ua"]] = True
        table.footnotes.append(
            f"{DAGGER} not significantly above chance ({CHANCE_TEST}): attacks on this victim are marked "
            f"{DAGGER} in every table."
        )
    return table


WHITEBOX_COLS = [
    "dataset",
    "threat",
    "attack",
    "variant",
    "method_family",
    "evaluated_on",
    "n_utterances",
    "asr",
    "asr_ci_low",
    "asr_ci_high",
    "success_vs_truth",
    "snr_peak_db",
    "snr_peak_db_ci_low",
    "snr_peak_db_ci_high",
    "snr_energy_db",
    "si_sdr_db",
    "si_sdr_db_ci_low",
    "si_sdr_db_ci_high",
    "stoi",
    "l0",
    "l0_percent",
    "l0_percent_ci_low",
    "l0_percent_ci_high",
    "seconds_per_utterance",
    "n_seeds",
    "interval",
    "victim_at_chance",
    "collapsed",
    "n_collapsed",
]
# a collapsed run's cells: its headline figures say so, the other metrics are left empty
WB_SHOWN = ("asr", "l0_percent")
WB_BLANK = ("success_vs_truth", "snr_peak_db", "snr_energy_db", "si_sdr_db", "stoi", "l0")
INTERVAL_CAPTION = (
    "Intervals are 95 %: with one seed, the percentile bootstrap over utterances "
    "(2000 resamples), printed [low, high]; with several seeds, the t-interval of the mean over "
    "the seed means, printed mean ± half-width, or [low, high] where it was clipped to the "
    "metric's range (column `interval` says which)."
)


def reference_whitebox(attacks: pd.DataFrame, reference: str) -> pd.DataFrame:
    """White-box runs of every baseline and of the reference STAA-Net variant only."""
    wb = attacks[attacks["white_box"]]
    return wb[(wb["method_family"] != STAA) | (wb["variant"] == reference)]


def whitebox_table(attacks: pd.DataFrame, reference: str = "full") -> Table:
    """White-box rows: the reference STAA variant (plus its subset evaluation when present)
    and every baseline, per dataset and threat."""
    wb = reference_whitebox(attacks, reference)
    rows: list[dict[str, Any]] = []
    for _, r in wb.iterrows():
        base = {c: r[c] for c in WHITEBOX_COLS if c in r.index}
        base["evaluated_on"] = r["subset"]
        rows.append(base)
        if r["method_family"] == STAA and r["has_subset_metrics"]:
            sub = dict(base)
            sub["attack"] = f"{r['attack']}{SUBSET_SUFFIX}"
            sub["evaluated_on"] = "subset"
            for k in ("asr", "success_vs_truth", "snr_peak_db", "snr_energy_db", "l0", "l0_percent", "n_utterances"):
                sub[k] = r[f"subset_{k}"]
            for k in ("asr", "l0_percent", "snr_peak_db", "si_sdr_db"):
                # a seed's subset intervals are not stored; across seeds, the t-interval of the subset means
                for side in ("_ci_low", "_ci_high"):
                    sub[f"{k}{side}"] = r.get(f"subset_{k}{side}", np.nan)
            sub["si_sdr_db"] = sub["stoi"] = np.nan
            sub["n_utterances"] = int(sub["n_utterances"])
            sub["seconds_per_utterance"] = np.nan  # not measured on the subset
            rows.append(sub)
    df = pd.DataFrame(rows, columns=WHITEBOX_COLS)
    if len(df):
        df["_base"] = df["attack"].str.replace(SUBSET_SUFFIX, "", regex=False)
        df["_sub"] = df["evaluated_on"].eq("subset") & df["method_family"].eq(STAA)
        df = (
            df.sort_values(
                by=["dataset", "threat", "method_family", "_base", "_sub"],
                key=lambda s: s.map(family_rank) if s.name == "method_family" else s,
                kind="stable",
            )
            .drop(columns=["_base", "_sub"])
            .reset_index(drop=True)
        )
    table = Table(
        "whitebox",
        df,
        f"White-box attacks (victim = threat model). STAA-Net variant '{reference}'; "
        "'(subset)' rows evaluate STAA-Net on the baselines' utterance subset. ASR and "
        "success_vs_truth are fractions; SNR and SI-SDR in dB (over successful utterances); STOI "
        "(0-1) over each test speaker's utterances concatenated, clean against adversarial; l0 in samples, l0_percent in % of "
        "samples, time in s per utterance. " + INTERVAL_CAPTION,
        intervals=_ci("asr", "snr_peak_db", "si_sdr_db", "l0_percent"),
    )
    return _flag(table, WB_SHOWN, WB_BLANK, ("asr",))


def transfer_table(attacks: pd.DataFrame, victims_order: Sequence[str], reference: str = "full") -> Table:
    """ASR of every (dataset, attack, variant, threat) on every victim; white-box cells (victim
    == threat) are named in column ``white_box_victim`` and bold in Markdown/LaTeX. Column
    ``victims_at_chance`` names the row's victims at chance (their cells marked †); ``collapsed`` /
    ``n_collapsed`` as in the white-box table."""
    keys = ["dataset", "attack", "method_family", "variant", "threat"]
    id_cols = keys + ["white_box_victim"]
    flag_cols = ["victims_at_chance", "collapsed", "n_collapsed"]
    vcols = [v for v in victims_order if v in set(attacks["victim"])]
    if attacks.empty:
        df = pd.DataFrame(columns=id_cols + vcols + ["mean_transfer_asr", "n_seeds", "interval", *flag_cols])
        return Table("transfer", df, _TRANSFER_CAPTION, _TRANSFER_NOTE)
    piv = attacks.pivot_table(index=keys, columns="victim", values="asr", aggfunc="first", dropna=False)
    piv = piv.dropna(how="all").reset_index()
    piv.columns.name = None
    for v in vcols:
        if v not in piv.columns:
            piv[v] = np.nan
    intervals = _ci(*vcols)
    for suffix in ("_ci_low", "_ci_high"):
        if f"asr{suffix}" not in attacks or not attacks[f"asr{suffix}"].notna().any():
            continue
        ci = attacks.pivot_table(index=keys, columns="victim", values=f"asr{suffix}", aggfunc="first", dropna=False)
        ci.columns = [f"{c}{suffix}" for c in ci.columns]
        piv = piv.merge(ci.reset_index(), on=keys, how="left")
    for v in vcols:
        for suffix in ("_ci_low", "_ci_high"):
            if f"{v}{suffix}" not in piv.columns:
                piv[f"{v}{suffix}"] = np.nan
    n_seeds = (
        attacks.groupby(keys, dropna=False)["n_seeds"].max().rename("n_seeds").reset_index()
        if "n_seeds" in attacks
        else None
    )
    if n_seeds is not None:
        piv = piv.merge(n_seeds, on=keys, how="left")
    else:
        piv["n_seeds"] = 1
    piv["interval"] = [interval_label(int(n)) for n in piv["n_seeds"]]
    piv["white_box_victim"] = [t if t in vcols else "" for t in piv["threat"]]
    # the flags of each run: its victims at chance, and whether its generator collapsed
    marked = attacks.assign(
        _chance=_bool(attacks["victim_at_chance"]) if "victim_at_chance" in attacks else False,
        _collapsed=_bool(attacks["collapsed"]) if "collapsed" in attacks else False,
        _n_collapsed=attacks["n_collapsed"] if "n_collapsed" in attacks else 0,
    )
    flags = {
        key: (
            [v for v in vcols if v in set(g.loc[g["_chance"], "victim"])],
            bool(g["_collapsed"].any()),
            int(pd.to_numeric(g["_n_collapsed"], errors="coerce").fillna(0).max()),
        )
        for key, g in marked.groupby(keys, dropna=False, sort=False)
    }
    run_flags = [flags.get(tuple(r), ([], False, 0)) for r in piv[keys].itertuples(index=False)]
    piv["victims_at_chance"] = [",".join(f[0]) for f in run_flags]
    piv["collapsed"] = [f[1] for f in run_flags]
    piv["n_collapsed"] = [f[2] for f in run_flags]
    means = []
    for _, r in piv.iterrows():
        vals = np.array([r[v] for v in vcols if v != r["threat"]], dtype=float)
        vals = vals[np.isfinite(vals)]
        means.append(float(vals.mean()) if vals.size else np.nan)
    piv["mean_transfer_asr"] = means
    ci_cols = [f"{v}{sfx}" for v in vcols for sfx in ("_ci_low", "_ci_high")]
    df = _sort_runs(
        piv[id_cols + vcols + ["mean_transfer_asr"] + ci_cols + ["n_seeds", "interval", *flag_cols]], reference
    )
    bold = pd.DataFrame(False, index=df.index, columns=df.columns)
    for i, t in enumerate(df["threat"]):
        if t in vcols:
            bold.loc[i, t] = True
    table = Table("transfer", df, _TRANSFER_CAPTION, _TRANSFER_NOTE, bold, intervals)
    _flag(table, (*vcols, "mean_transfer_asr"))
    if (df["victims_at_chance"] != "").any():
        table.dagger = pd.DataFrame(False, index=df.index, columns=df.columns)
        for i, (names, thr) in enumerate(zip(df["victims_at_chance"], df["threat"])):
            flagged = [v for v in names.split(",") if v]
            for v in flagged:
                table.dagger.loc[i, v] = True
            if any(v != thr for v in flagged):  # the mean averages a victim at chance
                table.dagger.loc[i, "mean_transfer_asr"] = True
        table.footnotes.append(CHANCE_NOTE)
    return table


_TRANSFER_CAPTION = (
    "Attack success rate (fooling rate, 0-1) of adversarial examples crafted "
    "against the threat model, measured on every victim. Bold: white-box cell "
    "(victim = threat). mean_transfer_asr averages the non-threat victims (its interval: "
    "the ablation table). "
)
_TRANSFER_NOTE = "Bold cells are white-box (victim = threat model); all others are transfer."

TIMING_COLS = [
    "dataset",
    "threat",
    "method",
    "method_family",
    "batch_size",
    "seconds_per_utterance",
    "seconds_p25",
    "seconds_p75",
    "n",
    "speedup_vs_staa",
    "device",
    "threads",
]


def timing_table(timing: pd.DataFrame) -> Table:
    df = timing[TIMING_COLS].copy() if len(timing) else pd.DataFrame(columns=TIMING_COLS)
    if len(df):
        df = df.sort_values(
            by=["dataset", "threat", "method_family", "batch_size", "method"],
            key=lambda s: s.map(family_rank) if s.name == "method_family" else s,
            kind="stable",
        ).reset_index(drop=True)
    return Table(
        "timing",
        df,
        "Generation time per utterance (median, with 25th/75th percentiles, s) and "
        "speed-up relative to STAA-Net (baseline time / STAA-Net time).",
    )


ABLATION_COLS = [
    "dataset",
    "threat",
    "variant",
    "asr",
    "asr_ci_low",
    "asr_ci_high",
    "snr_peak_db",
    "snr_peak_db_ci_low",
    "snr_peak_db_ci_high",
    "l0_percent",
    "l0_percent_ci_low",
    "l0_percent_ci_high",
    "transfer_asr_mean",
    "transfer_asr_mean_ci_low",
    "transfer_asr_mean_ci_high",
    "n_transfer_victims",
    "n_seeds",
    "interval",
    "victim_at_chance",
    "transfer_victims_at_chance",
    "collapsed",
    "n_collapsed",
    "delta_cosine",
    "mask_overlap",
]


def variant_summary(attacks: pd.DataFrame, transfer: pd.DataFrame) -> pd.DataFrame:
    """Per STAA-Net (dataset, threat, variant): white-box ASR, SNR and perturbed share with their
    intervals, and the mean transfer ASR with its own (from `seeds.mean_transfer` on per-seed rows);
    the flags: the threat model (the white-box victim) at chance, the transfer victims at chance,
    the generator collapsed (every seed) and how many of its seeds collapsed."""
    st = attacks[attacks["method_family"] == STAA]
    rows = []
    for (ds, thr, var), g in st.groupby(["dataset", "threat", "variant"], sort=False):
        wb = g[g["white_box"]]
        row: dict[str, Any] = {"dataset": ds, "threat": thr, "variant": var}
        for k in ("asr", "snr_peak_db", "l0_percent", "l0_all_percent"):
            for c in (k, f"{k}_ci_low", f"{k}_ci_high"):
                row[c] = wb[c].iloc[0] if len(wb) and c in wb else np.nan
        tr = (
            transfer[
                (transfer["dataset"] == ds)
                & (transfer["threat"] == thr)
                & (transfer["variant"] == var)
                & (transfer["attack"] == STAA)
            ]
            if len(transfer)
            else transfer
        )
        for c in ("transfer_asr_mean", "transfer_asr_mean_ci_low", "transfer_asr_mean_ci_high"):
            row[c] = tr[c].iloc[0] if len(tr) else np.nan
        row["n_transfer_victims"] = int(tr["n_transfer_victims"].iloc[0]) if len(tr) else 0
        row["n_seeds"] = int(g["n_seeds"].max()) if "n_seeds" in g else 1
        row["interval"] = interval_label(row["n_seeds"])
        row["victim_at_chance"] = bool(_bool(wb["victim_at_chance"]).any()) if "victim_at_chance" in wb else False
        row["transfer_victims_at_chance"] = (
            str(tr["transfer_victims_at_chance"].iloc[0]) if len(tr) and "transfer_victims_at_chance" in tr else ""
        )
        row["collapsed"] = bool(_bool(g["collapsed"]).all()) if "collapsed" in g else False
        row["n_collapsed"] = int(pd.to_numeric(g["n_collapsed"]).max()) if "n_collapsed" in g else 0
        for c in ("delta_cosine", "mask_overlap"):  # input dependence of the white-box perturbations
            row[c] = float(wb[c].iloc[0]) if len(wb) and c in wb and pd.notna(wb[c].iloc[0]) else np.nan
        rows.append(row)
    return pd.DataFrame(
        rows,
        columns=[
            *ABLATION_COLS[:12],
            "l0_all_percent",
            "l0_all_percent_ci_low",
            "l0_all_percent_ci_high",
            *ABLATION_COLS[12:],
        ],
    )


def ablation_table(
    attacks: pd.DataFrame,
    reference: str = "full",
    transfer: pd.DataFrame | None = None,
    variants: Sequence[str] | None = None,
) -> Table:
    """STAA-Net variants side by side per dataset and threat: white-box ASR, SNR and perturbed
    fraction, and the ASR averaged over the non-threat victims. `variants` keeps the declared
    ablations (a sweep's generated points have their own figure)."""
    df = variant_summary(attacks, transfer if transfer is not None else mean_transfer(pd.DataFrame()))
    if variants is not None:
        df = df[df["variant"].isin(list(variants))].reset_index(drop=True)
    df = df[ABLATION_COLS]
    if len(df):
        df = df.sort_values(
            by=["dataset", "threat", "variant"],
            key=lambda s: s.map(lambda v: f"{int(v != reference)}{v}") if s.name == "variant" else s,
            kind="stable",
        ).reset_index(drop=True)
    table = Table(
        "ablation",
        df,
        f"STAA-Net ablation (reference variant '{reference}'): white-box ASR (0-1), "
        "peak SNR (dB), perturbed fraction (% of samples) and mean transfer ASR over "
        "the non-threat victims; delta_cosine and mask_overlap: mean cosine between different test "
        "utterances' perturbations and masks (1 = one perturbation for all). " + INTERVAL_CAPTION,
        intervals=_ci("asr", "snr_peak_db", "l0_percent", "transfer_asr_mean"),
    )
    _flag(table, ("asr", "l0_percent", "transfer_asr_mean"), ("snr_peak_db",), ("asr",))
    if len(df) and (df["transfer_victims_at_chance"].fillna("") != "").any():
        if table.dagger is None:
            table.dagger = pd.DataFrame(False, index=df.index, columns=df.columns)
            table.footnotes.append(CHANCE_NOTE)
        table.dagger.loc[df["transfer_victims_at_chance"].fillna("") != "", "transfer_asr_mean"] = True
    return table


def per_class_table(attacks: pd.DataFrame, reference: str = "full") -> Table:
    """White-box fooling rate and share of perturbed samples per true emotion, one row per attack.

    Emotions differ in loudness while every attack's per-sample bound is absolute, so the budget an
    attack needs differs by class; a single mean ASR hides that."""
    wb = attacks[attacks["white_box"]]  # every STAA-Net variant: the controls and sweep points too
    rows: list[dict[str, Any]] = []
    classes: list[str] = []
    for _, r in wb.iterrows():
        pc = r.get("per_class")
        if not isinstance(pc, dict):
            continue
        staa = r["method_family"] == STAA
        row: dict[str, Any] = {
            "dataset": r["dataset"],
            "threat": r["threat"],
            "attack": f"staa {r['variant']}" if staa else r["attack"],
            "method_family": r["method_family"],
            "evaluated_on": r["subset"],
            "n_utterances": int(r["n_utterances"]),
            "asr": r["asr"],
            "victim_at_chance": _true(r.get("victim_at_chance")),
            "collapsed": _true(r.get("collapsed")),
        }
        for cls, d in pc.items():
            if cls not in classes:
                classes.append(cls)
            row[f"asr_{cls}"] = d["asr"]
            row[f"l0_all_percent_{cls}"] = d["l0_all_percent"]
            row[f"snr_peak_db_{cls}"] = d.get("snr_peak_db", np.nan)
        rows.append(row)
    cols = [
        "dataset",
        "threat",
        "attack",
        "method_family",
        "evaluated_on",
        "n_utterances",
        "asr",
        *[f"asr_{c}" for c in classes],
        *[f"l0_all_percent_{c}" for c in classes],
        *[f"snr_peak_db_{c}" for c in classes],
        "victim_at_chance",
        "collapsed",
    ]
    df = pd.DataFrame(rows, columns=cols)
    df["_ref"] = [0 if a == f"staa {reference}" else 1 for a in df["attack"]]
    if len(df):
        df = df.sort_values(
            by=["dataset", "threat", "method_family", "_ref", "attack"],
            key=lambda s: s.map(family_rank) if s.name == "method_family" else s,
            kind="stable",
        ).reset_index(drop=True)
    df = df.drop(columns="_ref")
    table = Table(
        "per_class",
        df,
        f"White-box attacks per true emotion (every STAA-Net variant on the test split, '{reference}' "
        "first; baselines on their subset): fooling rate (asr_*), % of samples perturbed over all "
        "utterances of the class (l0_all_percent_*) and peak SNR over its fooled ones (snr_peak_db_*, dB).",
    )
    per_class_cols = [c for c in df.columns if c.startswith(("asr_", "l0_all_percent_", "snr_peak_db_"))]
    return _flag(table, ("asr",), per_class_cols, ("asr",))


# --------------------------------------------------------------------------------------------
# rendering
def format_value(col: str, v: Any) -> str:
    """Rounded text of one cell for Markdown/LaTeX ("" for missing values)."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if v.is_integer() and col in (
            "n",
            "threads",
            "batch_size",
            "n_test",
            "n_params",
            "epochs",
            "n_utterances",
            "n_transfer_victims",
            "n_correct",
            "n_collapsed",
        ):
            return str(int(v))
        if "seconds" in col:
            return f"{v:.3g}"
        if col in ("p_wa", "p_ua"):  # p-values: two significant digits
            return f"{v:.2g}"
        if col.startswith("speedup"):
            return f"{v:.1f}"
        if col == "l0" or "_percent" in col or col.endswith("_db"):
            return f"{v:.1f}"
        return f"{v:.3f}"
    return str(v)


_TEX_ESC = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def tex_escape(s: str) -> str:
    return "".join(_TEX_ESC.get(ch, ch) for ch in s)


def shown_columns(table: Table) -> list[str]:
    """The columns a rendering shows: interval bounds are folded into their value's cell."""
    hidden = {c for pair in table.intervals.values() for c in pair}
    return [c for c in table.df.columns if c not in hidden]


def format_interval(col: str, v: Any, low: Any, high: Any, symmetric: bool) -> str:
    """'0.410 [0.330, 0.500]' (bootstrap) or '0.410 ± 0.040' (t over seeds); the value alone without bounds."""
    text = format_value(col, v)
    if not text or any(x is None or not np.isfinite(float(x)) for x in (low, high)):
        return text
    if symmetric and math.isclose(float(v) - float(low), float(high) - float(v), rel_tol=1e-6, abs_tol=1e-12):
        return f"{text} ± {format_value(col, (float(high) - float(low)) / 2)}"
    return f"{text} [{format_value(col, low)}, {format_value(col, high)}]"


def _text_cells(table: Table) -> list[list[str]]:
    cols = shown_columns(table)
    rows = []
    for i in range(len(table.df)):
        r = table.df.iloc[i]
        symmetric = str(r.get("interval", "")).startswith("t over")
        rows.append(
            [
                table.text[(i, c)]
                if (i, c) in table.text
                else format_interval(c, r[c], r[table.intervals[c][0]], r[table.intervals[c][1]], symmetric)
                if c in table.intervals
                else format_value(c, r[c])
                for c in cols
            ]
        )
    return rows


def _daggered(table: Table, i: int, c: str, cell: str) -> bool:
    return table.dagger is not None and bool(table.dagger.iloc[i][c]) and bool(cell)


def to_markdown(table: Table) -> str:
    cells = _text_cells(table)
    header = shown_columns(table)
    if table.bold is not None:
        for i, row in enumerate(cells):
            for j, c in enumerate(header):
                if table.bold.iloc[i][c] and row[j]:
                    row[j] = f"**{row[j]}**"
    for i, row in enumerate(cells):
        for j, c in enumerate(header):
            if _daggered(table, i, c, row[j]):
                row[j] = f"{row[j]} {DAGGER}"
    lines = [f"**{table.name}** — {table.caption}", ""]
    if cells:
        body = pd.DataFrame(cells, columns=header).to_markdown(index=False, disable_numparse=True)
    else:
        body = "| " + " | ".join(header) + " |\n|" + "|".join("---" for _ in header) + "|"
        body += "\n\n_No data._"
    lines.append(body)
    if table.note and cells:
        lines += ["", f"_{table.note}_"]
    if cells:
        lines += [f"\n{note}" for note in dict.fromkeys(table.footnotes)]
    return "\n".join(lines) + "\n"


def to_latex(table: Table) -> str:
    df = table.df[shown_columns(table)]
    numeric = [pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]) for c in df.columns]
    align = "".join("r" if n else "l" for n in numeric)
    cells = _text_cells(table)
    out = [
        "% generated by staa.report.tables; needs \\usepackage{booktabs}",
        "\\begin{table}[t]",
        "\\centering",
        "\\small",
        f"\\caption{{{tex_escape(table.caption)}}}",
        f"\\label{{tab:{table.name}}}",
        f"\\begin{{tabular}}{{{align}}}",
        "\\toprule",
        " & ".join(tex_escape(str(c)) for c in df.columns) + r" \\",
        "\\midrule",
    ]
    for i, row in enumerate(cells):
        rendered = []
        for j, c in enumerate(df.columns):
            s = tex_escape(row[j])
            if table.bold is not None and table.bold.iloc[i][c] and s:
                s = f"\\textbf{{{s}}}"
            if _daggered(table, i, c, s):
                s = f"{s}$^\\dagger$"
            rendered.append(s)
        out.append(" & ".join(rendered) + r" \\")
    if not cells:
        out.append(f"\\multicolumn{{{len(df.columns)}}}{{c}}{{no data}} \\\\")
    out += ["\\bottomrule", "\\end{tabular}"]
    if cells:
        dag = "$^\\dagger$"
        for note in dict.fromkeys(table.footnotes):
            out.append("\\par\\footnotesize " + tex_escape(note).replace(DAGGER, dag))
    out.append("\\end{table}")
    return "\n".join(out) + "\n"


def write_table(table: Table, out_dir: Path) -> list[Path]:
    """Write ``{name}.csv`` (raw values), ``{name}.md`` and ``{name}.tex``; return the paths."""
    out_dir = Path(out_dir)
    csv, md, tex = (out_dir / f"{table.name}.{ext}" for ext in ("csv", "md", "tex"))
    write_csv(csv, table.df)
    write_text(md, to_markdown(table))
    write_text(tex, to_latex(table))
    return [csv, md, tex]


# --------------------------------------------------------------------------------------------
def make_tables(
    victims: pd.DataFrame,
    attacks: pd.DataFrame,
    timing: pd.DataFrame,
    ablation_reference: str = "full",
    ablation_variants: Sequence[str] | None = None,
) -> dict[str, Table]:
    """All tables from already loaded DataFrames (attack rows per seed, as loaded), keyed by name
    (see TABLE_NAMES); runs with several seeds are reported as means with t-intervals. Attacks on a
    victim at chance are marked and collapsed generators are not averaged (staa.report.flags)."""
    victims = add_chance_flags(victims)
    attacks = mark_victims(attacks, victims)
    agg = over_seeds(attacks)
    order = victim_order(victims, agg)
    return {
        "victims": victims_table(victims),
        "whitebox": whitebox_table(agg, ablation_reference),
        "transfer": transfer_table(agg, order, ablation_reference),
        "timing": timing_table(timing),
        "ablation": ablation_table(agg, ablation_reference, mean_transfer(attacks), ablation_variants),
        "per_class": per_class_table(agg, ablation_reference),
    }


def build_tables(
    victim_metrics: Sequence[PathLike],
    attack_metrics: Sequence[PathLike],
    timing: Sequence[PathLike],
    out_dir: Path,
    ablation_reference: str = "full",
    names: Sequence[str] = TABLE_NAMES,
    ablation_variants: Sequence[str] | None = None,
) -> list[Path]:
    """Load the given result files and write victims/whitebox/transfer/timing/ablation tables
    as .csv, .md and .tex under `out_dir`; return the written paths."""
    tables = make_tables(
        load_victim_metrics(victim_metrics),
        load_attack_metrics(attack_metrics),
        load_timing(timing),
        ablation_reference,
        ablation_variants,
    )
    written: list[Path] = []
    for name in names:
        written += write_table(tables[name], Path(out_dir))
    return written
