"""Speaker-independent train/dev/test assignment.

Whole speakers go to one split so that no voice is seen in training and evaluation (the paper's
setting for DEMoS). Speakers are sorted before shuffling with ``numpy.random.default_rng(seed)``,
so the result depends only on the set of speakers (and their genders) and the seed, never on
row order.
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np
import pandas as pd

from staa.errors import ConfigError, DataError

SPLITS: tuple[str, str, str] = ("train", "dev", "test")


def _check_fraction(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)):
        raise ConfigError(f"{name}={value!r}: expected a number in (0, 1)")
    value = float(value)
    if not 0.0 < value < 1.0:
        raise ConfigError(f"{name}={value!r}: expected a number strictly between 0 and 1")
    return value


def _apportion(n: int, fractions: tuple[float, float, float], min_one: bool) -> list[int]:
    """Split ``n`` items into three counts close to ``n * fractions`` (largest remainder).

    With ``min_one`` (needs n >= 3) every count is at least 1, taking from the largest count,
    so that small corpora still get a non-empty dev and test split.
    """
    ideal = [n * f for f in fractions]
    counts = [math.floor(x) for x in ideal]
    # Largest remainder; ties go to the earlier split (train, then dev, then test).
    order = sorted(range(3), key=lambda i: (-(ideal[i] - counts[i]), i))
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    if min_one:
        for i in range(3):
            if counts[i] == 0:
                donor = max(range(3), key=lambda j: (counts[j], -j))
                counts[donor] -= 1
                counts[i] += 1
    return counts


def speaker_independent_split(
    df: pd.DataFrame,
    dev_fraction: float,
    test_fraction: float,
    seed: int,
    balance_gender: bool = True,
) -> pd.Series:
    """Return 'train'/'dev'/'test' per row of ``df`` (same index), assigning whole speakers.

    ``dev_fraction``/``test_fraction`` are fractions of *speakers*, train gets the rest. With
    ``balance_gender`` the speakers of each gender (column ``gender``; '' counts as its own group)
    are divided by the fractions separately, so every split has both genders where the counts
    allow. Needs at least 3 speakers so that every split is non-empty.
    """
    dev = _check_fraction("dev_fraction", dev_fraction)
    test = _check_fraction("test_fraction", test_fraction)
    if dev + test >= 1.0:
        raise ConfigError(f"dev_fraction + test_fraction = {dev + test:g}: expected < 1 so that train is non-empty")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ConfigError(f"split seed={seed!r}: expected an integer")
    needed = ["speaker"] + (["gender"] if balance_gender else [])
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise DataError(f"cannot split by speaker: missing column(s) {missing} in the utterance table")
    if df["speaker"].isna().any():
        raise DataError("cannot split by speaker: some rows have no speaker")

    speakers = df["speaker"].astype(str)
    if balance_gender:
        genders = df["gender"].fillna("").astype(str)
        per_speaker = pd.DataFrame({"speaker": speakers, "gender": genders}).drop_duplicates()
        dup = per_speaker["speaker"].duplicated(keep=False)
        if dup.any():
            bad = sorted(per_speaker.loc[dup, "speaker"].unique())[0]
            both = sorted(per_speaker.loc[per_speaker["speaker"] == bad, "gender"])
            raise DataError(
                f"speaker {bad!r} has rows with several genders {both}: expected one gender per "
                "speaker for a gender-balanced split"
            )
        gender_of = dict(zip(per_speaker["speaker"], per_speaker["gender"]))
    else:
        gender_of = {s: "" for s in speakers.unique()}

    all_speakers = sorted(gender_of)
    if len(all_speakers) < 3:
        raise DataError(
            f"speaker-independent split needs at least 3 speakers (one per split), found "
            f"{len(all_speakers)}: {all_speakers}"
        )

    fractions = (1.0 - dev - test, dev, test)
    rng = np.random.default_rng(int(seed))
    # members[split][gender] -> speakers; filled group by group in sorted gender order.
    members: dict[str, dict[str, list[str]]] = {s: {} for s in SPLITS}
    for gender in sorted(set(gender_of.values())):
        group = [s for s in all_speakers if gender_of[s] == gender]
        shuffled = [group[i] for i in rng.permutation(len(group))]
        counts = _apportion(len(group), fractions, min_one=len(group) >= 3)
        start = 0
        for name, k in zip(SPLITS, counts):
            members[name][gender] = shuffled[start : start + k]
            start += k

    # Small gender groups cannot fill every split on their own: move one speaker from the
    # largest split (its largest gender group) into any split left empty overall.
    for name in SPLITS:
        if not any(members[name].values()):
            donor = max(SPLITS, key=lambda s: (sum(map(len, members[s].values())), -SPLITS.index(s)))
            g = max(sorted(members[donor]), key=lambda k: len(members[donor][k]))
            members[name].setdefault(g, []).append(members[donor][g].pop())

    assignment = {spk: name for name in SPLITS for group in members[name].values() for spk in group}
    return pd.Series(speakers.map(assignment).to_numpy(), index=df.index, name="split").astype(str)


def complete_split(
    df: pd.DataFrame,
    dev_fraction: float,
    test_fraction: float,
    seed: int,
    balance_gender: bool = True,
    speaker_independent: bool = True,
) -> pd.Series:
    """Fill the empty entries of ``df['split']`` and return the whole column.

    Rows a reader or manifest already assigned keep their split. An unassigned row whose speaker
    has assigned rows joins that speaker's split (placing it by the random speaker split instead
    would put one voice in train and test). The remaining speakers are split speaker-independently.
    Afterwards every split is checked for speaker overlap, unless ``speaker_independent`` is False
    (an explicit request for speaker-dependent splits).
    """
    split = df["split"].fillna("").astype(str).copy()
    speakers = df["speaker"].astype(str)
    assigned = split != ""
    if speaker_independent:
        check_speaker_disjoint(
            pd.DataFrame({"speaker": speakers[assigned], "split": split[assigned]}),
            "the corpus' own split (reader or manifest `split` column)",
        )
    placed = (
        pd.DataFrame({"speaker": speakers[assigned], "split": split[assigned]})
        .drop_duplicates("speaker")
        .set_index("speaker")["split"]
    )
    inherit = ~assigned & speakers.isin(placed.index)
    split[inherit] = speakers[inherit].map(placed)
    rest = split == ""
    if rest.any():
        n_rest = speakers[rest].nunique()
        if n_rest < 3:
            raise DataError(
                f"{n_rest} speaker(s) {sorted(speakers[rest].unique())} have no split and none of their rows "
                "is assigned; the speaker split needs at least 3 such speakers: assign them in the `split` column"
            )
        split[rest] = speaker_independent_split(df[rest], dev_fraction, test_fraction, seed, balance_gender).values
    if speaker_independent:
        check_speaker_disjoint(pd.DataFrame({"speaker": speakers, "split": split}), "the final split")
    return split


def check_speaker_disjoint(df: pd.DataFrame, what: str) -> None:
    """Raise DataError naming the speakers that occur in more than one split of ``df``."""
    per = df.groupby("speaker")["split"].agg(lambda s: sorted(set(s)))
    shared = per[per.map(len) > 1]
    if not shared.empty:
        shown = "; ".join(f"{spk} in {'/'.join(s)}" for spk, s in list(shared.items())[:5])
        more = f" (and {len(shared) - 5} more)" if len(shared) > 5 else ""
        raise DataError(
            f"{what} puts {len(shared)} speaker(s) in more than one split: {shown}{more}; expected "
            "speaker-independent splits (set split.speaker_independent: false to accept speaker-dependent ones)"
        )
