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
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    An interrupted or failing writer therefore never leaves a file that looks complete. The file
    gets the mode a plain ``open()`` would give it under the user's umask (``mkstemp`` alone would
    leave 0600, unreadable to collaborators on a shared cluster). An OSError while creating the
    folder, writing (in the block) or renaming becomes a WriteError of one line naming `path` and
    the reason (read-only file system, permission, a file where a folder is needed, a full disk).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise write_error(path, exc) from None
    tmp_path = Path(tmp)
    try:
        try:
            yield tmp_path
            os.chmod(tmp_path, 0o666 & ~current_umask())
            os.replace(tmp_path, path)
        except OSError as exc:
            raise write_error(path, exc, tmp_path) from None
    finally:
        with contextlib.suppress(OSError):
            if tmp_path.exists():
                tmp_path.unlink()


def _existing_ancestor(path: Path) -> Path:
    """The nearest ancestor of `path` (or `path` itself) that exists."""
    p = Path(os.path.abspath(path))
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _shown(p: Path, like: Path) -> str:
    """`p` (an absolute ancestor of `like`) as the user wrote it: relative when `like` was."""
    if like.is_absolute():
        return str(p)
    try:
        return str(p.relative_to(Path.cwd())) or "."
    except ValueError:
        return str(p)


def unwritable_reason(path: str | os.PathLike, folder: bool = False) -> str | None:
    """Why `path` (a file, or with `folder` a folder) cannot be written, in words, or None when its
    nearest existing folder is writable. Checked before a step runs, so a read-only output folder
    is found in a second, not after hours of training."""
    path = Path(path)
    if path.is_dir() and not folder:
        return "it is an existing folder; expected a file path"
    if path.exists() and not path.is_dir() and folder:
        return "it is an existing file; expected a folder"
    anc = _existing_ancestor(path.parent if not folder else path)
    if not anc.is_dir():
        return f"{_shown(anc, path)} is a file, not a folder"
    if not os.access(anc, os.W_OK | os.X_OK):
        try:
            rdonly = bool(os.statvfs(anc).f_flag & os.ST_RDONLY)
        except OSError:
            rdonly = False
        where = _shown(anc, path)
        return f"folder {where} is on a read-only file system" if rdonly else f"permission denied in folder {where}"
    return None


def write_error(path: str | os.PathLike, exc: OSError, tmp: Path | None = None) -> Any:
    """The WriteError for an OSError raised while writing `path` (through its temporary file `tmp`)."""
    import errno

    from staa.errors import WriteError

    path = Path(path)
    code = exc.errno
    if code in (errno.ENOTDIR, errno.EEXIST, errno.EROFS, errno.EACCES, errno.EPERM):
        reason = unwritable_reason(path) or exc.strerror
    elif code == errno.EISDIR:
        reason = "it is an existing folder; expected a file path"
    elif code in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        reason = "no space left on the device (or disk quota exceeded); free some space"
    else:
        reason = exc.strerror or str(exc) or type(exc).__name__
        other = exc.filename
        if other is not None and Path(os.fsdecode(other)) not in (path, tmp):
            reason += f": {os.fsdecode(other)}"
    return WriteError(f"{path}: cannot write it: {reason}")


PathsArg = Mapping[str, "str | os.PathLike | Iterable[str | os.PathLike] | None"]


def _items(named: PathsArg) -> list[tuple[str, Path]]:
    """(label, path) pairs: a value may be one path, several (a list), or None/'' (left out)."""
    out = []
    for label, value in named.items():
        values = [value] if isinstance(value, (str, os.PathLike)) or value is None else list(value)
        out += [(label, Path(v)) for v in values if v is not None and str(v) != ""]
    return out


def _write_key(p: Path) -> Path:
    """Where writing `p` lands: its folder resolved (symlinks, '..'), its own name kept. An atomic
    write replaces a symlink at `p` itself, but follows symlinked folders."""
    p = Path(os.path.abspath(p))
    return p.parent.resolve() / p.name


def _folds_case(folder: Path) -> bool:
    """Whether the file system holding `folder` ignores case (macOS, Windows): probed on the nearest
    existing ancestor whose name has letters, without writing anything."""
    p = _existing_ancestor(folder)
    while p != p.parent and p.name.swapcase() == p.name:
        p = p.parent
    if p == p.parent:
        return False
    alt = p.with_name(p.name.swapcase())
    try:
        return alt.exists() and os.path.samefile(p, alt)
    except OSError:
        return False


def check_outputs(outputs: PathsArg, inputs: PathsArg | None = None, folders: PathsArg | None = None) -> None:
    """Refuse, before anything is written, a set of files a command writes that would overwrite each
    other or one of its inputs: one line naming both paths (ConfigError). `outputs` are files,
    `folders` output folders, `inputs` files read (or folders, whose files count as inputs), each
    keyed by a label such as the command's flag (``{"--csv": path}``; a value may be a list). Paths
    are compared resolved, and case-insensitively on a file system that ignores case. Then each
    output's folder must be writable (WriteError naming the output)."""
    from staa.errors import ConfigError, WriteError

    folding: dict[Path, bool] = {}

    def fold(key: Path) -> str | None:
        """The case-folded key where the file system ignores case (probed once per folder)."""
        if key.parent not in folding:
            folding[key.parent] = _folds_case(key.parent)
        return str(key).casefold() if folding[key.parent] else None

    taken: dict[Path | str, tuple[str, Path, str]] = {}  # key (or folded key) -> (label, path, role)

    def claim(key: Path, label: str, p: Path, role: str) -> None:
        for k in (key, fold(key)):
            if k is None:
                continue
            if k in taken:
                other_label, q, other_role = taken[k]
                if other_role == "input":
                    raise ConfigError(
                        f"{label} {p} would overwrite {other_label} {q}, an input of this command; choose another path"
                    )
                kinds = "file" if role == other_role == "file" else "path (once as a folder, once as a file)"
                raise ConfigError(
                    f"{other_label} {q} and {label} {p} are the same {kinds}: one would overwrite the other; "
                    "give each output its own path"
                )
            taken[k] = (label, p, role)

    for label, p in _items(inputs or {}):
        members = [q for q in p.iterdir() if q.is_file()] if p.is_dir() else [p]
        for q in members:
            keys = {_write_key(q)}
            with contextlib.suppress(OSError):
                keys.add(q.resolve())  # a symlinked input: writing its target destroys it too
            for key in keys:
                for k in (key, fold(key)):
                    if k is not None:
                        taken.setdefault(k, (label if q == p else f"{label} file", q, "input"))
    files = [(label, p, _write_key(p)) for label, p in _items(outputs)]
    dirs = [(label, p, _write_key(p)) for label, p in _items(folders or {})]
    for label, p, key in files:
        claim(key, label, p, "file")
    for label, p, key in dirs:
        claim(key, label, p, "folder")
    file_keys = {key: (label, p) for label, p, key in files}
    for label, p, key in dirs + files:  # a folder inside a file: name the folder, not each file in it
        for parent in key.parents:
            if parent in file_keys:
                other_label, q = file_keys[parent]
                raise ConfigError(
                    f"{label} {p} lies inside {other_label} {q}, which is written as a file; "
                    "give each output its own path"
                )
    for label, p, _ in files:
        reason = unwritable_reason(p)
        if reason:
            raise WriteError(f"{label} {p}: cannot write it: {reason}")
    for label, p, _ in dirs:
        reason = unwritable_reason(p, folder=True)
        if reason:
            raise WriteError(f"{label} {p}: cannot write it: {reason}")


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


def output_file(name: str, flag: str | None = None, folder: bool = False) -> Any:
    """A field of an `OutputFiles` dataclass, with the file's standard name (docs/design.md §8), the
    CLI flag that names it (default: --field-name) and whether it is a folder."""
    return dataclasses.field(metadata={"file": name, "flag": flag, "folder": folder})


class OutputFiles:
    """Base of the dataclasses naming the files a step writes: the rule passes each path, and
    `in_dir(folder)` gives the standard names in one folder for callers from Python."""

    @classmethod
    def in_dir(cls, folder: str | os.PathLike):
        d = Path(folder)
        return cls(**{f.name: d / f.metadata["file"] for f in dataclasses.fields(cls)})  # type: ignore[arg-type]

    def check(self, inputs: PathsArg | None = None, also: PathsArg | None = None) -> None:
        """`check_outputs` on these files (labelled by their CLI flags), the step's `inputs` and
        files it writes besides (`also`, e.g. the resume checkpoint): call before anything is written."""
        files: dict[str, Any] = dict(also or {})
        folders: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            label = f.metadata.get("flag") or "--" + f.name.replace("_", "-")
            (folders if f.metadata.get("folder") else files)[label] = getattr(self, f.name)
        check_outputs(files, inputs, folders)
