"""Procedural emotional-speech corpus (the embedded default; docs/design.md §2).

DEMoS and IEMOCAP are licensed and cannot ship, so the default run synthesises a small corpus
from a seed. It is a source-filter model of voiced speech: a glottal pulse train (Rosenberg-like
pulses, whose open quotient sets voice quality) through vowel formant resonators, with noise
bursts for consonants, syllable envelopes and pauses, and background noise.

Emotions differ as they do in acted speech (Banse & Scherer 1996; Juslin & Laukka 2003):
pitch level and range, contour shape, speaking rate, loudness, voice quality (tense vs breathy),
spectral tilt and jitter. Speakers have their own pitch and vocal-tract length (formant scale).
Every cue is drawn per utterance around the emotion's mean with a spread set by `difficulty`, so
classes overlap (learnable, not trivial). The output is a corpus on disk, WAV files plus a
`metadata.csv` manifest, read by the same code path as any real corpus.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from scipy.signal import lfilter

from staa.errors import ConfigError
from staa.utils import atomic_path, write_csv


@dataclass(frozen=True)
class EmotionProfile:
    """Mean cue values of one emotion, relative to a speaker's neutral voice."""

    f0_scale: float  # pitch level multiplier
    f0_range: float  # pitch excursion (fraction of F0) within a syllable/phrase
    contour: str  # "fall", "rise_fall", "flat", "peaky", "rise"
    rate: float  # syllables per second
    loudness_db: float  # level relative to neutral
    open_quotient: float  # glottal open quotient: low = tense/bright, high = breathy/dull
    breathiness: float  # aspiration noise relative to voicing
    tilt: float  # one-pole low-pass coefficient on the source (spectral tilt; 0 = flat)
    jitter: float  # cycle-to-cycle F0 perturbation (fraction)


EMOTIONS: dict[str, EmotionProfile] = {
    "neutral": EmotionProfile(1.00, 0.10, "fall", 4.0, 0.0, 0.55, 0.03, 0.55, 0.005),
    "angry": EmotionProfile(1.30, 0.30, "peaky", 5.2, 8.0, 0.35, 0.02, 0.15, 0.012),
    "happy": EmotionProfile(1.28, 0.40, "rise_fall", 4.6, 5.0, 0.45, 0.04, 0.35, 0.008),
    "sad": EmotionProfile(0.88, 0.05, "fall", 2.9, -6.0, 0.75, 0.15, 0.80, 0.010),
    "fear": EmotionProfile(1.40, 0.15, "flat", 5.6, 1.0, 0.55, 0.12, 0.45, 0.030),
    "disgust": EmotionProfile(0.95, 0.20, "rise", 3.2, 2.0, 0.45, 0.08, 0.50, 0.015),
    "surprise": EmotionProfile(1.35, 0.50, "rise", 4.4, 4.0, 0.45, 0.05, 0.35, 0.008),
}

# (F1, F2, F3) Hz of an adult male vocal tract (Peterson & Barney 1952, rounded).
VOWELS = np.array(
    [[730, 1090, 2440], [270, 2290, 3010], [300, 870, 2240], [530, 1840, 2480], [570, 840, 2410]],
    dtype=np.float64,
)
BANDWIDTHS = np.array([80.0, 100.0, 140.0])


@dataclass(frozen=True)
class Speaker:
    speaker_id: str
    gender: str
    f0: float  # neutral mean F0 in Hz
    formant_scale: float  # vocal-tract length factor (female voices ~1.15)
    rate_scale: float
    oq_offset: float


def make_speakers(n: int, rng: np.random.Generator) -> list[Speaker]:
    """Alternate genders; each speaker has their own pitch, formant scale, tempo and voice."""
    speakers = []
    for i in range(n):
        gender = "f" if i % 2 == 0 else "m"
        f0 = rng.normal(205.0, 18.0) if gender == "f" else rng.normal(115.0, 12.0)
        fs = rng.normal(1.16, 0.04) if gender == "f" else rng.normal(1.0, 0.04)
        speakers.append(
            Speaker(
                f"spk{i:02d}", gender, float(f0), float(fs), float(rng.normal(1.0, 0.08)), float(rng.normal(0.0, 0.04))
            )
        )
    return speakers


def _contour(kind: str, t: np.ndarray) -> np.ndarray:
    """Normalised pitch shape over a syllable, t in [0, 1], values roughly in [-1, 1]."""
    if kind == "fall":
        return 0.5 - t
    if kind == "rise":
        return t - 0.5
    if kind == "rise_fall":
        return np.sin(np.pi * t) - 0.3
    if kind == "peaky":
        return np.exp(-((t - 0.3) ** 2) / 0.02) - 0.4
    return np.zeros_like(t)  # flat


def _resonator(signal: np.ndarray, freq: float, bw: float, sr: int) -> np.ndarray:
    """Second-order all-pole resonator (Klatt 1980), unity gain at DC."""
    r = math.exp(-math.pi * bw / sr)
    c = -r * r
    b = 2 * r * math.cos(2 * math.pi * freq / sr)
    a = 1.0 - b - c
    return lfilter([a], [1.0, -b, -c], signal)


def _glottal_source(f0: np.ndarray, oq: float, sr: int, jitter: float, rng: np.random.Generator) -> np.ndarray:
    """Rosenberg-like glottal flow derivative driven by an F0 track (Hz per sample)."""
    f0 = f0 * (1.0 + jitter * rng.standard_normal(f0.shape[0]).cumsum() / math.sqrt(max(1, f0.shape[0] / 50)))
    phase = np.cumsum(f0 / sr) % 1.0
    oq = float(np.clip(oq, 0.2, 0.95))
    flow = np.where(phase < oq, np.sin(np.pi * phase / oq) ** 2, 0.0)
    return np.diff(flow, prepend=0.0)


def synth_utterance(
    speaker: Speaker, emotion: EmotionProfile, rng: np.random.Generator, sr: int, difficulty: float
) -> np.ndarray:
    """One utterance: 3-9 syllables with pauses, emotion cues jittered by `difficulty`."""
    d = difficulty

    def jit(mean: float, rel: float) -> float:
        return float(mean * (1.0 + d * rel * rng.standard_normal()))

    f0_level = speaker.f0 * jit(emotion.f0_scale, 0.08)
    f0_range = max(0.0, jit(emotion.f0_range, 0.35))
    rate = max(1.5, jit(emotion.rate, 0.12) * speaker.rate_scale)
    oq = emotion.open_quotient + speaker.oq_offset + d * 0.06 * rng.standard_normal()
    breath = max(0.0, jit(emotion.breathiness, 0.4))
    tilt = float(np.clip(emotion.tilt + d * 0.12 * rng.standard_normal(), 0.0, 0.95))
    loud = emotion.loudness_db + d * 2.5 * rng.standard_normal()
    n_syll = int(rng.integers(3, 10))
    pieces: list[np.ndarray] = [np.zeros(int(sr * rng.uniform(0.02, 0.12)))]
    declination = np.linspace(1.05, 0.95, n_syll)
    for s in range(n_syll):
        dur = max(0.06, rng.normal(1.0 / rate, 0.2 / rate) * 0.8)
        n = int(dur * sr)
        t = np.linspace(0.0, 1.0, n)
        shape = _contour(emotion.contour, t)
        f0 = f0_level * declination[s] * (1.0 + f0_range * shape + 0.03 * rng.standard_normal())
        src = _glottal_source(np.maximum(f0, 50.0), oq, sr, emotion.jitter, rng)
        src = src + breath * 0.05 * rng.standard_normal(n)
        if tilt > 0:
            src = lfilter([1.0 - tilt], [1.0, -tilt], src)
        formants = VOWELS[rng.integers(0, len(VOWELS))] * speaker.formant_scale * rng.normal(1.0, 0.03)
        voiced = src
        for f, bw in zip(formants, BANDWIDTHS):
            voiced = _resonator(voiced, float(f), float(bw), sr)
        env = np.minimum(1.0, np.minimum(t / 0.15, (1.0 - t) / 0.25).clip(0.0))
        syl = voiced * env
        if rng.random() < 0.6:  # consonant: a short high-passed noise burst before the vowel
            nc = int(sr * rng.uniform(0.02, 0.07))
            burst = lfilter([1.0, -0.95], [1.0], rng.standard_normal(nc)) * 0.02 * (1 + 2 * (1 - tilt))
            syl = np.concatenate([burst, syl])
        pieces.append(syl / (np.abs(syl).max() + 1e-9))
        if rng.random() < 0.35:
            pieces.append(np.zeros(int(sr * rng.uniform(0.03, 0.2) * 4.0 / rate)))
    pieces.append(np.zeros(int(sr * rng.uniform(0.02, 0.12))))
    y = np.concatenate(pieces)
    # level: about -29 dBFS RMS for neutral speech, as in recorded SER corpora (IEMOCAP, DEMoS)
    y = y * 0.1 * 10 ** (loud / 20.0)
    noise_db = rng.uniform(-65.0, -48.0)  # recording noise floor: 15-35 dB below the speech
    y = y + 10 ** (noise_db / 20.0) * rng.standard_normal(y.shape[0])
    return np.clip(y, -1.0, 1.0).astype(np.float32)


def generate_corpus(
    out_dir: str | Path,
    *,
    n_speakers: int = 12,
    utterances_per_emotion: int = 15,
    emotions: list[str] | tuple[str, ...] = ("angry", "happy", "neutral", "sad"),
    sample_rate: int = 16000,
    difficulty: float = 1.0,
    seed: int = 0,
    version: int | None = None,
) -> pd.DataFrame:
    """Write `out_dir/wav/<speaker>/<utt>.wav` and `out_dir/metadata.csv` (path, label, speaker, gender).

    Every utterance has its own RNG stream derived from (seed, speaker, emotion, index), so the
    corpus is identical for a seed regardless of generation order.
    """
    from staa.config import CORPUS_VERSION

    if version is not None and version != CORPUS_VERSION:
        raise ConfigError(f"synthetic corpus version {version} requested, this code generates version {CORPUS_VERSION}")
    unknown = [e for e in emotions if e not in EMOTIONS]
    if unknown:
        raise ConfigError(f"synthetic corpus: unknown emotion(s) {unknown}; expected some of {sorted(EMOTIONS)}")
    if len(set(emotions)) < 2:
        raise ConfigError(f"synthetic corpus: need at least 2 distinct emotions, got {list(emotions)}")
    if n_speakers < 3:
        raise ConfigError(
            f"synthetic corpus: n_speakers must be >= 3 (for a speaker-independent split), got {n_speakers}"
        )
    if utterances_per_emotion < 1:
        raise ConfigError(f"synthetic corpus: utterances_per_emotion must be >= 1, got {utterances_per_emotion}")
    if sample_rate < 8000:
        raise ConfigError(f"synthetic corpus: sample_rate must be >= 8000 Hz, got {sample_rate}")
    out_dir = Path(out_dir)
    speakers = make_speakers(n_speakers, np.random.default_rng([seed, 0]))
    rows = []
    for si, spk in enumerate(speakers):
        for ei, emo in enumerate(emotions):
            for k in range(utterances_per_emotion):
                rng = np.random.default_rng([seed, 1, si, ei, k])
                audio = synth_utterance(spk, EMOTIONS[emo], rng, sample_rate, difficulty)
                rel = Path("wav") / spk.speaker_id / f"{spk.speaker_id}_{emo}_{k:03d}.wav"
                path = out_dir / rel
                with atomic_path(path) as tmp:
                    sf.write(tmp, audio, sample_rate, subtype="PCM_16", format="WAV")
                rows.append({"path": str(rel), "label": emo, "speaker": spk.speaker_id, "gender": spk.gender})
    meta = pd.DataFrame(rows)
    write_csv(out_dir / "metadata.csv", meta)
    return meta
