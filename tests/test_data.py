"""Data stage: audio decoding edge cases, fixed length, splits, the synthetic corpus, atomicity."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from staa.data.audio import fix_length, load_audio
from staa.data.prepare import load_split, prepare_dataset
from staa.data.synthetic import generate_corpus
from staa.errors import ConfigError, DataError
from staa.models.victim import znorm


def test_corrupt_wav_names_the_file(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage")
    with pytest.raises(DataError, match="bad.wav"):
        load_audio(bad, 16000)


def test_empty_wav_names_the_file(tmp_path):
    p = tmp_path / "empty.wav"
    sf.write(p, np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(DataError, match="empty.wav.*empty"):
        load_audio(p, 16000)


def test_nan_wav_rejected(tmp_path):
    p = tmp_path / "nan.wav"
    x = np.zeros(100, dtype=np.float32)
    x[10] = np.nan
    sf.write(p, x, 16000, subtype="FLOAT")
    with pytest.raises(DataError, match="nan.wav.*NaN"):
        load_audio(p, 16000)


def test_missing_file_named(tmp_path):
    with pytest.raises(DataError, match="nope.wav"):
        load_audio(tmp_path / "nope.wav", 16000)


def test_stereo_other_rate_is_converted(tmp_path):
    p = tmp_path / "stereo.wav"
    t = np.arange(22050) / 22050
    left = 0.5 * np.sin(2 * np.pi * 440 * t)
    sf.write(p, np.stack([left, left], axis=1).astype(np.float32), 22050)
    audio, orig = load_audio(p, 16000)
    assert orig == 22050 and audio.ndim == 1 and audio.dtype == np.float32
    assert abs(audio.shape[0] - 16000) <= 1
    spec = np.abs(np.fft.rfft(audio))
    assert abs(np.argmax(spec) * 16000 / audio.shape[0] - 440) < 3  # pitch preserved by resampling


def test_silence_normalises_without_nan(tmp_path):
    p = tmp_path / "silence.wav"
    sf.write(p, np.zeros(4000, dtype=np.float32), 16000)
    audio, _ = load_audio(p, 16000)
    z = znorm(torch.from_numpy(audio)[None])
    assert torch.isfinite(z).all() and float(z.abs().max()) == 0.0


def test_fix_length_tiles_and_truncates():
    a = np.arange(3, dtype=np.float32)
    assert fix_length(a, 8).tolist() == [0, 1, 2, 0, 1, 2, 0, 1]
    assert fix_length(np.arange(10, dtype=np.float32), 4).tolist() == [0, 1, 2, 3]


def test_synthetic_corpus_is_deterministic(tmp_path):
    m1 = generate_corpus(tmp_path / "a", n_speakers=3, utterances_per_emotion=2, emotions=["angry", "sad"], seed=7)
    m2 = generate_corpus(tmp_path / "b", n_speakers=3, utterances_per_emotion=2, emotions=["angry", "sad"], seed=7)
    generate_corpus(tmp_path / "c", n_speakers=3, utterances_per_emotion=2, emotions=["angry", "sad"], seed=8)
    assert m1.equals(m2)
    for rel in m1.path:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
    assert any((tmp_path / "a" / r).read_bytes() != (tmp_path / "c" / r).read_bytes() for r in m1.path)
    assert set(m1.gender) == {"f", "m"} and m1.speaker.nunique() == 3


def test_synthetic_emotions_differ_in_pitch(tmp_path):
    """The cues are there: angry utterances are higher pitched than sad ones of the same speakers."""
    meta = generate_corpus(tmp_path, n_speakers=4, utterances_per_emotion=6, emotions=["angry", "sad"], seed=0)

    def f0(path):
        x, sr = sf.read(tmp_path / path)
        x = x[: sr // 2]
        ac = np.correlate(x, x, "full")[len(x) - 1 :]
        lo, hi = sr // 400, sr // 60
        return sr / (lo + np.argmax(ac[lo:hi]))

    pitch = meta.assign(f0=[f0(p) for p in meta.path]).groupby("label").f0.median()
    assert pitch["angry"] > 1.15 * pitch["sad"]


def test_synthetic_unknown_emotion(tmp_path):
    with pytest.raises(ConfigError, match="joy"):
        generate_corpus(tmp_path, emotions=["angry", "joy"])


def test_prepare_outputs(tiny_dataset):
    info = json.loads((tiny_dataset / "classes.json").read_text())
    assert info["classes"] == ["angry", "sad"] and info["length"] == 4000
    speakers = {}
    for split in ("train", "dev", "test"):
        x, table = load_split(tiny_dataset, split)
        assert x.dtype == np.float32 and x.shape == (len(table), 4000)
        assert isinstance(x, np.memmap)
        speakers[split] = set(table.speaker)
    assert not (speakers["train"] & speakers["test"]) and not (speakers["dev"] & speakers["test"])
    assert "Dataset card: tiny" in (tiny_dataset / "card.md").read_text()


def test_missing_corpus_folder(tmp_path):
    with pytest.raises(DataError, match="no_such_corpus"):
        prepare_dataset(
            "x",
            {
                "reader": "synthetic",
                "root": str(tmp_path / "no_such_corpus"),
                "sample_rate": 16000,
                "clip_seconds": 0.25,
            },
            tmp_path / "out",
        )
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_corrupt_file_in_corpus_leaves_nothing_half_written(tmp_path):
    meta = generate_corpus(tmp_path / "c", n_speakers=3, utterances_per_emotion=2, emotions=["angry", "sad"])
    victim = tmp_path / "c" / meta.path.iloc[-1]
    victim.write_bytes(b"not a wav at all")
    out = tmp_path / "out"
    params = {"reader": "synthetic", "root": str(tmp_path / "c"), "sample_rate": 16000, "clip_seconds": 0.25}
    with pytest.raises(DataError, match=victim.name):
        prepare_dataset("x", params, out)
    assert not out.exists() or not any(out.iterdir())
    # with on_bad_audio=skip the file is skipped and listed in the card
    prepare_dataset("x", {**params, "on_bad_audio": "skip", "split": {"balance_gender": False}}, out)
    assert victim.name in (out / "card.md").read_text()
    n = sum(len(pd.read_csv(out / f"{s}.csv")) for s in ("train", "dev", "test"))
    assert n == len(meta) - 1
