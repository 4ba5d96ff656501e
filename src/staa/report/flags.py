"""The report's two flags, defined here once and read by the tables, the seeds aggregation, the
summary and the figures.

- **Victim at chance.** A victim (one training seed of it) whose clean test predictions are not
  significantly better than guessing: the one-sided exact binomial test of its number of correct
  test predictions against p0 = 1/K (K: its number of classes) is not significant at α = 0.05, or
  the one-sided label-permutation test of its UA (unweighted average recall; margins kept, see
  :func:`staa.stats.ua_permutation_p`) is not. The UA test catches a victim that predicts the most
  frequent class and so scores an accuracy above 1/K on an unbalanced test split. Every attack
  figure measured on such a victim is marked (†): fooling a model that does not recognise emotions
  says nothing about attacking an emotion classifier.
- **Collapsed generator.** A STAA-Net run whose hard mask perturbs no sample on any test utterance
  (``l0_all_percent`` = 0, the perturbed share over all utterances), or whose record says
  ``"collapsed": true``. It is no attack: its figures read "collapsed: 0 % perturbed", it is never
  averaged over seeds with the runs that did learn, and paired tests skip it. Only generators
  collapse; a baseline that changes nothing is an attack that failed and is reported as such.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import pandas as pd

from staa.stats import binomial_greater, ua_permutation_p

STAA = "staa"
ALPHA = 0.05
COLLAPSED_TEXT = "collapsed: 0 % perturbed"
DAGGER = "†"
CHANCE_TEST = (
    "one-sided exact binomial test of the correct test predictions against 1/K (K classes) and "
    "one-sided label-permutation test of UA (10,000 permutations), α = 0.05; flagged when either "
    "is not significant"
)
CHANCE_NOTE = (
    f"{DAGGER} measured on a victim whose clean accuracy is not significantly above chance ({CHANCE_TEST}): "
    "not a meaningful attack result."
)


# --------------------------------------------------------------------------------------------
# collapsed generators
def is_collapsed(metrics: Mapping[str, Any]) -> bool:
    """Whether an attack metrics record (a metrics.json object or a loaded row) is a collapsed
    STAA-Net generator: ``"collapsed": true``, or a hard mask that perturbs no sample on any test
    utterance (``l0_all_percent`` == 0). A record without ``l0_all_percent`` is not judged collapsed."""
    flag = metrics.get("collapsed")
    if flag is True or (isinstance(flag, (bool, np.bool_)) and bool(flag)):
        return True
    if metrics.get("method_family") != STAA and metrics.get("attack") != STAA:
        return False
    share = metrics.get("l0_all_percent")
    if share is None:
        return False
    try:
        share = float(share)
    except (TypeError, ValueError):
        return False
    return math.isfinite(share) and share == 0.0


def collapsed_column(df: pd.DataFrame) -> pd.Series:
    """`is_collapsed` of every row of a loaded attacks frame (its `collapsed` column where present)."""
    if df.empty:
        return pd.Series(False, index=df.index, dtype=bool)
    if "collapsed" in df:
        col = df["collapsed"]
        return col.where(col.notna(), False).astype(bool)
    return pd.Series([is_collapsed(r) for _, r in df.iterrows()], index=df.index, dtype=bool)


def seeds_note(n_seeds: int, n_collapsed: int, collapsed: bool) -> str:
    """What a run's row says about its seeds: '' when none collapsed; '2/3 seeds; 1 collapsed' when
    some did (the row is the mean over the `n_seeds` others); COLLAPSED_TEXT (with the count of seeds)
    when every seed did (`collapsed`)."""
    if n_collapsed <= 0:
        return ""
    if collapsed:
        return COLLAPSED_TEXT + (f" ({n_collapsed}/{n_collapsed} seeds)" if n_collapsed > 1 else "")
    return f"{n_seeds}/{n_seeds + n_collapsed} seeds; {n_collapsed} collapsed"


# --------------------------------------------------------------------------------------------
# victims at chance
def chance_test(confusion: Any) -> dict[str, Any]:
    """The chance test of one victim's test confusion matrix: n_correct, n_scored, chance (1/K),
    p_wa (binomial, accuracy), p_ua (permutation, UA) and at_chance."""
    cm = np.asarray(confusion, dtype=np.int64)
    k = cm.shape[0] if cm.ndim == 2 else 0
    n, correct = int(cm.sum()), int(np.trace(cm)) if k else 0
    chance = 1.0 / k if k else math.nan
    p_wa = binomial_greater(correct, n, chance) if k else 1.0
    p_ua = ua_permutation_p(cm) if k else 1.0
    return {
        "n_correct": correct,
        "n_scored": n,
        "chance": chance,
        "p_wa": p_wa,
        "p_ua": p_ua,
        "at_chance": bool(p_wa >= ALPHA or p_ua >= ALPHA),
    }


def add_chance_flags(victims: pd.DataFrame) -> pd.DataFrame:
    """Victim rows (one per dataset, victim and seed, from `load_victim_metrics`) with the columns
    of `chance_test` added."""
    out = victims.copy()
    cols = ("n_correct", "n_scored", "chance", "p_wa", "p_ua", "at_chance")
    if out.empty:
        for c in cols:
            out[c] = pd.Series(dtype=bool if c == "at_chance" else float)
        return out
    tests = [chance_test(c) for c in out["confusion"]]
    for c in cols:
        out[c] = [t[c] for t in tests]
    out["at_chance"] = out["at_chance"].astype(bool)
    return out


def chance_lookup(victims: pd.DataFrame) -> dict[tuple[str, str, int], bool]:
    """(dataset, victim, seed) -> at chance, for the victims' seeds."""
    if victims.empty:
        return {}
    v = victims if "at_chance" in victims else add_chance_flags(victims)
    seeds = v["seed"] if "seed" in v else pd.Series(0, index=v.index)
    return {(d, n, int(s)): bool(a) for d, n, s, a in zip(v["dataset"], v["victim"], seeds, v["at_chance"])}


def mark_victims(attacks: pd.DataFrame, victims: pd.DataFrame) -> pd.DataFrame:
    """Per-seed attack rows with `victim_at_chance`: the victim that seed's attack was scored on is at
    chance. Seed N's attacks use seed N's victim where one was trained per seed (run.victim_seeds),
    otherwise the victim's one training run."""
    out = attacks.copy()
    lookup = chance_lookup(victims)
    by_victim: dict[tuple[str, str], list[bool]] = {}
    for (d, n, _), a in lookup.items():
        by_victim.setdefault((d, n), []).append(a)
    flags = []
    seeds = out["seed"] if "seed" in out else pd.Series(0, index=out.index)
    for d, n, s in zip(out["dataset"], out["victim"], seeds):
        key = (d, n, int(s))
        if key in lookup:
            flags.append(lookup[key])
        else:  # the victim was trained once (or its seed is not the run's): any of its runs
            flags.append(any(by_victim.get((d, n), [False])))
    out["victim_at_chance"] = pd.Series(flags, index=out.index, dtype=bool)
    return out


def victims_at_chance(attacks: pd.DataFrame) -> pd.Series:
    """The `victim_at_chance` column of an attacks frame (all False where it was not marked)."""
    if "victim_at_chance" not in attacks:
        return pd.Series(False, index=attacks.index, dtype=bool)
    col = attacks["victim_at_chance"]
    return col.where(col.notna(), False).astype(bool)
