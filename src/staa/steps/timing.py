"""Timing step (docs/design.md §6): STAA-Net and every baseline timed per utterance on the seeded
subset, against the same threat model, device and thread count (the timers: `staa.timing`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from staa.data.prepare import load_subset
from staa.generator import load_generator
from staa.models import load_victim, predict
from staa.settings import TimingSettings
from staa.timing import time_methods
from staa.utils import check_outputs, write_csv


def run_timing(
    params: dict[str, Any],
    data_dir: str | Path,
    subset_csv: str | Path,
    generator_path: str | Path,
    threat_path: str | Path,
    out_csv: str | Path,
    device: torch.device,
    log=None,
) -> pd.DataFrame:
    """Time STAA-Net and every baseline (params: staa.settings.TimingSettings); writes `out_csv`."""
    log = sys.stderr if log is None else log  # looked up per call: a redirected stderr is honoured
    check_outputs(
        {"--out": out_csv},
        {"--data-dir": data_dir, "--subset": subset_csv, "--generator": generator_path, "--threat-model": threat_path},
    )
    cfg = TimingSettings.from_params(params)
    x_all, _ = load_subset(data_dir, subset_csv)
    n = min(cfg.utterances, x_all.shape[0])
    warmup = cfg.warmup
    xs = [torch.from_numpy(x_all[i : i + 1]).to(device) for i in range(n)]
    gen, meta = load_generator(generator_path, device)
    model = load_victim(threat_path, device)
    ys = [torch.from_numpy(predict(model, x_all[i : i + 1], device)).long().to(device) for i in range(n)]
    eps = float(meta["eps"])
    bsz = cfg.throughput_batch
    df = time_methods(
        gen,
        eps,
        model,
        xs,
        ys,
        cfg.methods,
        cfg.full_methods,
        warmup,
        device,
        seed=cfg.seed,
        throughput_x=np.resize(x_all, (bsz, x_all.shape[1])),
        tag=cfg.threat,
        log=log,
    )
    df.insert(0, "dataset", cfg.dataset)
    df.insert(3, "threat", cfg.threat)
    write_csv(out_csv, df)
    return df
