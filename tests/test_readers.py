"""Tests for the corpus readers and the speaker-independent split, on tiny fixture trees."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from staa.data.readers import COLUMNS, READERS, read_corpus, read_demos, read_iemocap, read_manifest
from staa.data.split import speaker_independent_split
from staa.errors import ConfigError, DataError

_RNG = np.random.default_rng(0)
_NOISE = (0.01 * _RNG.standard_normal(1600)).astype(np.float32)  # 0.1 s at 16 kHz


def _wav(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, _NOISE, 16000)
    return path


def _check_common(df: pd.DataFrame) -> None:
    assert list(df.columns) == COLUMNS
    assert df["utt_id"].is_unique
    assert list(df["utt_id"]) == sorted(df["utt_id"])
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in df["path"])
    assert set(df["gender"]) <= {"f", "m", ""}
    assert set(df["split"]) <= {"train", "dev", "test", ""}
    for col in COLUMNS:
        assert all(isinstance(v, str) for v in df[col])


# --------------------------------------------------------------------------- IEMOCAP

_HEADER = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
# (turn suffix, code): both turn letters in both dialog types, incl. M turns in F dialogs.
_TURNS = [
    ("F000", "neu"),
    ("M000", "ang"),
    ("F001", "exc"),
    ("M001", "hap"),
    ("F002", "sad"),
    ("M002", "fru"),
    ("F003", "xxx"),
    ("M003", "sad"),
]


def _emo_file(path: Path, turns: list[tuple[str, str]]) -> None:
    lines = [_HEADER]
    for k, (turn, code) in enumerate(turns):
        lines.append(f"[{k * 3 + 0.5:.4f} - {k * 3 + 2.25:.4f}]\t{turn}\t{code}\t[2.5000, 3.0000, 2.5000]\n")
        lines.append(f"C-E1:\t{'Neutral state' if code == 'neu' else 'Frustration'};\t()\n")
        lines.append("C-E2:\tNeutral state;\t()\n")
        lines.append("A-E3:\tval 3; act 2; dom  2;\t()\n\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines))


def _make_iemocap(root: Path) -> Path:
    for n in range(1, 6):
        for owner, dialog in (("F", "impro01"), ("M", "script01_1")):
            name = f"Ses{n:02d}{owner}_{dialog}"
            turns = [(f"{name}_{t}", c) for t, c in _TURNS]
            _emo_file(root / f"Session{n}" / "dialog" / "EmoEvaluation" / f"{name}.txt", turns)
            for turn, _ in turns:
                _wav(root / f"Session{n}" / "sentences" / "wav" / name / f"{turn}.wav")
    # Non-label content that must be ignored.
    (root / "Session1" / "dialog" / "EmoEvaluation" / "Categorical").mkdir()
    return root


@pytest.fixture(scope="module")
def iemocap_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _make_iemocap(tmp_path_factory.mktemp("iemocap"))


def test_iemocap_labels_speakers_split(iemocap_root: Path) -> None:
    df = read_iemocap(iemocap_root)
    _check_common(df)
    # Per dialog: ang 1, hap 2 (exc + hap), neu 1, sad 2; fru and xxx dropped. 10 dialogs.
    assert df["label"].value_counts().to_dict() == {"hap": 20, "sad": 20, "ang": 10, "neu": 10}
    exc = df[df["utt_id"] == "Ses01F_impro01_F001"].iloc[0]
    assert exc["label"] == "hap"
    assert not df["utt_id"].str.endswith(("M002", "F003")).any()
    # Speaker follows the turn letter, not the dialog-owner letter.
    row = df[df["utt_id"] == "Ses01F_impro01_M003"].iloc[0]
    assert (row["speaker"], row["gender"]) == ("Ses01M", "m")
    row = df[df["utt_id"] == "Ses02M_script01_1_F002"].iloc[0]
    assert (row["speaker"], row["gender"]) == ("Ses02F", "f")
    assert row["path"].endswith("Session2/sentences/wav/Ses02M_script01_1/Ses02M_script01_1_F002.wav")
    sessions = {s: set(df.loc[df["split"] == s, "speaker"].str[3:5].astype(int)) for s in ("train", "dev", "test")}
    assert sessions == {"train": {1, 2, 5}, "dev": {4}, "test": {3}}


def test_iemocap_options(iemocap_root: Path) -> None:
    df = read_iemocap(iemocap_root, sessions={"train": [1], "test": [2]}, merge={})
    assert set(df["label"]) == {"ang", "hap", "exc", "sad", "neu"}
    assert set(df["split"]) == {"train", "test"}
    assert set(df["speaker"]) == {"Ses01F", "Ses01M", "Ses02F", "Ses02M"}  # sessions 3-5 dropped
    df = read_iemocap(iemocap_root, classes=["ang", "fru"], sessions={"train": [1]})
    assert df["label"].value_counts().to_dict() == {"ang": 2, "fru": 2}
    with pytest.raises(ConfigError, match="session 4 is in both"):
        read_iemocap(iemocap_root, sessions={"train": [1, 4], "dev": [4]})
    with pytest.raises(DataError, match=r"\['sur'\]"):
        read_iemocap(iemocap_root, classes=["ang", "sur"], sessions={"train": [1]})


def test_iemocap_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        read_iemocap(tmp_path / "nope")
    root = _make_iemocap(tmp_path / "iemocap")
    # Sessions on disk but not requested may be absent; requested ones must exist.
    import shutil

    shutil.rmtree(root / "Session3")
    assert set(read_iemocap(root, sessions={"train": [1, 2]})["split"]) == {"train"}
    with pytest.raises(DataError, match="Session3"):
        read_iemocap(root)
    shutil.rmtree(root / "Session2" / "sentences")
    with pytest.raises(DataError, match=r"Session2/sentences/wav"):
        read_iemocap(root, sessions={"train": [2]})

    txt = root / "Session1" / "dialog" / "EmoEvaluation" / "Ses01F_impro01.txt"
    good = txt.read_text()
    txt.write_text(good.replace("[3.5000 - 5.2500]\tSes01F_impro01_M000", "[3.5000 5.2500]\tSes01F_impro01_M000"))
    bad_line = next(i for i, line in enumerate(txt.read_text().splitlines(), 1) if line.startswith("[3.5000 5.25"))
    with pytest.raises(DataError, match=rf"Ses01F_impro01\.txt' line {bad_line}"):
        read_iemocap(root, sessions={"train": [1]})
    txt.write_text(good)
    (root / "Session1" / "sentences" / "wav" / "Ses01F_impro01" / "Ses01F_impro01_M003.wav").unlink()
    with pytest.raises(DataError, match=r"Ses01F_impro01/Ses01F_impro01_M003\.wav' does not exist"):
        read_iemocap(root, sessions={"train": [1]})


# --------------------------------------------------------------------------- DEMoS

_CODES = ["col", "dis", "gio", "pau", "ans", "rab", "sor", "tri"]
_DEMOS_SPEAKERS = {1: "f", 2: "m", 3: "f", 4: "m", 5: "f", 6: "m", 7: "f", 8: "m", 9: "m", 12: "m", 23: "m", 31: "f"}


def _make_demos(root: Path) -> Path:
    for spk, g in _DEMOS_SPEAKERS.items():
        for k, code in enumerate(_CODES):
            kind = "PR" if (k + spk) % 2 == 0 else "NP"
            _wav(root / "DEMOS" / f"{kind}_{g}_{spk:02d}_{code}0{k % 3}a.wav")
            _wav(root / "DEMOS" / f"NP_{g}_{spk:02d}_{code}1{k % 3}b.wav")
        _wav(root / "NEU" / f"NP_{g}_{spk:02d}_neu00c.wav")
    (root / "DEMOS" / "readme.txt").write_text("not audio")
    return root


@pytest.fixture(scope="module")
def demos_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _make_demos(tmp_path_factory.mktemp("demos"))


def test_demos_classes_and_filters(demos_root: Path) -> None:
    df = read_demos(demos_root)
    _check_common(df)
    assert sorted(df["label"].unique()) == ["anger", "disgust", "fear", "guilt", "happiness", "sadness", "surprise"]
    n_spk = len(_DEMOS_SPEAKERS)
    assert (df["label"] == "fear").sum() == 4 * n_spk  # pau and ans
    row = df[df["utt_id"] == "PR_m_23_dis01a"].iloc[0]
    assert (row["speaker"], row["gender"], row["label"]) == ("23", "m", "disgust")
    assert row["path"].endswith("DEMOS/PR_m_23_dis01a.wav")

    with_neu = read_demos(demos_root, include_neutral=True)
    assert (with_neu["label"] == "neutral").sum() == n_spk
    assert len(with_neu) == len(df) + n_spk

    proto = read_demos(demos_root, prototypical_only=True)
    assert proto["utt_id"].str.startswith("PR_").all()
    assert set(proto["label"]) == set(df["label"])
    with pytest.raises(DataError, match=r"\['neutral'\]"):  # neutral files are all NP here
        read_demos(demos_root, include_neutral=True, prototypical_only=True)


def test_demos_split(demos_root: Path) -> None:
    df = read_demos(demos_root, split_seed=3)
    spk_split = df.groupby("speaker")["split"].nunique()
    assert (spk_split == 1).all()  # each speaker in exactly one split
    for split in ("train", "dev", "test"):
        assert set(df.loc[df["split"] == split, "gender"]) == {"f", "m"}
    again = read_demos(demos_root, split_seed=3)
    assert df["split"].tolist() == again["split"].tolist()
    seeds = {tuple(read_demos(demos_root, split_seed=s)["split"]) for s in range(5)}
    assert len(seeds) > 1


def test_demos_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        read_demos(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="'DEMOS' is missing"):
        read_demos(tmp_path / "empty")

    root = _make_demos(tmp_path / "d")
    (root / "DEMOS").rename(root / "Demos")  # single case-insensitive match is accepted
    assert len(read_demos(root)) > 0
    bad = _wav(root / "Demos" / "PR_f_01_xyz00a.wav")
    with pytest.raises(DataError, match=r"PR_f_01_xyz00a\.wav'.*unknown emotion code 'xyz'"):
        read_demos(root)
    bad.unlink()
    bad = _wav(root / "Demos" / "PR_f_01_tri00a_copy.wav")
    with pytest.raises(DataError, match=r"PR_f_01_tri00a_copy\.wav'.*does not match"):
        read_demos(root)
    bad.unlink()
    for p in (root / "Demos").glob("*_sor*"):
        p.unlink()
    with pytest.raises(DataError, match=r"\['surprise'\]"):
        read_demos(root)


# --------------------------------------------------------------------------- manifest


def test_manifest_reads_relative_paths_and_maps_labels(tmp_path: Path) -> None:
    for rel in ("a/x.wav", "b/x.wav", "a/y.wav", "c/z.wav"):
        _wav(tmp_path / "audio" / rel)
    (tmp_path / "list.csv").write_text(
        "path,label,speaker,split,gender\n"
        "audio/a/x.wav,angry,s1,train,F\n"
        "audio/b/x.wav,happy,s2,,male\n"
        f"{tmp_path / 'audio/a/y.wav'},sad,s1,test,f\n"
        "audio/c/z.wav,neutral,s3,dev,\n"
    )
    df = read_manifest(tmp_path, manifest="list.csv", label_map={"angry": "anger", "happy": "happiness"})
    _check_common(df)
    assert list(df["utt_id"]) == ["a_x", "b_x", "y", "z"]
    assert list(df["label"]) == ["anger", "happiness", "sad", "neutral"]  # unmapped labels kept
    assert list(df["split"]) == ["train", "", "test", "dev"]
    assert list(df["gender"]) == ["f", "m", "f", ""]
    # Absolute manifest path; no split/gender columns.
    (tmp_path / "m2.csv").write_text("speaker,label,path\ns1,l,audio/c/z.wav\n")
    df2 = read_corpus("manifest", tmp_path / "unused", manifest=str(tmp_path / "m2.csv"))
    assert df2.iloc[0].to_dict() == {
        "utt_id": "z",
        "path": str(tmp_path / "audio/c/z.wav"),
        "label": "l",
        "speaker": "s1",
        "gender": "",
        "split": "",
    }


def test_manifest_errors(tmp_path: Path) -> None:
    _wav(tmp_path / "x.wav")
    _wav(tmp_path / "y.wav")
    csv = tmp_path / "manifest.csv"
    with pytest.raises(DataError, match="manifest.csv' does not exist"):
        read_manifest(tmp_path)
    csv.write_text("path,emotion\nx.wav,a\n")
    with pytest.raises(DataError, match=r"manifest\.csv' lacks required column\(s\) \['label', 'speaker'\]"):
        read_manifest(tmp_path)
    csv.write_text("path,label,speaker\nx.wav,a,s\ny.wav,a,s\n./x.wav,b,s\n")
    with pytest.raises(DataError, match=r"row 3 .*'\./x\.wav' duplicates row 1"):
        read_manifest(tmp_path)
    csv.write_text("path,label,speaker,split\nx.wav,a,s,train\ny.wav,a,s,validation\n")
    with pytest.raises(DataError, match=r"row 2 \(line 3\): split 'validation'"):
        read_manifest(tmp_path)
    csv.write_text("path,label,speaker\nmissing.wav,a,s\n")
    with pytest.raises(DataError, match=r"missing\.wav' does not exist"):
        read_manifest(tmp_path)


# --------------------------------------------------------------------------- split


def _speaker_table(n_f: int, n_m: int, rows_per_speaker: int = 3) -> pd.DataFrame:
    spk = [(f"f{i:02d}", "f") for i in range(n_f)] + [(f"m{i:02d}", "m") for i in range(n_m)]
    rows = [{"speaker": s, "gender": g, "utt": f"{s}_{k}"} for s, g in spk for k in range(rows_per_speaker)]
    return pd.DataFrame(rows)


def test_split_disjoint_deterministic_balanced() -> None:
    df = _speaker_table(10, 14)
    split = speaker_independent_split(df, 0.32, 0.25, seed=7)
    assert split.index.equals(df.index)
    assert (df.assign(split=split).groupby("speaker")["split"].nunique() == 1).all()
    per = df.assign(split=split).drop_duplicates("speaker").groupby(["split", "gender"]).size()
    # Each gender divided by the fractions separately (largest remainder).
    assert per.to_dict() == {
        ("dev", "f"): 3,
        ("dev", "m"): 4,
        ("test", "f"): 3,
        ("test", "m"): 4,
        ("train", "f"): 4,
        ("train", "m"): 6,
    }
    assert split.equals(speaker_independent_split(df, 0.32, 0.25, seed=7))
    shuffled = df.sample(frac=1.0, random_state=1)
    assert speaker_independent_split(shuffled, 0.32, 0.25, seed=7).sort_index().equals(split)
    assert any(not speaker_independent_split(df, 0.32, 0.25, seed=s).equals(split) for s in range(1, 6))


def test_split_small_and_invalid() -> None:
    small = _speaker_table(2, 1)
    for seed in range(5):
        split = speaker_independent_split(small, 0.32, 0.25, seed=seed)
        assert set(split) == {"train", "dev", "test"}
    assert set(speaker_independent_split(_speaker_table(0, 3), 0.2, 0.2, seed=0, balance_gender=False)) == {
        "train",
        "dev",
        "test",
    }
    with pytest.raises(DataError, match="at least 3 speakers"):
        speaker_independent_split(_speaker_table(1, 1), 0.3, 0.3, seed=0)
    for dev, test in ((0.0, 0.2), (0.5, 0.5), (1.2, 0.1), (0.3, -0.1), (True, 0.2)):
        with pytest.raises(ConfigError):
            speaker_independent_split(_speaker_table(3, 3), dev, test, seed=0)
    mixed = pd.DataFrame({"speaker": ["a", "a", "b", "c"], "gender": ["f", "m", "f", "m"]})
    with pytest.raises(DataError, match="speaker 'a'"):
        speaker_independent_split(mixed, 0.3, 0.3, seed=0)


# --------------------------------------------------------------------------- read_corpus


def test_read_corpus_dispatch(demos_root: Path) -> None:
    assert set(READERS) >= {"iemocap", "demos", "manifest"}
    assert read_corpus("demos", demos_root, split_seed=1).equals(read_demos(demos_root, split_seed=1))
    with pytest.raises(ConfigError, match=r"unknown corpus reader 'ravdess'.*'demos'"):
        read_corpus("ravdess", demos_root)
    with pytest.raises(ConfigError, match=r"unknown option 'seed'.*split_seed"):
        read_corpus("demos", demos_root, seed=1)
