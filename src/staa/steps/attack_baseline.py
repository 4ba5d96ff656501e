"""Iterative baselines (PGD, SparseFool, one-pixel) on a fixed, seeded subset of the test split.

The attack runs once per (dataset, threat model, baseline) at batch size 1 (the paper's timing
setting); its adversarial waveforms are stored, then scored on every victim (white-box on the
threat model, transfer on the others) by the scoring step all attacks share (`staa.steps.score`).
"""

from __future__ import annotations

import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from staa.attacks import make_attack
from staa.data.prepare import load_split, load_subset, reference_level
from staa.models import load_victim, predict
from staa.runtime import describe_device
from staa.settings import BaselineSettings
from staa.utils import OutputFiles, atomic_path, output_file, write_csv


# settings that bound the perturbation's size, scaled per utterance under a level-relative eps (the
# one-pixel attack's change is multiplicative, relative to the sample already)
RELATIVE_KEYS = {"pgd": ("eps", "alpha"), "sparsefool": ("eps",)}


def scaled_settings(settings: dict[str, Any], scale: float) -> dict[str, Any]:
    """The attack's settings with its size bounds multiplied by `scale` (level / reference level)."""
    keys = RELATIVE_KEYS.get(settings["method"], ())
    return {k: v * scale if k in keys and v is not None else v for k, v in settings.items()}


@dataclass(frozen=True)
class BaselineFiles(OutputFiles):
    """What a baseline's run writes (the rule names each file)."""

    adversarial: Path = output_file("adversarial.npy")
    attack_log: Path = output_file("attack_log.csv")


def run_baseline(
    params: dict[str, Any],
    data_dir: str | Path,
    subset_csv: str | Path,
    threat_path: str | Path,
    files: BaselineFiles,
    device: torch.device,
    log=None,
) -> pd.DataFrame:
    """Run one baseline (params: staa.settings.BaselineSettings) on the subset; writes `files`."""
    log = sys.stderr if log is None else log  # looked up per call: a redirected stderr is honoured
    files.check({"--data-dir": data_dir, "--subset": subset_csv, "--threat-model": threat_path})
    cfg = BaselineSettings.from_params(params)
    x, table = load_subset(data_dir, subset_csv)
    relative = cfg.eps_mode == "relative"
    ref = reference_level(load_split(data_dir, "train")[0]) if relative else 1.0

    def attack_for(i: int):
        """The attack for utterance i: its bounds scaled by the utterance's level when relative."""
        settings = dict(cfg.settings)
        if relative:
            level = float(np.sqrt(np.mean(np.asarray(x[i], dtype=np.float64) ** 2)))
            settings = scaled_settings(settings, max(level, 1e-6) / ref)
        return make_attack(settings.pop("method"), **settings)

    base = dict(cfg.settings)
    make_attack(base.pop("method"), **base).validate_for_length(x.shape[1])
    model = load_victim(threat_path, device)
    clean = predict(model, x, device)
    gen = torch.Generator(device="cpu").manual_seed(cfg.seed)
    advs, rows = np.empty_like(x), []
    for i in range(x.shape[0]):
        xi = torch.from_numpy(x[i : i + 1]).to(device)
        yi = torch.from_numpy(clean[i : i + 1]).long().to(device)
        t0 = time.perf_counter()
        status, err = "ok", ""
        try:
            adv = attack_for(i)(model, xi, yi, generator=gen)
            if device.type == "cuda":
                torch.cuda.synchronize()
            advs[i] = adv.detach().cpu().numpy()[0]
            if not np.all(np.isfinite(advs[i])):
                raise FloatingPointError("adversarial example contains NaN/inf")
        except (RuntimeError, FloatingPointError, ValueError) as exc:  # record, keep the clean input, go on
            advs[i] = x[i]
            status, err = "failed", f"{type(exc).__name__}: {exc}"
            print(
                f"[{cfg.name}] utterance {table['utt_id'].iloc[i]} failed: {err}\n{traceback.format_exc(limit=2)}",
                file=log,
                flush=True,
            )
        rows.append(
            {"utt_id": table["utt_id"].iloc[i], "seconds": time.perf_counter() - t0, "status": status, "error": err}
        )
        print(
            f"[{cfg.name} on {cfg.threat}] {i + 1}/{x.shape[0]} {rows[-1]['seconds']:.3f}s {status}",
            file=log,
            flush=True,
        )
    with atomic_path(files.adversarial) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, advs)
    log_df = pd.DataFrame(rows).assign(device=describe_device(device), threads=torch.get_num_threads())
    write_csv(files.attack_log, log_df)
    return log_df
