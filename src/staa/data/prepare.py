"""Data stage: corpus on disk -> fixed-length float32 arrays per split + split tables + card.

Training never decodes WAV files: each split is one memory-mappable `.npy` of shape (N, L).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from staa.data.audio import fix_length, load_audio
from staa.data.readers import read_corpus
from staa.data.split import complete_split
from staa.errors import DataError
from staa.settings import DataSettings
from staa.utils import atomic_path, read_json, read_table, write_csv, write_json, write_text

SPLITS = ("train", "dev", "test")
# Clips shorter than this are bad audio (handled by `on_bad_audio`): tiling a few milliseconds
# into a fixed-length clip gives a buzz of repeats, not speech. 25 ms is one analysis frame.
MIN_CLIP_MS = 25.0


def prepare_dataset(name: str, params: dict[str, Any], out_dir: str | Path, log=None) -> dict[str, Any]:
    """Read the corpus named by `params['reader']`, split it, and write the data-stage outputs into
    `out_dir` (one folder: the dataset's arrays, tables, classes.json and card.md).

    params: staa.settings.DataSettings; split {dev_fraction, test_fraction, balance_gender,
    speaker_independent} and `split.seed`, the run's seed (0 when run by hand without one).
    """
    log = sys.stderr if log is None else log  # looked up per call: a redirected stderr is honoured
    cfg = DataSettings.from_params(params)
    out_dir = Path(out_dir)
    sr = cfg.sample_rate
    length = int(round(cfg.clip_seconds * sr))
    df = read_corpus(cfg.reader, cfg.root, **cfg.reader_options)
    if len(df) == 0:
        raise DataError(f"dataset {name!r}: reader {cfg.reader!r} found no utterances under {cfg.root}")
    warnings: list[str] = list(df.attrs.get("warnings", []))
    split_cfg = cfg.split
    df["split"] = complete_split(
        df,
        dev_fraction=float(split_cfg["dev_fraction"]),
        test_fraction=float(split_cfg["test_fraction"]),
        seed=int(split_cfg.get("seed", 0)),
        balance_gender=bool(split_cfg["balance_gender"]),
        speaker_independent=bool(split_cfg["speaker_independent"]),
    ).values
    classes = sorted(df["label"].unique())
    class_idx = {c: i for i, c in enumerate(classes)}
    on_bad = cfg.on_bad_audio
    min_samples = int(np.ceil(MIN_CLIP_MS * sr / 1000))

    skipped: list[dict[str, str]] = []
    per_split: dict[str, list[np.ndarray]] = {s: [] for s in SPLITS}
    rows: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
    silent: list[str] = []
    total = len(df)
    for i, r in enumerate(df.itertuples(index=False)):
        try:
            audio, orig_sr = load_audio(r.path, sr)
            if audio.shape[0] < min_samples:
                raise DataError(
                    f"{r.path}: {1000 * audio.shape[0] / sr:.1f} ms of audio, shorter than the "
                    f"{MIN_CLIP_MS:g} ms floor (it would be tiled into a {length / sr:g} s clip of "
                    "repeats); remove it or set on_bad_audio: skip"
                )
        except DataError as exc:
            if on_bad == "skip":
                skipped.append({"path": r.path, "reason": str(exc)})
                continue
            raise
        if float(np.abs(audio).max()) == 0.0:
            silent.append(r.path)
        dur = audio.shape[0] / sr
        per_split[r.split].append(fix_length(audio, length))
        rows[r.split].append(
            {
                "utt_id": r.utt_id,
                "label": r.label,
                "label_idx": class_idx[r.label],
                "speaker": r.speaker,
                "gender": r.gender,
                "duration_s": round(dur, 4),
                "orig_sr": orig_sr,
                "path": r.path,
            }
        )
        if (i + 1) % 500 == 0 or i + 1 == total:
            print(f"[data {name}] decoded {i + 1}/{total} files", file=log, flush=True)

    kept = sum(len(v) for v in rows.values())
    if kept and len(silent) == kept:
        raise DataError(
            f"dataset {name!r}: all {kept} clips under {cfg.root} are silent (every sample is 0); expected speech"
        )
    if silent:
        warnings.append(f"{len(silent)} of {kept} clips are silent (every sample is 0), e.g. {silent[0]}")
    for s in SPLITS:
        if not rows[s]:
            raise DataError(
                f"dataset {name!r}: split {s!r} is empty after reading {cfg.root}; check the split settings"
            )
    warnings += class_coverage(name, rows, classes)
    for w in warnings:
        print(f"[data {name}] WARNING: {w}", file=log, flush=True)
    for s in SPLITS:
        arr = np.stack(per_split[s]).astype(np.float32)
        with atomic_path(out_dir / f"{s}.npy") as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, arr)
        write_csv(out_dir / f"{s}.csv", pd.DataFrame(rows[s]))
    info = {
        "dataset": name,
        "classes": classes,
        "sample_rate": sr,
        "length": length,
        "n": {s: len(rows[s]) for s in SPLITS},
        "n_skipped": len(skipped),
        "n_silent": len(silent),
        "warnings": warnings,
    }
    write_json(out_dir / "classes.json", info)
    write_text(
        out_dir / "card.md", dataset_card(name, params, rows, classes, skipped, len(silent), length, sr, warnings)
    )
    return info


def class_coverage(name: str, rows: dict[str, list[dict[str, Any]]], classes: list[str]) -> list[str]:
    """Refuse a class that cannot be learnt or scored (no train or no test utterance); warn about one
    without dev utterances (model selection ignores it) or spoken by a single speaker."""
    count = {s: pd.Series([r["label"] for r in rows[s]], dtype=str).value_counts() for s in SPLITS}
    for s, why in (("train", "it cannot be learnt"), ("test", "its recall, UA and ASR are undefined")):
        missing = [c for c in classes if count[s].get(c, 0) == 0]
        if missing:
            raise DataError(
                f"dataset {name!r}: class(es) {missing} have no {s} utterances, so {why}; "
                "give them more speakers, or drop or merge them in the reader options"
            )
    out = []
    no_dev = [c for c in classes if count["dev"].get(c, 0) == 0]
    if no_dev:
        out.append(f"class(es) {no_dev} have no dev utterances: dev UA (model selection) ignores them")
    speakers = pd.DataFrame([r for s in SPLITS for r in rows[s]]).groupby("label")["speaker"].nunique()
    single = sorted(speakers[speakers == 1].index)
    if single:
        out.append(f"class(es) {single} are spoken by a single speaker")
    return out


def dataset_card(name, params, rows, classes, skipped, n_silent, length, sr, warnings=()) -> str:
    """A Markdown card: counts per class, speaker and split, durations; what was skipped."""
    df = pd.concat([pd.DataFrame(rows[s]).assign(split=s) for s in SPLITS], ignore_index=True)
    by_class = df.pivot_table(index="label", columns="split", values="utt_id", aggfunc="count", fill_value=0)
    by_class = by_class.reindex(columns=list(SPLITS), fill_value=0)
    spk = df.groupby("split")["speaker"].agg(lambda s: ", ".join(sorted(s.unique())))
    dur = df.groupby("split")["duration_s"].describe()[["mean", "min", "max"]].round(2)
    lines = [
        f"# Dataset card: {name}",
        "",
        f"- reader: `{params['reader']}`, root: `{params['root']}`",
        f"- classes ({len(classes)}): {', '.join(classes)}",
        f"- fixed length: {length} samples = {length / sr:.2f} s at {sr} Hz (short clips tiled, long ones truncated)",
        f"- utterances: {len(df)} ({', '.join(f'{s} {len(rows[s])}' for s in SPLITS)}); speakers: {df['speaker'].nunique()}",
        f"- all-silent clips kept: {n_silent}; files skipped as bad audio: {len(skipped)}",
        "",
        "## Utterances per class and split",
        "",
        by_class.to_markdown(),
        "",
        "## Speakers per split",
        "",
        *[f"- {s}: {spk.get(s, '')}" for s in SPLITS],
        "",
        "## Original durations (s) per split",
        "",
        dur.to_markdown(),
        "",
    ]
    if warnings:
        lines += ["## Warnings", ""] + [f"- {w}" for w in warnings] + [""]
    if skipped:
        lines += ["## Skipped files", ""] + [f"- `{s['path']}`: {s['reason']}" for s in skipped] + [""]
    return "\n".join(lines)


def load_split(data_dir: str | Path, split: str, mmap: bool = True) -> tuple[np.ndarray, pd.DataFrame]:
    """Load one split's waveform array (memory-mapped) and its table, after checking that the array
    is whole: a (N, L) float32 .npy with one row per table row and the dataset's clip length."""
    data_dir = Path(data_dir)
    npy, csv = data_dir / f"{split}.npy", data_dir / f"{split}.csv"
    for p in (npy, csv):
        if not p.is_file():
            raise DataError(f"{p}: missing; run the data stage for this dataset first")
    table = read_table(
        csv, ("utt_id", "label", "label_idx"), f"{split} split", dtype={"utt_id": str, "speaker": str, "label": str}
    )
    classes = data_dir / "classes.json"
    length = int(load_classes(data_dir)["length"]) if classes.is_file() else None
    check_array(npy, (len(table), length), f"{npy.with_suffix('.csv').name} and classes.json", _RERUN)
    x = np.load(npy, mmap_mode="r" if mmap else None)
    return x, table


_RERUN = "rerun the data stage (snakemake --forcerun prepare_data)"


def reference_level(x: np.ndarray, chunk: int = 256) -> float:
    """The level a relative eps is measured against: the mean utterance RMS of `x` (the train
    split), read in chunks so that a memory-mapped paper-scale split is never loaded whole."""
    total, n = 0.0, 0
    for i in range(0, x.shape[0], chunk):
        block = np.asarray(x[i : i + chunk], dtype=np.float64)
        total += float(np.sqrt((block**2).mean(axis=1)).sum())
        n += block.shape[0]
    return total / n if n else 0.0


def check_array(npy: Path, shape: tuple[int | None, ...], source: str, fix: str) -> None:
    """DataError naming `npy` unless it is a whole float32 array of `shape` (None = any size on that
    axis), checked from its header and size without reading it; `source` says where the expected
    shape comes from, `fix` what to do."""
    try:
        with open(npy, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read_header = (
                np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            )
            found, _, dtype = read_header(fh)
            offset = fh.tell()
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{npy}: not a readable .npy array ({exc}); {fix}") from None
    if dtype != np.float32 or len(found) != len(shape):
        raise DataError(
            f"{npy}: holds a {dtype} array of shape {found}; expected a {len(shape)}-D float32 array. {fix}"
        )
    expected = offset + int(np.prod(found)) * dtype.itemsize
    size = npy.stat().st_size
    if size != expected:
        raise DataError(
            f"{npy}: {size} bytes, expected {expected} for a {found} float32 array (truncated or overwritten); {fix}"
        )
    if any(want is not None and got != want for got, want in zip(found, shape)):
        raise DataError(
            f"{npy}: shape {found}, but {source} call for {tuple('*' if w is None else w for w in shape)}; {fix}"
        )


def make_subset(data_dir: str | Path, size: int, seed: int, out: str | Path) -> pd.DataFrame:
    """A seeded subset of the test split, the same for every baseline and for STAA-Net's subset row."""
    _, table = load_split(data_dir, "test")
    rng = np.random.default_rng([seed, 7])
    n = min(int(size), len(table))
    idx = np.sort(rng.choice(len(table), size=n, replace=False))
    sub = table.iloc[idx][["utt_id", "label", "label_idx", "speaker"]].assign(index=idx)
    write_csv(out, sub)
    return sub


def load_subset(data_dir: str | Path, subset_csv: str | Path) -> tuple[np.ndarray, pd.DataFrame]:
    """The subset's test waveforms (float32, in memory) and table rows, after checking that every listed
    utterance is in the test split at its recorded index (a subset drawn from an older split is refused)."""
    x, table = load_split(data_dir, "test")
    sub = read_table(subset_csv, ("utt_id", "index"), "test subset", dtype={"utt_id": str})
    idx = sub["index"].to_numpy()
    if (
        not set(sub["utt_id"]).issubset(set(table["utt_id"].astype(str)))
        or not np.issubdtype(idx.dtype, np.integer)
        or (idx < 0).any()
        or (idx >= len(table)).any()
        or list(table["utt_id"].astype(str).iloc[idx]) != list(sub["utt_id"])
    ):
        raise DataError(f"{subset_csv}: lists utterances that are not in the test split; rerun the subset rule")
    return np.asarray(x[idx], dtype=np.float32), table.iloc[idx].reset_index(drop=True)


def load_classes(data_dir: str | Path) -> dict[str, Any]:
    p = Path(data_dir) / "classes.json"
    if not p.is_file():
        raise DataError(f"{p}: missing; run the data stage for this dataset first")
    return read_json(p, "dataset description (classes.json)")
