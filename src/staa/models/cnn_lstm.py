"""End2You-style CNN-LSTM victims: Emo18 (Tzirakis et al., ICASSP 2018) and Zhao19 (Zhao et al., BSPC 2019).

Both: conv blocks over the raw waveform, a 2-layer unidirectional LSTM over time, a linear layer
per time step and the mean over time (docs/design.md §3).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


class _SeqHead(nn.Module):
    """2-layer LSTM over time, a linear layer per step, mean over time."""

    def __init__(self, in_ch: int, hidden: int, layers: int, num_classes: int):
        super().__init__()
        self.lstm = nn.LSTM(in_ch, hidden, num_layers=layers, batch_first=True)
        self.fc = nn.Linear(hidden, num_classes)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:  # (B, C, T)
        seq, _ = self.lstm(feats.transpose(1, 2))
        return self.fc(seq).mean(dim=1)


class Emo18(nn.Module):
    """Conv1d -> BatchNorm -> LeakyReLU -> MaxPool x3 (channels 64/128/256, kernels 8/6/6, pools 10/8/8)."""

    def __init__(
        self,
        num_classes: int,
        channels: Sequence[int] = (64, 128, 256),
        kernels: Sequence[int] = (8, 6, 6),
        pools: Sequence[int] = (10, 8, 8),
        hidden: int = 256,
        lstm_layers: int = 2,
    ):
        super().__init__()
        blocks, in_ch = [], 1
        for ch, k, p in zip(channels, kernels, pools):
            # "same" padding, asymmetric for even kernels as in TensorFlow/End2You
            blocks += [
                nn.ConstantPad1d(((k - 1) // 2, k // 2), 0.0),
                nn.Conv1d(in_ch, ch, k),
                nn.BatchNorm1d(ch),
                nn.LeakyReLU(),
                nn.MaxPool1d(p, p),
            ]
            in_ch = ch
        self.features = nn.Sequential(*blocks)
        self.head = _SeqHead(in_ch, hidden, lstm_layers, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x.unsqueeze(1)))


class Zhao19(nn.Module):
    """Conv1d(k=3, pad 1) -> BatchNorm -> ELU -> MaxPool(4, 4) x4 (channels 64/64/128/128)."""

    def __init__(
        self,
        num_classes: int,
        channels: Sequence[int] = (64, 64, 128, 128),
        kernel: int = 3,
        pool: int = 4,
        hidden: int = 256,
        lstm_layers: int = 2,
    ):
        super().__init__()
        blocks, in_ch = [], 1
        for ch in channels:
            blocks += [
                nn.Conv1d(in_ch, ch, kernel, padding=kernel // 2),
                nn.BatchNorm1d(ch),
                nn.ELU(),
                nn.MaxPool1d(pool, pool),
            ]
            in_ch = ch
        self.features = nn.Sequential(*blocks)
        self.head = _SeqHead(in_ch, hidden, lstm_layers, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x.unsqueeze(1)))
