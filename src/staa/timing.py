"""Timing benchmark (DESIGN 6): seconds per utterance at batch size 1 for STAA-Net (generator
forward only) and every baseline, on the same utterances, device and thread count, after warm-up.
Speed-up = baseline median time / STAA-Net median time."""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch

from staa.attacks import make_attack
from staa.attack_baseline import _subset_arrays
from staa.evaluate import predict_array
from staa.models import load_victim
from staa.runtime import describe_device
from staa.train_generator import load_generator
from staa.utils import write_csv


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _time_each(fn: Callable[[int], Any], n: int, warmup: int, device: torch.device) -> np.ndarray:
    for i in range(min(warmup, n)):
        fn(i)
    out = []
    for i in range(n):
        _sync(device)
        t0 = time.perf_counter()
        fn(i)
        _sync(device)
        out.append(time.perf_counter() - t0)
    return np.asarray(out)


def run_timing(params: dict[str, Any], data_dir: str | Path, subset_csv: str | Path, generator_path: str | Path,
               threat_path: str | Path, out_csv: str | Path, device: torch.device, log=sys.stderr) -> pd.DataFrame:
    """params: dataset, threat, variant, methods {name: {method, ...}}, utterances, warmup, throughput_batch, seed."""
    x_all, _ = _subset_arrays(data_dir, subset_csv)
    n = min(int(params.get("utterances", 10)), x_all.shape[0])
    warmup = int(params.get("warmup", 2))
    xs = [torch.from_numpy(x_all[i:i + 1]).to(device) for i in range(n)]
    gen, meta = load_generator(generator_path, device)
    model = load_victim(threat_path, device)
    ys = [torch.from_numpy(predict_array(model, x_all[i:i + 1], device)).long().to(device) for i in range(n)]
    eps = float(meta["eps"])
    rows = []

    def row(method: str, family: str, sec: np.ndarray, batch: int) -> dict[str, Any]:
        return {"dataset": params["dataset"], "method": method, "method_family": family, "threat": params["threat"],
                "seconds_per_utterance": float(np.median(sec)), "seconds_p25": float(np.percentile(sec, 25)),
                "seconds_p75": float(np.percentile(sec, 75)), "seconds_mean": float(sec.mean()), "n": int(len(sec)),
                "batch_size": batch, "device": describe_device(device), "threads": torch.get_num_threads()}

    with torch.no_grad():
        staa = _time_each(lambda i: gen(xs[i], eps), n, warmup, device)
    rows.append(row("staa", "staa", staa, 1))
    print(f"[timing {params['threat']}] staa median {np.median(staa) * 1e3:.3f} ms/utt", file=log, flush=True)
    bsz = int(params.get("throughput_batch", 32))
    xb = torch.from_numpy(np.resize(x_all, (bsz, x_all.shape[1])).astype(np.float32)).to(device)
    with torch.no_grad():
        batched = _time_each(lambda i: gen(xb, eps), 3, 1, device) / bsz
    rows.append(row("staa_batched", "staa", batched, bsz))
    gen_rng = torch.Generator(device="cpu").manual_seed(int(params.get("seed", 0)))
    for name, settings in params.get("methods", {}).items():
        settings = dict(settings)
        attack = make_attack(settings.pop("method"), **settings)
        sec = _time_each(lambda i: attack(model, xs[i], ys[i], generator=gen_rng), n, warmup, device)
        rows.append(row(name, attack.name, sec, 1))
        print(f"[timing {params['threat']}] {name} median {np.median(sec) * 1e3:.3f} ms/utt "
              f"({np.median(sec) / np.median(staa):.1f}x STAA-Net)", file=log, flush=True)
    df = pd.DataFrame(rows)
    df["speedup_vs_staa"] = df["seconds_per_utterance"] / float(np.median(staa))
    write_csv(out_csv, df)
    return df
