"""Iterative baselines (PGD, SparseFool, one-pixel) on a fixed, seeded subset of the test split.

The attack runs once per (dataset, threat model, baseline) at batch size 1 (the paper's timing
setting); its adversarial waveforms are stored, then scored on every victim (white-box on the
threat model, transfer on the others) by the scoring step all attacks share (`staa.score`).
"""
from __future__ import annotations

import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from staa.attacks import make_attack
from staa.data.prepare import load_split
from staa.errors import DataError
from staa.models import load_victim, predict
from staa.runtime import describe_device
from staa.utils import atomic_path, read_table, write_csv


def make_subset(data_dir: str | Path, size: int, seed: int, out: str | Path) -> pd.DataFrame:
    """A seeded subset of the test split, the same for every baseline and for STAA-Net's subset row."""
    _, table = load_split(data_dir, "test")
    rng = np.random.default_rng([seed, 7])
    n = min(int(size), len(table))
    idx = np.sort(rng.choice(len(table), size=n, replace=False))
    sub = table.iloc[idx][["utt_id", "label", "label_idx", "speaker"]].assign(index=idx)
    write_csv(out, sub)
    return sub


def _subset_arrays(data_dir, subset_csv) -> tuple[np.ndarray, pd.DataFrame]:
    x, table = load_split(data_dir, "test")
    sub = read_table(subset_csv, ("utt_id", "index"), "test subset", dtype={"utt_id": str})
    idx = sub["index"].to_numpy()
    if (not set(sub["utt_id"]).issubset(set(table["utt_id"].astype(str)))
            or not np.issubdtype(idx.dtype, np.integer) or (idx < 0).any() or (idx >= len(table)).any()
            or list(table["utt_id"].astype(str).iloc[idx]) != list(sub["utt_id"])):
        raise DataError(f"{subset_csv}: lists utterances that are not in the test split; rerun the subset rule")
    return np.asarray(x[idx], dtype=np.float32), table.iloc[idx].reset_index(drop=True)


def split_settings(params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    settings = dict(params["settings"])
    method = settings.pop("method")
    return method, settings


def run_baseline(params: dict[str, Any], data_dir: str | Path, subset_csv: str | Path, threat_path: str | Path,
                 out_dir: str | Path, device: torch.device, log=sys.stderr) -> pd.DataFrame:
    """params: name, threat, settings {method, ...}, seed. Writes adversarial.npy + attack_log.csv."""
    out_dir = Path(out_dir)
    method, settings = split_settings(params)
    attack = make_attack(method, **settings)
    x, table = _subset_arrays(data_dir, subset_csv)
    attack.validate_for_length(x.shape[1])
    model = load_victim(threat_path, device)
    clean = predict(model, x, device)
    gen = torch.Generator(device="cpu").manual_seed(int(params["seed"]))
    advs, rows = np.empty_like(x), []
    for i in range(x.shape[0]):
        xi = torch.from_numpy(x[i:i + 1]).to(device)
        yi = torch.from_numpy(clean[i:i + 1]).long().to(device)
        t0 = time.perf_counter()
        status, err = "ok", ""
        try:
            adv = attack(model, xi, yi, generator=gen)
            if device.type == "cuda":
                torch.cuda.synchronize()
            advs[i] = adv.detach().cpu().numpy()[0]
            if not np.all(np.isfinite(advs[i])):
                raise FloatingPointError("adversarial example contains NaN/inf")
        except (RuntimeError, FloatingPointError, ValueError) as exc:  # record, keep the clean input, go on
            advs[i] = x[i]
            status, err = "failed", f"{type(exc).__name__}: {exc}"
            print(f"[{params['name']}] utterance {table['utt_id'].iloc[i]} failed: {err}\n"
                  f"{traceback.format_exc(limit=2)}", file=log, flush=True)
        rows.append({"utt_id": table["utt_id"].iloc[i], "seconds": time.perf_counter() - t0, "status": status,
                     "error": err})
        print(f"[{params['name']} on {params['threat']}] {i + 1}/{x.shape[0]} {rows[-1]['seconds']:.3f}s {status}",
              file=log, flush=True)
    with atomic_path(out_dir / "adversarial.npy") as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, advs)
    log_df = pd.DataFrame(rows).assign(device=describe_device(device), threads=torch.get_num_threads())
    write_csv(out_dir / "attack_log.csv", log_df)
    return log_df
