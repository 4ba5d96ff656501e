"""Small corpora in the real DEMoS and IEMOCAP layouts, for running the paper-scale DAG without the
licensed data (`make paper-smoke`) and for reader tests.

The files follow each corpus' naming and label files exactly, so the real readers read them through
the same code path as the real corpora. The audio is the procedural voice of `staa.data.synthetic`,
written as real recordings come: 44.1, 22.05 and 16 kHz, some stereo, 16-bit PCM. A corpus is written
once per settings (a stamp file records them): rerunning with the same settings touches nothing, so a
workflow that depends on the folder does not rerun.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from staa.data.readers.demos import EMOTIONS as DEMOS_CODES
from staa.data.synthetic import EMOTIONS, make_speakers, synth_utterance
from staa.errors import ConfigError
from staa.utils import atomic_path, write_json

# The synthetic emotion each corpus code is voiced with (guilt has no voice of its own: sad's).
_DEMOS_VOICE = {
    "col": "sad",
    "dis": "disgust",
    "gio": "happy",
    "pau": "fear",
    "rab": "angry",
    "sor": "surprise",
    "tri": "sad",
    "neu": "neutral",
}
_IEMOCAP_VOICE = {"ang": "angry", "hap": "happy", "exc": "happy", "sad": "sad", "neu": "neutral", "fru": "angry"}
# Rates and channel counts cycled through the files, as in corpora assembled from several recordings.
_FORMATS = ((44100, 1), (22050, 2), (16000, 1), (44100, 2))
STAMP = "fixture.json"


def _write(path: Path, audio: np.ndarray, index: int) -> None:
    sr, channels = _FORMATS[index % len(_FORMATS)]
    if sr != 16000:
        from staa.data.audio import resample

        audio = resample(audio, 16000, sr)
    if channels == 2:  # the second channel a little quieter, as a second microphone
        audio = np.stack([audio, 0.8 * audio], axis=1)
    with atomic_path(path) as tmp:
        sf.write(tmp, np.clip(audio, -1, 1), sr, subtype="PCM_16", format="WAV")


def _voice(speaker, emotion: str, seed: int, *key: int) -> np.ndarray:
    return synth_utterance(speaker, EMOTIONS[emotion], np.random.default_rng([seed, *key]), 16000, 0.8)


def make_demos(root: str | Path, n_speakers: int = 6, utterances_per_class: int = 1, seed: int = 0) -> int:
    """`root/DEMOS/{PR|NP}_{f|m}_{NN}_{emo}{KK}{a|b|c}.wav` for the 7 emotions and `root/NEU/` for
    neutral; returns the number of files."""
    root = Path(root)
    speakers = make_speakers(n_speakers, np.random.default_rng([seed, 0]))
    n = 0
    for si, spk in enumerate(speakers):
        for ci, code in enumerate(c for c in DEMOS_CODES if c != "ans"):
            folder = root / ("NEU" if code == "neu" else "DEMOS")
            for k in range(utterances_per_class):
                kind = "PR" if (si + k) % 3 else "NP"
                name = f"{kind}_{spk.gender}_{si + 1:02d}_{code}{k:02d}{'abc'[k % 3]}.wav"
                _write(folder / name, _voice(spk, _DEMOS_VOICE[code], seed, 1, si, ci, k), n)
                n += 1
    return n


def make_iemocap(
    root: str | Path,
    utterances_per_class: int = 1,
    seed: int = 0,
    dialogs: int = 2,
    codes: tuple[str, ...] = ("ang", "hap", "exc", "sad", "neu", "fru"),
) -> int:
    """`root/Session{1..5}/sentences/wav/<dialog>/<turn>.wav` with the labels in
    `root/Session{n}/dialog/EmoEvaluation/<dialog>.txt` (`dialogs` of: one improvised, one scripted
    per session, both speakers talking in each); `fru` is written but not one of the 4 kept classes."""
    root = Path(root)
    speakers = make_speakers(10, np.random.default_rng([seed, 0]))  # Ses0nF, Ses0nM for n = 1..5
    n = 0
    for s in range(1, 6):
        for di, (owner, dialog) in enumerate((("F", "impro01"), ("M", "script01_1"))[:dialogs]):
            name = f"Ses{s:02d}{owner}_{dialog}"
            lines = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"]
            turn_no = 0
            for code in codes:
                for k in range(utterances_per_class):
                    for letter in "FM":
                        turn = f"{name}_{letter}{turn_no:03d}"
                        spk = speakers[2 * (s - 1) + (letter == "M")]
                        start = 3.0 * len(lines)
                        lines.append(f"[{start:.4f} - {start + 2.5:.4f}]\t{turn}\t{code}\t[2.5000, 3.0000, 2.5000]\n")
                        lines.append("C-E1:\tNeutral state;\t()\n\n")
                        audio = _voice(spk, _IEMOCAP_VOICE[code], seed, 2, s, di, codes.index(code), k, letter == "M")
                        _write(root / f"Session{s}" / "sentences" / "wav" / name / f"{turn}.wav", audio, n)
                        n += 1
                    turn_no += 1
            label = root / f"Session{s}" / "dialog" / "EmoEvaluation" / f"{name}.txt"
            with atomic_path(label) as tmp:
                tmp.write_text("".join(lines))
    return n


LAYOUTS = {"demos": make_demos, "iemocap": make_iemocap}


def make_fixture_corpus(layout: str, root: str | Path, **settings: Any) -> dict[str, Any]:
    """Write a `layout` corpus under `root` unless one with the same settings is already there."""
    if layout not in LAYOUTS:
        raise ConfigError(f"fixture layout {layout!r} is unknown; expected one of {sorted(LAYOUTS)}")
    root = Path(root)
    record = {"layout": layout, "settings": settings}
    stamp = root / STAMP
    if stamp.is_file() and json.loads(stamp.read_text()) == record:
        return {**record, "written": 0}
    try:
        n = LAYOUTS[layout](root, **settings)
    except TypeError as exc:
        raise ConfigError(f"fixture layout {layout!r}: {exc}") from None
    write_json(stamp, record)
    return {**record, "written": n}
