"""Victim wrapper: raw waveform (B, L) -> per-utterance z-normalisation -> network -> logits (B, C).

Normalisation lives inside the wrapper so that every attack perturbs the raw waveform, exactly as
the reference code does (docs/design.md §2). Silence (std = 0) is guarded by an epsilon: no NaN.
Victims that bring their own preprocessing (Hugging Face checkpoints, exported programs) skip it:
their network starts from the raw waveform (`znorm_input=False`).
"""

from __future__ import annotations

import torch
from torch import nn

NORM_EPS = 1e-5


def znorm(x: torch.Tensor, eps: float = NORM_EPS) -> torch.Tensor:
    """(x - mean) / max(std, eps) per utterance, along the last axis."""
    mean = x.mean(dim=-1, keepdim=True)
    std = x.std(dim=-1, keepdim=True, unbiased=False)
    return (x - mean) / std.clamp_min(eps)


class Victim(nn.Module):
    """A speech emotion classifier on raw waveforms; `family` and `arch` rebuild it from a checkpoint."""

    def __init__(
        self, net: nn.Module, family: str, num_classes: int, length: int, arch: dict, znorm_input: bool = True
    ):
        super().__init__()
        self.net = net
        self.family = family
        self.num_classes = num_classes
        self.length = length
        self.arch = dict(arch)
        self.znorm_input = znorm_input

    @property
    def dropped_labels(self) -> list[str]:
        """Labels of a foreign model that no dataset class maps to (left out of the argmax)."""
        return list(getattr(self.net, "dropped_labels", []))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2:
            raise ValueError(f"victim {self.family}: expected a waveform batch of shape (B, L), got {tuple(x.shape)}")
        return self.net(znorm(x) if self.znorm_input else x)
