"""Paper-scale speed benchmark without data or training: the paper config's generator and threat
models, built at full size (SSL models from transformers' default base configs), timed at batch
size 1 on the config's clip length against every baseline on the same utterances, device and
threads. Attacks with long budgets run on a cut budget and are extrapolated to the full one through
their worst-case victim work (`staa.timing.time_methods`), so untrained weights, which change when
an attack succeeds, neither flatter nor punish them. `make gpu-check` runs it on CUDA.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from staa.config import clip_length, load_config_file, merge_configs
from staa.settings import fill_defaults
from staa.cost import generator_cost, victim_cost
from staa.errors import ConfigError
from staa.timing import time_methods

# Budget cuts that keep one utterance of each baseline within seconds to minutes on a CPU core.
DEFAULT_CUTS = {
    "sparsefool": {"steps": 1, "deepfool_steps": 2},
    "onepixel": {"maxiter": 1, "max_population": 8, "eval_batch": 8},
}


def speech_like(n: int, length: int, seed: int = 0) -> np.ndarray:
    """`n` clips of the procedural voice (staa.data.synthetic), tiled to `length` like real data."""
    from staa.data.audio import fix_length
    from staa.data.synthetic import EMOTIONS, make_speakers, synth_utterance

    speakers = make_speakers(max(3, n), np.random.default_rng([seed, 0]))
    emotions = list(EMOTIONS)
    return np.stack(
        [
            fix_length(
                synth_utterance(
                    speakers[i], EMOTIONS[emotions[i % len(emotions)]], np.random.default_rng([seed, 1, i]), 16000, 0.8
                ),
                length,
            )
            for i in range(n)
        ]
    ).astype(np.float32)


# Utterances per split of the real corpora, for the full-grid estimate: IEMOCAP's 5,531 (ang, hap+exc,
# sad, neu) by the reference's sessions (train 1, 2, 5; dev 4; test 3); DEMoS's 9,365 emotional
# utterances by the 43/32/25 % speaker split.
PAPER_SPLITS = {
    "iemocap": {"train": 3349, "dev": 1031, "test": 1151},
    "demos": {"train": 4027, "dev": 2997, "test": 2341},
}


def paper_bench(
    config_files: list[str],
    dataset: str,
    threats: list[str] | None,
    utterances: int,
    warmup: int,
    device: torch.device,
    n_classes: int = 4,
    cuts: dict[str, dict[str, Any]] | None = None,
    all_victims: bool = False,
    log=None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(timing rows per threat model and method, cost rows per model; with `all_victims`, the
    victims that are no threat model are costed too)."""
    log = sys.stderr if log is None else log  # looked up per call: a redirected stderr is honoured
    from staa.models import build_victim
    from staa.generator import build_generator

    cfg = fill_defaults(merge_configs([load_config_file(f) for f in config_files]))  # the schema's defaults
    if dataset not in cfg["datasets"]:
        raise ConfigError(f"--dataset {dataset!r} is not under datasets in {config_files}")
    length = clip_length(cfg["datasets"][dataset])
    gen_cfg = cfg["generator"]
    torch.manual_seed(0)
    gen = build_generator(gen_cfg["arch"], length, True, int(gen_cfg["train"]["frame_length"])).to(device).eval()
    eps = float(gen_cfg["train"]["eps"])
    x = speech_like(utterances, length)
    xs = [torch.from_numpy(x[i : i + 1]).to(device) for i in range(utterances)]
    cuts = DEFAULT_CUTS if cuts is None else cuts
    full = dict((cfg.get("baselines") or {}).get("methods") or {})
    methods = {name: {**m, **cuts.get(name, cuts.get(m["method"], {}))} for name, m in full.items()}
    timing, costs = [], [{"model": "generator", "length": length, **generator_cost(gen, length, eps)}]
    threats = threats or gen_cfg["threats"]
    for name in list(cfg["victims"]) if all_victims else threats:
        v = cfg["victims"][name]
        arch = dict(v.get("arch") or {})
        if arch.get("pretrained"):  # the same architecture, from the default config: nothing to download
            arch = {"small_config": {}}
        victim = build_victim(v["family"], n_classes, length, arch).to(device).eval()
        costs.append({"model": name, "length": length, **victim_cost(victim, length)})
        if name not in threats:
            continue
        threat = name
        with torch.no_grad():
            ys = [victim(xi).argmax(1) for xi in xs]
        df = time_methods(gen, eps, victim, xs, ys, methods, full, warmup, device, tag=threat, log=log)
        timing.append(df.assign(threat=threat, length=length))
    return pd.concat(timing, ignore_index=True), pd.DataFrame(costs)


def grid_estimate(
    cfg: dict[str, Any], costs: pd.DataFrame, timing: pd.DataFrame, splits: dict[str, dict[str, int]] | None = None
) -> pd.DataFrame:
    """Seconds of the full paper grid on this device, per stage, from per-utterance model costs.

    Victims: epochs x (train utterances x a training step + dev utterances x a forward pass), plus the
    test split. Generators: epochs x train utterances x (the generator's training step + the threat
    model's forward and input-gradient pass), plus dev forward passes. Attacks: each generator crafts
    the test split once, each victim scores clean and adversarial. Baselines: the subset x the
    full-budget time per utterance from `timing` (per threat model), plus scoring. Every figure is at
    batch size 1 (batching makes real training cheaper per utterance), SSL victims trained through
    their whole network (a frozen feature encoder makes it cheaper): an upper bound."""
    splits = splits or PAPER_SPLITS
    c = costs.set_index("model")
    from staa.config import expand_sweeps

    cfg = fill_defaults(cfg)  # the schema's defaults
    gen_cfg, rows = expand_sweeps(cfg)["generator"], []  # a sweep's points are generators too
    for ds in cfg["run"]["datasets"]:
        if ds not in splits:
            raise ConfigError(f"full-grid estimate: no split sizes for dataset {ds!r}; it knows {sorted(splits)}")
        n = splits[ds]
        victims = list(cfg["datasets"][ds].get("victims") or cfg["victims"])
        for v in victims:
            e = int(cfg["victims"][v]["epochs"])
            rows.append(
                (
                    "victims",
                    ds,
                    e * (n["train"] * c.at[v, "seconds_train_step"] + n["dev"] * c.at[v, "seconds_fwd"])
                    + n["test"] * c.at[v, "seconds_fwd"],
                )
            )
        for spec in gen_cfg["variants"].values():
            if spec.get("datasets") and ds not in spec["datasets"]:
                continue
            e = int(spec.get("epochs", gen_cfg["train"]["epochs"]))
            for t in [t for t in (spec.get("threats") or gen_cfg["threats"]) if t in victims]:
                step = c.at["generator", "seconds_fwd_bwd"] + c.at[t, "seconds_fwd_bwd"]
                dev = c.at["generator", "seconds_fwd"] + c.at[t, "seconds_fwd"]
                rows.append(("generators", ds, e * (n["train"] * step + n["dev"] * dev)))
                rows.append(
                    (
                        "attacks",
                        ds,
                        n["test"]
                        * (c.at["generator", "seconds_fwd"] + 2 * sum(c.at[v, "seconds_fwd"] for v in victims)),
                    )
                )
        base = cfg.get("baselines") or {}
        if base.get("methods") and ds in (base.get("datasets") or cfg["run"]["datasets"]):
            sub = min(int(base["subset_size"]), n["test"])
            for t in [t for t in gen_cfg["threats"] if t in victims]:
                per = timing[(timing["threat"] == t) & (timing["method_family"] != "staa")]
                est = per["seconds_full_budget_est"].fillna(per["seconds_per_utterance"]).sum()
                rows.append(
                    ("baselines", ds, sub * est + len(per) * 2 * sub * sum(c.at[v, "seconds_fwd"] for v in victims))
                )
    df = pd.DataFrame(rows, columns=["stage", "dataset", "seconds"])
    out = df.groupby("stage", sort=False)["seconds"].sum().reset_index()
    out["cpu_hours"] = out["seconds"] / 3600
    return pd.concat(
        [out, pd.DataFrame([{"stage": "total", "seconds": out["seconds"].sum(), "cpu_hours": out["cpu_hours"].sum()}])],
        ignore_index=True,
    )


def main_table(timing: pd.DataFrame) -> pd.DataFrame:
    """Per threat and method: measured and full-budget seconds per utterance and speed-ups."""
    cols = [
        "threat",
        "method",
        "threads",
        "device",
        "seconds_per_utterance",
        "speedup_vs_staa",
        "budget_cut",
        "seconds_full_budget_est",
        "speedup_full_budget_est",
    ]
    return timing[[c for c in cols if c in timing]]


def write_outputs(timing: pd.DataFrame, costs: pd.DataFrame, out: Path, grid: pd.DataFrame | None = None) -> None:
    from staa.utils import write_csv

    write_csv(out.with_name(out.stem + "_timing.csv"), timing)
    write_csv(out.with_name(out.stem + "_models.csv"), costs)
    if grid is not None:
        write_csv(out.with_name(out.stem + "_grid.csv"), grid)
