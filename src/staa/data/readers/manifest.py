"""Generic CSV manifest reader, plus the output contract shared by every reader.

The manifest lets any corpus be used without writing a reader: one row per utterance with
``path,label,speaker`` and optionally ``split,gender``. The helpers at the top (``COLUMNS``,
``require_dir``, ``finish_frame``) define the common output so that all readers agree on it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from staa.errors import ConfigError, DataError

COLUMNS: list[str] = ["utt_id", "path", "label", "speaker", "gender", "split"]
VALID_SPLITS: frozenset[str] = frozenset({"train", "dev", "test", ""})
_GENDERS: dict[str, str] = {"f": "f", "m": "m", "female": "f", "male": "m", "": ""}


def require_dir(path: str | os.PathLike, what: str) -> Path:
    """Return ``path`` as an absolute Path, or raise DataError if it is not an existing folder."""
    if path is None or (isinstance(path, str) and not path.strip()):
        raise ConfigError(f"{what}: no path given (got {path!r})")
    p = Path(os.path.abspath(os.fspath(path)))
    if not p.exists():
        raise DataError(f"{what} {str(p)!r} does not exist")
    if not p.is_dir():
        raise DataError(f"{what} {str(p)!r} is not a folder")
    return p


def finish_frame(rows: Iterable[Mapping[str, str]], source: str, expected_labels: Iterable[str] = ()) -> pd.DataFrame:
    """Build the common reader output: exact columns, all str, unique utt_id, sorted by utt_id.

    ``expected_labels`` are classes the caller asked for; one with no utterance left is a
    DataError, because a silently missing class would change the classifier's output size.
    """
    df = pd.DataFrame(list(rows), columns=COLUMNS)
    df = df.fillna("").astype(str)
    if df.empty:
        raise DataError(f"{source}: no utterances left after filtering")
    dup = df["utt_id"][df["utt_id"].duplicated()]
    if not dup.empty:
        first = dup.iloc[0]
        paths = df.loc[df["utt_id"] == first, "path"].tolist()
        raise DataError(f"{source}: utterance id {first!r} occurs more than once ({paths}); expected unique ids")
    present = set(df["label"])
    empty = [c for c in expected_labels if c not in present]
    if empty:
        raise DataError(
            f"{source}: class(es) {sorted(set(empty))} have no utterances after filtering; "
            f"labels present: {sorted(present)}"
        )
    return df.sort_values("utt_id", kind="stable").reset_index(drop=True)


DEFAULT_MANIFEST = "manifest.csv"


def manifest_path(root: str | os.PathLike, manifest: str | os.PathLike = DEFAULT_MANIFEST) -> Path:
    """Where the manifest CSV is: ``manifest`` itself if absolute, else under ``root`` (no I/O:
    the workflow also uses it to declare the file as the data stage's input)."""
    if os.path.isabs(manifest):
        return Path(os.path.abspath(manifest))
    return Path(root) / manifest


def read_manifest(
    root: str | os.PathLike,
    manifest: str = DEFAULT_MANIFEST,
    label_map: dict[str, str] | None = None,
) -> pd.DataFrame:
    """List a corpus described by a CSV manifest.

    ``manifest`` is relative to ``root`` (``root`` is then unused if ``manifest`` is absolute).
    Relative audio paths are relative to the CSV's folder. ``label_map`` renames raw labels;
    labels absent from the map are kept unchanged (nothing is dropped), so a partial map is a
    rename, not a filter. ``gender`` accepts f/m/female/male (any case) or empty. ``utt_id`` is
    the file stem, prefixed with ``<parent folder>_`` for stems that occur more than once.
    """
    if not isinstance(manifest, (str, os.PathLike)) or not os.fspath(manifest):
        raise ConfigError(f"manifest={manifest!r}: expected a CSV file name or path")
    if label_map is not None and (
        not isinstance(label_map, Mapping)
        or not all(isinstance(k, str) and isinstance(v, str) and v for k, v in label_map.items())
    ):
        raise ConfigError(f"label_map={label_map!r}: expected a mapping raw label (str) -> class name (non-empty str)")

    base = root if os.path.isabs(manifest) else require_dir(root, "manifest root")
    csv_path = manifest_path(base, manifest)
    if not csv_path.is_file():
        raise DataError(f"manifest file {str(csv_path)!r} does not exist")
    try:
        table = pd.read_csv(csv_path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise DataError(f"manifest {str(csv_path)!r} is empty: expected a header with path,label,speaker") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"manifest {str(csv_path)!r} is not a readable CSV: {exc}") from None
    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in ("path", "label", "speaker") if c not in table.columns]
    if missing:
        raise DataError(f"manifest {str(csv_path)!r} lacks required column(s) {missing}; found {list(table.columns)}")
    if table.empty:
        raise DataError(f"manifest {str(csv_path)!r} has a header but no rows")

    base = csv_path.parent
    seen: dict[str, int] = {}
    rows: list[dict[str, str]] = []
    unmapped: set[str] = set()
    for i, rec in enumerate(table.to_dict("records")):
        where = f"manifest {str(csv_path)!r} row {i + 1} (line {i + 2})"
        raw_path, label, speaker = (str(rec[c]).strip() for c in ("path", "label", "speaker"))
        for col, val in (("path", raw_path), ("label", label), ("speaker", speaker)):
            if not val:
                raise DataError(f"{where}: empty {col!r}; expected a value")
        split = str(rec.get("split", "")).strip()
        if split not in VALID_SPLITS:
            raise DataError(f"{where}: split {split!r} is not one of train/dev/test or empty")
        gender_raw = str(rec.get("gender", "")).strip()
        gender = _GENDERS.get(gender_raw.lower())
        if gender is None:
            raise DataError(f"{where}: gender {gender_raw!r} is not one of f/m/female/male or empty")
        abs_path = os.path.abspath(os.path.join(base, raw_path))
        if abs_path in seen:
            raise DataError(f"{where}: path {raw_path!r} duplicates row {seen[abs_path] + 1}; expected each file once")
        seen[abs_path] = i
        if not os.path.isfile(abs_path):
            raise DataError(f"{where}: audio file {abs_path!r} does not exist")
        if label_map is not None:
            if label not in label_map and label not in label_map.values():
                unmapped.add(label)
            label = label_map.get(label, label)
        rows.append({"path": abs_path, "label": label, "speaker": speaker, "gender": gender, "split": split})

    stems = pd.Series([Path(r["path"]).stem for r in rows])
    clash = set(stems[stems.duplicated(keep=False)])
    for r, stem in zip(rows, stems):
        r["utt_id"] = f"{Path(r['path']).parent.name}_{stem}" if stem in clash else stem
    df = finish_frame(rows, f"manifest {str(csv_path)!r}")
    if unmapped:  # read by the data stage into its log and the dataset card
        df.attrs["warnings"] = [
            f"manifest {str(csv_path)!r}: label(s) {sorted(unmapped)} are not in label_map "
            "and are kept as classes of their own"
        ]
    return df
