"""`staa bench`: wall time and peak memory per rule and per stage, from Snakemake's `benchmark:` files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from staa.utils import read_table

STAGES = {
    "synth_corpus": "data",
    "prepare_data": "data",
    "train_victim": "victims",
    "train_generator": "generators",
    "craft_staa": "attacks",
    "score_staa": "attacks",
    "make_subset": "baselines",
    "attack_baseline": "baselines",
    "score_baseline": "baselines",
    "timing": "timing",
    "report": "report",
}


def collect(bench_dir: str | Path) -> pd.DataFrame:
    """One row per benchmarked job: rule, job (wildcards as path), seconds, max RSS (MB)."""
    rows = []
    for tsv in sorted(Path(bench_dir).rglob("*.tsv")):
        rel = tsv.relative_to(bench_dir)
        rule = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        df = read_table(tsv, ("s", "max_rss"), "Snakemake benchmark", sep="\t")
        if df.empty:
            continue
        rows.append(
            {
                "rule": rule,
                "stage": STAGES.get(rule, "other"),
                "job": str(rel.with_suffix("")),
                "seconds": float(df["s"].iloc[-1]),
                "max_rss_mb": float(df["max_rss"].iloc[-1]),
            }
        )
    return pd.DataFrame(rows, columns=["rule", "stage", "job", "seconds", "max_rss_mb"])


def summarise(jobs: pd.DataFrame, cores: int) -> pd.DataFrame:
    """Per stage: jobs, summed job time, an estimate of its wall time on `cores` parallel jobs, peak RSS."""
    g = jobs.groupby("stage", sort=False).agg(
        jobs=("job", "count"),
        job_seconds=("seconds", "sum"),
        longest_job_s=("seconds", "max"),
        peak_rss_mb=("max_rss_mb", "max"),
    )
    g["est_wall_s"] = (g["job_seconds"] / max(1, cores)).clip(lower=g["longest_job_s"])
    order = ["data", "victims", "generators", "attacks", "baselines", "timing", "report", "other"]
    return g.reindex([s for s in order if s in g.index]).round(1).reset_index()
