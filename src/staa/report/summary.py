"""Markdown reproduction summary: our measured headline figures beside the paper's claims.

Every number comes from the input files. The only constants are the paper's published claim
bands (:data:`PAPER_CLAIMS`), stated as the paper's. Like is compared with like: white-box ASR and
perturbed share per threat model, speed-up per baseline. A figure is INSIDE the paper's band when
its interval (the ASR's bootstrap interval; the range over runs elsewhere) lies in it, BELOW or
ABOVE when it lies wholly outside, OVERLAPS when it straddles an edge, NO DATA when there is nothing
to compare, COLLAPSED when the generator perturbs no sample (staa.report.flags: no attack to compare).
A figure measured on a victim whose clean accuracy is not significantly above chance is marked †.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from staa.report.collect import STAA, load_attack_metrics, load_timing, load_victim_metrics
from staa.report.flags import CHANCE_TEST, COLLAPSED_TEXT, DAGGER, add_chance_flags, mark_victims
from staa.utils import write_text

PathLike = str | Path

#: Claim bands published by Chang et al. (2024), STAA-Net (IEEE Trans. Affective Computing).
PAPER_CLAIMS: dict[str, dict[str, Any]] = {
    "perturbed_fraction": {"band": (6.0, 25.0), "unit": "%", "text": "STAA-Net perturbs 6–25 % of the samples"},
    "asr": {"band": (53.0, 99.0), "unit": "%", "text": "STAA-Net attack success rate 53–99 %"},
    "speedup": {"band": (57.0, 418.0), "unit": "×", "text": "STAA-Net is 57–418× faster than the iterative baselines"},
}

INSIDE, BELOW, ABOVE, OVERLAPS, NO_DATA = "INSIDE", "BELOW", "ABOVE", "OVERLAPS", "NO DATA"
COLLAPSED = "COLLAPSED"
COLLAPSED_VERDICT = f"**{COLLAPSED}** ({COLLAPSED_TEXT}: the generator's mask perturbs no sample; no attack to compare)"
CHANCE_VERDICT = f"{DAGGER} victim not significantly above chance: not a meaningful attack result"


def verdict(ours: tuple[float, float] | None, band: tuple[float, float]) -> tuple[str, str]:
    """(marker, qualifier) for our interval [lo, hi] against the paper's band."""
    if ours is None:
        return NO_DATA, "no runs to compare"
    lo, hi = ours
    a, b = band
    if lo >= a and hi <= b:
        return INSIDE, "inside the paper's band"
    if hi < a:
        return BELOW, "below the paper's band"
    if lo > b:
        return ABOVE, "above the paper's band"
    return OVERLAPS, "straddles an edge of the paper's band"


def _range(values: Any) -> tuple[float, float] | None:
    v = np.asarray(pd.to_numeric(pd.Series(values), errors="coerce"), dtype=float)
    v = v[np.isfinite(v)]
    return (float(v.min()), float(v.max())) if v.size else None


def _fmt_range(r: tuple[float, float] | None, unit: str, digits: int = 1) -> str:
    if r is None:
        return "–"
    lo, hi = r
    sp = "" if unit in ("×", "") else " "
    if round(lo, digits) == round(hi, digits):
        return f"{lo:.{digits}f}{sp}{unit}"
    return f"{lo:.{digits}f}–{hi:.{digits}f}{sp}{unit}"


def _is_synthetic(info: Any) -> bool:
    if isinstance(info, Mapping):
        if info.get("synthetic") is True:
            return True
        return any(
            "synth" in str(info.get(k, "")).lower() for k in ("kind", "type", "source", "name", "reader", "description")
        )
    return "synth" in str(info).lower()


def _md_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def esc(x: Any) -> str:
        return str(x).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(esc(h) for h in header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _flags(df: pd.DataFrame, col: str) -> pd.Series:
    """A flag column of `df` as booleans (all False where the column is absent or a value missing)."""
    if col not in df:
        return pd.Series(False, index=df.index, dtype=bool)
    return df[col].where(df[col].notna(), False).astype(bool)


def _list(xs: Sequence[Any]) -> str:
    xs = list(dict.fromkeys(str(x) for x in xs))
    return ", ".join(xs) if xs else "–"


def build_summary(
    victims: pd.DataFrame,
    attacks: pd.DataFrame,
    timing: pd.DataFrame,
    config_name: str,
    datasets_info: Mapping[str, Any],
    reference: str = "full",
    sweeps: Mapping[str, Any] | None = None,
) -> str:
    """The summary Markdown text from already loaded DataFrames (attack rows per seed, as loaded:
    the paired tests run per seed, everything else on the means over seeds)."""
    from staa.report.flags import seeds_note
    from staa.report.seeds import interval_label, mean_transfer, over_seeds
    from staa.report.tables import variant_summary

    from staa.report.seeds import victims_over_seeds

    per_seed_victims = add_chance_flags(victims)
    victims = victims_over_seeds(per_seed_victims)
    raw = mark_victims(attacks, per_seed_victims)
    attacks = over_seeds(raw)
    seeds = sorted(set(int(x) for x in raw["seed"])) if len(raw) and "seed" in raw else [0]
    st = attacks[(attacks["method_family"] == STAA) & (attacks["variant"] == reference)]
    st_wb, st_tr = st[st["white_box"]], st[~st["white_box"]]
    base_t = timing[timing["method_family"] != STAA] if len(timing) else timing
    datasets = list(
        dict.fromkeys([*datasets_info.keys(), *victims["dataset"], *attacks["dataset"], *timing["dataset"]])
    )

    out: list[str] = [f"# STAA-Net reproduction summary — config `{config_name}`", ""]
    out.append(
        f"Generated from {len(victims)} victim metrics file(s), {len(raw)} attack "
        f"metrics file(s) ({len(seeds)} seed(s): {_list(seeds)}) and {len(timing)} timing row(s). STAA-Net figures use the "
        f"`{reference}` variant. Paper: Chang et al., *STAA-Net: A Sparse and "
        "Transferable Adversarial Attack for Speech Emotion Recognition*, 2024."
    )
    out.append("")

    # datasets
    out += ["## Datasets", ""]
    info_rows = []
    for ds in datasets:
        info = datasets_info.get(ds, {})
        if isinstance(info, Mapping):
            desc = "; ".join(f"{k}: {v}" for k, v in info.items() if isinstance(v, (str, int, float, bool)))
        else:
            desc = str(info)
        info_rows.append([f"`{ds}`", "yes" if _is_synthetic(info) else "no", desc or "–"])
    out += [_md_table(["dataset", "synthetic", "details"], info_rows), ""]

    # claims
    claims: list[list[str]] = []
    notes: list[str] = []

    def where(df: pd.DataFrame, extra: str = "", unit: str = "run(s)") -> str:
        if df.empty:
            return "–"
        ds = list(dict.fromkeys(df["dataset"]))
        n_seeds = int(df["n_seeds"].max()) if "n_seeds" in df and len(df) else 1
        seeds = f" × {n_seeds} seeds" if n_seeds > 1 else ""
        return (
            f"config `{config_name}`; dataset{'s' if len(ds) > 1 else ''} {_list(ds)}; {len(df)} {unit}{seeds}{extra}"
        )

    # per threat model: white-box ASR (with its bootstrap interval) and the perturbed share
    for r in st_wb.sort_values(["dataset", "threat"]).itertuples():
        src = where(st_wb[(st_wb["dataset"] == r.dataset) & (st_wb["threat"] == r.threat)], "", "run")
        chance = bool(getattr(r, "victim_at_chance", False))
        mark = f" {DAGGER}" if chance else ""
        snote = str(getattr(r, "seeds_note", "") or "")
        if bool(getattr(r, "collapsed", False)):
            for what in ("white-box ASR", "perturbed share"):
                unit = " (STAA-Net)" if what == "white-box ASR" else " (STAA-Net, % of samples)"
                band = PAPER_CLAIMS["asr" if what == "white-box ASR" else "perturbed_fraction"]["band"]
                claims.append(
                    [
                        f"{what} against {r.threat}{unit}{mark}",
                        _fmt_range(band, "%", 0),
                        snote or COLLAPSED_TEXT,
                        src,
                        COLLAPSED_VERDICT + (f"; {CHANCE_VERDICT}" if chance else ""),
                    ]
                )
            continue
        c = PAPER_CLAIMS["asr"]
        ci = (100 * r.asr_ci_low, 100 * r.asr_ci_high) if np.isfinite(getattr(r, "asr_ci_low", np.nan)) else None
        m, q = verdict(ci or (100 * r.asr, 100 * r.asr), c["band"])
        ours = f"{100 * r.asr:.1f} %" + (f" (95 % CI {ci[0]:.1f}–{ci[1]:.1f} %, {r.interval})" if ci else "")
        if snote:
            ours += f"; {snote}"
        claims.append(
            [
                f"white-box ASR against {r.threat} (STAA-Net){mark}",
                _fmt_range(c["band"], "%", 0),
                ours,
                where(
                    st_wb[(st_wb["dataset"] == r.dataset) & (st_wb["threat"] == r.threat)],
                    f"; {r.n_utterances} utterances",
                    "run",
                ),
                f"**{m}** ({q})" + (f"; {CHANCE_VERDICT}" if chance else ""),
            ]
        )
        if m != INSIDE:
            notes.append(f"White-box ASR against {r.threat} on {r.dataset}: {ours}, {q}.")
        if chance:
            notes.append(
                f"{DAGGER} White-box ASR against {r.threat} on {r.dataset} ({100 * r.asr:.1f} %) is measured on a "
                "victim whose clean accuracy is not significantly above chance: fooling it says nothing about "
                "attacking an emotion classifier."
            )
        c = PAPER_CLAIMS["perturbed_fraction"]
        val = float(r.l0_percent)
        lo, hi = float(getattr(r, "l0_percent_ci_low", np.nan)), float(getattr(r, "l0_percent_ci_high", np.nan))
        share = (lo, hi) if np.isfinite(lo) and np.isfinite(hi) else (val, val)
        m, q = verdict(share if np.isfinite(val) else None, c["band"])
        text = (
            (
                f"{val:.1f} % (95 % CI {lo:.1f}–{hi:.1f} %, {r.interval})"
                if share != (val, val)
                else _fmt_range((val, val), "%")
            )
            if np.isfinite(val)
            else "–"
        )
        claims.append(
            [
                f"perturbed share against {r.threat} (STAA-Net, % of samples){mark}",
                _fmt_range(c["band"], "%", 0),
                text + (f"; {snote}" if snote and np.isfinite(val) else ""),
                src,
                f"**{m}** ({q})" + (f"; {CHANCE_VERDICT}" if chance else ""),
            ]
        )
    if st_wb.empty:
        claims.append(
            [
                "white-box ASR and perturbed share (STAA-Net)",
                "6–25 %; 53–99 %",
                "–",
                "–",
                f"**{NO_DATA}** (no white-box runs)",
            ]
        )

    # transfer ASR, for reference: the paper's band is stated over all its attack results; a
    # collapsed generator is no attack and stays out of the range
    c = PAPER_CLAIMS["asr"]
    tr_collapsed = _flags(st_tr, "collapsed")
    live_tr = st_tr[~tr_collapsed]
    r = _range(100 * live_tr["asr"]) if len(live_tr) else None
    m, q = verdict(r, c["band"])
    tr_chance = list(dict.fromkeys(live_tr.loc[_flags(live_tr, "victim_at_chance"), "victim"]))
    extra = (
        f"; {int(tr_collapsed.sum())} run(s) of collapsed generators left out ({COLLAPSED_TEXT})"
        if tr_collapsed.any()
        else ""
    )
    claims.append(
        [
            "transfer ASR (STAA-Net, range over victims)" + (f" {DAGGER}" if tr_chance else ""),
            _fmt_range(c["band"], "%", 0),
            _fmt_range(r, "%") if len(live_tr) or not len(st_tr) else COLLAPSED_TEXT,
            where(live_tr if len(live_tr) else st_tr) + extra,
            (f"**{m}** ({q})" if len(live_tr) or not len(st_tr) else COLLAPSED_VERDICT)
            + (
                f"; {DAGGER} includes victim(s) not significantly above chance: {_list(tr_chance)}" if tr_chance else ""
            ),
        ]
    )

    # speed-up per baseline (range over threat models and datasets)
    c = PAPER_CLAIMS["speedup"]
    devices = (
        _list(f"{d} ({int(t)} thread{'s' if t != 1 else ''})" for d, t in zip(timing["device"], timing["threads"]))
        if len(timing)
        else ""
    )
    for meth, g in base_t.groupby("method", sort=False) if len(base_t) else []:
        r = _range(g["speedup_vs_staa"])
        m, q = verdict(r, c["band"])
        claims.append(
            [
                f"speed-up over {meth} (median time)",
                _fmt_range(c["band"], "×", 0),
                _fmt_range(r, "×"),
                where(g, f"; threats {_list(g['threat'])}; device {devices}", "timing row(s)"),
                f"**{m}** ({q})",
            ]
        )
    if len(base_t) and not (base_t["speedup_vs_staa"] >= c["band"][0]).all():
        notes.append(
            "Speed-ups below the paper's band depend on the device, the baselines' iteration "
            "budgets and the utterance length (docs/paper-scale.md)."
        )
    if not len(base_t):
        claims.append(
            [
                "speed-up over the iterative baselines",
                _fmt_range(c["band"], "×", 0),
                "–",
                "–",
                f"**{NO_DATA}** (no timing rows)",
            ]
        )

    # victims: each training seed of each victim tested against chance (staa.report.flags)
    if len(victims):
        flagged = per_seed_victims[per_seed_victims["at_chance"].astype(bool)]
        several = bool(per_seed_victims.duplicated(["dataset", "victim"]).any())
        m = "ABOVE CHANCE" if flagged.empty else "AT CHANCE"
        q = (
            f"every victim is significantly above chance ({CHANCE_TEST})"
            if flagged.empty
            else f"{len(flagged)} victim(s) not significantly above chance ({CHANCE_TEST}): "
            + "; ".join(
                f"{r.victim} on {r.dataset}{f', seed {r.seed}' if several else ''} "
                f"({r.n_correct}/{r.n_scored} correct, chance {r.chance:.3g}, p = {r.p_wa:.2g}; "
                f"UA {r.ua:.3f}, p = {r.p_ua:.2g})"
                for r in flagged.itertuples()
            )
            + f"; the attacks on them are marked {DAGGER}"
        )
        claims.append(
            [
                "victims' clean accuracy (UA; WA)",
                "victims trained to well above chance (per-victim values: paper's tables)",
                f"UA {_fmt_range(_range(100 * victims['ua']), '%')}; WA {_fmt_range(_range(100 * victims['wa']), '%')}",
                where(victims, f"; victims {_list(victims['victim'])}", "victim(s)"),
                f"**{m}** ({q})",
            ]
        )
        if not flagged.empty:
            notes.append(
                f"Some victims did not learn ({_list(flagged['victim'])}): every figure measured on them is "
                f"marked {DAGGER} here and in the tables (column victim_at_chance); attacks on them are not meaningful."
            )
    else:
        claims.append(
            [
                "victims' clean accuracy (UA; WA)",
                "per-victim values: paper's tables",
                "–",
                "–",
                f"**{NO_DATA}** (no victim metrics)",
            ]
        )

    out += [
        "## Headline claims",
        "",
        "Paper bands are the paper's published claims. Like is compared with like: white-box ASR "
        "and perturbed share per threat model, speed-up per baseline. INSIDE: our interval (for ASR and "
        "perturbed share the 95 % interval: bootstrap over utterances with one seed, t over seed means "
        "with several; elsewhere the range over the runs named in *source*) lies in the band; BELOW / "
        "ABOVE: wholly outside it; OVERLAPS: it straddles an edge; COLLAPSED: the generator's hard mask "
        f"perturbs no sample on any test utterance ({COLLAPSED_TEXT}), so there is no attack to compare "
        "(a collapsed seed is never averaged with the seeds that learned). "
        f"{DAGGER}: measured on a victim not significantly above chance ({CHANCE_TEST}).",
        "",
    ]
    out += [_md_table(["claim", "paper", "ours", "source", "verdict"], claims), ""]

    # general notes on comparability
    synth = [ds for ds in datasets if _is_synthetic(datasets_info.get(ds, {}))]
    if synth:
        notes.append(
            f"Dataset(s) {_list(synth)} are synthetic stand-ins, not DEMoS/IEMOCAP: "
            "absolute accuracies and attack rates are not comparable with the paper, "
            "only the trends are."
        )
    if len(victims):
        mx = int(victims["n_params"].max())
        if mx < 1_000_000:
            mn = int(victims["n_params"].min())
            size = f"{mx:,}" if mn == mx else f"{mn:,}–{mx:,}"
            notes.append(
                f"Victim models are small ({size} parameters), far smaller than the "
                "paper's; small models can be easier or harder to fool and transfer "
                "to."
            )
        ep = _range(victims["epochs"])
        notes.append(
            f"Victims trained for {_fmt_range(ep, 'epochs', 0)}; test sets of "
            f"{_fmt_range(_range(victims['n_test']), 'utterances', 0)}."
        )
    if len(timing) and any("cpu" in str(d).lower() for d in timing["device"]):
        notes.append(
            f"Timing was measured on {devices}; the paper timed on GPU, so "
            "absolute seconds differ and the speed-up depends on the device."
        )
    sub = attacks[attacks["subset"] == "subset"] if len(attacks) else attacks
    if len(sub):
        n = _range(sub["n_utterances"])
        notes.append(
            f"Baselines (and 'staa (subset)' rows) were evaluated on a subset of "
            f"{_fmt_range(n, 'utterances', 0)} to bound their run time."
        )
    if len(attacks):
        n = _range(st["n_utterances"]) if len(st) else None
        if n is not None:
            notes.append(f"STAA-Net runs evaluated {_fmt_range(n, 'utterances', 0)} each.")
    notes += _collapse_notes(attacks, reference)
    out += ["## Notes", ""]
    out += [f"- {n}" for n in notes] or ["- None."]
    out.append("")

    pairs = paired_comparisons(raw, reference)
    if len(pairs):
        out += [
            "## STAA-Net against each baseline, on the same utterances",
            "",
            "Each row compares which of the baselines' subset utterances STAA-Net and the baseline fool "
            "on one victim (white-box when the victim is the threat model), within one seed (the same "
            "generator, subset and baseline run). *p* is the exact McNemar test on the utterances only "
            "one of them fools, Holm-corrected over every row of this table; the verdict is STAA-Net's. "
            f"A seed whose generator collapsed ({COLLAPSED_TEXT}) is not tested and stays out of the correction; "
            f"{DAGGER}: a victim not significantly above chance. "
            + (
                "With several seeds, a claim holds across seeds only where every seed's row says so."
                if len(seeds) > 1
                else "One seed: the test covers utterances, not training runs."
            ),
            "",
        ]
        out += [
            _md_table(
                [
                    "dataset",
                    "threat",
                    "victim",
                    "seed",
                    "baseline",
                    "utterances",
                    "STAA-Net ASR",
                    "baseline ASR",
                    "only STAA-Net / only baseline",
                    "p (Holm)",
                    "STAA-Net is",
                ],
                [
                    [
                        r.dataset,
                        r.threat,
                        r.victim
                        + (" (white-box)" if r.white_box else "")
                        + (f" {DAGGER}" if r.victim_at_chance else ""),
                        r.seed,
                        r.baseline,
                        "–" if r.skipped else r.n,
                        "–" if r.skipped else f"{r.staa_asr:.2f}",
                        "–" if r.skipped else f"{r.baseline_asr:.2f}",
                        "–" if r.skipped else f"{r.staa_only} / {r.baseline_only}",
                        "–" if r.skipped else f"{r.p_holm:.2g}",
                        r.verdict,
                    ]
                    for r in pairs.itertuples()
                ],
            ),
            "",
        ]
        if len(seeds) > 1:
            agree = []
            for key, grp in pairs.groupby(["dataset", "threat", "victim", "baseline"], sort=False):
                g = grp[grp["skipped"] == ""]  # a collapsed seed is not a claim either way
                words = {v.split(" (")[0] for v in g["verdict"]}
                n_skip = len(grp) - len(g)
                agree.append(
                    [
                        *key[:2],
                        key[2] + (f" {DAGGER}" if grp["victim_at_chance"].any() else ""),
                        key[3],
                        f"{len(g)}/{len(grp)}; {n_skip} collapsed, not tested" if n_skip else len(g),
                        "–"
                        if not len(g)
                        else words.pop()
                        if len(words) == 1
                        else "mixed: " + ", ".join(sorted(v.split(" (")[0] for v in g["verdict"])),
                    ]
                )
            out += [
                "Across seeds:",
                "",
                _md_table(["dataset", "threat", "victim", "baseline", "seeds", "STAA-Net is (in every seed)"], agree),
                "",
            ]

    summary = variant_summary(attacks, mean_transfer(raw))
    for name, sweep in (sweeps or {}).items():
        rows = []
        for pt in sweep.get("points", []):
            for r in summary[summary["variant"] == pt["variant"]].itertuples():

                def ci(col: str, scale: float = 100, digits: int = 1, r: Any = r) -> str:
                    v, lo, hi = (float(getattr(r, c)) for c in (col, f"{col}_ci_low", f"{col}_ci_high"))
                    if not np.isfinite(v):
                        return "–"
                    return (
                        f"{scale * v:.{digits}f} [{scale * lo:.{digits}f}, {scale * hi:.{digits}f}]"
                        if np.isfinite(lo) and np.isfinite(hi)
                        else f"{scale * v:.{digits}f}"
                    )

                note = seeds_note(int(r.n_seeds), int(r.n_collapsed), bool(r.collapsed))
                tr_chance = bool(str(r.transfer_victims_at_chance or ""))
                rows.append(
                    [
                        r.dataset,
                        r.threat + (f" {DAGGER}" if r.victim_at_chance else ""),
                        "none" if pt["value"] is None else pt["value"],
                        f"`{r.variant}`" + (f" ({note})" if note and not r.collapsed else ""),
                        *(
                            [COLLAPSED_TEXT] * 3
                            if r.collapsed
                            else [
                                ci("asr") + (f" {DAGGER}" if r.victim_at_chance else ""),
                                ci("transfer_asr_mean") + (f" {DAGGER}" if tr_chance else ""),
                                ci("l0_all_percent", 1),
                            ]
                        ),
                    ]
                )
        if rows:
            out += [
                f"## Sweep `{name}`: {sweep.get('key', name)} against success",
                "",
                f"Each row is STAA-Net trained with one value of `{sweep.get('key', name)}` (figure "
                f"`sweep_{name}_<dataset>`); 95 % intervals in brackets ({interval_label(len(seeds))}). "
                f"{COLLAPSED_TEXT}: the generator's mask perturbs no sample (no attack; a collapsed seed is left "
                f"out of its point's mean). {DAGGER}: measured on a victim not significantly above chance.",
                "",
                _md_table(
                    [
                        "dataset",
                        "threat",
                        sweep.get("key", name),
                        "variant",
                        "white-box ASR (%)",
                        "mean transfer ASR (%)",
                        "perturbed share (% of samples, all test utterances)",
                    ],
                    rows,
                ),
                "",
            ]

    # per-dataset detail
    out += ["## Per-dataset detail", ""]
    for ds in datasets:
        out += [f"### `{ds}`", ""]
        v = victims[victims["dataset"] == ds]
        if len(v):
            out += [
                _md_table(
                    ["victim", "family", "WA (%)", "UA (%)", "test utterances", "parameters", "above chance"],
                    [
                        [
                            r.victim,
                            r.family,
                            f"{100 * r.wa:.1f}",
                            f"{100 * r.ua:.1f}",
                            r.n_test,
                            f"{r.n_params:,}",
                            (
                                f"no {DAGGER} (p = {r.p_wa:.2g}; UA p = {r.p_ua:.2g})"
                                + (f", seed(s) {r.at_chance_seeds}" if r.n_seeds > 1 else "")
                            )
                            if r.at_chance
                            else f"yes (p = {r.p_wa:.2g}; UA p = {r.p_ua:.2g})",
                        ]
                        for r in v.itertuples()
                    ],
                ),
                "",
            ]
        a = attacks[(attacks["dataset"] == ds) & attacks["white_box"]]
        a = a[(a["method_family"] != STAA) | (a["variant"] == reference)]
        if len(a):
            rows = []
            for r in a.itertuples():
                tr = attacks[
                    (attacks["dataset"] == ds)
                    & (attacks["attack"] == r.attack)
                    & (attacks["variant"] == r.variant)
                    & (attacks["threat"] == r.threat)
                    & ~attacks["white_box"]
                ]
                tr = tr[~_flags(tr, "collapsed")]
                tr_chance = bool(_flags(tr, "victim_at_chance").any())
                chance = f" {DAGGER}" if bool(getattr(r, "victim_at_chance", False)) else ""
                collapsed = bool(getattr(r, "collapsed", False))
                rows.append(
                    [
                        r.attack,
                        r.threat,
                        COLLAPSED_TEXT if collapsed else f"{100 * r.asr:.1f}{chance}",
                        COLLAPSED_TEXT
                        if collapsed
                        else (_fmt_range(_range(100 * tr["asr"]), "", 1) + (f" {DAGGER}" if tr_chance else ""))
                        if len(tr)
                        else "–",
                        COLLAPSED_TEXT if collapsed else "–" if np.isnan(r.l0_percent) else f"{r.l0_percent:.2f}",
                        "–" if collapsed or np.isnan(r.snr_peak_db) else f"{r.snr_peak_db:.1f}",
                        f"{r.seconds_per_utterance:.3g}",
                        r.subset + (f"; {r.seeds_note}" if getattr(r, "seeds_note", "") and not collapsed else ""),
                    ]
                )
            out += [
                _md_table(
                    [
                        "attack",
                        "threat",
                        "white-box ASR (%)",
                        "transfer ASR range (%)",
                        "perturbed (%)",
                        "peak SNR (dB)",
                        "s / utterance",
                        "evaluated on",
                    ],
                    rows,
                ),
                "",
            ]
        t = base_t[base_t["dataset"] == ds] if len(base_t) else base_t
        if len(t):
            out += [
                _md_table(
                    ["method", "threat", "median s / utterance", "speed-up"],
                    [
                        [r.method, r.threat, f"{r.seconds_per_utterance:.3g}", f"{r.speedup_vs_staa:.1f}×"]
                        for r in t.itertuples()
                    ],
                ),
                "",
            ]
    return "\n".join(out).rstrip() + "\n"


def _collapse_notes(attacks: pd.DataFrame, reference: str) -> list[str]:
    """One note per STAA-Net generator (dataset, threat, variant) some or all of whose seeds collapsed."""
    from staa.report.collect import attack_label

    if attacks.empty or "n_collapsed" not in attacks:
        return []
    st = attacks[(attacks["method_family"] == STAA) & attacks["white_box"]]
    st = st[pd.to_numeric(st["n_collapsed"], errors="coerce").fillna(0) > 0]
    out = []
    for r in st.sort_values(["dataset", "threat", "variant"]).itertuples():
        name = attack_label(r.attack, r.variant, reference)
        if bool(r.collapsed):
            out.append(
                f"{name} against {r.threat} on {r.dataset}: {r.seeds_note} — its mask perturbs no sample on any "
                "test utterance; it is no attack and none of its figures is an ASR."
            )
        else:
            out.append(
                f"{name} against {r.threat} on {r.dataset}: {r.seeds_note} (seed(s) {r.collapsed_seeds}, "
                f"{COLLAPSED_TEXT}); its figures are the mean over the other seeds, the collapsed ones left out."
            )
    return out


def provenance_section(config_name: str, config_sha256: str | None) -> str:
    """Which code, packages and config made this summary (each metrics.json has its own record)."""
    from staa.provenance import code_version, package_versions

    code = code_version()
    dirty = " (with uncommitted changes)" if code.get("git_dirty") else ""
    packages = ", ".join(f"{k} {v}" for k, v in package_versions().items())
    return (
        "\n## Provenance\n\n"
        f"- config `{config_name}`, sha256 {config_sha256 or 'not given'}\n"
        f"- code: git commit {code['git_commit']}{dirty}\n- packages: {packages}\n"
        "- every metrics.json records its own commit, packages, device and settings hash under `provenance`\n"
    )


CONTROLS = ("universal", "reference")  # STAA-Net variants `full` is tested against like a baseline


def paired_comparisons(
    attacks: pd.DataFrame, reference: str = "full", controls: Sequence[str] = CONTROLS
) -> pd.DataFrame:
    """STAA-Net (`reference` variant) against every baseline with the same dataset, threat and
    victim, and against the STAA-Net variants in `controls` (the universal perturbation: is the
    attack input-dependent? the paper's mask training: what do our changes buy?), on the
    utterances both were scored on (the baseline subset; the whole test split for a control):
    fooled counts, exact
    McNemar p, Holm-corrected over all rows, and a verdict. Reads the per_utterance.csv beside
    each metrics.json. A seed whose generator collapsed (staa.report.flags) is not tested: its row
    says why in `skipped` (and in the verdict) and stays out of the Holm correction.
    `victim_at_chance` carries the attack rows' flag (staa.report.flags.mark_victims)."""
    from staa.report.flags import collapsed_column, victims_at_chance
    from staa.report.seeds import fooled
    from staa.stats import holm, mcnemar, paired_verdict

    cols = [
        "dataset",
        "threat",
        "victim",
        "white_box",
        "seed",
        "baseline",
        "n",
        "staa_asr",
        "baseline_asr",
        "staa_only",
        "baseline_only",
        "p",
        "victim_at_chance",
        "skipped",
        "p_holm",
        "verdict",
    ]
    if attacks.empty or "path" not in attacks:
        return pd.DataFrame(columns=cols)
    attacks = attacks.assign(collapsed=collapsed_column(attacks), victim_at_chance=victims_at_chance(attacks))
    st = attacks[(attacks["method_family"] == STAA) & (attacks["variant"] == reference)]
    base = attacks[(attacks["method_family"] != STAA) | attacks["variant"].isin(list(controls))]
    rows = []
    for b in base.itertuples():
        match = st[
            (st["dataset"] == b.dataset)
            & (st["threat"] == b.threat)
            & (st["victim"] == b.victim)
            & (st["seed"] == getattr(b, "seed", 0) if "seed" in st else True)
        ]
        if match.empty:
            continue
        name = f"STAA-Net {b.variant}" if b.method_family == STAA else b.attack
        head = [b.dataset, b.threat, b.victim, bool(b.white_box), int(getattr(b, "seed", 0)), name]
        if bool(match["collapsed"].iloc[0]):
            rows.append([*head, pd.NA, np.nan, np.nan, pd.NA, pd.NA, np.nan, bool(b.victim_at_chance), COLLAPSED_TEXT])
            continue
        flags = [fooled(path) for path in (match["path"].iloc[0], b.path)]
        if any(f is None for f in flags):
            continue
        joined = flags[0].to_frame("staa").join(flags[1].to_frame("base"), how="inner")
        if joined.empty:
            continue
        n10, n01, p = mcnemar(joined["staa"], joined["base"])
        rows.append(
            [
                *head,
                len(joined),
                joined["staa"].mean(),
                joined["base"].mean(),
                n10,
                n01,
                p,
                bool(b.victim_at_chance),
                "",
            ]
        )
    df = pd.DataFrame(rows, columns=cols[:-2])
    for c in ("n", "staa_only", "baseline_only"):
        df[c] = df[c].astype("Int64")
    tested = (df["skipped"] == "").to_numpy() if len(df) else np.zeros(0, bool)
    p_holm = np.full(len(df), np.nan)
    if tested.any():
        p_holm[tested] = holm(df.loc[tested, "p"].astype(float))
    df["p_holm"] = p_holm
    df["verdict"] = [
        paired_verdict(p, a - b) if t else f"not tested: STAA-Net seed {s} {k}"
        for p, a, b, t, s, k in zip(df["p_holm"], df["staa_asr"], df["baseline_asr"], tested, df["seed"], df["skipped"])
    ]
    return df


def write_summary(
    victim_metrics: Sequence[PathLike],
    attack_metrics: Sequence[PathLike],
    timing: Sequence[PathLike],
    out_path: Path,
    config_name: str,
    datasets_info: Mapping[str, Any],
    reference: str = "full",
    config_sha256: str | None = None,
    sweeps: Mapping[str, Any] | None = None,
) -> Path:
    """Load the given result files and write the Markdown reproduction summary atomically."""
    text = build_summary(
        load_victim_metrics(victim_metrics),
        load_attack_metrics(attack_metrics),
        load_timing(timing),
        config_name,
        datasets_info,
        reference,
        sweeps,
    )
    text += provenance_section(config_name, config_sha256)
    out_path = Path(out_path)
    write_text(out_path, text)
    return out_path
