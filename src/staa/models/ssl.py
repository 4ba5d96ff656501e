"""Self-supervised victims (Wav2vec 2.0, WavLM) through Hugging Face `transformers`.

With `pretrained` (a hub name or a local directory) the weights are loaded and the CNN feature
encoder frozen (the paper's recipe). Without it the same class is built from a small config and
trained from scratch (our embedded default). Nothing is downloaded unless a hub name is configured.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from staa.errors import ConfigError

FAMILIES = {
    "wav2vec2": ("Wav2Vec2Config", "Wav2Vec2ForSequenceClassification"),
    "wavlm": ("WavLMConfig", "WavLMForSequenceClassification"),
}


def _classes(family: str):
    import transformers

    cfg_name, model_name = FAMILIES[family]
    return getattr(transformers, cfg_name), getattr(transformers, model_name)


class SSLClassifier(nn.Module):
    """Wraps a `*ForSequenceClassification` model: (B, L) normalised waveform -> logits (B, C)."""

    def __init__(
        self,
        family: str,
        num_classes: int,
        pretrained: str | None = None,
        small_config: dict[str, Any] | None = None,
        freeze_feature_encoder: bool = True,
        hf_config_json: str | None = None,
    ):
        super().__init__()
        if family not in FAMILIES:
            raise ConfigError(f"unknown SSL family {family!r}; expected one of {sorted(FAMILIES)}")
        cfg_cls, model_cls = _classes(family)
        if hf_config_json is not None:  # rebuilding from a checkpoint: the weights follow in load_state_dict
            config = cfg_cls(**json.loads(hf_config_json))
            self.model = model_cls(config)
        elif pretrained:
            local = Path(pretrained).expanduser()
            # a hub name is never absolute nor starts with '.' or '~': such a value is a directory
            if not local.is_dir() and (local.is_absolute() or pretrained.startswith((".", "~"))):
                raise ConfigError(
                    f"{family}: pretrained directory {pretrained!r} does not exist; expected a local "
                    "directory with config.json and weights, or a hub name like facebook/wav2vec2-base"
                )
            try:
                source = str(local) if local.is_dir() else pretrained
                self.model = model_cls.from_pretrained(source, num_labels=num_classes)
            except (OSError, ValueError) as exc:
                raise ConfigError(
                    f"{family}: cannot load pretrained weights {pretrained!r} ({exc}); expected a local "
                    "directory with config.json and weights, or a hub name present in the local cache"
                ) from None
        else:
            options = dict(small_config or {})
            options["num_labels"] = num_classes
            try:
                config = cfg_cls(**options)
            except TypeError as exc:
                raise ConfigError(f"{family}.small_config: {exc}") from None
            self.model = model_cls(config)
        if freeze_feature_encoder and pretrained:
            self.model.freeze_feature_encoder()
        self.model.config.num_labels = num_classes

    def hf_config_json(self) -> str:
        return self.model.config.to_json_string(use_diff=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(input_values=x).logits
