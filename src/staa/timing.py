"""Timing (docs/design.md §6): every timer of the project. Seconds per utterance at batch size 1 for
STAA-Net (generator forward only) and every baseline, on the same utterances, device and thread
count, after warm-up; speed-up = baseline median time / STAA-Net median time. The pipeline step
that runs it is `staa.steps.timing`."""

from __future__ import annotations

import sys
import time
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch

from staa.attacks import make_attack
from staa.runtime import describe_device


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


# Cost of a victim pass in forward-pass units: a backward pass costs about two forward passes.
WORK_UNITS = {"fwd": 1.0, "graph_fwd": 1.0, "bwd": 2.0}


class PassCounter(torch.nn.Module):
    """Wraps a victim and counts the passes an attack makes: forward inputs without a graph (`fwd`),
    forward inputs that build a graph (`graph_fwd`) and backward passes through it (`bwd`)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model
        self.counts = dict.fromkeys(WORK_UNITS, 0)

    def reset(self) -> None:
        self.counts = dict.fromkeys(WORK_UNITS, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        if out.requires_grad:
            self.counts["graph_fwd"] += x.shape[0]
            out.register_hook(self._backward)
        else:
            self.counts["fwd"] += x.shape[0]
        return out

    def _backward(self, grad: torch.Tensor) -> None:
        self.counts["bwd"] += 1


def work(counts: dict[str, float]) -> float:
    return float(sum(WORK_UNITS[k] * counts[k] for k in WORK_UNITS))


def _time_each(
    fn: Callable[[int], Any], n: int, warmup: int, device: torch.device, after_warmup: Callable[[], None] | None = None
) -> np.ndarray:
    for i in range(min(warmup, n)):
        fn(i)
    if after_warmup is not None:
        after_warmup()
    out = []
    for i in range(n):
        _sync(device)
        t0 = time.perf_counter()
        fn(i)
        _sync(device)
        out.append(time.perf_counter() - t0)
    return np.asarray(out)


def time_per_utterance(
    fn: Callable[[torch.Tensor], Any], x: np.ndarray, device: torch.device, n: int, warmup: int = 2
) -> np.ndarray:
    """Wall-clock seconds of `fn` (run without autograd) at batch size 1 on the first `n` utterances
    of `x`, after `warmup` calls."""
    n = min(n, x.shape[0])
    xs = [torch.from_numpy(np.array(x[i : i + 1], dtype=np.float32)).to(device) for i in range(n)]
    with torch.no_grad():
        return _time_each(lambda i: fn(xs[i]), n, warmup, device)


def timed(fn: Callable[[], Any], device: torch.device) -> tuple[Any, float]:
    """`fn()` and its wall-clock seconds (the device synchronised before and after)."""
    _sync(device)
    t0 = time.perf_counter()
    out = fn()
    _sync(device)
    return out, time.perf_counter() - t0


def time_methods(
    gen: torch.nn.Module,
    eps: float,
    model: torch.nn.Module,
    xs: list[torch.Tensor],
    ys: list[torch.Tensor],
    methods: dict[str, dict[str, Any]],
    full_methods: dict[str, dict[str, Any]] | None,
    warmup: int,
    device: torch.device,
    seed: int = 0,
    throughput_x: np.ndarray | None = None,
    tag: str = "",
    log=None,
) -> pd.DataFrame:
    """Seconds per utterance at batch size 1 of the generator's forward pass and of every attack in
    `methods` on the same inputs. An attack run on a cut budget is also extrapolated to the budget of
    `full_methods` (its seconds per unit of victim work times the full budget's worst-case work)."""
    log = sys.stderr if log is None else log  # looked up per call: a redirected stderr is honoured
    n = len(xs)
    rows = []

    def row(method: str, family: str, sec: np.ndarray, batch: int) -> dict[str, Any]:
        return {
            "method": method,
            "method_family": family,
            "seconds_per_utterance": float(np.median(sec)),
            "seconds_p25": float(np.percentile(sec, 25)),
            "seconds_p75": float(np.percentile(sec, 75)),
            "seconds_mean": float(sec.mean()),
            "n": int(len(sec)),
            "batch_size": batch,
            "device": describe_device(device),
            "threads": torch.get_num_threads(),
        }

    with torch.no_grad():
        staa = _time_each(lambda i: gen(xs[i], eps), n, warmup, device)
    rows.append(row("staa", "staa", staa, 1))
    print(f"[timing {tag}] staa median {np.median(staa) * 1e3:.3f} ms/utt", file=log, flush=True)
    if throughput_x is not None:
        xb = torch.from_numpy(np.asarray(throughput_x, dtype=np.float32)).to(device)
        with torch.no_grad():
            batched = _time_each(lambda i: gen(xb, eps), 3, 1, device) / xb.shape[0]
        rows.append(row("staa_batched", "staa", batched, xb.shape[0]))
    gen_rng = torch.Generator(device="cpu").manual_seed(seed)
    counter = PassCounter(model)
    with torch.no_grad():
        n_classes = int(model(xs[0]).shape[1]) if n else 0
    full_methods = full_methods or methods
    for name, settings in methods.items():
        settings = dict(settings)
        attack = make_attack(settings.pop("method"), **settings)
        sec = _time_each(
            lambda i, attack=attack: attack(counter, xs[i], ys[i], generator=gen_rng),
            n,
            warmup,
            device,
            after_warmup=counter.reset,
        )
        r = row(name, attack.name, sec, 1)
        # the cut budget's cost per unit of victim work, times the full budget's worst-case work
        per_utt = {k: v / max(1, n) for k, v in counter.counts.items()}
        full = dict(full_methods.get(name, {**settings, "method": attack.name}))
        full_attack = make_attack(full.pop("method"), **full)
        full_work = work(full_attack.worst_case_passes(n_classes))
        sec_per_unit = float(np.median(sec)) / max(work(per_utt), 1e-12)
        r.update({f"passes_{k}": v for k, v in per_utt.items()})
        r.update(
            {
                "work_units": work(per_utt),
                "cut_worst_case_work_units": work(attack.worst_case_passes(n_classes)),
                "full_budget_work_units": full_work,
                "seconds_per_work_unit": sec_per_unit,
                "seconds_full_budget_est": sec_per_unit * full_work,
                "budget_cut": full != settings,
            }
        )
        rows.append(r)
        print(
            f"[timing {tag}] {name} median {np.median(sec) * 1e3:.3f} ms/utt "
            f"({np.median(sec) / np.median(staa):.1f}x STAA-Net); {work(per_utt):.0f} work units/utt "
            f"(full budget: {full_work:.0f}, est. {sec_per_unit * full_work:.3f} s/utt)",
            file=log,
            flush=True,
        )
    df = pd.DataFrame(rows)
    df["speedup_vs_staa"] = df["seconds_per_utterance"] / float(np.median(staa))
    if "seconds_full_budget_est" in df:
        df["speedup_full_budget_est"] = df["seconds_full_budget_est"] / float(np.median(staa))
    return df
