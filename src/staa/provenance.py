"""Where a result came from: the code's git commit, the package versions, the device and a hash of
the settings that made it. Every metrics.json carries it, and the summary states it, so a number in
a table can be traced to the run that produced it."""

from __future__ import annotations

import functools
import hashlib
import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("staa", "torch", "torchaudio", "numpy", "transformers", "snakemake")
_REPO = Path(__file__).resolve().parents[2]


def settings_hash(settings: Any) -> str:
    """sha256 (first 16 hex digits) of canonical JSON: equal settings give equal hashes."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def code_version() -> dict[str, Any]:
    """The git commit of the code (and whether the work tree had changes), or 'unknown' outside git."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(_REPO), *args], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    try:
        return {
            "git_commit": git("rev-parse", "HEAD"),
            "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        }
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": "unknown", "git_dirty": None}


@functools.lru_cache(maxsize=1)
def package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def provenance(settings: Any, device: str | None = None) -> dict[str, Any]:
    """The record stored under `provenance` in a result file."""
    return {
        **code_version(),
        "packages": package_versions(),
        "python": platform.python_version(),
        "device": device,
        "settings_sha256": settings_hash(settings),
    }
