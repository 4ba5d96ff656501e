"""Report figures (matplotlib/seaborn, no pyplot state, Agg-safe), each saved as PNG and PDF.

Figures, per dataset ``{ds}`` unless noted:

- ``whitebox_tradeoff_{ds}``: white-box ASR vs perturbed fraction and vs peak SNR.
- ``transfer_heatmap_{ds}``: ASR of every attack/threat on every victim (white-box boxed).
- ``timing_{ds}``: time per utterance (log scale) per method and threat, speed-ups on the bars.
- ``ablation_{ds}``: STAA-Net variants: ASR, perturbed fraction, transfer ASR.
- ``sweep_{name}_{ds}``: a config sweep (e.g. the density budget): white-box and mean transfer ASR
  against the perturbed share, one point per value, the baselines' points on the same axes.

Error bars are 95 % intervals: the bootstrap over utterances with one seed, the t-interval over
seed means with several (the tables' `interval` column says which).
- ``example_utterance``: waveform with perturbation and mask, spectrograms (first example).
- ``training_victims_{ds}`` / ``training_generators_{ds}``: training curves.

Colours: one fixed palette maps method families to colours (:data:`METHOD_PALETTE`); several
entries of one family (``onepixel_k1``/``onepixel_k5``, STAA-Net variants, ``staa_batched``)
get shades of the family colour. The mapping is built once per call so a method has the same
colour in every figure. A figure whose inputs are missing is skipped (logged), never an error.
"""

from __future__ import annotations

import colorsys
import logging
import re
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import matplotlib

import matplotlib.colors as mcolors
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from staa.report.collect import (
    STAA,
    attack_label,
    load_attack_metrics,
    load_example,
    load_generator_logs,
    load_timing,
    load_victim_logs,
)
from staa.report.flags import COLLAPSED_TEXT
from staa.report.seeds import mean_transfer, over_seeds
from staa.report.tables import family_rank, variant_summary
from staa.utils import atomic_path

log = logging.getLogger(__name__)
PathLike = str | Path

#: Fixed colour of each method family (Okabe-Ito, colour-blind safe). Defined once, used by
#: every figure.
METHOD_PALETTE: dict[str, str] = {
    "staa": "#D55E00",  # vermillion
    "pgd": "#0072B2",  # blue
    "sparsefool": "#009E73",  # bluish green
    "onepixel": "#CC79A7",  # reddish purple
}
OTHER_COLOUR = "#7F7F7F"
THREAT_MARKERS: tuple[str, ...] = ("o", "s", "^", "D", "v", "P", "X", "*")
LINESTYLES: tuple[str, ...] = ("-", "--", ":", "-.")
_SHADE_FACTORS: tuple[float, ...] = (1.0, 0.62, 1.45, 0.8, 1.25, 0.48, 1.6)

DEFAULT_STYLE: dict[str, Any] = {"dpi": 150, "context": "paper", "palette": None, "formats": ["png", "pdf"]}


# --------------------------------------------------------------------------------------------
# colours
def shade(colour: str, i: int) -> str:
    """The i-th shade of `colour` (i = 0 is the colour itself)."""
    if i == 0:
        return mcolors.to_hex(colour)
    r, g, b = mcolors.to_rgb(colour)
    h, light, s = colorsys.rgb_to_hls(r, g, b)
    f = _SHADE_FACTORS[i % len(_SHADE_FACTORS)] if i < len(_SHADE_FACTORS) else 1.0 + 0.1 * i
    l2 = min(0.85, max(0.15, light * f))
    return mcolors.to_hex(colorsys.hls_to_rgb(h, l2, s))


class MethodColours:
    """Colour of each method (attack entry name or STAA variant) from its family's colour.

    The first member of a family (its canonical name, e.g. ``staa``/``pgd``, or the reference
    STAA variant) gets the family colour; further members get shades of it. `overrides` maps a
    method or family name to a colour and wins over the default.
    """

    def __init__(
        self, methods: Iterable[tuple[str, str]], overrides: Mapping[str, str] | None = None, reference: str = "full"
    ) -> None:
        self.overrides = dict(overrides or {})
        self.reference = reference
        members: dict[str, list[str]] = {}
        for name, fam in sorted(
            set(methods), key=lambda m: (family_rank(m[1]), m[1], m[0] not in (m[1], reference), m[0])
        ):
            members.setdefault(fam, [])
            if name not in members[fam]:
                members[fam].append(name)
        self._colour: dict[str, str] = {}
        for fam, names in members.items():
            base = self.family_colour(fam)
            for i, name in enumerate(names):
                self._colour[name] = self.overrides.get(name, shade(base, i))

    def run(self, attack: str, family: str, variant: str = "") -> str:
        """Colour of a run (STAA-Net variants are distinct methods, ``staa[variant]``)."""
        return self(attack_label(attack, variant, self.reference), family)

    def family_colour(self, family: str) -> str:
        return self.overrides.get(family, METHOD_PALETTE.get(family, OTHER_COLOUR))

    def __call__(self, name: str, family: str | None = None) -> str:
        if name in self.overrides:
            return self.overrides[name]
        if name in self._colour:
            return self._colour[name]
        return self.family_colour(family or name)


def _flag_true(v: Any) -> bool:
    """A flag's value as a boolean (missing: False)."""
    return bool(v) if isinstance(v, (bool, np.bool_)) else False


def _variant_key(v: str, reference: str) -> tuple[int, str]:
    return (0 if v == reference else 1, v)


# --------------------------------------------------------------------------------------------
# io helpers
def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name)) or "unnamed"


def _save(fig: Figure, out_dir: Path, name: str, style: Mapping[str, Any]) -> list[Path]:
    paths = []
    for fmt in style["formats"]:
        path = Path(out_dir) / f"{name}.{fmt}"
        meta: dict[str, Any] = {}
        if fmt == "pdf":
            meta = {"CreationDate": None, "ModDate": None}
        elif fmt == "png":
            meta = {"Software": None}
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=style["dpi"], bbox_inches="tight", metadata=meta)
        paths.append(path)
    return paths


def _rc(style: Mapping[str, Any]) -> dict[str, Any]:
    rc: dict[str, Any] = dict(sns.axes_style("whitegrid"))
    rc.update(sns.plotting_context(style["context"]))
    rc.update(
        {"savefig.facecolor": "white", "figure.facecolor": "white", "axes.titleweight": "bold", "pdf.fonttype": 42}
    )
    return rc


# --------------------------------------------------------------------------------------------
# (a) white-box trade-off
def fig_whitebox_tradeoff(attacks: pd.DataFrame, dataset: str, colours: MethodColours, reference: str) -> Figure | None:
    """White-box ASR vs perturbed fraction and vs peak SNR, one point per (attack, threat)."""
    wb = attacks[(attacks["dataset"] == dataset) & attacks["white_box"]]
    wb = wb[(wb["method_family"] != STAA) | (wb["variant"] == reference)]
    if wb.empty:
        return None
    threats = sorted(wb["threat"].unique())
    marker = {t: THREAT_MARKERS[i % len(THREAT_MARKERS)] for i, t in enumerate(threats)}
    fig = Figure(figsize=(9.5, 3.8), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    methods: list[tuple[str, str]] = []
    has_subset = False
    for _, r in wb.iterrows():
        name = r["attack"]
        c = colours.run(name, r["method_family"], r["variant"])
        if (name, c) not in methods:
            methods.append((name, c))
        pts = [(r["l0_percent"], r["snr_peak_db"], r["asr"], c, "full")]
        if r["method_family"] == STAA and r["has_subset_metrics"]:
            pts.append((r["subset_l0_percent"], r["subset_snr_peak_db"], r["subset_asr"], c, "none"))
            has_subset = True
        for l0p, snr, asr, col, face in pts:
            fc = col if face == "full" else "none"
            kw = dict(marker=marker[r["threat"]], s=70, edgecolor=col, facecolor=fc, linewidth=1.5, zorder=3)
            axes[0].scatter([l0p], [100 * asr], **kw)
            if face == "full":  # the stored intervals belong to the full evaluation
                _errorbar(axes[0], r, "l0_percent", 1, "asr", 100, col)
            if np.isfinite(snr):
                axes[1].scatter([snr], [100 * asr], **kw)
                if face == "full":
                    _errorbar(axes[1], r, "snr_peak_db", 1, "asr", 100, col)
    axes[0].set(
        xlabel="perturbed fraction $\\ell_0$ (% of samples)", ylabel="attack success rate (%)", title="ASR vs sparsity"
    )
    axes[1].set(xlabel="SNR (peak, dB)  — higher is less audible", title="ASR vs SNR")
    for ax in axes:
        ax.set_ylim(-3, 103)
        ax.margins(x=0.12)
    handles = [Line2D([], [], marker="o", ls="", color=c, markersize=8, label=n) for n, c in methods]
    handles += [Line2D([], [], ls="", label="")]
    handles += [
        Line2D([], [], marker=marker[t], ls="", color="0.3", markersize=8, label=f"threat: {t}") for t in threats
    ]
    if has_subset:
        handles.append(
            Line2D(
                [],
                [],
                marker="o",
                ls="",
                markerfacecolor="none",
                markeredgecolor=colours(STAA, STAA),
                markersize=8,
                label="staa on baseline subset",
            )
        )
    fig.legend(handles=handles, loc="outside right center", frameon=False, title="method (colour) / threat (marker)")
    fig.suptitle(f"White-box attacks on {dataset} (one point per attack and threat model)")
    return fig


# (b) transfer heat map
def fig_transfer_heatmap(
    attacks: pd.DataFrame, dataset: str, colours: MethodColours, reference: str, victims_order: Sequence[str] = ()
) -> Figure | None:
    """ASR (%) of every attack/threat (rows) on every victim (columns); white-box boxed."""
    d = attacks[attacks["dataset"] == dataset]
    if d.empty:
        return None
    victims = [v for v in victims_order if v in set(d["victim"])]
    victims += sorted(set(d["victim"]) - set(victims))
    d = d.assign(label=[attack_label(a, v, reference) for a, v in zip(d["attack"], d["variant"])])
    rows = d[["label", "attack", "method_family", "variant", "threat"]].drop_duplicates()
    rows = rows.assign(
        _k=[
            (family_rank(f), a, _variant_key(v, reference), t)
            for a, f, v, t in zip(rows["attack"], rows["method_family"], rows["variant"], rows["threat"])
        ]
    ).sort_values("_k")
    mat = np.full((len(rows), len(victims)), np.nan)
    for i, (_, r) in enumerate(rows.iterrows()):
        sel = d[(d["label"] == r["label"]) & (d["threat"] == r["threat"])]
        for _, s in sel.iterrows():
            mat[i, victims.index(s["victim"])] = 100 * s["asr"]
    ylabels = [f"{r['label']}  |  threat: {r['threat']}" for _, r in rows.iterrows()]
    fig = Figure(figsize=(1.6 + 1.0 * len(victims) + 2.2, 1.4 + 0.36 * len(rows)), layout="constrained")
    ax = fig.subplots()
    sns.heatmap(
        pd.DataFrame(mat, index=ylabels, columns=victims),
        ax=ax,
        vmin=0,
        vmax=100,
        cmap="mako_r",
        annot=True,
        fmt=".0f",
        linewidths=0.5,
        linecolor="white",
        cbar_kws={"label": "attack success rate (%)"},
        annot_kws={"fontsize": 8},
    )
    for i, (_, r) in enumerate(rows.iterrows()):
        if r["threat"] in victims:
            ax.add_patch(
                Rectangle((victims.index(r["threat"]), i), 1, 1, fill=False, edgecolor="black", lw=2.0, zorder=5)
            )
    for tick, (_, r) in zip(ax.get_yticklabels(), rows.iterrows()):
        tick.set_color(colours.run(r["attack"], r["method_family"], r["variant"]))
    ax.set(xlabel="victim model", ylabel="attack  |  threat model (generator trained on)")
    ax.tick_params(axis="x", rotation=0)
    ax.set_title(f"Transfer ASR on {dataset} (black boxes: white-box, victim = threat)")
    return fig


# (c) timing
def fig_timing(timing: pd.DataFrame, dataset: str, colours: MethodColours) -> Figure | None:
    """Median seconds per utterance (log scale, p25-p75 whiskers) per method and threat."""
    t = timing[timing["dataset"] == dataset]
    if t.empty:
        return None
    t = t.assign(
        label=[
            m if (pd.isna(b) or b <= 1 or m == STAA) else f"{m} (batch {int(b)})"
            for m, b in zip(t["method"], t["batch_size"])
        ]
    )
    methods = (
        t[["label", "method", "method_family"]]
        .drop_duplicates()
        .assign(
            _k=lambda x: [
                (family_rank(f), m != f, lab) for lab, m, f in zip(x["label"], x["method"], x["method_family"])
            ]
        )
        .sort_values("_k")
    )
    threats = sorted(t["threat"].unique())
    n = len(methods)
    width = 0.8 / max(n, 1)
    fig = Figure(figsize=(max(5.5, 1.2 + 0.55 * n * len(threats) + 2.5), 4.2), layout="constrained")
    ax = fig.subplots()
    ymax = 0.0
    for j, (_, m) in enumerate(methods.iterrows()):
        c = colours(m["method"], m["method_family"])
        for i, thr in enumerate(threats):
            row = t[(t["label"] == m["label"]) & (t["threat"] == thr)]
            if row.empty:
                continue
            r = row.iloc[0]
            x = i - 0.4 + width * (j + 0.5)
            y = float(r["seconds_per_utterance"])
            ax.bar(x, y, width=width * 0.92, color=c, label=m["label"] if i == 0 else None, zorder=2)
            lo, hi = r["seconds_p25"], r["seconds_p75"]
            if np.isfinite(lo) and np.isfinite(hi):
                ax.errorbar(x, y, yerr=[[max(y - lo, 0)], [max(hi - y, 0)]], color="0.15", capsize=2, lw=1, zorder=3)
                ymax = max(ymax, hi)
            ymax = max(ymax, y)
            sp = r["speedup_vs_staa"]
            if np.isfinite(sp):
                txt = f"{sp:.0f}×" if sp >= 10 else f"{sp:.1f}×"
                top = hi if np.isfinite(hi) else y
                ax.text(x, top * 1.15, txt, ha="center", va="bottom", fontsize=7, rotation=90 if n > 3 else 0, zorder=4)
    ax.set_yscale("log")
    ymin = float(
        np.nanmin(np.concatenate([t["seconds_per_utterance"].to_numpy(float), t["seconds_p25"].to_numpy(float)]))
    )
    bottom = 10 ** np.floor(np.log10(ymin * 0.9)) if ymin > 0 else None
    ax.set_ylim(bottom=bottom, top=ymax * (12 if n > 3 else 5))
    ax.set_xticks(range(len(threats)), [f"threat: {x}" for x in threats])
    ax.set_ylabel("time per utterance (s, log scale)")
    dev = ", ".join(
        sorted(
            {
                f"{d} / {int(th)} thread{'s' if th != 1 else ''}"
                for d, th in zip(t["device"], t["threads"])
                if pd.notna(th)
            }
        )
    )
    ax.set_title(
        f"Generation time per utterance on {dataset} ({dev})\n"
        "bar labels: speed-up of STAA-Net over the method (speedup_vs_staa); "
        "whiskers: 25th–75th percentile",
        fontsize="medium",
    )
    ax.legend(title="method", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.grid(axis="x", visible=False)
    return fig


def _errorbar(ax, r: Any, xcol: str | None, xscale: float, ycol: str, yscale: float, colour: str) -> None:
    """Draw the stored 95 % interval of row `r` around its point (nothing where a bound is missing)."""

    def err(col: str | None, scale: float) -> Any:
        if col is None:
            return None
        v, lo, hi = (float(r.get(c, np.nan)) for c in (col, f"{col}_ci_low", f"{col}_ci_high"))
        if not all(np.isfinite([v, lo, hi])):
            return None
        return [[max(v - lo, 0) * scale], [max(hi - v, 0) * scale]]

    xerr, yerr = err(xcol, xscale), err(ycol, yscale)
    if xerr is None and yerr is None:
        return
    x = float(r[xcol]) * xscale if xcol else 0.0
    ax.errorbar(
        [x],
        [float(r[ycol]) * yscale],
        xerr=xerr,
        yerr=yerr,
        fmt="none",
        ecolor=colour,
        elinewidth=1,
        capsize=2,
        alpha=0.8,
        zorder=2,
    )


# (d) ablation
def fig_ablation(
    summary: pd.DataFrame, dataset: str, colours: MethodColours, reference: str, variants: Sequence[str] | None = None
) -> Figure | None:
    """Per STAA-Net variant: white-box ASR, perturbed fraction and mean transfer ASR, with 95 %
    intervals (`summary`: tables.variant_summary)."""
    st = summary[summary["dataset"] == dataset]
    if variants is not None:
        st = st[st["variant"].isin(list(variants))]
    if st.empty:
        return None
    variants = sorted(st["variant"].unique(), key=lambda v: _variant_key(v, reference))
    threats = sorted(st["threat"].unique())
    panels = [
        ("white-box ASR", "ASR (%)", "asr", 100),
        ("perturbed fraction (white-box)", "perturbed samples (%)", "l0_percent", 1),
    ]
    if st["transfer_asr_mean"].notna().any():
        panels.append(("transfer ASR (mean over other victims)", "ASR (%)", "transfer_asr_mean", 100))
    fig = Figure(figsize=(3.3 * len(panels) + 1.8, 3.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    width = 0.8 / len(variants)
    for ax, (title, ylabel, col, scale) in zip(axes, panels):
        for j, v in enumerate(variants):
            c = colours.run(STAA, STAA, v)
            xs = [i - 0.4 + width * (j + 0.5) for i in range(len(threats))]
            rows = [st[(st["threat"] == thr) & (st["variant"] == v)] for thr in threats]
            ys = [float(r[col].iloc[0]) * scale if len(r) else np.nan for r in rows]
            lo = [max(y - float(r[f"{col}_ci_low"].iloc[0]) * scale, 0) if len(r) else 0 for y, r in zip(ys, rows)]
            hi = [max(float(r[f"{col}_ci_high"].iloc[0]) * scale - y, 0) if len(r) else 0 for y, r in zip(ys, rows)]
            yerr = np.nan_to_num(np.array([lo, hi], dtype=float))
            bars = ax.bar(
                xs,
                ys,
                width=width * 0.92,
                color=c,
                label=v,
                zorder=2,
                yerr=yerr,
                error_kw={"elinewidth": 0.8, "capsize": 2, "ecolor": "0.25"},
            )
            fmt = "%.0f" if "ASR" in ylabel else "%.1f"
            dead = [bool(len(r)) and _flag_true(r["collapsed"].iloc[0]) if "collapsed" in r else False for r in rows]
            ax.bar_label(
                bars,
                labels=["" if d or not np.isfinite(y) else fmt % y for d, y in zip(dead, ys)],
                fontsize=7,
                padding=1,
            )
            for x, d in zip(xs, dead):  # staa.report.flags: a collapsed generator is no attack
                if d:
                    ax.text(x, 1, COLLAPSED_TEXT, rotation=90, ha="center", va="bottom", fontsize=6, color="0.2")
        ax.set_xticks(range(len(threats)), threats)
        ax.set_xlabel("threat model")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.margins(y=0.15)
        ax.grid(axis="x", visible=False)
        if "ASR" in ylabel:
            ax.set_ylim(0, 112)
    fig.legend(
        *axes[0].get_legend_handles_labels(), title="STAA-Net variant", loc="outside right center", frameon=False
    )
    fig.suptitle(f"STAA-Net ablation on {dataset} (reference variant: {reference})")
    return fig


# (d') a config sweep: the sparsity trade-off curve
def fig_sweep(
    summary: pd.DataFrame,
    attacks: pd.DataFrame,
    dataset: str,
    name: str,
    sweep: Mapping[str, Any],
    colours: MethodColours,
) -> Figure | None:
    """White-box and mean transfer ASR against the white-box perturbed share, one point per sweep
    value (joined in value order), per threat model; the baselines' white-box points on the same
    axes. Error bars: 95 % intervals on both axes."""
    points = [(pt["value"], pt["variant"]) for pt in sweep.get("points", [])]
    sel = summary[(summary["dataset"] == dataset) & summary["variant"].isin([v for _, v in points])]
    if sel.empty:
        return None
    threats = sorted(sel["threat"].unique())
    fig = Figure(figsize=(4.4 * len(threats) + 1.8, 3.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(threats), sharey=True))
    c_wb = colours(STAA, STAA)
    c_tr = shade(c_wb, 1)
    handles = [
        Line2D([], [], marker="o", color=c_wb, label="STAA-Net, white-box ASR"),
        Line2D([], [], marker="s", ls="--", color=c_tr, label="STAA-Net, mean transfer ASR"),
    ]
    seen: set[str] = set()
    for ax, thr in zip(axes, threats):
        rows = []
        for value, variant in points:
            r = sel[(sel["threat"] == thr) & (sel["variant"] == variant)]
            if len(r):
                rows.append((value, r.iloc[0]))
        # x: the share of samples perturbed over all test utterances (a collapsed mask is at 0, not missing)
        for col, marker, ls, c in (("asr", "o", "-", c_wb), ("transfer_asr_mean", "s", "--", c_tr)):
            line = [(float(r["l0_all_percent"]), 100 * float(r[col])) for v, r in rows if v is not None]
            if line:  # the budgets in value order; "no budget" (null) is a point of its own
                ax.plot(*zip(*line), marker=marker, ls=ls, color=c, zorder=3)
            for v, r in rows:
                if v is None:
                    ax.plot(
                        [float(r["l0_all_percent"])],
                        [100 * float(r[col])],
                        marker=marker,
                        ls="",
                        color=c,
                        markerfacecolor="white",
                        zorder=3,
                    )
            for _, r in rows:
                _errorbar(ax, r, "l0_all_percent", 1, col, 100, c)
        # one label per position: points that land on the same spot (e.g. budgets whose masks all
        # collapse to 0 %) share one annotation instead of printing over each other
        spots: dict[tuple[float, float], list[str]] = {}
        dead: dict[tuple[float, float], list[bool]] = {}
        for value, r in rows:
            label = "none" if value is None else f"{value:g}" if isinstance(value, (int, float)) else str(value)
            collapsed = _flag_true(r.get("collapsed"))
            n_c = r.get("n_collapsed", 0)
            if not collapsed and pd.notna(n_c) and int(n_c) > 0:  # the point is the mean over the other seeds
                label += f" ({int(n_c)}/{int(n_c) + int(r['n_seeds'])} seeds collapsed)"
            xy = (float(r["l0_all_percent"]), 100 * float(r["asr"]))
            if np.isfinite(xy).all():  # a point without a perturbed share is not drawn either
                spot = (round(xy[0] * 2) / 2, round(xy[1] * 2) / 2)
                spots.setdefault(spot, []).append(label)
                dead.setdefault(spot, []).append(collapsed)
        for i, ((x, y), labels) in enumerate(spots.items()):
            text = ", ".join(labels)
            if all(dead[(x, y)]):  # staa.report.flags: no attack, whatever its budget
                text += f": {COLLAPSED_TEXT}"
            elif any(dead[(x, y)]):
                text = ", ".join(f"{lab} ({COLLAPSED_TEXT})" if d else lab for lab, d in zip(labels, dead[(x, y)]))
            ax.annotate(
                f"{sweep.get('key', name)}={text}" if i == 0 else text,
                (x, y),
                textcoords="offset points",
                xytext=(4, 5 + 9 * (i % 2)),
                fontsize=7,
                color="0.2",
            )
        base = attacks[
            (attacks["dataset"] == dataset)
            & (attacks["threat"] == thr)
            & attacks["white_box"]
            & (attacks["method_family"] != STAA)
        ]
        for _, b in base.iterrows():
            c = colours.run(b["attack"], b["method_family"], "")
            ax.scatter([b["l0_all_percent"]], [100 * b["asr"]], marker="D", s=45, color=c, zorder=3)
            _errorbar(ax, b, "l0_all_percent", 1, "asr", 100, c)
            if b["attack"] not in seen:
                seen.add(b["attack"])
                handles.append(Line2D([], [], marker="D", ls="", color=c, label=f"{b['attack']} (white-box, subset)"))
        ax.set(xlabel="perturbed share (% of samples, all test utterances)", title=f"threat model: {thr}")
        ax.set_ylim(-3, 103)
    axes[0].set_ylabel("attack success rate (%)")
    fig.legend(handles=handles, loc="outside right center", frameon=False)
    fig.suptitle(f"Sweep '{name}' on {dataset}: {sweep.get('key', name)} against success (95 % intervals)")
    return fig


# (e) example utterance
def spectrogram(x: np.ndarray, sr: int, n_fft: int = 512, hop: int = 128) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Magnitude STFT in dB (Hann window): times (s), frequencies (Hz), S[f, t]."""
    n_fft = int(min(n_fft, max(16, 2 ** int(np.floor(np.log2(max(len(x), 16)))))))
    hop = max(1, min(hop, n_fft // 4))
    if len(x) < n_fft:
        x = np.pad(x, (0, n_fft - len(x)))
    n = 1 + (len(x) - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n)[:, None]
    frames = x[idx] * np.hanning(n_fft)[None, :]
    mag = np.abs(np.fft.rfft(frames, axis=1)).T
    s_db = 20 * np.log10(mag + 1e-10)
    times = (np.arange(n) * hop + n_fft / 2) / sr
    freqs = np.fft.rfftfreq(n_fft, 1 / sr)
    return times, freqs, s_db


def fig_example(ex: Mapping[str, Any], colours: MethodColours) -> Figure:
    """Waveform with perturbation and mask overlaid; clean/adversarial/perturbation spectra."""
    x, xa, mask, sr = ex["x"], ex["x_adv"], ex["mask"], ex["sample_rate"]
    delta = xa - x
    t = np.arange(len(x)) / sr
    c_st = colours(STAA, STAA)
    fig = Figure(figsize=(11, 7.0), layout="constrained")
    gs = fig.add_gridspec(3, 3, height_ratios=[1.0, 0.12, 1.1])
    ax = fig.add_subplot(gs[0, :])
    peak = float(np.max(np.abs(np.concatenate([x, xa])))) or 1.0
    dur = len(x) / sr
    dens = _mask_density(mask)
    cmap = mcolors.LinearSegmentedColormap.from_list("mask", ["#FFFFFF", c_st])
    ax.imshow(
        dens[None, :],
        extent=(0, dur, -1.1 * peak, 1.6 * peak),
        aspect="auto",
        cmap=cmap,
        vmin=0,
        vmax=1,
        alpha=0.35,
        interpolation="nearest",
        zorder=0,
    )
    ax.add_patch(Rectangle((0, 0), 0, 0, color=c_st, alpha=0.35, label="mask (shade: share of samples perturbed)"))
    ax.plot(t, x, color="0.45", lw=0.6, label="clean waveform")
    ax.plot(t, delta, color=c_st, lw=0.7, label="perturbation δ = x_adv − x")
    ax.set(xlim=(0, dur), ylim=(-1.1 * peak, 1.6 * peak), ylabel="amplitude")
    ax.tick_params(labelbottom=False)
    e_x, e_d = float(np.sum(x**2)), float(np.sum(delta**2))
    snr = f"{10 * np.log10(e_x / e_d):.1f} dB" if e_d > 0 and e_x > 0 else "n/a"
    ax.set_title(
        f"utterance {ex['utt_id']}: true '{ex['label']}', clean prediction "
        f"'{ex['clean_pred']}' → adversarial prediction '{ex['adv_pred']}'\n"
        f"perturbed {100 * float(np.mean(mask > 0.5)):.1f}% of positions, "
        f"energy SNR {snr}",
        fontsize="medium",
    )
    ax.legend(loc="upper right", fontsize="small", framealpha=0.9, ncols=3)
    strip = fig.add_subplot(gs[1, :], sharex=ax)
    strip.imshow(
        dens[None, :], extent=(0, dur, 0, 1), aspect="auto", cmap=cmap, vmin=0, vmax=1, interpolation="nearest"
    )
    strip.set(ylim=(0, 1), yticks=[], xlabel="time (s)")
    strip.set_ylabel("mask", rotation=0, ha="right", va="center")
    strip.grid(False)
    specs = [spectrogram(a, sr) for a in (x, xa, delta)]
    vmax = max(float(s.max()) for _, _, s in specs)
    vmin = vmax - 80
    titles = ["clean", "adversarial", "perturbation δ"]
    im = None
    for k, ((tt, ff, s), title) in enumerate(zip(specs, titles)):
        a = fig.add_subplot(gs[2, k])
        im = a.pcolormesh(tt, ff / 1000, s, shading="auto", cmap="magma", vmin=vmin, vmax=vmax, rasterized=True)
        a.set(title=f"{title} spectrogram", xlabel="time (s)", xlim=(0, dur))
        a.set_ylabel("frequency (kHz)" if k == 0 else "")
        a.grid(False)
    fig.colorbar(im, ax=fig.axes[-3:], label="magnitude (dB)", shrink=0.9)
    return fig


def _mask_density(mask: np.ndarray, bins: int = 800) -> np.ndarray:
    """Share of perturbed positions in each of at most `bins` equal time bins (so isolated
    samples stay visible at screen resolution)."""
    m = (np.asarray(mask) > 0.5).astype(float)
    n = min(bins, m.size)
    edges = np.linspace(0, m.size, n + 1).astype(int)
    return np.add.reduceat(m, edges[:-1]) / np.maximum(np.diff(edges), 1)


# (f) training curves
def fig_victim_training(logs: pd.DataFrame, dataset: str) -> Figure | None:
    d = logs[logs["dataset"] == dataset]
    if d.empty:
        return None
    victims = list(dict.fromkeys(d["victim"]))
    # victims are not attack methods: greys, markers and line styles keep them apart from the
    # method palette
    greys = sns.color_palette("Greys_r", len(victims) + 2).as_hex()[: len(victims)]
    fig = Figure(figsize=(9, 3.4), layout="constrained")
    a1, a2 = fig.subplots(1, 2)
    for i, v in enumerate(victims):
        g = d[d["victim"] == v].sort_values("epoch")
        kw = dict(
            color=greys[i],
            marker=THREAT_MARKERS[i % len(THREAT_MARKERS)],
            ms=4,
            ls=LINESTYLES[i % len(LINESTYLES)],
            label=v,
        )
        a1.plot(g["epoch"], g["train_loss"], **kw)
        a2.plot(g["epoch"], 100 * g["dev_ua"], **kw)
    a1.set(xlabel="epoch", ylabel="training loss (cross-entropy)", title="training loss")
    a2.set(xlabel="epoch", ylabel="dev UA (%)", title="dev unweighted accuracy")
    for a in (a1, a2):
        a.xaxis.get_major_locator().set_params(integer=True)
    fig.legend(*a1.get_legend_handles_labels(), title="victim", loc="outside right center", frameon=False)
    fig.suptitle(f"Victim training on {dataset}")
    return fig


def fig_generator_training(logs: pd.DataFrame, dataset: str, colours: MethodColours, reference: str) -> Figure | None:
    """Training curves against Adam steps: fooling rate (train, dev), hard dev mask density,
    saturated magnitudes, and the input dependence of the dev perturbations (cosine between
    utterances, mask overlap). Each variant has its own colour (a qualitative palette, not shades
    of one colour), each threat model its own line style."""
    d = logs[logs["dataset"] == dataset]
    if d.empty:
        return None
    panels = [
        ("dev_fooling_rate", "dev fooling rate (%)", 100),
        ("fooling_rate", "train fooling rate (%)", 100),
        ("dev_mask_density", "dev hard mask density (%)", 100),
        ("saturation", "saturated magnitudes (% of masked, |v| ≥ 0.95 eps)", 100),
        ("dev_delta_cosine", "cosine between utterances' perturbations", 1),
        ("dev_mask_overlap", "mask overlap between utterances", 1),
        ("adv", "adversarial loss $L_{adv}$", 1),
    ]
    panels = [p for p in panels if p[0] in d.columns]
    xcol = "step" if "step" in d.columns and d["step"].notna().all() else "epoch"
    threats = sorted(d["threat"].unique())
    variants = sorted(d["variant"].unique(), key=lambda v: _variant_key(v, reference))
    palette = sns.color_palette("tab10", max(10, len(variants)))
    colour = {v: mcolors.to_hex(palette[i % len(palette)]) for i, v in enumerate(variants)}
    fig = Figure(figsize=(12, 5.6), layout="constrained")
    axes = fig.subplots(2, 4).ravel()
    for ax, (col, title, scale) in zip(axes, panels):
        for v in variants:
            for i, thr in enumerate(threats):
                g = d[(d["threat"] == thr) & (d["variant"] == v)].sort_values("epoch")
                if g.empty:
                    continue
                ax.plot(
                    g[xcol],
                    scale * g[col].astype(float),
                    color=colour[v],
                    ls=LINESTYLES[i % len(LINESTYLES)],
                    marker="o" if len(g) < 12 else None,
                    ms=2.5,
                    lw=1.3,
                )
        ax.set(xlabel="Adam steps" if xcol == "step" else "epoch", ylabel=title.split(" $")[0].split(" (")[0])
        ax.set_title(title, fontsize="small")
        ax.xaxis.get_major_locator().set_params(integer=True)
    for ax in axes[len(panels) : -1]:
        ax.axis("off")
    leg_ax = axes[-1]
    leg_ax.axis("off")
    handles = [Line2D([], [], color=colour[v], lw=2, label=v) for v in variants]
    handles += [
        Line2D([], [], color="0.3", ls=LINESTYLES[i % len(LINESTYLES)], label=f"threat: {t}")
        for i, t in enumerate(threats)
    ]
    leg_ax.legend(handles=handles, loc="center", frameon=False, title="variant / threat", fontsize="small")
    fig.suptitle(f"STAA-Net generator training on {dataset}")
    return fig


# --------------------------------------------------------------------------------------------
def build_figures(
    attack_metrics: Sequence[PathLike],
    timing: Sequence[PathLike],
    victim_logs: Sequence[PathLike],
    generator_logs: Sequence[PathLike],
    example_npz: Sequence[PathLike],
    out_dir: Path,
    style: Mapping[str, Any] | None = None,
    ablation_reference: str = "full",
    victims_order: Sequence[str] = (),
    ablation_variants: Sequence[str] | None = None,
    sweeps: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Render every figure its inputs allow into `out_dir`; return the written files.

    `style`: ``dpi`` (150), ``context`` (seaborn, "paper"), ``palette`` (method or family ->
    colour overrides), ``formats`` (["png", "pdf"]). Empty input lists skip their figures.
    """
    st = {**DEFAULT_STYLE, **{k: v for k, v in (style or {}).items() if v is not None}}
    st["formats"] = list(st["formats"])
    out_dir = Path(out_dir)
    raw = load_attack_metrics(attack_metrics)
    attacks = over_seeds(raw)
    summary = variant_summary(attacks, mean_transfer(raw))
    tim = load_timing(timing)
    vlogs = load_victim_logs(victim_logs)
    glogs = load_generator_logs(generator_logs)
    # training curves: the first seed's (the other seeds' curves differ only by chance)
    vlogs = vlogs[vlogs["seed"] == vlogs["seed"].min()] if len(vlogs) else vlogs
    glogs = glogs[glogs["seed"] == glogs["seed"].min()] if len(glogs) else glogs
    example = load_example(example_npz[0]) if len(example_npz) else None

    methods: list[tuple[str, str]] = []
    for a, f, v in zip(attacks["attack"], attacks["method_family"], attacks["variant"]):
        methods.append((attack_label(a, v, ablation_reference), f))
    methods += list(zip(tim["method"], tim["method_family"]))
    methods += [(attack_label(STAA, v, ablation_reference), STAA) for v in glogs["variant"]]
    methods += [(STAA, STAA)]
    colours = MethodColours(methods, st.get("palette"), ablation_reference)

    datasets = list(dict.fromkeys([*attacks["dataset"], *tim["dataset"], *vlogs["dataset"], *glogs["dataset"]]))
    jobs: list[tuple[str, Any]] = []
    for ds in datasets:
        s = _safe(ds)
        jobs += [
            (f"whitebox_tradeoff_{s}", lambda ds=ds: fig_whitebox_tradeoff(attacks, ds, colours, ablation_reference)),
            (
                f"transfer_heatmap_{s}",
                lambda ds=ds: fig_transfer_heatmap(attacks, ds, colours, ablation_reference, victims_order),
            ),
            (f"timing_{s}", lambda ds=ds: fig_timing(tim, ds, colours)),
            (f"ablation_{s}", lambda ds=ds: fig_ablation(summary, ds, colours, ablation_reference, ablation_variants)),
            (f"training_victims_{s}", lambda ds=ds: fig_victim_training(vlogs, ds)),
            (f"training_generators_{s}", lambda ds=ds: fig_generator_training(glogs, ds, colours, ablation_reference)),
        ]
        for name, sweep in (sweeps or {}).items():
            jobs.append(
                (
                    f"sweep_{_safe(name)}_{s}",
                    lambda ds=ds, name=name, sweep=sweep: fig_sweep(summary, attacks, ds, name, sweep, colours),
                )
            )
    if example is not None:
        jobs.append(("example_utterance", lambda: fig_example(example, colours)))

    written: list[Path] = []
    with matplotlib.rc_context(_rc(st)):
        for name, make in jobs:
            fig = make()
            if fig is None:
                log.info("figure %s skipped: no input data", name)
                continue
            written += _save(fig, out_dir, name, st)
    return written
