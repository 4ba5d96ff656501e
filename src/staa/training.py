"""The resumable epoch loop that victims and generators share.

An `EpochLoop` runs `epoch_fn(epoch)` for the epochs not yet done and, after each, saves one
checkpoint with the states of the named objects (model, optimiser, scheduler) and what `epoch_fn`
returned (the log rows, the best epoch so far). A rerun with the same fingerprint resumes after the
last saved epoch; a changed setting (another fingerprint) starts afresh. Without a checkpoint path
it runs in memory, which is how a notebook trains.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

from staa.checkpoint import load_checkpoint, save_checkpoint, to_cpu


class EpochLoop:
    """`epochs` epochs, checkpointed to `ckpt_path` under `fingerprint` (both optional)."""

    def __init__(self, epochs: int, ckpt_path: str | Path | None = None, fingerprint: str | None = None) -> None:
        self.epochs = int(epochs)
        self.ckpt_path = None if ckpt_path is None else Path(ckpt_path)
        self.fingerprint = fingerprint
        self.start = 0

    def kept_note(self) -> str:
        """What a failure message says about the checkpoint that survives it."""
        return f"; the last good checkpoint ({self.ckpt_path}) was kept" if self.ckpt_path else ""

    def resume(self, objects: dict[str, Any], log=None, tag: str = "") -> dict[str, Any]:
        """Load the saved states into `objects` and return the saved extras ({} when starting afresh).
        A checkpoint from more epochs than asked for is not resumed (the run starts afresh)."""
        log = sys.stderr if log is None else log
        if self.ckpt_path is None:
            return {}
        state = load_checkpoint(self.ckpt_path, self.fingerprint, log)
        if state is None or "states" not in state or int(state["epoch"]) > self.epochs:
            return {}
        for name, obj in objects.items():
            obj.load_state_dict(state["states"][name])
        self.start = int(state["epoch"])
        print(f"[{tag}] resumed from {self.ckpt_path} after epoch {self.start}", file=log, flush=True)
        return dict(state.get("extra") or {})

    def run(self, epoch_fn: Callable[[int], dict[str, Any]], objects: dict[str, Any]) -> None:
        """Run the remaining epochs; after each, checkpoint the objects and epoch_fn's extras."""
        for epoch in range(self.start, self.epochs):
            extra = epoch_fn(epoch)
            if self.ckpt_path is not None:
                save_checkpoint(
                    self.ckpt_path,
                    {
                        "fingerprint": self.fingerprint,
                        "epoch": epoch + 1,
                        "states": {name: to_cpu(obj.state_dict()) for name, obj in objects.items()},
                        "extra": to_cpu(extra),
                    },
                )
