"""Victim and threat models: a registry of families and checkpoint (de)serialisation."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from staa.config import ARCH_KEYS
from staa.errors import ConfigError, DataError, StaaError
from staa.models.exported import EXPORTED_ARCH_KEYS
from staa.models.hf import HF_ARCH_KEYS
from staa.models.victim import Victim

# Families of foreign models: they take the raw waveform (their own preprocessing, no z-norm) and
# need the dataset's class names to map their labels. config.ARCH_KEYS (torch-free, for the config
# check) lists the same keys as the modules that build them (tests/test_hf_victims.py keeps them equal).
FOREIGN_ARCH_KEYS = {"hf": HF_ARCH_KEYS, "exported": EXPORTED_ARCH_KEYS}
_ARCH_KEYS = ARCH_KEYS
FAMILIES = tuple(ARCH_KEYS)
# Families that are evaluated as given: training them (epochs > 0) is refused.
EVAL_ONLY_FAMILIES = ("exported",)
DEFAULT_SAMPLE_RATE = 16000


def check_trainable(family: str, epochs: int, name: str | None = None) -> None:
    """Refuse training an evaluate-only family (call before building the optimizer)."""
    if family in EVAL_ONLY_FAMILIES and int(epochs) > 0:
        raise ConfigError(
            f"victims.{name or family}.epochs: {epochs}, but a {family!r} victim is evaluated as given; "
            "expected epochs: 0"
        )


def _foreign_context(
    family: str, num_classes: int, arch: dict[str, Any], classes: Sequence[str] | None, sample_rate: int | None
) -> tuple[list[str], int]:
    """Dataset class names and sample rate: recorded in a rebuilt arch, else from the caller."""
    recorded = arch.get("dataset_classes")
    if recorded is not None and classes is not None and list(recorded) != list(classes):
        raise ConfigError(f"{family}: victim built for classes {list(recorded)}, used with {list(classes)}")
    names = list(recorded if recorded is not None else classes if classes is not None else [])
    if not names:
        raise ConfigError(
            f"{family}: the dataset's class names are needed to map the model's labels; "
            "expected build_victim(..., classes=[...])"
        )
    if len(names) != num_classes:
        raise ConfigError(f"{family}: {len(names)} dataset classes {names} for {num_classes} outputs")
    rate = arch.get("data_sample_rate")
    if rate is not None and sample_rate is not None and int(rate) != int(sample_rate):
        raise ConfigError(f"{family}: victim built for {rate} Hz audio, used with {sample_rate} Hz")
    return names, int(rate or sample_rate or DEFAULT_SAMPLE_RATE)


def build_victim(
    family: str,
    num_classes: int,
    length: int,
    arch: dict[str, Any] | None = None,
    *,
    classes: Sequence[str] | None = None,
    sample_rate: int | None = None,
    name: str | None = None,
) -> Victim:
    """Build a victim of `family` (emo18, zhao19, wav2vec2, wavlm, hf, exported) for C classes and clips
    of `length` samples. `classes` (dataset class names, in label order) and `sample_rate` (Hz, default
    16000) are needed by the foreign families hf and exported, which map their labels onto them;
    `name` (the victim's config key) names their arch keys in messages (`victims.<name>.arch.class_map`)."""
    arch = dict(arch or {})
    if family not in FAMILIES:
        raise ConfigError(f"unknown model family {family!r}; expected one of {list(FAMILIES)}")
    unknown = set(arch) - _ARCH_KEYS[family]
    if unknown:
        raise ConfigError(
            f"{family}: unknown architecture option(s) {sorted(unknown)}; expected some of {sorted(_ARCH_KEYS[family])}"
        )
    if family in FOREIGN_ARCH_KEYS:
        names, rate = _foreign_context(family, num_classes, arch, classes, sample_rate)
        if family == "hf":
            from staa.models.hf import build_hf

            net, arch = build_hf(num_classes, arch, names, rate, who=f"victims.{name}.arch" if name else "hf")
        else:
            from staa.models.exported import build_exported

            net, arch = build_exported(
                num_classes, length, arch, names, rate, who=f"victims.{name}.arch" if name else "exported"
            )
        return Victim(net, family, num_classes, length, arch, znorm_input=False)
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
    from staa.checkpoint import CHECKPOINT_FORMAT
    from staa.utils import atomic_path

    payload = {
        "format_version": CHECKPOINT_FORMAT,
        "family": model.family,
        "num_classes": model.num_classes,
        "length": model.length,
        "arch_json": json.dumps(model.arch, sort_keys=True),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "extra_json": json.dumps(extra or {}, sort_keys=True),
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_victim(path: str | Path, map_location: str | torch.device = "cpu") -> Victim:
    """Load a victim saved by `save_victim`, safely (`weights_only=True`), in eval mode. Offline:
    hf victims rebuild from their recorded configs; exported ones reload their .pt2 after checking
    its sha256 against the recorded one."""
    from staa.checkpoint import safe_load

    path = Path(path)
    payload = safe_load(
        path,
        "victim checkpoint",
        required=("family", "num_classes", "length", "arch_json", "state_dict"),
        map_location=map_location,
    )
    try:
        arch = json.loads(payload["arch_json"])
        extra = json.loads(payload.get("extra_json", "{}"))
        if not isinstance(arch, dict) or not isinstance(extra, dict):
            raise TypeError("arch_json and extra_json must hold JSON objects")
        model = build_victim(payload["family"], int(payload["num_classes"]), int(payload["length"]), arch)
        model.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, RuntimeError, EOFError, ValueError, AttributeError) as exc:
        from staa.checkpoint import first_sentence

        raise DataError(f"{path}: not a valid victim checkpoint ({first_sentence(exc, 200)})") from None
    except StaaError as exc:  # e.g. an unknown family, an exported program that changed: say which checkpoint
        raise type(exc)(str(exc) if str(path) in str(exc) else f"{path}: {exc}") from None
    model.extra = extra
    return model.to(map_location).eval()


@torch.no_grad()
def predict(
    model: torch.nn.Module, x: "np.ndarray | torch.Tensor", device: torch.device | str, batch_size: int = 64
) -> np.ndarray:
    """Class predictions (argmax of the logits) of `model` for an (N, L) array or tensor of waveforms,
    `batch_size` at a time, without autograd. Puts `model` in eval mode (a model in training, such as
    a victim scored on dev between epochs, is switched back by its training loop)."""
    model.eval()
    out = []
    for i in range(0, x.shape[0], batch_size):
        xb = x[i : i + batch_size]
        xb = (
            xb.to(device)
            if isinstance(xb, torch.Tensor)
            else torch.from_numpy(np.array(xb, dtype=np.float32)).to(device)
        )
        out.append(model(xb).argmax(dim=1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)
