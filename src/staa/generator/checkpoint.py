"""Generator checkpoints: build a STAA-Net generator from its settings, save it, and rebuild it from
a file (a safe `weights_only=True` load)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from staa.checkpoint import CHECKPOINT_FORMAT, first_sentence, safe_load
from staa.errors import DataError, StaaError
from staa.generator.staa_net import STAANet, UniversalPerturbation
from staa.utils import atomic_path


HEAD_KEYS = ("mask_training", "budget", "density", "eps_mode", "ref_level", "input_norm")


def build_generator(
    arch: dict[str, Any],
    length: int,
    factorised: bool,
    frame_length: int,
    loc_bias_init: float = 0.0,
    universal: bool = False,
    **head: Any,
) -> STAANet:
    """A generator (or, `universal`, the input-independent control) with the mask and bound
    settings `head` (staa.generator.staa_net.STAANet: mask_training, budget, density, eps_mode,
    ref_level); checkpoints made before these existed load with the paper's (reference) head."""
    cls = UniversalPerturbation if universal else STAANet
    return cls(
        length, factorised=factorised, frame_length=int(frame_length), loc_bias_init=loc_bias_init, **head, **arch
    )


def save_generator(model: STAANet, path: Path, meta: dict[str, Any]) -> None:
    payload = {
        "format_version": CHECKPOINT_FORMAT,
        "meta_json": json.dumps(meta, sort_keys=True),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_generator(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[STAANet, dict[str, Any]]:
    """Rebuild a generator saved by `save_generator` (safe `weights_only=True` load), in eval mode.
    Any file that is not one (text, another kind of checkpoint, damaged metadata or weights) raises
    a DataError of one line naming it."""
    payload = safe_load(path, "generator checkpoint", required=("meta_json", "state_dict"), map_location=map_location)
    try:
        meta = json.loads(payload["meta_json"])
        if not isinstance(meta, dict):
            raise TypeError(f"meta_json holds a {type(meta).__name__}, expected an object")
        missing = [k for k in ("arch", "length", "factorised", "frame_length", "eps") if k not in meta]
        if missing:
            raise KeyError(f"its metadata lacks {missing}")
        eps = meta["eps"]
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
            raise ValueError(f"eps={eps!r}, expected a positive number")
        head = {k: meta[k] for k in HEAD_KEYS if meta.get(k) is not None}
        model = build_generator(
            meta["arch"],
            int(meta["length"]),
            bool(meta["factorised"]),
            int(meta["frame_length"]),
            universal=bool(meta.get("universal", False)),
            **head,
        )
        model.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, RuntimeError, ValueError, AttributeError, StaaError) as exc:
        reason = exc.args[0] if isinstance(exc, KeyError) and exc.args else first_sentence(exc, 200)
        raise DataError(f"{path}: not a valid generator checkpoint ({reason}); rerun train-generator") from None
    return model.to(map_location).eval(), meta
