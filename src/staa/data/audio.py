"""Audio I/O: decode, down-mix, resample and fix the length of utterances (docs/design.md §2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from staa.errors import DataError


def load_audio(path: str | Path, target_sr: int) -> tuple[np.ndarray, int]:
    """Decode `path` to mono float32 at `target_sr`; returns (audio, original sample rate).

    Stereo is averaged to mono and other rates are resampled (converted, not rejected).
    Corrupt, empty or non-finite files raise DataError naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: audio file not found")
    try:
        audio, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises LibsndfileError/RuntimeError for corrupt files
        raise DataError(f"{path}: cannot decode audio ({exc}); expected a readable WAV/FLAC file") from None
    if audio.shape[0] == 0:
        raise DataError(f"{path}: audio file is empty (0 samples)")
    mono = audio.mean(axis=1)
    if not np.all(np.isfinite(mono)):
        raise DataError(f"{path}: audio contains NaN or infinite samples")
    if sr != target_sr:
        mono = resample(mono, sr, target_sr)
    return mono.astype(np.float32), int(sr)


def resample(audio: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Band-limited resampling (torchaudio's windowed-sinc), deterministic on CPU."""
    import torch
    import torchaudio.functional as AF

    out = AF.resample(torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)), orig_sr, target_sr)
    return out.numpy()


def fix_length(audio: np.ndarray, length: int) -> np.ndarray:
    """Tile a short clip until it reaches `length` samples; truncate a long one (the reference)."""
    if audio.shape[0] >= length:
        return audio[:length]
    reps = -(-length // audio.shape[0])
    return np.tile(audio, reps)[:length]
