"""Model cost at a given clip length: FLOPs per utterance (torch.utils.flop_counter, plus the LSTM
layers it does not count), seconds per utterance on this device and thread count, and the GFLOP/s
achieved. `staa cost` prints it for trained victims and generators; the paper-scale cost table and
the full-grid estimate in docs/paper-scale.md come from it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def _lstm_flops(model: nn.Module, run: Callable[[], Any]) -> int:
    """Multiply-add FLOPs of every nn.LSTM in `model` during `run` (FlopCounterMode counts none):
    per layer and time step 4 gates of (I + H) x H weights, 2 FLOPs per multiply-add."""
    total = 0

    def hook(mod: nn.LSTM, args: tuple) -> None:
        nonlocal total
        x = args[0]
        batch, steps = (x.shape[0], x.shape[1]) if mod.batch_first else (x.shape[1], x.shape[0])
        for layer in range(mod.num_layers):
            inp = mod.input_size if layer == 0 else mod.hidden_size
            total += 8 * mod.hidden_size * (inp + mod.hidden_size) * steps * batch

    handles = [m.register_forward_pre_hook(hook) for m in model.modules() if isinstance(m, nn.LSTM)]
    try:
        run()
    finally:
        for h in handles:
            h.remove()
    return total


def count_flops(model: nn.Module, run: Callable[[], Any], backward_factor: int = 0) -> int:
    """FLOPs of `run` (a forward, or a forward and backward); LSTM layers are added analytically, their
    backward as `backward_factor` times the forward."""
    with FlopCounterMode(display=False) as counter:
        lstm = _lstm_flops(model, run)
    return int(counter.get_total_flops()) + lstm * (1 + backward_factor)


def median_seconds(run: Callable[[], Any], repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def victim_cost(model: nn.Module, length: int, repeats: int = 3) -> dict[str, Any]:
    """A victim at batch size 1: the forward pass (evaluation, one-pixel's fitness), the forward +
    input-gradient pass of a frozen victim (PGD and SparseFool steps, generator training) and a
    training step (forward and backward through every weight)."""
    model = model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    x = torch.randn(1, length) * 0.1

    def fwd() -> None:
        with torch.no_grad():
            model(x)

    def fwd_bwd() -> None:
        xi = x.clone().requires_grad_(True)
        model(xi).logsumexp(1).sum().backward()  # params are frozen: only the input gradient

    out = _costs(model, fwd, fwd_bwd, repeats, backward_factor=1)
    # a training step's forward and backward (weights and all), batch size 1, train mode
    model.train()
    for p in model.parameters():
        p.requires_grad_(True)

    def train_step() -> None:
        model(x).logsumexp(1).sum().backward()
        model.zero_grad(set_to_none=True)

    out["seconds_train_step"] = median_seconds(train_step, repeats)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return out


def generator_cost(gen: nn.Module, length: int, eps: float, repeats: int = 3) -> dict[str, Any]:
    """A generator at batch size 1: the eval forward pass (the attack) and a training step's forward +
    backward through its weights (the adversarial loss's own gradient excluded)."""
    x = torch.randn(1, length) * 0.1

    def fwd() -> None:
        gen.eval()
        with torch.no_grad():
            gen(x, eps)

    def fwd_bwd() -> None:
        gen.train()
        out = gen(x, eps)
        (out.x_adv.square().mean() + out.m_soft.mean()).backward()
        gen.zero_grad(set_to_none=True)

    try:
        return _costs(gen, fwd, fwd_bwd, repeats, backward_factor=2)
    finally:
        gen.eval()


def _costs(
    model: nn.Module, fwd: Callable[[], Any], fwd_bwd: Callable[[], Any], repeats: int, backward_factor: int
) -> dict[str, Any]:
    flops_f, flops_fb = count_flops(model, fwd), count_flops(model, fwd_bwd, backward_factor)
    sec_f, sec_fb = median_seconds(fwd, repeats), median_seconds(fwd_bwd, repeats)
    return {
        "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
        "gflop_fwd": flops_f / 1e9,
        "seconds_fwd": sec_f,
        "gflops_fwd": flops_f / 1e9 / sec_f,
        "gflop_fwd_bwd": flops_fb / 1e9,
        "seconds_fwd_bwd": sec_fb,
        "gflops_fwd_bwd": flops_fb / 1e9 / sec_fb,
        "threads": torch.get_num_threads(),
    }


def model_costs(victims: list[Path], generators: list[Path], repeats: int = 3) -> list[dict[str, Any]]:
    """One row per checkpoint, at the clip length it was trained for."""
    from staa.models import load_victim
    from staa.generator import load_generator

    rows = []
    for path in victims:
        model = load_victim(path)
        rows.append(
            {
                "model": str(path),
                "kind": f"victim {model.family}",
                "length": model.length,
                **victim_cost(model, model.length, repeats),
            }
        )
    for path in generators:
        gen, meta = load_generator(path)
        rows.append(
            {
                "model": str(path),
                "kind": "generator",
                "length": int(meta["length"]),
                **generator_cost(gen, int(meta["length"]), float(meta["eps"]), repeats),
            }
        )
    return rows
