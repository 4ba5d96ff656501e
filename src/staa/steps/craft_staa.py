"""Craft STAA-Net's adversarial examples: apply a trained generator to the test split once.

One job per generator (dataset, threat model, variant, seed) writes what every victim's scoring job
(`staa.steps.score`) reads: the adversarial waveforms, the generator's hard mask (the perturbed-sample map
the L0 figures use), a per-utterance log with the generator's seconds at batch size 1, the batched
throughput, and a few listening examples (clean/adversarial pairs, fooled ones first, as judged by
the threat model: the white-box view).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from staa.data.prepare import load_classes, load_split
from staa.errors import ConfigError
from staa.evaluate import save_mask, write_examples
from staa.models import load_victim, predict
from staa.generator import load_generator
from staa.runtime import describe_device
from staa.settings import CraftSettings
from staa.timing import time_per_utterance, timed
from staa.utils import OutputFiles, atomic_path, output_file, write_csv, write_json


@torch.no_grad()
def generate(gen, x: np.ndarray, eps: float, device: torch.device, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Adversarial waveforms and hard masks for a whole split, one forward pass per batch."""
    advs, masks = [], []
    for i in range(0, x.shape[0], batch_size):
        out = gen(torch.from_numpy(np.array(x[i : i + batch_size], dtype=np.float32)).to(device), eps)
        advs.append(out.x_adv.cpu().numpy())
        masks.append((out.m != 0).cpu().numpy())
    return np.concatenate(advs), np.concatenate(masks)


@dataclass(frozen=True)
class CraftFiles(OutputFiles):
    """What crafting writes (the rule names each file): adversarials, packed hard masks, per-utterance
    log, crafting record, and the listening examples' folder (its files are the rule's outputs too)."""

    adversarial: Path = output_file("adversarial.npy")
    mask: Path = output_file("mask.npy")
    attack_log: Path = output_file("attack_log.csv")
    craft: Path = output_file("craft.json")
    examples_dir: Path = output_file("examples", folder=True)


def craft_staa(
    params: dict[str, Any],
    data_dir: str | Path,
    generator_path: str | Path,
    threat_path: str | Path,
    files: CraftFiles,
    device: torch.device,
    log=None,
) -> pd.DataFrame:
    """Apply the generator to the test split (params: staa.settings.CraftSettings) and write `files`."""
    log = sys.stderr if log is None else log  # looked up per call: a redirected stderr is honoured
    cfg = CraftSettings.from_params(params)
    ex = Path(files.examples_dir)
    examples = [ex / f"example_{k}{end}" for k in range(cfg.n_examples) for end in ("_clean.wav", "_adv.wav", ".npz")]
    files.check(
        {"--data-dir": data_dir, "--generator": generator_path, "--threat-model": threat_path},
        also={"listening example": examples},
    )
    info = load_classes(data_dir)
    classes, sr = info["classes"], int(info["sample_rate"])
    x, table = load_split(data_dir, "test")
    x = np.asarray(x, dtype=np.float32)
    n_examples = cfg.n_examples
    if n_examples > x.shape[0]:
        raise ConfigError(
            f"attack_eval.n_examples = {n_examples}, but the test split ({Path(data_dir) / 'test.csv'}) "
            f"has {x.shape[0]} utterances; lower it"
        )
    gen, meta = load_generator(generator_path, device)
    threat = load_victim(threat_path, device)
    eps = float(meta["eps"])
    bs = cfg.throughput_batch

    # throughput: the whole split in batches; its outputs are the adversarial examples every victim scores
    (x_adv, mask), seconds = timed(lambda: generate(gen, x, eps, device, bs), device)
    # latency: one utterance at a time (the paper's setting), on the first `timing_utterances`
    sec = time_per_utterance(lambda xi: gen(xi, eps), x, device, cfg.timing_utterances)
    per_utt = np.full(x.shape[0], np.nan)
    per_utt[: len(sec)] = sec

    with atomic_path(files.adversarial) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, np.asarray(x_adv, dtype=np.float32))
    save_mask(files.mask, mask)
    log_df = pd.DataFrame(
        {
            "utt_id": table["utt_id"].astype(str).to_numpy(),
            "seconds": per_utt,
            "status": "ok",
            "error": "",
            "device": describe_device(device),
            "threads": torch.get_num_threads(),
        }
    )
    write_csv(files.attack_log, log_df)
    write_json(
        files.craft,
        {
            "dataset": cfg.dataset,
            "threat": cfg.threat,
            "variant": cfg.variant,
            "seed": cfg.seed,
            "eps": eps,
            "eps_mode": meta.get("eps_mode", "absolute"),
            "collapsed": bool(meta.get("collapsed", False)),
            "n_utterances": int(x.shape[0]),
            "length": int(x.shape[1]),
            "throughput_utt_per_s": float(x.shape[0] / seconds),
            "throughput_batch": bs,
            "device": describe_device(device),
            "threads": torch.get_num_threads(),
        },
    )
    # listening examples, judged by the threat model (the white-box view)
    clean_pred, adv_pred = predict(threat, x, device), predict(threat, x_adv, device)
    write_examples(files.examples_dir, table, x, x_adv, mask, classes, clean_pred, adv_pred, sr, n_examples)
    print(
        f"[staa {cfg.threat}/{cfg.variant}] {x.shape[0]} utterances crafted, "
        f"{100.0 * mask.mean():.1f} % of samples perturbed, {np.median(sec) * 1e3:.2f} ms/utt, "
        f"{x.shape[0] / seconds:.1f} utt/s at batch {bs}",
        file=log,
        flush=True,
    )
    return log_df
