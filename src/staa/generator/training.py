"""Training STAA-Net against a frozen threat model, in memory (docs/design.md §4).

`train_staa` takes a generator, a threat model, tensors and settings and returns the trained
generator with its per-epoch log; it reads and writes no file (`staa.steps.train_generator` is the
file I/O around it, and `staa.training.EpochLoop` the resumable loop it runs in). A notebook can
train a generator against an in-memory model in a few lines (docs/design.md §4)::

    settings = GeneratorSettings.from_params({"train": {...}, "variant_cfg": {...}})
    gen = generator_for(settings, {"channels": [8, 8, 16, 32, 64], "group_size": 4}, x_train)
    result = train_staa(gen, my_model, x_train, None, x_dev, None, settings)

The adversarial loss is the Carlini-Wagner margin against the threat model's *clean prediction*;
magnitude, quantisation and sparsity losses are weighted per variant (staa.losses).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from staa.checkpoint import to_cpu
from staa.errors import TrainingError
from staa.generator.staa_net import STAANet, eps_bound
from staa.losses import staa_losses
from staa.metrics import dependence
from staa.models import predict
from staa.runtime import grad_context
from staa.training import EpochLoop
from staa.utils import progress

SATURATION = 0.95  # |v| above this share of its bound counts as saturated (tanh's gradient < 0.1)
BUDGET_SLACK = 0.02  # a loss-based budget holds the density only on average: allow 2 points over
COLLAPSE_SHARE = 0.25  # a dev mask under a quarter of its budget has collapsed (no budget: under 0.1 %)
MIN_DENSITY = 1e-3


def eps_at(epoch: int, eps: float, flex: dict[str, Any] | None) -> float:
    """Magnitude bound at 0-based `epoch`. Flex-eps (reference option): flex.eps until epoch
    `until_epoch`, `then` from `from_epoch`, linearly in between (ours)."""
    if not flex:
        return float(eps)
    e = epoch + 1
    if e <= flex["until_epoch"]:
        return float(flex["eps"])
    if e >= flex["from_epoch"]:
        return float(flex["then"])
    frac = (e - flex["until_epoch"]) / max(1, flex["from_epoch"] - flex["until_epoch"])
    return float(flex["eps"] + frac * (flex["then"] - flex["eps"]))


def density_window(train: Any) -> tuple[float | None, float]:
    """(most, least) hard dev density a selectable epoch may have. The most is the budget (+ slack
    for a loss-based one) where there is a budget; the least keeps a collapsed mask from ever being
    selected: a quarter of the budget, or 0.1 % of the samples without one."""
    if not train.factorised:
        return None, 0.0
    rho = train.sparsity_target
    if rho is None:
        return None, MIN_DENSITY
    if train.budget == "topk":
        return float(rho) * 1.001 + 1e-6, COLLAPSE_SHARE * float(rho)  # exact up to float rounding
    if not train.losses.get("spa"):
        return None, COLLAPSE_SHARE * float(rho)
    return float(rho) + BUDGET_SLACK, COLLAPSE_SHARE * float(rho)


def selectable(row: dict[str, Any], window: tuple[float | None, float], after: int) -> bool:
    """An epoch may be selected once the loss warm-up is over and its hard dev mask density lies in
    the window: a dense epoch before pruning must not win, nor a collapsed (empty) mask."""
    most, least = window
    density = row["dev_mask_density"]
    return row["epoch"] > after and density >= least and (most is None or density <= most)


@dataclass
class TrainResult:
    """A trained generator, its per-epoch log and how its epoch was chosen."""

    generator: STAANet
    rows: list[dict[str, Any]]
    selected_epoch: int
    collapsed: bool
    note: str = ""


@torch.no_grad()
def evaluate_dev(gen: STAANet, threat, x: np.ndarray, y: np.ndarray, eps: float, device, bs: int) -> dict[str, float]:
    """Dev fooling rate, hard-mask density, saturation and input dependence (eval mode: the test mask)."""
    was_training = gen.training
    gen.eval()
    fooled, density, saturated, masked = 0, 0.0, 0.0, 0.0
    deltas, masks = [], []
    for i in range(0, x.shape[0], bs):
        xb = torch.from_numpy(np.array(x[i : i + bs], dtype=np.float32)).to(device)
        out = gen(xb, eps)
        pred = predict(threat, out.x_adv, device, batch_size=xb.shape[0])
        fooled += int((pred != y[i : i + bs]).sum())
        density += float(out.m.mean()) * xb.shape[0]
        bound = eps_bound(xb, eps, gen.eps_mode, gen.ref_level)
        sat = (out.v.abs() >= SATURATION * bound).float() * out.m
        saturated += float(sat.sum())
        masked += float(out.m.sum())
        deltas.append(out.delta.cpu().numpy())
        masks.append((out.m != 0).cpu().numpy())
    gen.train(was_training)
    n = max(1, x.shape[0])
    dep = {
        k: float("nan") if v is None else v
        for k, v in dependence(np.concatenate(deltas), np.concatenate(masks)).items()
    }
    return {
        "fooling_rate": fooled / n,
        "mask_density": density / n,
        "saturation": saturated / masked if masked else float("nan"),
        **dep,
    }


def _batch(x: np.ndarray, idx: np.ndarray, device) -> torch.Tensor:
    return torch.from_numpy(np.array(x[idx], dtype=np.float32)).to(device)


def train_staa(
    gen: STAANet,
    threat: torch.nn.Module,
    x_tr: np.ndarray,
    y_tr: np.ndarray | None,
    x_dev: np.ndarray,
    y_dev: np.ndarray | None,
    train: Any,
    *,
    seed: int = 0,
    device: torch.device | str = "cpu",
    target_idx: int | None = None,
    tag: str = "staa",
    log=None,
    loop: EpochLoop | None = None,
) -> TrainResult:
    """Train `gen` against the frozen `threat` (staa.settings.GeneratorSettings as `train`).

    `y_tr`/`y_dev` are the threat model's clean predictions (the labels to move away from); None
    computes them.
    `loop` carries checkpointing and resumption (staa.training.EpochLoop); without one, training
    runs in memory from epoch 0. Returns the selected epoch's generator (train.select) and whether
    its mask collapsed (no epoch had a non-empty mask within the budget window)."""
    log = sys.stderr if log is None else log
    device = torch.device(device)
    threat.eval()
    for p in threat.parameters():
        p.requires_grad_(False)
    gen.to(device)
    y_tr = predict(threat, x_tr, device) if y_tr is None else y_tr
    y_dev = predict(threat, x_dev, device) if y_dev is None else y_dev
    opt = torch.optim.Adam(gen.parameters(), lr=train.lr)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=train.step_size, gamma=train.gamma)
    loop = loop or EpochLoop(train.epochs)
    bs, warmup = train.batch_size, train.warmup_epochs
    window = density_window(train)
    state = loop.resume({"model": gen, "optimizer": opt, "scheduler": sched}, log=log, tag=tag)
    rows: list[dict[str, Any]] = list(state.get("rows", []))
    best: dict[str, Any] = dict(state.get("best") or {"epoch": 0, "fooling_rate": -1.0, "state": None})
    tgt_full = None if target_idx is None else int(target_idx)

    def run_epoch(epoch: int) -> dict[str, Any]:
        t0 = time.time()
        eps = eps_at(epoch, train.eps, train.flex_eps)
        # ours: ramp the auxiliary weights from 0 so magnitudes find an adversarial direction
        # before the sparsity term prunes the mask (without it a loss-based mask collapses)
        ramp = min(1.0, epoch / warmup) if warmup > 0 else 1.0
        weights = {k: w * ramp for k, w in train.losses.items()}
        if train.budget == "topk":  # the density is exact: no sparsity or quantisation term to weigh
            weights = {k: (0.0 if k in ("spa", "qua") else w) for k, w in weights.items()}
        gen.train()
        torch.manual_seed(seed * 100003 + epoch)  # quantisation coin flips, reproducible on resume
        order = np.random.default_rng([seed, epoch]).permutation(x_tr.shape[0])
        sums = {k: 0.0 for k in ("total", "adv", "mag", "qua", "spa")}
        fooled = seen = 0
        density = saturated = masked = 0.0
        n_batches = -(-len(order) // bs)
        for b, i in enumerate(range(0, len(order), bs)):
            idx = np.sort(order[i : i + bs])
            xb = _batch(x_tr, idx, device)
            yb = torch.from_numpy(np.asarray(y_tr[idx])).long().to(device)
            out = gen(xb, eps)
            with grad_context(device):
                logits = threat(out.x_adv)
            bound = eps_bound(xb, eps, gen.eps_mode, gen.ref_level)
            terms = staa_losses(
                logits,
                yb,
                out.v,
                out.m_soft,
                out.m,
                weights,
                kappa=train.kappa,
                target=None if tgt_full is None else torch.full_like(yb, tgt_full),
                reduction=train.reduction,
                sparsity_target=train.sparsity_target if train.budget == "loss" else None,
                sparsity_scope=train.sparsity_scope,
                # ours: the magnitude term as a share of the bound (the paper's mask training keeps its own)
                bound=bound if train.mask_training == "ste" else None,
            )
            if not torch.isfinite(terms["total"]):
                raise TrainingError(
                    f"generator {tag}: loss is {terms['total'].item()} at epoch {epoch + 1}, batch {b + 1}"
                    + loop.kept_note()
                )
            opt.zero_grad(set_to_none=True)
            terms["total"].backward()
            if train.grad_clip:
                torch.nn.utils.clip_grad_norm_(gen.parameters(), train.grad_clip)
            opt.step()
            with torch.no_grad():
                for k in sums:
                    sums[k] += float(terms[k].detach()) * len(idx)
                fooled += int((logits.argmax(1) != yb).sum())
                density += float(out.m_hard.mean()) * len(idx)
                hard = out.m_hard
                saturated += float(((out.v.abs() >= SATURATION * bound).float() * hard).sum())
                masked += float(hard.sum())
            seen += len(idx)
            progress(log, tag, epoch, loop.epochs, b, n_batches, t0)
        sched.step()
        dev = evaluate_dev(gen, threat, x_dev, y_dev, eps, device, bs)
        row = {
            "epoch": epoch + 1,
            "step": (epoch + 1) * n_batches,
            "loss": sums["total"] / seen,
            **{k: sums[k] / seen for k in ("adv", "mag", "qua", "spa")},
            "fooling_rate": fooled / seen,
            "mask_density": density / seen,
            "saturation": saturated / masked if masked else float("nan"),
            "dev_fooling_rate": dev["fooling_rate"],
            "dev_mask_density": dev["mask_density"],
            "dev_saturation": dev["saturation"],
            "dev_delta_cosine": dev["delta_cosine"],
            "dev_mask_overlap": dev["mask_overlap"],
            "eps": eps,
            "lr": opt.param_groups[0]["lr"],
            "seconds": round(time.time() - t0, 3),
        }
        rows.append(row)
        if selectable(row, window, min(warmup, loop.epochs - 1)) and dev["fooling_rate"] >= best["fooling_rate"]:
            best.update(epoch=epoch + 1, fooling_rate=dev["fooling_rate"], state=to_cpu(gen.state_dict()))
        print(
            f"[{tag}] epoch {epoch + 1}/{loop.epochs} loss {row['loss']:.4f} adv {row['adv']:.3f} "
            f"mag {row['mag']:.3f} spa {row['spa']:.3f} | train fool {row['fooling_rate']:.3f} "
            f"density {row['mask_density']:.3f} sat {_num(row['saturation'])} | dev fool "
            f"{dev['fooling_rate']:.3f} density {dev['mask_density']:.3f} cos {_num(dev['delta_cosine'])} "
            f"overlap {_num(dev['mask_overlap'])} | eps {eps:.4f} ({row['seconds']:.1f}s)",
            file=log,
            flush=True,
        )
        return {"rows": rows, "best": best}

    loop.run(run_epoch, {"model": gen, "optimizer": opt, "scheduler": sched})
    return _select(gen, rows, best, train, window, tag, log)


def _num(value: float | None) -> str:
    return "n/a" if value is None or value != value else f"{value:.2f}"


def _select(gen, rows, best, train, window, tag: str, log) -> TrainResult:
    """Keep the selected epoch (best dev fooling rate in the window, or the last) and say whether
    the mask collapsed: its dev density is under the window's floor (for best_dev without a
    selectable epoch: every epoch's is)."""
    floor, note = window[1], ""
    if train.select == "best_dev" and best["state"] is not None:
        gen.load_state_dict(best["state"])
        chosen, collapsed = int(best["epoch"]), False
    else:
        chosen = len(rows)
        kept = rows if train.select == "best_dev" else rows[-1:]
        collapsed = bool(kept) and all(r["dev_mask_density"] < floor for r in kept)
        if train.select == "best_dev":
            note = f"no epoch had a dev mask density within {window}; keeping the last epoch"
            print(f"[{tag}] {note}", file=log, flush=True)
    if collapsed:
        density = rows[chosen - 1]["dev_mask_density"]
        note = (
            f"collapsed: the selected epoch's dev mask perturbs {100 * density:.2f} % of samples, "
            f"under the {100 * floor:.2f} % floor"
        )
        print(f"[{tag}] {note}", file=log, flush=True)
    print(f"[{tag}] selected epoch {chosen} ({train.select})", file=log, flush=True)
    return TrainResult(gen, rows, chosen, collapsed, note)


def head_settings(train: Any, ref_level: float | None = None) -> dict[str, Any]:
    """The mask and bound settings a generator is built with (and saved with, in its meta)."""
    return {
        "universal": train.universal,
        "mask_training": train.mask_training,
        "budget": train.budget,
        "density": train.sparsity_target if train.budget == "topk" else None,
        "eps_mode": train.eps_mode,
        "ref_level": ref_level if train.eps_mode == "relative" else None,
        "input_norm": train.input_norm,
    }


def generator_for(train: Any, arch: dict[str, Any], x_train: np.ndarray) -> STAANet:
    """A fresh generator for clips like `x_train` (N, L) with the settings `train` (its mask, budget
    and bound; a relative bound is measured against x_train's mean RMS) and the Wave-U-Net `arch`."""
    from staa.data.prepare import reference_level
    from staa.generator.checkpoint import build_generator

    ref = reference_level(x_train) if train.eps_mode == "relative" else None
    return build_generator(
        arch,
        int(x_train.shape[1]),
        train.factorised,
        train.frame_length,
        train.loc_bias_init,
        **head_settings(train, ref),
    )


__all__: list[str] = [
    "TrainResult",
    "density_window",
    "eps_at",
    "evaluate_dev",
    "selectable",
    "train_staa",
]
