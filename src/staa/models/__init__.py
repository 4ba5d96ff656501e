"""Victim and threat models: a registry of families and checkpoint (de)serialisation."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from staa.config import ARCH_KEYS
from staa.errors import ConfigError, DataError
from staa.models.victim import Victim

FAMILIES = tuple(ARCH_KEYS)


def build_victim(family: str, num_classes: int, length: int, arch: dict[str, Any] | None = None) -> Victim:
    """Build a victim of `family` (emo18, zhao19, wav2vec2, wavlm) for C classes and clips of `length`."""
    arch = dict(arch or {})
    if family not in FAMILIES:
        raise ConfigError(f"unknown model family {family!r}; expected one of {list(FAMILIES)}")
    unknown = set(arch) - ARCH_KEYS[family]
    if unknown:
        raise ConfigError(f"{family}: unknown architecture option(s) {sorted(unknown)}; expected some of {sorted(ARCH_KEYS[family])}")
    if family in ("emo18", "zhao19"):
        from staa.models.cnn_lstm import Emo18, Zhao19

        net = (Emo18 if family == "emo18" else Zhao19)(num_classes, **arch)
    else:
        from staa.models.ssl import SSLClassifier

        net = SSLClassifier(family, num_classes, **arch)
        if "hf_config_json" not in arch:  # record the realised config so the checkpoint rebuilds offline
            arch = {"hf_config_json": net.hf_config_json()}
    return Victim(net, family, num_classes, length, arch)


def save_victim(model: Victim, path: str | Path, extra: dict[str, Any] | None = None) -> None:
    """Save weights + the metadata to rebuild the model; loadable with `weights_only=True`."""
    from staa.utils import atomic_path

    from staa.checkpoint import CHECKPOINT_FORMAT

    payload = {
        "format_version": CHECKPOINT_FORMAT,
        "family": model.family, "num_classes": model.num_classes, "length": model.length,
        "arch_json": json.dumps(model.arch, sort_keys=True),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "extra_json": json.dumps(extra or {}, sort_keys=True),
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_victim(path: str | Path, map_location: str | torch.device = "cpu") -> Victim:
    """Load a victim saved by `save_victim`, safely (`weights_only=True`), in eval mode."""
    from staa.checkpoint import safe_load

    path = Path(path)
    payload = safe_load(path, "victim checkpoint", required=("family", "num_classes", "length", "arch_json",
                                                               "state_dict"), map_location=map_location)
    try:
        model = build_victim(payload["family"], int(payload["num_classes"]), int(payload["length"]),
                             json.loads(payload["arch_json"]))
        model.load_state_dict(payload["state_dict"])
    except (KeyError, RuntimeError, EOFError, ValueError) as exc:
        raise DataError(f"{path}: not a valid victim checkpoint ({exc})") from None
    model.extra = json.loads(payload.get("extra_json", "{}"))
    return model.to(map_location).eval()
