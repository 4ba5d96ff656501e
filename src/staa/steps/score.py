"""Score stored adversarial examples on one victim: the one scoring step of every attack.

STAA-Net (crafted by `staa.steps.craft_staa` on the whole test split) and every baseline (crafted
by `staa.steps.attack_baseline` on the seeded subset) are scored by the same code, one job per (attack,
victim): white-box when the victim is the threat model, transfer otherwise. The record written to
metrics.json is built in one place (`attack_record`) and checked against the metrics schema.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from staa.data.prepare import check_array, load_classes, load_split, load_subset
from staa.errors import ConfigError, DataError
from staa.evaluate import attack_metrics, load_mask, write_attack_outputs
from staa.metrics_format import FORMAT_VERSION
from staa.models import load_victim, predict
from staa.provenance import provenance
from staa.runtime import describe_device
from staa.settings import ScoreSettings
from staa.timing import time_per_utterance
from staa.utils import OutputFiles, output_file, read_json, read_table

# STAA-Net scored on the baselines' subset too: these keys of the subset's metrics
SUBSET_KEYS = (
    "asr",
    "success_vs_truth",
    "snr_peak_db",
    "snr_energy_db",
    "l0",
    "l0_percent",
    "l0_frames_percent",
    "n_utterances",
    "si_sdr_db",
    "stoi",
)
CRAFT_KEYS = ("eps", "throughput_utt_per_s", "throughput_batch")
CRAFT_OPTIONAL = {"eps_mode": "absolute", "collapsed": False}  # crafting records before these existed


def craft_rule(method: str) -> str:
    """The rule that crafted an attack's adversarials (named in what-to-do messages)."""
    return "craft_staa" if method == "staa" else "attack_baseline"


def attack_record(
    cfg: ScoreSettings,
    params: dict[str, Any],
    metrics: dict[str, Any],
    attack_log: pd.DataFrame,
    craft: dict[str, Any],
    subset_metrics: dict[str, Any] | None,
    victim_seconds: np.ndarray,
    device: torch.device,
) -> dict[str, Any]:
    """The metrics.json record (format FORMAT_VERSION) of one attack scored on one victim; `params` as
    given are kept in its provenance."""
    sec = attack_log["seconds"].to_numpy(dtype=float)
    sec = sec[np.isfinite(sec)]  # STAA-Net times its first `timing_utterances` utterances only
    record = {
        **metrics,
        "format_version": FORMAT_VERSION,
        "dataset": cfg.dataset,
        "attack": cfg.attack,
        "method_family": cfg.method,
        "threat": cfg.threat,
        "variant": cfg.variant,
        "victim": cfg.victim,
        "white_box": cfg.victim == cfg.threat,
        "subset": cfg.scope,
        "seed": cfg.seed,
        **{k: craft.get(k) for k in CRAFT_KEYS},
        **{k: craft.get(k, default) for k, default in CRAFT_OPTIONAL.items()},
        "seconds_per_utterance": float(sec.mean()) if sec.size else float("nan"),
        "seconds_per_utterance_median": float(np.median(sec)) if sec.size else float("nan"),
        "victim_seconds_per_utterance_median": float(np.median(victim_seconds)) if victim_seconds.size else None,
        "n_failed": int((attack_log["status"] != "ok").sum()),
        "device": str(attack_log["device"].iloc[0]),
        "threads": int(attack_log["threads"].iloc[0]),
        "subset_metrics": subset_metrics,
    }
    record["provenance"] = provenance(params, describe_device(device))
    return record


def _read_craft(path: str | Path) -> dict[str, Any]:
    craft = read_json(path, "crafting record (craft.json)")
    for key in CRAFT_KEYS:
        if key not in craft:
            raise DataError(f"{path}: missing key '{key}'; rerun the craft_staa rule")
    return craft


@dataclass(frozen=True)
class ScoreFiles(OutputFiles):
    """What scoring writes (the rule names each file)."""

    metrics: Path = output_file("metrics.json")
    per_utterance: Path = output_file("per_utterance.csv")


def score_attack(
    params: dict[str, Any],
    data_dir: str | Path,
    adv_path: str | Path,
    attack_log: str | Path,
    victim_path: str | Path,
    files: ScoreFiles,
    device: torch.device,
    subset_csv: str | Path | None = None,
    mask_path: str | Path | None = None,
    craft_path: str | Path | None = None,
    log=None,
) -> dict[str, Any]:
    """Score stored adversarials on one victim (params: staa.settings.ScoreSettings); writes `files`.

    scope 'subset': the adversarials are the subset's utterances (`subset_csv`), as the baselines craft
    them; 'full': the whole test split (STAA-Net), also scored on `subset_csv`'s utterances when given
    (subset_metrics). `mask_path`: the attack's own perturbed-sample map (else x_adv != x);
    `craft_path`: the crafting job's eps and throughput."""
    log = sys.stderr if log is None else log  # looked up per call: a redirected stderr is honoured
    files.check(
        {
            "--data-dir": data_dir,
            "--adversarial": adv_path,
            "--attack-log": attack_log,
            "--victim-model": victim_path,
            "--subset": subset_csv,
            "--mask": mask_path,
            "--craft": craft_path,
        }
    )
    cfg = ScoreSettings.from_params(params)
    fix = f"rerun the {craft_rule(cfg.method)} rule"
    info = load_classes(data_dir)
    sr = int(info["sample_rate"])
    scope = cfg.scope
    if scope == "subset":
        if not subset_csv:
            raise ConfigError("--params scope 'subset' needs --subset (the subset the adversarials were crafted on)")
        x, table = load_subset(data_dir, subset_csv)
        source = f"the subset ({subset_csv})"
    else:  # 'full' (ScoreSettings admits no other)
        x, table = load_split(data_dir, "test")
        x = np.asarray(x, dtype=np.float32)
        source = f"the test split ({Path(data_dir) / 'test.npy'})"
    check_array(Path(adv_path), x.shape, source, fix)
    x_adv = np.load(adv_path)
    alog = read_table(
        attack_log, ("utt_id", "seconds", "status", "device", "threads"), "attack log", dtype={"utt_id": str}
    )
    if list(alog["utt_id"].astype(str)) != list(table["utt_id"].astype(str)):
        raise DataError(f"{attack_log}: its utterances differ from {source}; {fix}")
    mask = load_mask(Path(mask_path), x.shape, fix) if mask_path else None
    craft = _read_craft(craft_path) if craft_path else {}

    victim = load_victim(victim_path, device)
    clean, adv = predict(victim, x, device), predict(victim, x_adv, device)
    frame = max(1, int(round(cfg.frame_ms * sr / 1000)))
    labels = table["label_idx"].to_numpy()
    speakers = table["speaker"].astype(str).to_numpy()
    metrics, per = attack_metrics(
        x, x_adv, labels, clean, adv, frame, perturbed=mask, speakers=speakers, sample_rate=sr
    )
    subset_metrics = None
    if scope == "full" and subset_csv:
        ids = read_table(subset_csv, ("utt_id",), "test subset", dtype={"utt_id": str})["utt_id"].tolist()
        sel = table["utt_id"].astype(str).isin(set(ids)).to_numpy()
        if ids:
            sub, _ = attack_metrics(
                x[sel],
                x_adv[sel],
                labels[sel],
                clean[sel],
                adv[sel],
                frame,
                None if mask is None else mask[sel],
                speakers=speakers[sel],
                sample_rate=sr,
            )
            subset_metrics = {k: sub[k] for k in SUBSET_KEYS}
    # the victim's own forward pass at batch size 1, for scale
    victim_sec = time_per_utterance(victim, x, device, cfg.timing_utterances)
    record = attack_record(cfg, params, metrics, alog, craft, subset_metrics, victim_sec, device)
    write_attack_outputs(
        files.metrics, files.per_utterance, record, per, table, info["classes"], seconds=alog["seconds"].to_numpy(float)
    )
    print(
        f"[{cfg.attack} {cfg.threat}{'/' + cfg.variant if cfg.variant else ''} -> {cfg.victim}] ASR {record['asr']:.3f} L0 {record['l0_percent']} % SNR {record['snr_peak_db']} dB",
        file=log,
        flush=True,
    )
    return record
