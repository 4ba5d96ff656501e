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
from staa.cost import generator_cost, victim_cost
from staa.errors import ConfigError
from staa.timing import time_methods

# Budget cuts that keep one utterance of each baseline within seconds to minutes on a CPU core.
DEFAULT_CUTS = {"sparsefool": {"steps": 1, "deepfool_steps": 2},
                "onepixel": {"maxiter": 1, "max_population": 8, "eval_batch": 8}}


def speech_like(n: int, length: int, seed: int = 0) -> np.ndarray:
    """`n` clips of the procedural voice (staa.data.synthetic), tiled to `length` like real data."""
    from staa.data.audio import fix_length
    from staa.data.synthetic import EMOTIONS, make_speakers, synth_utterance

    speakers = make_speakers(max(3, n), np.random.default_rng([seed, 0]))
    emotions = list(EMOTIONS)
    return np.stack([fix_length(synth_utterance(speakers[i], EMOTIONS[emotions[i % len(emotions)]],
                                                np.random.default_rng([seed, 1, i]), 16000, 0.8), length)
                     for i in range(n)]).astype(np.float32)


def paper_bench(config_files: list[str], dataset: str, threats: list[str] | None, utterances: int, warmup: int,
                device: torch.device, n_classes: int = 4, cuts: dict[str, dict[str, Any]] | None = None,
                log=sys.stderr) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(timing rows per threat model and method, cost rows per model)."""
    from staa.models import build_victim
    from staa.train_generator import build_generator

    cfg = merge_configs([load_config_file(f) for f in config_files])
    if dataset not in cfg["datasets"]:
        raise ConfigError(f"--dataset {dataset!r} is not under datasets in {config_files}")
    length = clip_length(cfg["datasets"][dataset])
    gen_cfg = cfg["generator"]
    torch.manual_seed(0)
    gen = build_generator(gen_cfg["arch"], length, True, int(gen_cfg["train"].get("frame_length", 1))).to(device).eval()
    eps = float(gen_cfg["train"].get("eps", 0.03))
    x = speech_like(utterances, length)
    xs = [torch.from_numpy(x[i:i + 1]).to(device) for i in range(utterances)]
    cuts = DEFAULT_CUTS if cuts is None else cuts
    full = dict((cfg.get("baselines") or {}).get("methods") or {})
    methods = {name: {**m, **cuts.get(name, cuts.get(m["method"], {}))} for name, m in full.items()}
    timing, costs = [], [{"model": "generator", "length": length, **generator_cost(gen, length, eps)}]
    for threat in threats or gen_cfg["threats"]:
        v = cfg["victims"][threat]
        arch = dict(v.get("arch") or {})
        if arch.get("pretrained"):  # the same architecture, from the default config: nothing to download
            arch = {"small_config": {}}
        victim = build_victim(v["family"], n_classes, length, arch).to(device).eval()
        for p in victim.parameters():
            p.requires_grad_(False)
        costs.append({"model": threat, "length": length, **victim_cost(victim, length)})
        with torch.no_grad():
            ys = [victim(xi).argmax(1) for xi in xs]
        df = time_methods(gen, eps, victim, xs, ys, methods, full, warmup, device, tag=threat, log=log)
        timing.append(df.assign(threat=threat, length=length))
    return pd.concat(timing, ignore_index=True), pd.DataFrame(costs)


def main_table(timing: pd.DataFrame) -> pd.DataFrame:
    """Per threat and method: measured and full-budget seconds per utterance and speed-ups."""
    cols = ["threat", "method", "threads", "device", "seconds_per_utterance", "speedup_vs_staa", "budget_cut",
            "seconds_full_budget_est", "speedup_full_budget_est"]
    return timing[[c for c in cols if c in timing]]


def write_outputs(timing: pd.DataFrame, costs: pd.DataFrame, out: Path) -> None:
    from staa.utils import write_csv

    write_csv(out.with_name(out.stem + "_timing.csv"), timing)
    write_csv(out.with_name(out.stem + "_models.csv"), costs)
