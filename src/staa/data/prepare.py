"""Data stage: corpus on disk -> fixed-length float32 arrays per split + split tables + card.

Training never decodes WAV files: each split is one memory-mappable `.npy` of shape (N, L).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from staa.data.audio import fix_length, load_audio
from staa.data.readers import read_corpus
from staa.data.split import speaker_independent_split
from staa.errors import DataError
from staa.utils import atomic_path, write_csv, write_json, write_text

SPLITS = ("train", "dev", "test")


def prepare_dataset(name: str, params: dict[str, Any], out_dir: str | Path, log=sys.stderr) -> dict[str, Any]:
    """Read the corpus named by `params['reader']`, split it, and write the data-stage outputs.

    params: reader, root, sample_rate, clip_seconds, split {seed, dev_fraction, test_fraction,
    balance_gender}, on_bad_audio ('error'|'skip'), reader_options {...}.
    """
    out_dir = Path(out_dir)
    sr = int(params["sample_rate"])
    length = int(round(float(params["clip_seconds"]) * sr))
    df = read_corpus(params["reader"], params["root"], **params.get("reader_options", {}))
    if len(df) == 0:
        raise DataError(f"dataset {name!r}: reader {params['reader']!r} found no utterances under {params['root']}")
    split_cfg = params.get("split", {})
    if (df["split"] == "").any():
        missing = df["split"] == ""
        df.loc[missing, "split"] = speaker_independent_split(
            df[missing],
            dev_fraction=float(split_cfg.get("dev_fraction", 0.2)),
            test_fraction=float(split_cfg.get("test_fraction", 0.2)),
            seed=int(split_cfg.get("seed", 0)),
            balance_gender=bool(split_cfg.get("balance_gender", True)),
        ).values
    classes = sorted(df["label"].unique())
    class_idx = {c: i for i, c in enumerate(classes)}
    on_bad = params.get("on_bad_audio", "error")

    skipped: list[dict[str, str]] = []
    per_split: dict[str, list[np.ndarray]] = {s: [] for s in SPLITS}
    rows: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
    n_silent = 0
    total = len(df)
    for i, r in enumerate(df.itertuples(index=False)):
        try:
            audio, orig_sr = load_audio(r.path, sr)
        except DataError as exc:
            if on_bad == "skip":
                skipped.append({"path": r.path, "reason": str(exc)})
                continue
            raise
        if float(np.abs(audio).max()) == 0.0:
            n_silent += 1
        dur = audio.shape[0] / sr
        per_split[r.split].append(fix_length(audio, length))
        rows[r.split].append({
            "utt_id": r.utt_id, "label": r.label, "label_idx": class_idx[r.label], "speaker": r.speaker,
            "gender": r.gender, "duration_s": round(dur, 4), "orig_sr": orig_sr, "path": r.path,
        })
        if (i + 1) % 500 == 0 or i + 1 == total:
            print(f"[data {name}] decoded {i + 1}/{total} files", file=log, flush=True)

    for s in SPLITS:
        if not rows[s]:
            raise DataError(f"dataset {name!r}: split {s!r} is empty after reading {params['root']}; check the split settings")
    for s in SPLITS:
        arr = np.stack(per_split[s]).astype(np.float32)
        with atomic_path(out_dir / f"{s}.npy") as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, arr)
        write_csv(out_dir / f"{s}.csv", pd.DataFrame(rows[s]))
    info = {
        "dataset": name, "classes": classes, "sample_rate": sr, "length": length,
        "n": {s: len(rows[s]) for s in SPLITS}, "n_skipped": len(skipped), "n_silent": n_silent,
    }
    write_json(out_dir / "classes.json", info)
    write_text(out_dir / "card.md", dataset_card(name, params, rows, classes, skipped, n_silent, length, sr))
    return info


def dataset_card(name, params, rows, classes, skipped, n_silent, length, sr) -> str:
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
        f"- all-silent clips kept: {n_silent}; files skipped as unreadable: {len(skipped)}",
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
    if skipped:
        lines += ["## Skipped files", ""] + [f"- `{s['path']}`: {s['reason']}" for s in skipped] + [""]
    return "\n".join(lines)


def load_split(data_dir: str | Path, split: str, mmap: bool = True) -> tuple[np.ndarray, pd.DataFrame]:
    """Load one split's waveform array (memory-mapped) and its table."""
    data_dir = Path(data_dir)
    npy, csv = data_dir / f"{split}.npy", data_dir / f"{split}.csv"
    for p in (npy, csv):
        if not p.is_file():
            raise DataError(f"{p}: missing; run the data stage for this dataset first")
    x = np.load(npy, mmap_mode="r" if mmap else None)
    table = pd.read_csv(csv, dtype={"utt_id": str, "speaker": str, "label": str})
    if x.shape[0] != len(table):
        raise DataError(f"{npy}: {x.shape[0]} rows but {csv} lists {len(table)} utterances")
    return x, table


def load_classes(data_dir: str | Path) -> dict[str, Any]:
    p = Path(data_dir) / "classes.json"
    if not p.is_file():
        raise DataError(f"{p}: missing; run the data stage for this dataset first")
    return json.loads(p.read_text())
