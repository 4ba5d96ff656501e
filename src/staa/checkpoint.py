"""Per-epoch training checkpoints with resume (safe loading, atomic writes).

A checkpoint records a fingerprint of the settings that shape the training trajectory; a rerun
resumes only from a checkpoint with the same fingerprint (more epochs may be added), so a changed
learning rate never silently continues an old run.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from staa.errors import DataError
from staa.utils import atomic_path


# Version of the model checkpoint format (victim model.pt, generator.pt) this code writes and reads.
# Files from before versioning count as version 0, whose layout is the same as version 1.
CHECKPOINT_FORMAT = 1


def safe_load(
    path: str | Path, what: str, required: tuple[str, ...] = (), map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """`torch.load(..., weights_only=True)` with errors that name the file and never advise an
    unsafe load: a foreign pickle is refused, a torn or alien file is reported as unreadable, and a
    payload without the `required` keys is reported as another kind of file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: {what} not found")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        raise DataError(
            f"{path}: refused to load as unsafe: it is not a {what} written by staa-repro (it holds "
            "Python objects beyond tensors and plain data, which could run code when unpickled)"
        ) from None
    except (RuntimeError, EOFError, ValueError, OSError, zipfile.BadZipFile, IndexError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path}: not a readable {what} ({reason}); rerun the step that writes it") from None
    missing = [k for k in required if not isinstance(payload, dict) or k not in payload]
    if missing:
        raise DataError(f"{path}: not a {what} (it lacks {missing}); check that the path names the right file")
    version = payload.get("format_version", 0) if required else CHECKPOINT_FORMAT
    if not isinstance(version, int) or version > CHECKPOINT_FORMAT:
        raise DataError(
            f"{path}: {what} format version {version!r}, newer than this code reads "
            f"({CHECKPOINT_FORMAT}); update staa-repro, or rerun the step that wrote it"
        )
    return payload


def fingerprint(params: dict[str, Any], ignore: tuple[str, ...] = ("epochs",)) -> str:
    kept = {k: v for k, v in params.items() if k not in ignore}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()[:16]


def file_digest(path: str | Path, chunk: int = 1 << 20) -> str:
    """Content digest of a file: its size plus its first and last MiB (fast even for GB arrays;
    any realistic change to a data split or model file changes these bytes or the size)."""
    path = Path(path)
    size = path.stat().st_size
    h = hashlib.sha256(str(size).encode())
    with open(path, "rb") as fh:
        h.update(fh.read(chunk))
        if size > chunk:
            fh.seek(max(chunk, size - chunk))
            h.update(fh.read(chunk))
    return h.hexdigest()[:16]


def data_digest(data_dir: str | Path, splits: tuple[str, ...] = ("train", "dev")) -> str:
    """Identity of the data a training run consumed: arrays, tables and class list."""
    data_dir = Path(data_dir)
    files = [data_dir / "classes.json"] + [data_dir / f"{s}.{e}" for s in splits for e in ("npy", "csv")]
    return hashlib.sha256("".join(file_digest(f) for f in files).encode()).hexdigest()[:16]


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | Path, fp: str, log) -> dict[str, Any] | None:
    """Return the checkpoint at `path` if it exists and matches fingerprint `fp`, else None."""
    path = Path(path)
    if not path.is_file():
        return None
    try:  # a torn file cannot happen (atomic writes) but a foreign one can
        state = safe_load(path, "training checkpoint", required=("fingerprint", "epoch"))
    except DataError as exc:
        print(f"[resume] ignoring it, training from the start: {exc}", file=log, flush=True)
        return None
    if state.get("fingerprint") != fp:
        print(f"[resume] ignoring {path}: it was trained with other settings", file=log, flush=True)
        return None
    return state


def to_cpu(obj: Any) -> Any:
    """Recursively COPY tensors to CPU (optimizer states) so checkpoints load anywhere.

    Always a copy: on a CPU tensor `.cpu()` returns the same storage, so a "best epoch" snapshot
    taken with it would silently follow the live weights as training goes on."""
    if isinstance(obj, torch.Tensor):
        t = obj.detach()
        return t.clone() if t.device.type == "cpu" else t.cpu()
    if isinstance(obj, dict):
        return {k: to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_cpu(v) for v in obj)
    return obj
