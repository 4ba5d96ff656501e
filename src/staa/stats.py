"""Uncertainty and paired tests for the report: percentile bootstrap intervals over utterances, the
exact McNemar test for two methods on the same utterances, and Holm's correction when several
claims are made at once. Seeded, so a report is reproducible."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

DEFAULT_RESAMPLES = 2000


def bootstrap_ci(
    values: Sequence[float], level: float = 0.95, resamples: int = DEFAULT_RESAMPLES, seed: int = 0
) -> tuple[float, float, float]:
    """(mean, low, high): the mean of `values` and its percentile bootstrap interval over items."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return math.nan, math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(resamples, x.size))].mean(axis=1)
    alpha = (1 - level) / 2
    return float(x.mean()), float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


def mcnemar(a: Sequence[bool], b: Sequence[bool]) -> tuple[int, int, float]:
    """(a only, b only, exact two-sided p) for paired successes: the binomial test of the discordant
    pairs, the right test for small counts (the chi-square approximation needs many)."""
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"paired outcomes of different lengths: {a.shape} and {b.shape}")
    n10, n01 = int((a & ~b).sum()), int((~a & b).sum())
    n = n10 + n01
    if n == 0:
        return n10, n01, 1.0
    k = min(n10, n01)
    p = 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return n10, n01, float(min(1.0, p))


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, in the input order (step-down, monotone, capped at 1)."""
    p = np.asarray(pvalues, dtype=float)
    order = np.argsort(p, kind="stable")
    adjusted = np.empty_like(p)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[i]))
        adjusted[i] = running
    return adjusted.tolist()


def paired_verdict(p: float, diff: float, alpha: float = 0.05, better: str = "higher") -> str:
    """'better (p = …)', 'worse (p = …)' or 'on a par (p = …)' for a difference a - b."""
    if not math.isfinite(p) or p >= alpha or diff == 0:
        return f"on a par (p = {p:.2g})"
    wins = diff > 0 if better == "higher" else diff < 0
    return f"{'better' if wins else 'worse'} (p = {p:.2g})"


def binomial_greater(k: int, n: int, p0: float) -> float:
    """Exact one-sided p-value P(X >= k) for X ~ Binomial(n, p0): is a count of `k` successes in `n`
    trials significantly above the rate `p0`? 1.0 for no trials."""
    k, n = int(k), int(n)
    if n <= 0 or k <= 0:
        return 1.0
    if k > n:
        raise ValueError(f"{k} successes in {n} trials")
    from scipy.stats import binomtest

    return float(binomtest(k, n, p0, alternative="greater").pvalue)


def ua_permutation_p(confusion: Sequence[Sequence[int]], resamples: int = 10_000, seed: int = 0) -> float:
    """One-sided p-value of the unweighted average recall (UA) of a confusion matrix (rows: true
    class, columns: predicted class) against predictions that carry no information about the label.

    The null keeps both margins (how many utterances each class has, how often each class is
    predicted) and pairs labels with predictions at random: the labels are permuted `resamples`
    times (seeded) and p = (1 + #{UA_perm >= UA}) / (1 + resamples). Under it UA is 1/K on average
    whatever the prediction shares, so a victim that predicts one class for everything gets p = 1.
    1.0 for an empty matrix."""
    cm = np.asarray(confusion, dtype=np.int64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"confusion matrix of shape {cm.shape}, expected K x K")
    support = cm.sum(axis=1)
    present = support > 0
    if not present.any():
        return 1.0
    k = cm.shape[0]

    def ua(diag: np.ndarray) -> np.ndarray:
        return (diag[..., present] / support[present]).mean(axis=-1)

    observed = float(ua(np.diag(cm).astype(float)))
    labels = np.repeat(np.arange(k), support)
    preds = np.repeat(np.arange(k), cm.sum(axis=0))
    rng = np.random.default_rng(seed)
    hits = 0
    chunk = max(1, min(resamples, 2_000_000 // max(1, labels.size)))
    done = 0
    while done < resamples:
        r = min(chunk, resamples - done)
        perm = rng.permuted(np.broadcast_to(labels, (r, labels.size)), axis=1)
        diag = np.stack([(perm[:, preds == c] == c).sum(axis=1) for c in range(k)], axis=1).astype(float)
        hits += int((ua(diag) >= observed - 1e-12).sum())
        done += r
    return (1 + hits) / (1 + resamples)
