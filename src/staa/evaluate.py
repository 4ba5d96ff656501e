"""Attack evaluation shared by STAA-Net and the baselines (docs/design.md §6).

Given clean and adversarial waveforms and a victim, compute the fooling rate (ASR against the
victim's clean prediction), success against the ground truth, SNR (peak and energy, over
successful examples), L0 (count, % of samples, % of frames), and write `metrics.json` plus a
per-utterance CSV in one format, so tables can join STAA-Net and baseline rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import soundfile as sf

from staa.errors import DataError
from staa.metrics import dependence
from staa.metrics import l0_frames, si_sdr_db, snr_energy_db, snr_peak_db, stoi_by_speaker
from staa.metrics_format import check_attack_metrics
from staa.stats import bootstrap_ci
from staa.utils import atomic_path, write_csv, write_json


def _mean(a: np.ndarray) -> float | None:
    a = a[np.isfinite(a)]
    return float(a.mean()) if a.size else None


def attack_metrics(
    x: np.ndarray,
    x_adv: np.ndarray,
    labels: np.ndarray,
    clean_pred: np.ndarray,
    adv_pred: np.ndarray,
    frame_length: int,
    perturbed: np.ndarray | None = None,
    speakers: np.ndarray | None = None,
    sample_rate: int | None = None,
) -> tuple[dict, pd.DataFrame]:
    """Metrics over all utterances. `perturbed` is the (N, L) boolean map of changed samples
    (STAA-Net: its hard mask; baselines: x_adv != x); SNR and L0 are averaged over successes. The
    ASR carries a 95 % percentile bootstrap interval over utterances (2000 resamples, seed 0).
    Perceptual measures: SI-SDR per utterance (averaged over successes, like SNR) and, given the
    utterances' `speakers` and `sample_rate`, STOI over each speaker's utterances concatenated."""
    delta = x_adv.astype(np.float64) - x.astype(np.float64)
    if perturbed is None:
        perturbed = delta != 0
    length = x.shape[1]
    fooled = adv_pred != clean_pred
    correct = clean_pred == labels
    counts = perturbed.sum(axis=1)
    frames = l0_frames(perturbed.astype(np.float32), frame_length)
    n_frames = -(-length // frame_length)
    snr_p, snr_e = snr_peak_db(x, delta), snr_energy_db(x, delta)
    sisdr = si_sdr_db(x, x_adv)
    stoi, stoi_speakers = (
        stoi_by_speaker(x, x_adv, speakers, sample_rate) if speakers is not None and sample_rate else (None, 0)
    )
    succ = fooled
    _, asr_low, asr_high = bootstrap_ci(fooled.astype(float))  # percentile bootstrap over utterances
    metrics = {
        "asr": float(fooled.mean()) if len(fooled) else 0.0,
        "asr_ci_low": asr_low if len(fooled) else None,
        "asr_ci_high": asr_high if len(fooled) else None,
        "success_vs_truth": float((adv_pred[correct] != labels[correct]).mean()) if correct.any() else 0.0,
        "error_rate_adv": float((adv_pred != labels).mean()) if len(labels) else 0.0,
        "clean_accuracy": float(correct.mean()) if len(labels) else 0.0,
        "snr_peak_db": _mean(snr_p[succ]),
        "snr_energy_db": _mean(snr_e[succ]),
        "si_sdr_db": _mean(sisdr[succ]),
        "stoi": stoi,
        "stoi_n_speakers": int(stoi_speakers),
        "l0": float(counts[succ].mean()) if succ.any() else None,
        "l0_percent": float(100.0 * counts[succ].mean() / length) if succ.any() else None,
        "l0_frames_percent": float(100.0 * frames[succ].mean() / n_frames) if succ.any() else None,
        "l0_all_percent": float(100.0 * counts.mean() / length) if len(counts) else None,
        "frame_length": int(frame_length),
        "length": int(length),
        "n_utterances": int(len(fooled)),
        "n_success": int(fooled.sum()),
        **dependence(delta, perturbed),
    }
    # 95 % percentile bootstrap intervals of the means over successful utterances (docs/design.md §6)
    for key, values in (
        ("l0_percent", 100.0 * counts[succ] / length),
        ("snr_peak_db", snr_p[succ]),
        ("snr_energy_db", snr_e[succ]),
        ("si_sdr_db", sisdr[succ]),
        ("l0_all_percent", 100.0 * counts / length),
    ):
        _, low, high = bootstrap_ci(values) if values.size else (None, None, None)
        metrics[f"{key}_ci_low"] = None if low is None or not np.isfinite(low) else low
        metrics[f"{key}_ci_high"] = None if high is None or not np.isfinite(high) else high
    per = pd.DataFrame(
        {
            "clean_pred": clean_pred,
            "adv_pred": adv_pred,
            "fooled": fooled.astype(int),
            "success_vs_truth": ((adv_pred != labels) & correct).astype(int),
            "snr_peak_db": np.round(snr_p, 4),
            "snr_energy_db": np.round(snr_e, 4),
            "si_sdr_db": np.round(sisdr, 4),
            "l0": counts,
        }
    )
    return metrics, per


def write_examples(
    folder: Path,
    table: pd.DataFrame,
    x: np.ndarray,
    x_adv: np.ndarray,
    mask: np.ndarray,
    classes: list[str],
    clean_pred: np.ndarray,
    adv_pred: np.ndarray,
    sample_rate: int,
    n: int,
) -> None:
    """Keep a few clean/adversarial pairs for listening (WAV) and plotting (npz) in `folder`, fooled ones
    first: example_{k}_clean.wav, example_{k}_adv.wav and example_{k}.npz for k < n."""
    if n <= 0:
        return
    order = np.concatenate([np.flatnonzero(adv_pred != clean_pred), np.flatnonzero(adv_pred == clean_pred)])[:n]
    for k, i in enumerate(order):
        base = Path(folder)
        uid = str(table["utt_id"].iloc[i])
        for tag, sig in (("clean", x[i]), ("adv", x_adv[i])):
            with atomic_path(base / f"example_{k}_{tag}.wav") as tmp:
                sf.write(tmp, np.clip(sig, -1, 1).astype(np.float32), sample_rate, subtype="FLOAT", format="WAV")
        with atomic_path(base / f"example_{k}.npz") as tmp:
            with open(tmp, "wb") as fh:
                np.savez(
                    fh,
                    x=x[i],
                    x_adv=x_adv[i],
                    mask=mask[i].astype(np.float32),
                    sample_rate=sample_rate,
                    label=classes[int(table["label_idx"].iloc[i])],
                    clean_pred=classes[int(clean_pred[i])],
                    adv_pred=classes[int(adv_pred[i])],
                    utt_id=uid,
                )


def per_class(per: pd.DataFrame, length: int, classes: list[str]) -> dict[str, dict[str, Any]]:
    """Fooling rate and mean share of perturbed samples per true class. Emotions differ in loudness,
    and a per-sample bound eps is relatively weaker on loud speech: this is where it shows."""
    out: dict[str, dict[str, Any]] = {}
    for cls in classes:
        rows = per[per["label"] == cls]
        if len(rows):
            succ = rows[rows["fooled"] == 1]
            snr = succ["snr_peak_db"].to_numpy(dtype=float) if "snr_peak_db" in succ else np.zeros(0)
            snr = snr[np.isfinite(snr)]
            out[cls] = {
                "n": int(len(rows)),
                "asr": float(rows["fooled"].mean()),
                "l0_all_percent": float(100.0 * rows["l0"].mean() / length),
                "snr_peak_db": float(snr.mean()) if snr.size else None,
            }
    return out


def write_attack_outputs(
    metrics_path: Path,
    per_utterance_path: Path,
    metrics: dict[str, Any],
    per: pd.DataFrame,
    table: pd.DataFrame,
    classes: list[str],
    seconds: np.ndarray | None = None,
) -> None:
    """One attack's scores on one victim: the per-utterance table, then metrics.json (checked first)."""
    per = per.copy()
    per.insert(0, "utt_id", table["utt_id"].to_numpy())
    per.insert(1, "label", [classes[int(i)] for i in table["label_idx"]])
    per["clean_pred"] = [classes[int(i)] for i in per["clean_pred"]]
    per["adv_pred"] = [classes[int(i)] for i in per["adv_pred"]]
    per["seconds"] = np.nan if seconds is None else np.resize(seconds, len(per)) if len(seconds) == len(per) else np.nan
    metrics = {**metrics, "per_class": per_class(per, int(metrics["length"]), classes)}
    check_attack_metrics(metrics, metrics_path)  # the format the report reads, before anything is written
    write_csv(per_utterance_path, per)
    write_json(metrics_path, metrics)


def save_mask(path: Path, mask: np.ndarray) -> None:
    """Store an (N, L) boolean map of perturbed samples compactly: bits packed along L (uint8, N x ceil(L/8))."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, np.packbits(np.asarray(mask, dtype=bool), axis=1))


def load_mask(path: Path, shape: tuple[int, int], fix: str) -> np.ndarray:
    """The (N, L) boolean map `save_mask` stored; DataError naming the file if it does not fit `shape`."""
    n, length = shape
    try:
        packed = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"{path}: not a readable .npy array ({exc}); {fix}") from None
    if packed.dtype != np.uint8 or packed.shape != (n, -(-length // 8)):
        raise DataError(
            f"{path}: {packed.dtype} array of shape {packed.shape}, expected a packed mask of shape "
            f"({n}, {-(-length // 8)}) (uint8, {length} samples per utterance); {fix}"
        )
    return np.unpackbits(packed, axis=1, count=length).astype(bool)
