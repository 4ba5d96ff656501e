"""Result tables (victims, white-box, transfer, timing, ablation) as CSV, Markdown and LaTeX.

CSV files carry the input values unchanged; only the Markdown/LaTeX renderings are rounded.
Every table is always written (header only when there is no data) so the pipeline can declare
its outputs up front.
"""
from __future__ import annotations

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
        lambda r: (r["dataset"], family_rank(r.get("method_family", "")), r[attack_col],
                   _variant_rank(r.get("variant", "") or "", reference), r.get("threat", "")),
        axis=1,
    )
    return df.loc[sorted(df.index, key=lambda i: key[i])].reset_index(drop=True)


def victim_order(victims: pd.DataFrame, attacks: pd.DataFrame) -> list[str]:
    """Victim names in the order of the victim metrics list, then any others sorted."""
    order: list[str] = list(dict.fromkeys(victims["victim"].tolist())) if len(victims) else []
    extra = sorted(set(attacks["victim"]) - set(order)) if len(attacks) else []
    return order + extra


# --------------------------------------------------------------------------------------------
# table builders (pure: DataFrames in, Table out)
def victims_table(victims: pd.DataFrame) -> Table:
    cols = ["dataset", "victim", "family", "wa", "ua", "n_test", "n_params", "epochs"]
    df = victims[cols].sort_values(["dataset"], kind="stable").reset_index(drop=True)
    return Table("victims", df, "Clean accuracy of the victim models on the test split "
                 "(WA: weighted accuracy, UA: unweighted accuracy, fractions 0-1).")


WHITEBOX_COLS = ["dataset", "threat", "attack", "variant", "method_family", "evaluated_on",
                 "n_utterances", "asr", "asr_ci_low", "asr_ci_high", "success_vs_truth", "snr_peak_db", "snr_energy_db",
                 "si_sdr_db", "stoi",
                 "l0", "l0_percent", "seconds_per_utterance"]


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
            for k in ("asr", "success_vs_truth", "snr_peak_db", "snr_energy_db", "l0",
                      "l0_percent", "n_utterances"):
                sub[k] = r[f"subset_{k}"]
            sub["asr_ci_low"] = sub["asr_ci_high"] = np.nan  # the subset's interval is not stored
            sub["si_sdr_db"] = sub["stoi"] = np.nan
            sub["n_utterances"] = int(sub["n_utterances"])
            sub["seconds_per_utterance"] = np.nan  # not measured on the subset
            rows.append(sub)
    df = pd.DataFrame(rows, columns=WHITEBOX_COLS)
    if len(df):
        df["_base"] = df["attack"].str.replace(SUBSET_SUFFIX, "", regex=False)
        df["_sub"] = df["evaluated_on"].eq("subset") & df["method_family"].eq(STAA)
        df = df.sort_values(
            by=["dataset", "threat", "method_family", "_base", "_sub"],
            key=lambda s: s.map(family_rank) if s.name == "method_family" else s,
            kind="stable").drop(columns=["_base", "_sub"]).reset_index(drop=True)
    return Table(
        "whitebox", df,
        f"White-box attacks (victim = threat model). STAA-Net variant '{reference}'; "
        "'(subset)' rows evaluate STAA-Net on the baselines' utterance subset. ASR and "
        "success_vs_truth are fractions; asr_ci_low/high bound the ASR's 95 % percentile bootstrap "
        "interval over utterances (one seed); SNR and SI-SDR in dB (over successful utterances); STOI "
        "(0-1) over each test speaker's utterances concatenated, clean against adversarial; l0 in samples, l0_percent in % of "
        "samples, time in s per utterance.",
    )


def transfer_table(attacks: pd.DataFrame, victims_order: Sequence[str],
                   reference: str = "full") -> Table:
    """ASR of every (dataset, attack, variant, threat) on every victim; white-box cells (victim
    == threat) are named in column ``white_box_victim`` and bold in Markdown/LaTeX."""
    keys = ["dataset", "attack", "method_family", "variant", "threat"]
    id_cols = keys + ["white_box_victim"]
    vcols = [v for v in victims_order if v in set(attacks["victim"])]
    if attacks.empty:
        df = pd.DataFrame(columns=id_cols + vcols + ["mean_transfer_asr"])
        return Table("transfer", df, _TRANSFER_CAPTION, _TRANSFER_NOTE)
    piv = attacks.pivot_table(index=keys, columns="victim", values="asr", aggfunc="first",
                              dropna=False)
    piv = piv.dropna(how="all").reset_index()
    piv.columns.name = None
    for v in vcols:
        if v not in piv.columns:
            piv[v] = np.nan
    piv["white_box_victim"] = [t if t in vcols else "" for t in piv["threat"]]
    means = []
    for _, r in piv.iterrows():
        vals = np.array([r[v] for v in vcols if v != r["threat"]], dtype=float)
        vals = vals[np.isfinite(vals)]
        means.append(float(vals.mean()) if vals.size else np.nan)
    piv["mean_transfer_asr"] = means
    df = _sort_runs(piv[id_cols + vcols + ["mean_transfer_asr"]], reference)
    bold = pd.DataFrame(False, index=df.index, columns=df.columns)
    for i, t in enumerate(df["threat"]):
        if t in vcols:
            bold.loc[i, t] = True
    return Table("transfer", df, _TRANSFER_CAPTION, _TRANSFER_NOTE, bold)


_TRANSFER_CAPTION = ("Attack success rate (fooling rate, 0-1) of adversarial examples crafted "
                     "against the threat model, measured on every victim. Bold: white-box cell "
                     "(victim = threat). mean_transfer_asr averages the non-threat victims.")
_TRANSFER_NOTE = "Bold cells are white-box (victim = threat model); all others are transfer."

TIMING_COLS = ["dataset", "threat", "method", "method_family", "batch_size",
               "seconds_per_utterance", "seconds_p25", "seconds_p75", "n", "speedup_vs_staa",
               "device", "threads"]


def timing_table(timing: pd.DataFrame) -> Table:
    df = timing[TIMING_COLS].copy() if len(timing) else pd.DataFrame(columns=TIMING_COLS)
    if len(df):
        df = df.sort_values(
            by=["dataset", "threat", "method_family", "batch_size", "method"],
            key=lambda s: s.map(family_rank) if s.name == "method_family" else s,
            kind="stable").reset_index(drop=True)
    return Table("timing", df,
                 "Generation time per utterance (median, with 25th/75th percentiles, s) and "
                 "speed-up relative to STAA-Net (baseline time / STAA-Net time).")


ABLATION_COLS = ["dataset", "threat", "variant", "asr", "snr_peak_db", "l0_percent",
                 "transfer_asr_mean", "n_transfer_victims"]


def ablation_table(attacks: pd.DataFrame, reference: str = "full") -> Table:
    """STAA-Net variants side by side per dataset and threat: white-box ASR, SNR and perturbed
    fraction, and the ASR averaged over the non-threat victims."""
    st = attacks[attacks["method_family"] == STAA]
    rows = []
    for (ds, thr, var), g in st.groupby(["dataset", "threat", "variant"], sort=False):
        wb = g[g["white_box"]]
        tr = g[~g["white_box"]]
        row = {"dataset": ds, "threat": thr, "variant": var}
        for k in ("asr", "snr_peak_db", "l0_percent"):
            row[k] = wb[k].iloc[0] if len(wb) else np.nan
        row["transfer_asr_mean"] = tr["asr"].mean() if len(tr) else np.nan
        row["n_transfer_victims"] = len(tr)
        rows.append(row)
    df = pd.DataFrame(rows, columns=ABLATION_COLS)
    if len(df):
        df = df.sort_values(
            by=["dataset", "threat", "variant"],
            key=lambda s: s.map(lambda v: f"{int(v != reference)}{v}") if s.name == "variant"
            else s, kind="stable").reset_index(drop=True)
    return Table("ablation", df,
                 f"STAA-Net ablation (reference variant '{reference}'): white-box ASR (0-1), "
                 "peak SNR (dB), perturbed fraction (% of samples) and mean transfer ASR over "
                 "the non-threat victims.")


def per_class_table(attacks: pd.DataFrame, reference: str = "full") -> Table:
    """White-box fooling rate and share of perturbed samples per true emotion, one row per attack.

    Emotions differ in loudness while every attack's per-sample bound is absolute, so the budget an
    attack needs differs by class; a single mean ASR hides that."""
    wb = reference_whitebox(attacks, reference)
    rows: list[dict[str, Any]] = []
    classes: list[str] = []
    for _, r in wb.iterrows():
        pc = r.get("per_class")
        if not isinstance(pc, dict):
            continue
        row: dict[str, Any] = {"dataset": r["dataset"], "threat": r["threat"], "attack": r["attack"],
                               "method_family": r["method_family"], "evaluated_on": r["subset"],
                               "n_utterances": int(r["n_utterances"]), "asr": r["asr"]}
        for cls, d in pc.items():
            if cls not in classes:
                classes.append(cls)
            row[f"asr_{cls}"] = d["asr"]
            row[f"l0_all_percent_{cls}"] = d["l0_all_percent"]
        rows.append(row)
    cols = ["dataset", "threat", "attack", "method_family", "evaluated_on", "n_utterances", "asr",
            *[f"asr_{c}" for c in classes], *[f"l0_all_percent_{c}" for c in classes]]
    df = pd.DataFrame(rows, columns=cols)
    if len(df):
        df = df.sort_values(by=["dataset", "threat", "method_family", "attack"],
                            key=lambda s: s.map(family_rank) if s.name == "method_family" else s,
                            kind="stable").reset_index(drop=True)
    return Table("per_class", df,
                 f"White-box attacks per true emotion (STAA-Net variant '{reference}' on the test split, "
                 "baselines on their subset): fooling rate (asr_*) and % of samples perturbed over all "
                 "utterances of the class (l0_all_percent_*).")


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
        if v.is_integer() and col in ("n", "threads", "batch_size", "n_test", "n_params",
                                      "epochs", "n_utterances", "n_transfer_victims"):
            return str(int(v))
        if "seconds" in col:
            return f"{v:.3g}"
        if col.startswith("speedup"):
            return f"{v:.1f}"
        if col == "l0" or "_percent" in col or col.endswith("_db"):
            return f"{v:.1f}"
        return f"{v:.3f}"
    return str(v)


_TEX_ESC = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
            "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
            "^": r"\textasciicircum{}"}


def tex_escape(s: str) -> str:
    return "".join(_TEX_ESC.get(ch, ch) for ch in s)


def _text_cells(table: Table) -> list[list[str]]:
    return [[format_value(c, table.df.iloc[i][c]) for c in table.df.columns]
            for i in range(len(table.df))]


def to_markdown(table: Table) -> str:
    cells = _text_cells(table)
    if table.bold is not None:
        for i, row in enumerate(cells):
            for j, c in enumerate(table.df.columns):
                if table.bold.iloc[i][c] and row[j]:
                    row[j] = f"**{row[j]}**"
    header = list(table.df.columns)
    lines = [f"**{table.name}** — {table.caption}", ""]
    if cells:
        body = pd.DataFrame(cells, columns=header).to_markdown(index=False,
                                                              disable_numparse=True)
    else:
        body = "| " + " | ".join(header) + " |\n|" + "|".join("---" for _ in header) + "|"
        body += "\n\n_No data._"
    lines.append(body)
    if table.note and cells:
        lines += ["", f"_{table.note}_"]
    return "\n".join(lines) + "\n"


def to_latex(table: Table) -> str:
    df = table.df
    numeric = [pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])
               for c in df.columns]
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
            rendered.append(s)
        out.append(" & ".join(rendered) + r" \\")
    if not cells:
        out.append(f"\\multicolumn{{{len(df.columns)}}}{{c}}{{no data}} \\\\")
    out += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
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
def make_tables(victims: pd.DataFrame, attacks: pd.DataFrame, timing: pd.DataFrame,
                ablation_reference: str = "full") -> dict[str, Table]:
    """All tables from already loaded DataFrames, keyed by name (see TABLE_NAMES)."""
    order = victim_order(victims, attacks)
    return {
        "victims": victims_table(victims),
        "whitebox": whitebox_table(attacks, ablation_reference),
        "transfer": transfer_table(attacks, order, ablation_reference),
        "timing": timing_table(timing),
        "ablation": ablation_table(attacks, ablation_reference),
        "per_class": per_class_table(attacks, ablation_reference),
    }


def build_tables(victim_metrics: Sequence[PathLike], attack_metrics: Sequence[PathLike],
                 timing: Sequence[PathLike], out_dir: Path,
                 ablation_reference: str = "full", names: Sequence[str] = TABLE_NAMES) -> list[Path]:
    """Load the given result files and write victims/whitebox/transfer/timing/ablation tables
    as .csv, .md and .tex under `out_dir`; return the written paths."""
    tables = make_tables(load_victim_metrics(victim_metrics), load_attack_metrics(attack_metrics),
                         load_timing(timing), ablation_reference)
    written: list[Path] = []
    for name in names:
        written += write_table(tables[name], Path(out_dir))
    return written
