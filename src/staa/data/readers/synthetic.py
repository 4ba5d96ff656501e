"""Reader of the procedural corpus: its `metadata.csv` is a manifest, read by the manifest reader,
so the embedded default exercises the same code path as any corpus a user brings."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from staa.data.readers.manifest import read_manifest
from staa.errors import DataError


def read_synthetic(root: str | os.PathLike) -> pd.DataFrame:
    root = Path(root)
    if not (root / "metadata.csv").is_file():
        raise DataError(
            f"{root}: no metadata.csv; expected a corpus written by `staa synth-corpus` "
            "(the pipeline's synth_corpus rule makes it)"
        )
    return read_manifest(root, manifest="metadata.csv")
