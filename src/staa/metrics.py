"""Classification metrics for SER (WA, UA) and attack metrics (SNR, L0) as docs/design.md §6 defines them."""

from __future__ import annotations

import numpy as np


def confusion(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows: true class, columns: predicted class."""
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)), 1)
    return cm


def classification_report(y_true, y_pred, classes: list[str]) -> dict:
    """WA (accuracy), UA (unweighted average recall over classes present), per-class recall, confusion."""
    cm = confusion(y_true, y_pred, len(classes))
    support = cm.sum(axis=1)
    recall = np.divide(np.diag(cm), support, out=np.zeros(len(classes)), where=support > 0)
    present = support > 0
    return {
        "wa": float(np.diag(cm).sum() / max(1, cm.sum())),
        "ua": float(recall[present].mean()) if present.any() else 0.0,
        "per_class_recall": {c: float(r) for c, r in zip(classes, recall)},
        "confusion": cm.tolist(),
        "classes": list(classes),
    }


def snr_peak_db(x: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """20 log10(max|x| / max|delta|) per row (the reference definition); inf where delta = 0."""
    num = np.abs(x).max(axis=-1)
    den = np.abs(delta).max(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 20.0 * np.log10(num / den)


def snr_energy_db(x: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """10 log10(sum x^2 / sum delta^2) per row (ours); inf where delta = 0."""
    num = (x.astype(np.float64) ** 2).sum(axis=-1)
    den = (delta.astype(np.float64) ** 2).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 10.0 * np.log10(num / den)


def l0(delta: np.ndarray) -> np.ndarray:
    """Number of perturbed samples per row."""
    return (delta != 0).sum(axis=-1)


def l0_frames(delta: np.ndarray, frame_length: int) -> np.ndarray:
    """Number of frames (non-overlapping, `frame_length` samples) that contain a perturbed sample."""
    n, length = delta.shape
    n_frames = -(-length // frame_length)
    padded = np.zeros((n, n_frames * frame_length), dtype=bool)
    padded[:, :length] = delta != 0
    return padded.reshape(n, n_frames, frame_length).any(axis=-1).sum(axis=-1)


def si_sdr_db(reference: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    """Scale-invariant SDR (Le Roux et al., 2019) of `estimate` against `reference`, per row, in dB:
    10 log10(||a r||^2 / ||a r - e||^2) with a = <e, r> / ||r||^2, both made zero-mean; inf where
    they are equal, nan where the reference is silent."""
    r = reference.astype(np.float64) - reference.mean(axis=-1, keepdims=True)
    e = estimate.astype(np.float64) - estimate.mean(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = (e * r).sum(axis=-1, keepdims=True) / (r * r).sum(axis=-1, keepdims=True)
        target = a * r
        return 10.0 * np.log10((target**2).sum(axis=-1) / ((target - e) ** 2).sum(axis=-1))


# pystoi returns this value instead of a score when too few speech frames remain
STOI_SENTINEL = 1e-5


def stoi_by_speaker(
    x: np.ndarray, x_adv: np.ndarray, speakers: np.ndarray, sample_rate: int
) -> tuple[float | None, int]:
    """(mean STOI over speakers, speakers scored): each speaker's utterances concatenated, clean against
    adversarial. A clip of 0.5 s with pauses is too short for STOI (it needs 30 speech frames of
    25.6 ms at 10 kHz), a speaker's utterances together are long enough; a speaker whose audio still
    is too short is left out, never averaged in as pystoi's sentinel value."""
    import warnings

    from pystoi import stoi

    scores = []
    for spk in dict.fromkeys(np.asarray(speakers).tolist()):
        rows = np.asarray(speakers) == spk
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pystoi warns when it returns its sentinel
            score = float(
                stoi(x[rows].reshape(-1).astype(np.float64), x_adv[rows].reshape(-1).astype(np.float64), sample_rate)
            )
        if score > STOI_SENTINEL:
            scores.append(score)
    return (float(np.mean(scores)) if scores else None), len(scores)


def pairwise_cosine(rows: np.ndarray) -> float | None:
    """Mean cosine between different rows (utterances): 1 for one perturbation shared by all."""
    x = np.asarray(rows, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1)
    keep = norms > 0
    x = x[keep] / norms[keep, None]
    n = x.shape[0]
    if n < 2:
        return None
    s = x.sum(axis=0)
    return float((s @ s - n) / (n * (n - 1)))


def dependence(delta: np.ndarray, mask: np.ndarray) -> dict[str, float | None]:
    """How input-dependent an attack is: the mean cosine between different utterances'
    perturbations, and between their (binary) masks. Two independent random masks of density rho
    have a mask cosine of about rho; one shared mask has 1. None with fewer than two perturbed
    utterances."""
    return {"delta_cosine": pairwise_cosine(delta), "mask_overlap": pairwise_cosine(mask.astype(np.float32))}
