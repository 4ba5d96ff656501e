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

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from staa.errors import ConfigError
from staa.models.frontends import build_frontend

# model_type -> (feature extractor class, name of the model's input)
RAW_WAVEFORM_TYPES = ("wav2vec2", "hubert", "wavlm", "data2vec-audio", "unispeech", "unispeech-sat", "sew", "sew-d")
MODEL_TYPES: dict[str, tuple[str, str]] = {
    **{t: ("Wav2Vec2FeatureExtractor", "input_values") for t in RAW_WAVEFORM_TYPES},
    "audio-spectrogram-transformer": ("ASTFeatureExtractor", "input_values"),
    "whisper": ("WhisperFeatureExtractor", "input_features"),
}
# options a user sets; the rest of HF_ARCH_KEYS are written when the victim is built
HF_USER_KEYS = {"pretrained", "class_map", "freeze_feature_encoder"}
HF_ARCH_KEYS = HF_USER_KEYS | {"hf_config_json", "feature_extractor_json", "dataset_classes", "data_sample_rate"}


def map_classes(
    dataset_classes: Sequence[str], model_labels: Sequence[str], class_map: dict[str, str] | None, who: str
) -> tuple[list[int], list[str]]:
    """Index of the model output for each dataset class, and the model labels left out.

    A dataset class maps to `class_map[class]`, or to the model label of the same name when the map
    does not list it; keys for classes this dataset lacks are ignored (one victim config may serve
    several corpora)."""
    class_map = dict(class_map or {})
    bad = {k: v for k, v in class_map.items() if not isinstance(v, str)}
    if bad:
        raise ConfigError(f"{who}.class_map: expected dataset class -> model label name (strings), got {bad}")
    position = {label: i for i, label in enumerate(model_labels)}
    index, missing, unknown = [], [], []
    for c in dataset_classes:
        target = class_map.get(c, c)
        if target in position:
            index.append(position[target])
        elif c in class_map:
            unknown.append(f"{c} -> {target}")
        else:
            missing.append(c)
    if missing:
        raise ConfigError(
            f"{who}.class_map: dataset class(es) {missing} map to no model label; expected an entry "
            f"'<dataset class>: <model label>' for each, the model's labels are {list(model_labels)}"
        )
    if unknown:
        raise ConfigError(
            f"{who}.class_map: {', '.join(unknown)}: no such model label; the model's labels are {list(model_labels)}"
        )
    if len(set(index)) != len(index):
        shared = sorted({model_labels[i] for i in index if index.count(i) > 1})
        raise ConfigError(
            f"{who}.class_map: several dataset classes map to the same model label(s) {shared}; "
            "expected one model label per dataset class"
        )
    dropped = [label for i, label in enumerate(model_labels) if i not in set(index)]
    return index, dropped


def _check_type(model_type: str, where: str) -> None:
    if model_type not in MODEL_TYPES:
        raise ConfigError(
            f"hf: {where} is a {model_type!r} model, which is not supported; expected one of {sorted(MODEL_TYPES)}"
        )


def _feature_extractor_from_dict(model_type: str, fe_dict: dict[str, Any], where: str) -> Any:
    import transformers

    expected = MODEL_TYPES[model_type][0]
    kind = fe_dict.get("feature_extractor_type")
    if kind != expected:
        raise ConfigError(
            f"hf: {where} has feature extractor {kind!r}; expected {expected} for a {model_type!r} "
            "model (preprocessor_config.json)"
        )
    return getattr(transformers, expected).from_dict(fe_dict)


def _source(pretrained: str) -> str:
    local = Path(pretrained).expanduser()
    # a hub name is never absolute nor starts with '.' or '~': such a value is a directory
    if not local.is_dir() and (local.is_absolute() or pretrained.startswith((".", "~"))):
        raise ConfigError(
            f"hf.pretrained: directory {pretrained!r} does not exist; expected a local directory with "
            "config.json, weights and preprocessor_config.json, or a hub name in the local cache"
        )
    return str(local) if local.is_dir() else pretrained


def _load_pretrained(pretrained: str) -> tuple[Any, Any]:
    """(model, feature extractor) of a checkpoint; the model type is checked before any weights load."""
    import transformers

    source = _source(pretrained)
    hint = "expected a local directory with config.json and weights, or a hub name present in the local cache"
    try:
        config = transformers.AutoConfig.from_pretrained(source)
    except (OSError, ValueError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"hf.pretrained: cannot read the model config of {pretrained!r} ({first}); {hint}; "
            f"supported model types: {sorted(MODEL_TYPES)}"
        ) from None
    _check_type(config.model_type, repr(pretrained))
    try:
        fe_dict, _ = transformers.FeatureExtractionMixin.get_feature_extractor_dict(source)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"hf.pretrained: {pretrained!r} has no readable feature extractor config "
            f"(preprocessor_config.json: {str(exc).strip().splitlines()[0]}); expected the one saved "
            "with the checkpoint, which fixes its preprocessing"
        ) from None
    fe = _feature_extractor_from_dict(config.model_type, fe_dict, repr(pretrained))
    try:
        model = transformers.AutoModelForAudioClassification.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"hf.pretrained: cannot load the weights of {pretrained!r} ({exc}); {hint}") from None
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
    num_classes: int, arch: dict[str, Any], classes: Sequence[str], data_rate: int
) -> tuple[HFClassifier, dict[str, Any]]:
    """The classifier and its realised arch (configs recorded so the checkpoint rebuilds offline)."""
    if "hf_config_json" in arch or "feature_extractor_json" in arch:
        if not ("hf_config_json" in arch and "feature_extractor_json" in arch):
            raise ConfigError("hf: hf_config_json and feature_extractor_json are recorded together; expected both")
        model, fe = _rebuild(arch["hf_config_json"], arch["feature_extractor_json"])
    elif arch.get("pretrained"):
        if not isinstance(arch["pretrained"], str):
            raise ConfigError(f"hf.pretrained: expected a hub name or a directory, got {arch['pretrained']!r}")
        model, fe = _load_pretrained(arch["pretrained"])
    else:
        raise ConfigError(
            "hf: arch.pretrained is required; expected a hub name (e.g. "
            "superb/wav2vec2-base-superb-er) or a local checkpoint directory"
        )
    if arch.get("freeze_feature_encoder", True) and hasattr(model, "freeze_feature_encoder"):
        model.freeze_feature_encoder()  # the CNN encoder stays as trained (the paper's SSL recipe)
    net = HFClassifier(model, fe, classes, arch.get("class_map"), data_rate)
    realised = {k: arch[k] for k in HF_USER_KEYS if k in arch}
    realised.update(
        hf_config_json=model.config.to_json_string(use_diff=False),
        feature_extractor_json=fe.to_json_string(),
        dataset_classes=list(classes),
        data_sample_rate=int(data_rate),
    )
    return net, realised
