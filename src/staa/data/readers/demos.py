"""DEMoS reader (Italian emotional speech): labels from file names, speaker-independent split.

File names ``{PR|NP}_{f|m}_{speaker}_{emo}{NN}{a|b|c}.wav`` carry everything: PR marks the
prototypical productions, the emotion code gives the class. The corpus ships no official split,
so one is drawn per seed by speaker, balanced by gender (paper: about 43/32/25 % of speakers).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from staa.errors import ConfigError, DataError
from staa.data.readers.manifest import finish_frame, require_dir
from staa.data.split import speaker_independent_split

# Both 'pau' (paura) and 'ans' (ansia) are fear in the reference setup.
EMOTIONS: dict[str, str] = {
    "col": "guilt",
    "dis": "disgust",
    "gio": "happiness",
    "pau": "fear",
    "ans": "fear",
    "rab": "anger",
    "sor": "surprise",
    "tri": "sadness",
    "neu": "neutral",
}
EMOTIONAL_CLASSES: list[str] = ["anger", "disgust", "fear", "guilt", "happiness", "sadness", "surprise"]
_NAME = re.compile(r"^(PR|NP)_([fm])_(\d+)_([a-z]+)(\d{2})([abc])\.wav$")


def _find_subdir(root: Path, name: str) -> Path:
    """Return ``root/name``; fall back to the single case-insensitive match (e.g. 'Demos')."""
    exact = root / name
    if exact.is_dir():
        return exact
    matches = sorted(p for p in root.iterdir() if p.is_dir() and p.name.lower() == name.lower())
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise DataError(
            f"DEMoS root {str(root)!r}: several folders match {name!r} ignoring case "
            f"({[p.name for p in matches]}); expected exactly one"
        )
    raise DataError(f"DEMoS root {str(root)!r}: expected sub-folder {name!r} is missing")


def read_demos(
    root: str | os.PathLike,
    include_neutral: bool = False,
    prototypical_only: bool = False,
    split_seed: int = 0,
    dev_fraction: float = 0.32,
    test_fraction: float = 0.25,
) -> pd.DataFrame:
    """List DEMoS utterances (7 emotions, + neutral from ``NEU/`` if ``include_neutral``).

    ``prototypical_only`` keeps PR files only. Speaker is the zero-padded speaker number;
    the split is speaker-independent and gender-balanced, deterministic for ``split_seed``.
    Hidden files (``._*``) and non-WAV files are ignored; any other WAV whose name does not
    follow the pattern is an error rather than silently skipped.
    """
    for name, value in (("include_neutral", include_neutral), ("prototypical_only", prototypical_only)):
        if not isinstance(value, bool):
            raise ConfigError(f"{name}={value!r}: expected true or false")
    root_path = require_dir(root, "DEMoS root")
    folders = [_find_subdir(root_path, "DEMOS")]
    if include_neutral:
        folders.append(_find_subdir(root_path, "NEU"))

    rows: list[dict[str, str]] = []
    for folder in folders:
        for wav in sorted(folder.iterdir()):
            if wav.name.startswith(".") or not wav.is_file() or wav.suffix.lower() != ".wav":
                continue
            m = _NAME.match(wav.name)
            if m is None:
                raise DataError(
                    f"DEMoS file {str(wav)!r}: name does not match "
                    "'{PR|NP}_{f|m}_{speaker}_{emo}{NN}{a|b|c}.wav' (e.g. PR_m_23_tri00a.wav)"
                )
            kind, gender, speaker, code = m.group(1), m.group(2), m.group(3), m.group(4)
            if code not in EMOTIONS:
                raise DataError(
                    f"DEMoS file {str(wav)!r}: unknown emotion code {code!r}; expected one of {sorted(EMOTIONS)}"
                )
            label = EMOTIONS[code]
            if (label == "neutral" and not include_neutral) or (prototypical_only and kind != "PR"):
                continue
            rows.append(
                {
                    "utt_id": wav.stem,
                    "path": str(wav),
                    "label": label,
                    "speaker": f"{int(speaker):02d}",
                    "gender": gender,
                    "split": "",
                }
            )

    expected = EMOTIONAL_CLASSES + (["neutral"] if include_neutral else [])
    df = finish_frame(rows, f"DEMoS root {str(root_path)!r}", expected_labels=expected)
    df["split"] = speaker_independent_split(df, dev_fraction, test_fraction, split_seed, balance_gender=True)
    return df
