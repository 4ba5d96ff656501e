"""Victims from an exported PyTorch program (family `exported`): a `torch.export` .pt2 file whose
program maps a waveform (B, L) to logits (B, C_model), evaluated as is (no training).

Safety: `torch.export.load` is NOT a safe loader for untrusted files. Reading torch 2.14's
torch/export/pt2_archive/_package.py and torch/_export/serde/serialize.py: weights and constants
flagged `use_pickle` in the archive are read with `torch.load(..., weights_only=False)`, "opaque"
constants with `pickle.loads`, sample inputs fall back to `weights_only=False` when the safe load
fails, and symbolic-shape expressions from the archive go through `sympy.sympify` (which evaluates
Python). Its own docstring says: "uses pickle under the hood ... Never load data from an untrusted
source." We therefore (1) refuse archives that declare pickled payloads or whose sample inputs
need an unsafe load (`check_archive`, which blocks the pickle routes but cannot vet sympy strings),
and (2) pin the file by sha256 when the victim is built, so a saved victim never loads a file
that changed since. Only configure .pt2 files you trust.

The model's class names come from arch `classes` or a sidecar `<program stem>.classes.json`
(a list, or {"classes": [...]}) and are mapped onto the dataset's classes by `class_map`.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from staa.errors import ConfigError, DataError
from staa.models.frontends import Resample
from staa.user_models import PT2_EXPECTED, archive_problem, excerpt, map_classes, program_classes, sidecar_path

__all__ = ["ExportedClassifier", "build_exported", "check_archive", "sha256_file", "sidecar_path"]

EXPORTED_USER_KEYS = {"program", "classes", "class_map", "sampling_rate"}
EXPORTED_ARCH_KEYS = EXPORTED_USER_KEYS | {"sha256", "dataset_classes", "data_sample_rate"}


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def check_archive(path: Path, who: str | None = None) -> None:
    """Refuse a .pt2 whose loading would unpickle: payloads flagged use_pickle, custom/opaque
    objects (staa.user_models.archive_problem, torch-free, which the config check runs too), sample
    inputs that only load with weights_only=False, or the pre-2.8 format. `who` (the victim's key)
    prefixes the message of a file the config check did not see."""
    problem = archive_problem(path)
    if problem:
        raise DataError(f"{who}.program: {path} {problem}" if who else f"{path} {problem}")
    try:
        with zipfile.ZipFile(path) as zf:
            for name in zf.namelist():
                if "/sample_inputs/" in f"/{name}":
                    try:
                        torch.load(io.BytesIO(zf.read(name)), weights_only=True)
                    except Exception:  # noqa: BLE001 -- UnpicklingError, RuntimeError, ...: any means unsafe
                        raise DataError(
                            f"{path} is refused: its sample inputs ({name}) only load as an arbitrary "
                            "pickle; export with plain tensor example inputs"
                        ) from None
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise DataError(f"{path} is not a readable torch.export program ({excerpt(exc, 80)}); {PT2_EXPECTED}") from None


def _model_classes(program: Path, classes: Any, who: str = "exported") -> list[str]:
    found = program_classes(program, classes, who)
    if isinstance(found, str):
        raise ConfigError(found)
    return found


class ExportedClassifier(nn.Module):
    """Waveform (B, L) -> [resample] -> exported program -> logits of the dataset's classes.

    The program's GraphModule is held outside the module tree: it rejects .train()/.eval(), its
    weights live in the .pt2 (not in the victim checkpoint), and it is frozen (evaluate-only);
    `_apply` still moves it with the victim (.to(device))."""

    def __init__(
        self,
        program: nn.Module,
        model_classes: Sequence[str],
        dataset_classes: Sequence[str],
        class_map: dict[str, str] | None,
        model_rate: int,
        data_rate: int,
    ):
        super().__init__()
        for p in program.parameters():
            p.requires_grad_(False)
        self.__dict__["program"] = program
        self.resample = Resample(data_rate, model_rate)
        self.model_labels = list(model_classes)
        index, self.dropped_labels = map_classes(dataset_classes, model_classes, class_map, "exported")
        self.register_buffer("label_index", torch.tensor(index, dtype=torch.long), persistent=False)

    def _apply(self, fn, recurse=True):
        self.__dict__["program"]._apply(fn)
        return super()._apply(fn, recurse)

    def parameter_count(self) -> int:
        """The exported program's parameters (frozen, in the .pt2): `parameters()` does not see them,
        since the program is held outside the module tree."""
        return sum(p.numel() for p in self.__dict__["program"].parameters())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.__dict__["program"](self.resample(x))
        if not (isinstance(logits, torch.Tensor) and logits.dim() == 2 and logits.shape[1] == len(self.model_labels)):
            shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
            raise DataError(
                f"exported program: returned {shape}; expected logits (B, {len(self.model_labels)}) for its classes"
            )
        return logits.index_select(1, self.label_index)


def build_exported(
    num_classes: int, length: int, arch: dict[str, Any], classes: Sequence[str], data_rate: int, who: str = "exported"
) -> tuple[ExportedClassifier, dict[str, Any]]:
    """Load and check the program; the realised arch pins its sha256 and the class mapping. `who`
    prefixes the messages: the victim's key (`victims.mine.arch`) when a job builds it."""
    if not arch.get("program") or not isinstance(arch["program"], str):
        raise ConfigError(
            f"{who}: arch.program is required; expected the path of a .pt2 file written by torch.export.save"
        )
    path = Path(arch["program"]).expanduser()
    if not path.is_file():
        state = "is a folder" if path.is_dir() else "does not exist (exported program not found)"
        raise DataError(f"{who}.program: {arch['program']!r} {state}; {PT2_EXPECTED}")
    digest = sha256_file(path)
    rebuilding = "sha256" in arch
    if rebuilding and arch["sha256"] != digest:
        raise DataError(
            f"{path}: the exported program changed since this victim was built (sha256 {digest[:12]}..., "
            f"recorded {str(arch['sha256'])[:12]}...); rerun the victim step to rebuild it"
        )
    model_classes = _model_classes(path, arch.get("classes"), who)
    rate = arch.get("sampling_rate", data_rate)
    if not (isinstance(rate, int) and rate > 0):
        raise ConfigError(f"{who}.sampling_rate: expected a positive integer (Hz), got {rate!r}")
    map_classes(classes, model_classes, arch.get("class_map"), who)  # before the program loads
    check_archive(path, who)
    try:
        program = torch.export.load(path).module()
    except Exception as exc:  # noqa: BLE001 -- torch raises assorted types for a damaged or foreign archive
        raise DataError(
            f"{path}: cannot load the exported program ({excerpt(exc)}); expected a .pt2 from "
            "torch.export.save by a compatible torch version"
        ) from None
    net = ExportedClassifier(program, model_classes, classes, arch.get("class_map"), rate, data_rate)
    if not rebuilding:  # fail at configuration time, not in the middle of an attack
        try:
            with torch.no_grad():
                net(torch.zeros(2, length))
        except DataError:
            raise
        except Exception as exc:  # noqa: BLE001 -- whatever the user's program raises
            raise ConfigError(
                f"{path}: the exported program fails on a (2, {length}) waveform batch ({excerpt(exc)}); "
                "expected waveform (B, L) -> logits (B, C), exported with a dynamic batch "
                "dimension (torch.export.Dim) and the clip length used here"
            ) from None
    realised = {k: arch[k] for k in EXPORTED_USER_KEYS if k in arch}
    realised.update(
        program=str(arch["program"]),
        classes=model_classes,
        sha256=digest,
        dataset_classes=list(classes),
        data_sample_rate=int(data_rate),
    )
    return net, realised
