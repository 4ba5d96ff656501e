"""Small shared helpers: atomic writes, seeding, JSON, the files a step writes."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    An interrupted or failing writer therefore never leaves a file that looks complete. The file
    gets the mode a plain ``open()`` would give it under the user's umask (``mkstemp`` alone would
    leave 0600, unreadable to collaborators on a shared cluster).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~current_umask())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def current_umask() -> int:
    """The process umask (read by setting and restoring it: POSIX offers no pure getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write JSON atomically, sorted keys, plain numbers."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_csv(path: str | os.PathLike, df: "Any") -> None:
    """Write a pandas DataFrame atomically (no index)."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


def read_json(path: str | os.PathLike, what: str = "JSON file") -> dict[str, Any]:
    """A JSON object from `path`; DataError naming the file if it is missing, unparsable or not an object."""
    from staa.errors import DataError

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found (expected a {what})")
    try:
        obj = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not valid JSON ({exc}); expected a {what}") from None
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a JSON object at top level, got {type(obj).__name__}")
    return obj


def read_table(path: str | os.PathLike, columns: Any = (), what: str = "table", **read_csv: Any) -> "Any":
    """A CSV as a DataFrame; DataError naming the file if it is missing, unparsable or lacks `columns`."""
    import pandas as pd

    from staa.errors import DataError

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found (expected a {what} CSV)")
    try:
        df = pd.read_csv(path, **read_csv)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{path}: cannot parse {what} CSV ({exc})") from None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing required column(s) {missing} in {what} CSV (expected {list(columns)})")
    return df


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA)."""
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def progress(log, tag: str, epoch: int, epochs: int, batch: int, n_batches: int, t0: float) -> None:
    """A line about every tenth of a long epoch (at paper scale one epoch takes minutes to hours)."""
    step = max(1, n_batches // 10)
    if n_batches >= 10 and (batch + 1) % step == 0 and batch + 1 < n_batches:
        print(
            f"[{tag}] epoch {epoch + 1}/{epochs} batch {batch + 1}/{n_batches} ({time.time() - t0:.1f}s)",
            file=log,
            flush=True,
        )


def output_file(name: str) -> Any:
    """A field of an `OutputFiles` dataclass, with the file's standard name (docs/design.md §8)."""
    return dataclasses.field(metadata={"file": name})


class OutputFiles:
    """Base of the dataclasses naming the files a step writes: the rule passes each path, and
    `in_dir(folder)` gives the standard names in one folder for callers from Python."""

    @classmethod
    def in_dir(cls, folder: str | os.PathLike):
        d = Path(folder)
        return cls(**{f.name: d / f.metadata["file"] for f in dataclasses.fields(cls)})  # type: ignore[arg-type]
