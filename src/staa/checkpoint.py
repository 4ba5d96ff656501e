"""Per-epoch training checkpoints with resume (safe loading, atomic writes).

A checkpoint records a fingerprint of the settings that shape the training trajectory; a rerun
resumes only from a checkpoint with the same fingerprint (more epochs may be added), so a changed
learning rate never silently continues an old run.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from staa.errors import DataError
from staa.utils import atomic_path


# Version of the model checkpoint format (victim model.pt, generator.pt) this code writes and reads.
# Files from before versioning count as version 0, whose layout is the same as version 1.
CHECKPOINT_FORMAT = 1


# What a payload of our own formats holds, to name the kind of file given in place of another.
KINDS = (
    (("family", "arch_json", "state_dict"), "a victim checkpoint (model.pt of staa train-victim)"),
    (("meta_json", "state_dict"), "a generator checkpoint (generator.pt of staa train-generator)"),
    (("fingerprint", "epoch"), "a training (resume) checkpoint (ckpt/last.pt), not the finished model"),
)
# torch.save's legacy (pre-zip) format starts with a pickled magic number (LONG1 0x1950a86a20f9469cfc6c,
# after the protocol and frame headers); any other pickle is not a torch file
LEGACY_MAGIC = b"\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19"
ZIP_MAGIC = b"PK\x03\x04"


def first_sentence(exc: BaseException, limit: int = 160) -> str:
    """The first sentence of an exception's message (torch's run on for lines), at most `limit` characters."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = text.split(". ")[0].rstrip(".")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _sniff(path: Path, what: str) -> None:
    """Refuse, by its first bytes, a file torch.load would fail on with a bare KeyError or an
    internal-error essay: empty, text, NumPy, a plain pickle, a zip that is not a torch checkpoint,
    a truncated zip. Files torch.save writes (zip or legacy pickle format) pass."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(64)
    except OSError as exc:
        raise DataError(f"{path}: cannot read it ({exc.strerror or exc}); expected a {what}") from None
    if size == 0:
        raise DataError(f"{path}: file is empty (0 bytes); expected a {what}")
    if head.startswith(ZIP_MAGIC):
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError, ValueError):
            raise DataError(
                f"{path}: truncated or damaged {what} (not a complete zip archive, {size} bytes); "
                "rerun the step that writes it"
            ) from None
        if not any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
            if any("/models/" in f"/{n}" and n.endswith(".json") for n in names):
                raise DataError(
                    f"{path}: a torch.export program (.pt2), not a {what}; to attack or score it, configure "
                    "it as a victim of family 'exported' (docs/your-model.md)"
                )
            raise DataError(f"{path}: a zip archive but not a torch checkpoint (no data.pkl inside); expected a {what}")
        return
    if LEGACY_MAGIC in head[:32]:
        return
    if head.startswith(b"\x93NUMPY"):
        raise DataError(f"{path}: a NumPy .npy array, not a {what}")
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        raise DataError(
            f"{path}: a Python pickle, not a {what} written by torch.save; not loaded (unpickling it could run code)"
        )
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:  # a multi-byte character cut at the end of the 64 bytes still counts as text
        text = head[: exc.start].decode("utf-8") if exc.start >= len(head) - 3 else None
    if text is not None and all(c.isprintable() or c in "\t\r\n" for c in text):
        shown = " ".join(text.split())[:24]
        raise DataError(
            f"{path}: a text file (it starts {shown!r}), not a {what}; check that the path names the right file"
        )
    raise DataError(
        f"{path}: not a {what}: unrecognised content (it starts with bytes {head[:8].hex(' ')}); "
        "expected a file written by torch.save"
    )


def payload_kind(payload: Any) -> str:
    """What a loaded payload is, in words (for a file given in place of another kind)."""
    if isinstance(payload, dict):
        for keys, kind in KINDS:
            if all(k in payload for k in keys):
                return kind
        shown = sorted(map(str, payload))[:6]
        return f"a dict of keys {shown}{' ...' if len(payload) > 6 else ''}"
    if isinstance(payload, torch.Tensor):
        return f"a single tensor of shape {tuple(payload.shape)}"
    return f"a {type(payload).__name__}"


def safe_load(
    path: str | Path, what: str, required: tuple[str, ...] = (), map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """`torch.load(..., weights_only=True)` with errors that name the file and never advise an
    unsafe load: a file torch.save did not write (text, empty, NumPy, a plain pickle, a foreign zip)
    is named for what it is, a foreign pickle is refused, a torn file is reported as unreadable, and
    a payload without the `required` keys is reported as another kind of file (named when it is one
    of ours). Every failure is a DataError of one line."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a folder; expected a {what} file")
    if not path.is_file():
        raise DataError(f"{path}: {what} not found")
    _sniff(path, what)
    try:
        with warnings.catch_warnings():  # e.g. "Detected pickle protocol 4": noise for a file we refuse anyway
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        raise DataError(
            f"{path}: refused to load as unsafe: it is not a {what} written by staa-repro (it holds "
            "Python objects beyond tensors and plain data, which could run code when unpickled)"
        ) from None
    except Exception as exc:  # noqa: BLE001 -- the weights-only unpickler raises KeyError, IndexError, ... on junk
        raise DataError(
            f"{path}: not a readable {what} ({first_sentence(exc)}); rerun the step that writes it"
        ) from None
    missing = [k for k in required if not isinstance(payload, dict) or k not in payload]
    if missing:
        raise DataError(
            f"{path}: not a {what} (it lacks {missing}): it is {payload_kind(payload)}; "
            "check that the path names the right file"
        )
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
