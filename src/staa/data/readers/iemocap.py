"""IEMOCAP reader: labels from ``EmoEvaluation`` summary lines, leave-sessions-out split.

Only the per-turn summary lines (``[start - end]<TAB>turn<TAB>code<TAB>[V, A, D]``) carry the
consensus label; evaluator lines (``C-E1:`` ...) and headers are skipped. The paper's 4-class
setup keeps ang/hap/exc/sad/neu with exc merged into hap.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from staa.errors import ConfigError, DataError
from staa.data.readers.manifest import finish_frame, require_dir

DEFAULT_SESSIONS: dict[str, list[int]] = {"train": [1, 2, 5], "dev": [4], "test": [3]}
DEFAULT_CLASSES: list[str] = ["ang", "hap", "exc", "sad", "neu"]
DEFAULT_MERGE: dict[str, str] = {"exc": "hap"}

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)"
_SUMMARY = re.compile(
    rf"^\[\s*({_NUM})\s*-\s*({_NUM})\s*\]\s+(\S+)\s+(\S+)\s+\[\s*{_NUM}\s*,\s*{_NUM}\s*,\s*{_NUM}\s*\]\s*$"
)
# Ses01F_impro01_M003 / Ses05M_script02_2_F014: session, dialog-owner letter, ..., turn letter.
_TURN = re.compile(r"^Ses(\d{2})([FM])_\S+_([FM])\d{3}$")


def _check_sessions(sessions: object) -> dict[int, str]:
    """Validate ``sessions`` and invert it to session -> split name."""
    if not isinstance(sessions, Mapping) or not sessions:
        raise ConfigError(f"sessions={sessions!r}: expected a mapping like {DEFAULT_SESSIONS}")
    split_of: dict[int, str] = {}
    for name, numbers in sessions.items():
        if name not in ("train", "dev", "test"):
            raise ConfigError(f"sessions: split name {name!r} is not one of train/dev/test")
        if not isinstance(numbers, (list, tuple)):
            raise ConfigError(f"sessions[{name!r}]={numbers!r}: expected a list of session numbers")
        for n in numbers:
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ConfigError(f"sessions[{name!r}]: session {n!r} is not a positive integer")
            if n in split_of:
                raise ConfigError(
                    f"sessions: session {n} is in both {split_of[n]!r} and {name!r}; "
                    "expected each session in at most one split"
                )
            split_of[n] = name
    if not split_of:
        raise ConfigError(f"sessions={sessions!r}: no session listed")
    return split_of


def _check_labels(classes: object, merge: object) -> tuple[list[str], dict[str, str]]:
    if not isinstance(classes, (list, tuple)) or not classes or not all(isinstance(c, str) and c for c in classes):
        raise ConfigError(f"classes={classes!r}: expected a non-empty list of IEMOCAP codes such as {DEFAULT_CLASSES}")
    if not isinstance(merge, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in merge.items()
    ):
        raise ConfigError(f"merge={merge!r}: expected a mapping code -> class name, e.g. {DEFAULT_MERGE}")
    return list(classes), dict(merge)


def read_iemocap(
    root: str | os.PathLike,
    sessions: dict[str, list[int]] | None = None,
    classes: list[str] | None = None,
    merge: dict[str, str] | None = None,
) -> pd.DataFrame:
    """List IEMOCAP utterances with labels, speakers and a leave-sessions-out split.

    ``classes`` are raw codes to keep; ``merge`` renames codes (``None`` -> ``{"exc": "hap"}``,
    pass ``{}`` to keep exc separate). A code is kept if it or its merge target is in
    ``classes``. Only sessions named in ``sessions`` are read (and must exist); others on disk
    are ignored. Speaker is ``Ses<nn><F|M>`` from the *turn* letter, the actual talker.
    """
    split_of = _check_sessions(DEFAULT_SESSIONS if sessions is None else sessions)
    classes, merge = _check_labels(
        DEFAULT_CLASSES if classes is None else classes, DEFAULT_MERGE if merge is None else merge
    )
    wanted = set(classes)
    root_path = require_dir(root, "IEMOCAP root")

    rows: list[dict[str, str]] = []
    for n in sorted(split_of):
        session_dir = root_path / f"Session{n}"
        for sub in (session_dir, session_dir / "dialog" / "EmoEvaluation", session_dir / "sentences" / "wav"):
            if not sub.is_dir():
                raise DataError(
                    f"IEMOCAP root {str(root_path)!r}: expected folder {str(sub.relative_to(root_path))!r} "
                    f"(session {n} is listed in sessions) but it is missing"
                )
        label_dir = session_dir / "dialog" / "EmoEvaluation"
        label_files = sorted(
            p
            for p in label_dir.glob("*.txt")
            if p.is_file() and not p.name.startswith(".")  # skip macOS '._' resource forks
        )
        if not label_files:
            raise DataError(f"IEMOCAP: no *.txt label files in {str(label_dir)!r}")
        wav_root = session_dir / "sentences" / "wav"
        for txt in label_files:
            rows.extend(_read_label_file(txt, n, wav_root / txt.stem, wanted, merge, split_of[n]))

    expected = [merge.get(c, c) for c in classes]
    return finish_frame(rows, f"IEMOCAP root {str(root_path)!r}", expected_labels=expected)


def _read_label_file(
    txt: Path, session: int, wav_dir: Path, wanted: set[str], merge: dict[str, str], split: str
) -> list[dict[str, str]]:
    """Parse one EmoEvaluation file; return rows for kept codes, checking each WAV exists."""
    try:
        lines = txt.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise DataError(f"IEMOCAP: cannot read label file {str(txt)!r}: {exc}") from None
    rows = []
    for lineno, line in enumerate(lines, start=1):
        if not line.startswith("["):
            continue  # header, evaluator (C-E1:, A-E2: ...) or blank line
        m = _SUMMARY.match(line)
        turn_m = _TURN.match(m.group(3)) if m else None
        if m is None or turn_m is None:
            raise DataError(
                f"IEMOCAP label file {str(txt)!r} line {lineno}: cannot parse {line!r}; expected "
                "'[start - end]<TAB>SesNNX_<dialog>_XNNN<TAB>code<TAB>[v, a, d]'"
            )
        turn, code = m.group(3), m.group(4)
        if int(turn_m.group(1)) != session:
            raise DataError(
                f"IEMOCAP label file {str(txt)!r} line {lineno}: turn {turn!r} belongs to session "
                f"{int(turn_m.group(1))} but the file is in Session{session}"
            )
        if code not in wanted and merge.get(code) not in wanted:
            continue
        wav = wav_dir / f"{turn}.wav"
        if not wav.is_file():
            raise DataError(
                f"IEMOCAP: utterance {turn!r} is labelled in {str(txt)!r} line {lineno} but its audio "
                f"{str(wav)!r} does not exist"
            )
        letter = turn_m.group(3)
        rows.append(
            {
                "utt_id": turn,
                "path": str(wav),
                "label": merge.get(code, code),
                "speaker": f"Ses{session:02d}{letter}",
                "gender": letter.lower(),
                "split": split,
            }
        )
    return rows
