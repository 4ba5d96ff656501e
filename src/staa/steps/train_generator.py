"""Train one STAA-Net generator against a frozen threat model (docs/design.md §4).

The generator is trained once; afterwards one forward pass turns a clean utterance into an
adversarial one. The adversarial loss is the Carlini-Wagner margin against the threat model's
*clean prediction*; magnitude, quantisation and sparsity losses are weighted per variant.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from staa.checkpoint import (
    data_digest,
    file_digest,
    fingerprint,
    load_checkpoint,
    save_checkpoint,
    to_cpu,
)
from staa.data.prepare import load_classes, load_split
from staa.errors import ConfigError, TrainingError
from staa.generator import STAANet, build_generator, save_generator
from staa.losses import staa_losses
from staa.models import load_victim, predict
from staa.runtime import grad_context
from staa.settings import GeneratorRun, GeneratorSettings
from staa.utils import OutputFiles, output_file, progress, write_csv, write_json


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


SELECTS = ("last", "best_dev")
BUDGET_SLACK = 0.02  # the hinge holds density at the budget only on average: allow 2 points over


def dev_budget(train: dict[str, Any]) -> float | None:
    """Density a selectable epoch may not exceed on dev: the sparsity budget, for variants that have one."""
    if not train["factorised"] or not train["losses"].get("spa") or train["sparsity_target"] is None:
        return None
    return float(train["sparsity_target"]) + BUDGET_SLACK


def selectable(row: dict[str, Any], budget: float | None, after: int) -> bool:
    """An epoch may be selected once the loss warm-up is over and its dev mask density is within
    the budget (a dense epoch before pruning must not win)."""
    return row["epoch"] > after and (budget is None or row["dev_mask_density"] <= budget)


def resolve(params: dict[str, Any]) -> GeneratorSettings:
    """The train settings with the variant's overrides (staa.settings.variant_settings), checked."""
    train = GeneratorSettings.from_params(params)
    if train.select not in SELECTS:
        raise ConfigError(f"generator select={train.select!r}: expected one of {list(SELECTS)}")
    if train.eps <= 0:
        raise ConfigError(f"generator eps must be > 0, got {train.eps}")
    return train


@dataclass(frozen=True)
class GeneratorFiles(OutputFiles):
    """What a generator's training writes (the rule names each file); the resumable checkpoint goes
    to ckpt/last.pt beside the generator."""

    generator: Path = output_file("generator.pt", flag="--model")
    train_log: Path = output_file("train_log.csv")
    summary: Path = output_file("train_summary.json")


def train_generator(
    params: dict[str, Any],
    data_dir: str | Path,
    threat_path: str | Path,
    files: GeneratorFiles,
    device: torch.device,
    log=None,
) -> dict[str, Any]:
    """Train one generator: params threat, variant, arch {...}, seed (staa.settings.GeneratorRun) and
    train {...}, variant_cfg {...} (staa.settings.GeneratorSettings); writes `files`."""
    log = sys.stderr if log is None else log  # looked up per call: a redirected stderr is honoured
    ckpt_path = Path(files.generator).parent / "ckpt" / "last.pt"
    files.check({"--data-dir": data_dir, "--threat-model": threat_path}, also={"its resume checkpoint": ckpt_path})
    run, train = GeneratorRun.from_params(params), resolve(params)
    tag = f"{run.threat}/{run.variant}"
    info = load_classes(data_dir)
    classes, length = info["classes"], int(info["length"])
    if train.frame_length > length:
        raise ConfigError(f"generator frame_length {train.frame_length} is larger than the clip length ({length})")
    target = train.target
    target_idx = None
    if target is not None:
        if target not in classes:
            raise ConfigError(f"generator.train.target: unknown class {target!r}; expected one of {classes}")
        target_idx = classes.index(target)
    x_tr, _ = load_split(data_dir, "train")
    x_dev, _ = load_split(data_dir, "dev")
    seed = run.seed

    threat = load_victim(threat_path, map_location=device)
    threat.eval()
    for p in threat.parameters():
        p.requires_grad_(False)
    y_tr = predict(threat, x_tr, device)  # the threat model's clean predictions are the labels to leave
    y_dev = predict(threat, x_dev, device)

    torch.manual_seed(seed)
    gen = build_generator(run.arch, length, train.factorised, train.frame_length, train.loc_bias_init).to(device)
    opt = torch.optim.Adam(gen.parameters(), lr=train.lr)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=train.step_size, gamma=train.gamma)
    epochs, bs = train.epochs, train.batch_size
    settings = {k: v for k, v in dataclasses.asdict(train).items() if k != "epochs"}  # more epochs resume
    fp = fingerprint(
        {
            **dataclasses.asdict(run),
            "train": settings,
            "length": length,
            "data": data_digest(data_dir),
            "threat_model": file_digest(threat_path),
        }
    )
    start, rows = 0, []
    best: dict[str, Any] = {"epoch": 0, "fooling_rate": -1.0, "state": None}
    state = load_checkpoint(ckpt_path, fp, log)
    if state is not None and int(state["epoch"]) <= epochs:
        gen.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        start, rows = int(state["epoch"]), list(state["rows"])
        best = dict(state.get("best") or best)
        print(f"[{tag}] resumed from {ckpt_path} after epoch {start}", file=log, flush=True)
    print(
        f"[{tag}] generator: {gen.count_parameters()} parameters, input {gen.input_length} -> {length} samples, "
        f"factorised={train.factorised}, losses={train.losses}, {epochs} epochs on {device}",
        file=log,
        flush=True,
    )
    warmup, select = train.warmup_epochs, train.select
    budget = dev_budget(dataclasses.asdict(train))
    for epoch in range(start, epochs):
        t0 = time.time()
        eps = eps_at(epoch, train.eps, train.flex_eps)
        # ours: ramp the auxiliary weights from 0 so magnitudes find an adversarial direction
        # before the sparsity term prunes the mask (without it the mask collapses to all-zero)
        ramp = min(1.0, epoch / warmup) if warmup > 0 else 1.0
        weights = {k: w * ramp for k, w in train.losses.items()}
        gen.train()
        torch.manual_seed(seed * 100003 + epoch)  # quantisation coin flips, reproducible on resume
        order = np.random.default_rng([seed, epoch]).permutation(x_tr.shape[0])
        sums = {k: 0.0 for k in ("total", "adv", "mag", "qua", "spa")}
        fooled = density = seen = 0
        n_batches = -(-len(order) // bs)
        for b, i in enumerate(range(0, len(order), bs)):
            idx = np.sort(order[i : i + bs])
            xb = torch.from_numpy(np.array(x_tr[idx], dtype=np.float32)).to(device)
            yb = torch.from_numpy(y_tr[idx]).long().to(device)
            out = gen(xb, eps)
            with grad_context(device):
                logits = threat(out.x_adv)
            tgt = None if target_idx is None else torch.full_like(yb, target_idx)
            terms = staa_losses(
                logits,
                yb,
                out.v,
                out.m_soft,
                out.m,
                weights,
                kappa=train.kappa,
                target=tgt,
                reduction=train.reduction,
                sparsity_target=train.sparsity_target,
                sparsity_scope=train.sparsity_scope,
            )
            if not torch.isfinite(terms["total"]):
                raise TrainingError(
                    f"generator {tag}: loss is {terms['total'].item()} at epoch {epoch + 1}, "
                    f"batch {b + 1}; the last good checkpoint ({ckpt_path}) was kept"
                )
            opt.zero_grad(set_to_none=True)
            terms["total"].backward()
            if train.grad_clip:
                torch.nn.utils.clip_grad_norm_(gen.parameters(), train.grad_clip)
            opt.step()
            for k in sums:
                sums[k] += float(terms[k].detach()) * len(idx)
            fooled += int((logits.argmax(1) != yb).sum())
            density += float(out.m_hard.mean()) * len(idx)
            seen += len(idx)
            progress(log, tag, epoch, epochs, b, n_batches, t0)
        sched.step()
        dev = evaluate_dev(gen, threat, x_dev, y_dev, eps, device, bs)
        row = {
            "epoch": epoch + 1,
            "loss": sums["total"] / seen,
            **{k: sums[k] / seen for k in ("adv", "mag", "qua", "spa")},
            "fooling_rate": fooled / seen,
            "mask_density": density / seen,
            "dev_fooling_rate": dev["fooling_rate"],
            "dev_mask_density": dev["mask_density"],
            "eps": eps,
            "lr": opt.param_groups[0]["lr"],
            "seconds": round(time.time() - t0, 3),
        }
        rows.append(row)
        if selectable(row, budget, min(warmup, epochs - 1)) and dev["fooling_rate"] >= best["fooling_rate"]:
            best = {"epoch": epoch + 1, "fooling_rate": dev["fooling_rate"], "state": to_cpu(gen.state_dict())}
        save_checkpoint(
            ckpt_path,
            {
                "fingerprint": fp,
                "epoch": epoch + 1,
                "model": to_cpu(gen.state_dict()),
                "optimizer": to_cpu(opt.state_dict()),
                "scheduler": sched.state_dict(),
                "rows": rows,
                "best": best,
            },
        )
        print(
            f"[{tag}] epoch {epoch + 1}/{epochs} loss {row['loss']:.4f} adv {row['adv']:.3f} mag {row['mag']:.4f} "
            f"qua {row['qua']:.3f} spa {row['spa']:.3f} | train fool {row['fooling_rate']:.3f} "
            f"density {row['mask_density']:.3f} | dev fool {dev['fooling_rate']:.3f} density "
            f"{dev['mask_density']:.3f} | eps {eps:.4f} ({row['seconds']:.1f}s)",
            file=log,
            flush=True,
        )
    chosen = epochs
    if select == "best_dev" and best["state"] is not None:
        gen.load_state_dict(best["state"])
        chosen = int(best["epoch"])
    elif select == "best_dev":
        print(f"[{tag}] no epoch met the dev density budget ({budget}); keeping the last epoch", file=log, flush=True)
    print(f"[{tag}] selected epoch {chosen} ({select})", file=log, flush=True)
    final_eps = eps_at(chosen - 1, train.eps, train.flex_eps)
    meta = {
        "arch": run.arch,
        "length": length,
        "factorised": train.factorised,
        "frame_length": train.frame_length,
        "eps": final_eps,
        "threat": run.threat,
        "variant": run.variant,
        "classes": classes,
        "dataset": info["dataset"],
        "losses": train.losses,
        "target": target,
        "warmup_epochs": warmup,
        "select": select,
        "selected_epoch": chosen,
        "sample_rate": int(info["sample_rate"]),
        "seed": run.seed,
    }
    write_csv(files.train_log, pd.DataFrame(rows))
    save_generator(gen.cpu(), files.generator, meta)
    write_json(files.summary, {**meta, "final": rows[-1] if rows else {}, "selected": rows[chosen - 1] if rows else {}})
    return meta


@torch.no_grad()
def evaluate_dev(gen: STAANet, threat, x: np.ndarray, y: np.ndarray, eps: float, device, bs: int) -> dict[str, float]:
    """Fooling rate and hard-mask density on the dev split (eval mode, hard quantisation)."""
    gen.eval()
    fooled, density = 0, 0.0
    for i in range(0, x.shape[0], bs):
        xb = torch.from_numpy(np.array(x[i : i + bs], dtype=np.float32)).to(device)
        out = gen(xb, eps)
        pred = predict(threat, out.x_adv, device, batch_size=xb.shape[0])
        fooled += int((pred != y[i : i + bs]).sum())
        density += float(out.m.mean()) * xb.shape[0]
    gen.train()
    return {"fooling_rate": fooled / max(1, x.shape[0]), "mask_density": density / max(1, x.shape[0])}
