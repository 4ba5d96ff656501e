"""Train and evaluate one victim model on one dataset (docs/design.md §3).

Per epoch: shuffled mini-batches (order from seed + epoch, so a resumed run sees the same
batches), dev WA/UA, a progress line in the log, a CSV row and a checkpoint. At the end the
selected weights (best dev UA, or last epoch as the reference does for SSL models) are scored on
the test split.
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
import torch.nn.functional as F

from staa.checkpoint import data_digest, fingerprint, to_cpu
from staa.data.prepare import load_classes, load_split
from staa.errors import ConfigError, TrainingError
from staa.metrics import classification_report
from staa.models import build_victim, predict, save_victim
from staa.provenance import provenance
from staa.runtime import describe_device
from staa.settings import VictimSettings
from staa.training import EpochLoop
from staa.utils import OutputFiles, output_file, progress, write_csv, write_json


@dataclass(frozen=True)
class VictimFiles(OutputFiles):
    """What a victim's training writes (the rule names each file); the resumable checkpoint goes
    to ckpt/last.pt beside the model."""

    model: Path = output_file("model.pt")
    metrics: Path = output_file("metrics.json")
    train_log: Path = output_file("train_log.csv")


def train_victim(
    name: str, params: dict[str, Any], data_dir: str | Path, files: VictimFiles, device: torch.device, log=None
) -> dict[str, Any]:
    """Train victim `name` with `params` (staa.settings.VictimSettings) and write `files`.

    `train: false` evaluates the model as it is (a user's fine-tuned checkpoint): no epoch runs, the
    dev split is scored once (epoch 0 in the log) and the test split as always."""
    log = sys.stderr if log is None else log  # looked up per call: a redirected stderr is honoured
    ckpt_path = Path(files.model).parent / "ckpt" / "last.pt"
    files.check({"--data-dir": data_dir}, also={"its resume checkpoint": ckpt_path})
    cfg = VictimSettings.from_params(params)
    info = load_classes(data_dir)
    classes, length = info["classes"], int(info["length"])
    x_tr, t_tr = load_split(data_dir, "train")
    x_dev, t_dev = load_split(data_dir, "dev")
    x_te, t_te = load_split(data_dir, "test")
    y_tr = t_tr["label_idx"].to_numpy()
    as_is = not cfg.train
    epochs = 0 if as_is else cfg.epochs
    bs, seed, select = cfg.batch_size, cfg.seed, cfg.select
    if select not in ("best_dev_ua", "last"):
        raise ConfigError(f"victims.{name}.select: {select!r}; expected 'best_dev_ua' or 'last'")

    from staa.models import check_trainable

    check_trainable(cfg.family, epochs, name)
    torch.manual_seed(seed)
    model = build_victim(
        cfg.family, len(classes), length, cfg.arch, classes=classes, sample_rate=int(info["sample_rate"]), name=name
    ).to(device)
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(trainable, lr=cfg.lr, weight_decay=cfg.weight_decay) if epochs and trainable else None
    if epochs and not trainable:
        raise ConfigError(
            f"victims.{name}: epochs is {epochs} but the model has no trainable parameters; "
            "expected train: false to evaluate it as it is"
        )
    fp = fingerprint({**dataclasses.asdict(cfg), "classes": classes, "length": length, "data": data_digest(data_dir)})
    loop = EpochLoop(epochs, ckpt_path, fp)
    rows, best = [], {"ua": -1.0, "epoch": -1, "state": None}
    if opt is not None:
        saved = loop.resume({"model": model, "optimizer": opt}, log=log, tag=name)
        rows, best = list(saved.get("rows", rows)), dict(saved.get("best") or best)

    # a foreign model may hold its weights outside the module tree (an exported program): it counts them
    counter = getattr(model.net, "parameter_count", None)
    n_params = counter() if callable(counter) else sum(p.numel() for p in model.parameters())
    where = " (of the exported program, frozen)" if callable(counter) else ""
    dropped = list(getattr(model, "dropped_labels", []) or [])
    if dropped:
        print(
            f"[{name}] model labels without a dataset class (left out of the argmax): {dropped}", file=log, flush=True
        )
    if as_is:
        t0 = time.time()
        dev = classification_report(t_dev["label_idx"].to_numpy(), predict(model, x_dev, device), classes)
        rows = [
            {
                "epoch": 0,
                "train_loss": float("nan"),
                "train_acc": float("nan"),
                "dev_wa": dev["wa"],
                "dev_ua": dev["ua"],
                "lr": 0.0,
                "seconds": round(time.time() - t0, 3),
            }
        ]
        best = {"ua": dev["ua"], "epoch": 0, "state": None}
        print(
            f"[{name}] evaluated as it is (train: false): dev_wa {dev['wa']:.3f} dev_ua {dev['ua']:.3f}",
            file=log,
            flush=True,
        )
    print(
        f"[{name}] {cfg.family}: {n_params} parameters{where}, {len(y_tr)} train / {len(t_dev)} dev / "
        f"{len(t_te)} test utterances, {epochs} epochs on {device}",
        file=log,
        flush=True,
    )

    def run_epoch(epoch: int) -> dict[str, Any]:
        t0 = time.time()
        model.train()
        torch.manual_seed(seed * 100003 + epoch)  # dropout/SpecAugment stream, reproducible on resume
        order = np.random.default_rng([seed, epoch]).permutation(len(y_tr))
        tot_loss, correct, seen = 0.0, 0, 0
        for b, i in enumerate(range(0, len(order), bs)):
            idx = np.sort(order[i : i + bs])
            xb = torch.from_numpy(np.array(x_tr[idx], dtype=np.float32)).to(device)
            yb = torch.from_numpy(y_tr[idx]).long().to(device)
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            if not torch.isfinite(loss):
                raise TrainingError(
                    f"victim {name}: loss is {loss.item()} at epoch {epoch + 1}, batch {b + 1}"
                    f"{loop.kept_note()}. Lower the learning rate."
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(trainable, cfg.grad_clip)
            opt.step()
            tot_loss += loss.item() * len(idx)
            correct += int((logits.argmax(1) == yb).sum())
            seen += len(idx)
            progress(log, name, epoch, epochs, b, -(-len(order) // bs), t0)
        dev = classification_report(t_dev["label_idx"].to_numpy(), predict(model, x_dev, device), classes)
        row = {
            "epoch": epoch + 1,
            "train_loss": tot_loss / seen,
            "train_acc": correct / seen,
            "dev_wa": dev["wa"],
            "dev_ua": dev["ua"],
            "lr": opt.param_groups[0]["lr"],
            "seconds": round(time.time() - t0, 3),
        }
        rows.append(row)
        if dev["ua"] > best["ua"]:
            best.update(ua=dev["ua"], epoch=epoch + 1, state=to_cpu(model.state_dict()))
        print(
            f"[{name}] epoch {epoch + 1}/{epochs} loss {row['train_loss']:.4f} train_acc {row['train_acc']:.3f} "
            f"dev_wa {dev['wa']:.3f} dev_ua {dev['ua']:.3f} ({row['seconds']:.1f}s)",
            file=log,
            flush=True,
        )
        return {"rows": rows, "best": best}

    if opt is not None:
        loop.run(run_epoch, {"model": model, "optimizer": opt})

    if select == "best_dev_ua" and best["state"] is not None:
        model.load_state_dict(best["state"])
    chosen = 0 if as_is else best["epoch"] if select == "best_dev_ua" else epochs
    test = classification_report(t_te["label_idx"].to_numpy(), predict(model, x_te, device), classes)
    metrics = {
        "dataset": info["dataset"],
        "victim": name,
        "family": cfg.family,
        "seed": cfg.seed,
        **test,
        "provenance": provenance(params, describe_device(device)),
        "n_test": int(len(t_te)),
        "n_params": int(n_params),
        "epochs": epochs,
        "selected_epoch": chosen,
        "trained": not as_is,
        "dropped_labels": dropped,
        "dev_ua_selected": float(best["ua"]) if select == "best_dev_ua" else float(rows[-1]["dev_ua"]),
    }
    write_csv(files.train_log, pd.DataFrame(rows))
    save_victim(
        model.cpu(),
        files.model,
        extra={
            "dataset": info["dataset"],
            "victim": name,
            "classes": classes,
            "selected_epoch": chosen,
            "dropped_labels": dropped,
        },
    )
    write_json(files.metrics, metrics)
    print(f"[{name}] test WA {test['wa']:.3f} UA {test['ua']:.3f} (epoch {chosen})", file=log, flush=True)
    return metrics
