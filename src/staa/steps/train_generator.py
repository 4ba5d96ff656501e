"""Train one STAA-Net generator against a frozen threat model (docs/design.md §4).

The generator is trained once; afterwards one forward pass turns a clean utterance into an
adversarial one. The adversarial loss is the Carlini-Wagner margin against the threat model's
*clean prediction*; magnitude, quantisation and sparsity losses are weighted per variant.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from staa.checkpoint import data_digest, file_digest, fingerprint
from staa.data.prepare import load_classes, load_split
from staa.errors import ConfigError
from staa.generator import save_generator
from staa.generator.training import eps_at, generator_for, head_settings, train_staa
from staa.models import load_victim, predict
from staa.settings import GeneratorRun, GeneratorSettings
from staa.training import EpochLoop
from staa.utils import OutputFiles, output_file, write_csv, write_json


SELECTS = ("last", "best_dev")


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

    threat = load_victim(threat_path, map_location=device)
    threat.eval()
    y_tr = predict(threat, x_tr, device)  # the threat model's clean predictions are the labels to leave
    y_dev = predict(threat, x_dev, device)

    torch.manual_seed(run.seed)
    gen = generator_for(train, run.arch, x_tr)  # a relative bound is measured against x_tr's level
    head = head_settings(train, gen.ref_level)
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
    kind = "universal perturbation" if train.universal else "generator"
    print(
        f"[{tag}] {kind}: {gen.count_parameters()} parameters, input {gen.input_length} -> {length} samples, "
        f"factorised={train.factorised}, mask {train.mask_training}/{train.budget}, eps {train.eps} "
        f"({train.eps_mode}), losses={train.losses}, {train.epochs} epochs on {device}",
        file=log,
        flush=True,
    )
    loop = EpochLoop(train.epochs, ckpt_path, fp)
    result = train_staa(
        gen,
        threat,
        x_tr,
        y_tr,
        x_dev,
        y_dev,
        train,
        seed=run.seed,
        device=device,
        target_idx=target_idx,
        tag=tag,
        log=log,
        loop=loop,
    )
    gen, rows, chosen = result.generator, result.rows, result.selected_epoch
    final_eps = eps_at(chosen - 1, train.eps, train.flex_eps)
    meta = {
        "arch": run.arch,
        "length": length,
        "factorised": train.factorised,
        "frame_length": train.frame_length,
        **head,
        "eps": final_eps,
        "threat": run.threat,
        "variant": run.variant,
        "classes": classes,
        "dataset": info["dataset"],
        "losses": train.losses,
        "target": target,
        "warmup_epochs": train.warmup_epochs,
        "select": train.select,
        "selected_epoch": chosen,
        "collapsed": result.collapsed,
        "sample_rate": int(info["sample_rate"]),
        "seed": run.seed,
    }
    write_csv(files.train_log, pd.DataFrame(rows))
    save_generator(gen.cpu(), files.generator, meta)
    write_json(
        files.summary,
        {
            **meta,
            "note": result.note,
            "final": rows[-1] if rows else {},
            "selected": rows[chosen - 1] if rows else {},
        },
    )
    return meta
