"""Victims from Hugging Face audio-classification checkpoints (family `hf`).

Any checkpoint of a supported model type (a hub name in the local cache, or a local directory with
config.json, weights and preprocessor_config.json) becomes a (B, L) waveform -> (B, C) logits
victim: its feature extractor is re-implemented differentiably (models/frontends.py) so attacks get
gradients through the preprocessing, and its labels are mapped onto the dataset's classes by
`class_map` (model labels the dataset lacks are dropped from the argmax and listed in
`dropped_labels`). The realised HF config and extractor config are recorded in the arch so a saved
victim rebuilds offline; `trust_remote_code` is never used.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from staa.errors import ConfigError
from staa.models.frontends import build_frontend
from staa.user_models import (
    CHECKPOINT_FILES,
    MODEL_TYPES,
    RAW_WAVEFORM_TYPES,
    excerpt,
    feature_extractor_problem,
    hf_checkpoint_errors,
    hf_pretrained_errors,
    hub_cache_dir,
    map_classes,
)

# options a user sets; the rest of HF_ARCH_KEYS are written when the victim is built
HF_USER_KEYS = {"pretrained", "class_map", "freeze_feature_encoder"}
HF_ARCH_KEYS = HF_USER_KEYS | {"hf_config_json", "feature_extractor_json", "dataset_classes", "data_sample_rate"}
__all__ = ["MODEL_TYPES", "RAW_WAVEFORM_TYPES", "HFClassifier", "build_hf", "map_classes"]


def _check_type(model_type: str, where: str, prefix: str = "hf") -> None:
    if model_type not in MODEL_TYPES:
        raise ConfigError(
            f"{prefix}: {where} is a {model_type!r} model, which is not supported; expected one of {sorted(MODEL_TYPES)}"
        )


def _feature_extractor_from_dict(model_type: str, fe_dict: dict[str, Any], where: str, prefix: str = "hf") -> Any:
    import transformers

    problem = feature_extractor_problem(model_type, fe_dict)
    if problem:
        raise ConfigError(f"{prefix}: {where} {problem}")
    return getattr(transformers, MODEL_TYPES[model_type][0]).from_dict(fe_dict)


def _source(pretrained: str, who: str = "hf") -> str:
    """The local directory `pretrained` names, or the hub name; the torch-free checks of the config
    check (staa.user_models) run again here, for a directory the check did not see."""
    local = Path(pretrained).expanduser()
    if local.is_dir():
        problems = hf_checkpoint_errors(who, repr(pretrained), local)
        if problems:
            raise ConfigError(problems[0])
        return str(local)
    problems = hf_pretrained_errors(who, pretrained, evaluate_as_is=False, class_map=None, dataset_classes={})
    if problems:
        raise ConfigError(problems[0])
    return pretrained


@contextlib.contextmanager
def _quiet_hub():
    """huggingface_hub logs a warning per retried request (six lines and 25 s without network):
    the failure is reported as one line instead. transformers' own warnings (weights newly
    initialised, ...) still reach the log."""
    loggers = [logging.getLogger("huggingface_hub")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _load_pretrained(pretrained: str, who: str = "hf") -> tuple[Any, Any]:
    """(model, feature extractor) of a checkpoint; the model type is checked before any weights load."""
    import transformers

    source = _source(pretrained, who)
    key = f"{who}.pretrained"

    def failed(what: str, exc: Exception) -> ConfigError:
        if Path(source).is_dir():
            return ConfigError(
                f"{key}: cannot read the {what} of {pretrained!r} ({excerpt(exc)}); expected a checkpoint "
                f"directory saved by save_pretrained ({CHECKPOINT_FILES})"
            )
        return ConfigError(
            f"{key}: {pretrained!r} is no local directory, and no hub model of that name is in the local cache "
            f"({hub_cache_dir()}) or downloadable ({excerpt(exc, 80)}); expected a checkpoint directory"
        )

    with _quiet_hub():
        try:
            config = transformers.AutoConfig.from_pretrained(source)
        except (OSError, ValueError, KeyError) as exc:
            raise failed("model config", exc) from None
        _check_type(config.model_type, repr(pretrained), key)
        try:
            fe_dict, _ = transformers.FeatureExtractionMixin.get_feature_extractor_dict(source)
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"{key}: {pretrained!r} has no readable feature extractor config "
                f"(preprocessor_config.json: {excerpt(exc)}); expected the one saved with the checkpoint, "
                "which fixes its preprocessing"
            ) from None
        fe = _feature_extractor_from_dict(config.model_type, fe_dict, repr(pretrained), key)
        try:
            model = transformers.AutoModelForAudioClassification.from_pretrained(source)
        except (OSError, ValueError, RuntimeError) as exc:
            raise failed("weights", exc) from None
    return model, fe


def _rebuild(hf_config_json: str, feature_extractor_json: str) -> tuple[Any, Any]:
    """(model with random weights, feature extractor) from recorded configs: offline, no download."""
    import transformers
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    cfg = json.loads(hf_config_json)
    model_type = cfg.get("model_type", "")
    _check_type(model_type, "the recorded hf_config_json")
    config = CONFIG_MAPPING[model_type].from_dict(cfg)
    model = transformers.AutoModelForAudioClassification.from_config(config)
    fe = _feature_extractor_from_dict(model_type, json.loads(feature_extractor_json), "the recorded config")
    return model, fe


class HFClassifier(nn.Module):
    """Waveform (B, L) at the data's rate -> the checkpoint's front-end -> model -> logits of the
    dataset's classes (B, C), in dataset class order."""

    def __init__(
        self,
        model: nn.Module,
        feature_extractor: Any,
        dataset_classes: Sequence[str],
        class_map: dict[str, str] | None,
        data_rate: int,
    ):
        super().__init__()
        model_type = model.config.model_type
        self.input_name = MODEL_TYPES[model_type][1]
        self.frontend = build_frontend(feature_extractor, data_rate)
        self.model = model.float()
        labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
        index, self.dropped_labels = map_classes(dataset_classes, labels, class_map, "hf")
        self.model_labels = labels
        self.register_buffer("label_index", torch.tensor(index, dtype=torch.long), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.model(**{self.input_name: self.frontend(x)}).logits
        return logits.index_select(1, self.label_index)


def build_hf(
    num_classes: int, arch: dict[str, Any], classes: Sequence[str], data_rate: int, who: str = "hf"
) -> tuple[HFClassifier, dict[str, Any]]:
    """The classifier and its realised arch (configs recorded so the checkpoint rebuilds offline).
    `who` prefixes the messages: the victim's key (`victims.mine.arch`) when a job builds it."""
    if "hf_config_json" in arch or "feature_extractor_json" in arch:
        if not ("hf_config_json" in arch and "feature_extractor_json" in arch):
            raise ConfigError("hf: hf_config_json and feature_extractor_json are recorded together; expected both")
        model, fe = _rebuild(arch["hf_config_json"], arch["feature_extractor_json"])
    elif arch.get("pretrained"):
        if not isinstance(arch["pretrained"], str):
            raise ConfigError(f"{who}.pretrained: expected a hub name or a directory, got {arch['pretrained']!r}")
        model, fe = _load_pretrained(arch["pretrained"], who)
    else:
        raise ConfigError(
            "hf: arch.pretrained is required; expected a hub name (e.g. "
            "superb/wav2vec2-base-superb-er) or a local checkpoint directory"
        )
    if arch.get("freeze_feature_encoder", True) and hasattr(model, "freeze_feature_encoder"):
        model.freeze_feature_encoder()  # the CNN encoder stays as trained (the paper's SSL recipe)
    try:
        labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    except KeyError:
        raise ConfigError(
            f"{who}.pretrained: the model's id2label {excerpt(repr(model.config.id2label), 80)} does not number "
            "its outputs 0, 1, ...; expected one label per output (config.json)"
        ) from None
    map_classes(classes, labels, arch.get("class_map"), who)  # named as the victim's key, before the front-end
    net = HFClassifier(model, fe, classes, arch.get("class_map"), data_rate)
    realised = {k: arch[k] for k in HF_USER_KEYS if k in arch}
    realised.update(
        hf_config_json=model.config.to_json_string(use_diff=False),
        feature_extractor_json=fe.to_json_string(),
        dataset_classes=list(classes),
        data_sample_rate=int(data_rate),
    )
    return net, realised
