"""STAA-Net generator: a Wave-U-Net that emits a sparse perturbation delta = v * m.

One decoder predicts *where* to perturb (location mask m), the other *how much* (magnitude v,
bounded by eps through tanh). Factorising the two lets a sparsity penalty act on m alone while v
keeps a smooth, bounded parameterisation.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from staa.errors import ConfigError
from staa.generator.waveunet import WaveUNet


@dataclass
class GeneratorOutput:
    """All tensors are (B, L), aligned sample-by-sample with the clean input x."""

    x_adv: Tensor  # x + delta
    delta: Tensor  # v * m (or v when not factorised)
    v: Tensor  # magnitudes in [-eps, eps]
    m_soft: Tensor  # soft locations in [0, 1]; frame-pooled and repeated when frame_length > 1
    m_hard: Tensor  # 1[m_soft >= 0.5], float, no grad
    m: Tensor  # mask actually applied (training: stochastic soft/hard mix; eval: m_hard)


def reflect_indices(length: int, left: int, right: int) -> Tensor:
    """Indices into a length-``length`` signal that reflection-pad it by ``left``/``right``.

    Equivalent to ``F.pad(..., mode="reflect")`` but without torch's pad < length limit: the
    reflection is applied repeatedly (period 2*(length-1)), so any pad works. A length-1 signal
    has no reflection; it is replicated.
    """
    idx = torch.arange(-left, length + right)
    if length == 1:
        return torch.zeros_like(idx)
    period = 2 * (length - 1)
    idx = idx.remainder(period)
    return torch.where(idx >= length, period - idx, idx)


class STAANet(nn.Module):
    """Generator for fixed-length clips of ``length`` samples (see module docstring)."""

    def __init__(
        self,
        length: int,
        channels: Sequence[int],
        kernel_size: int = 5,
        stride: int = 4,
        conv_depth: int = 1,
        norm: str = "group",
        group_size: int = 8,
        resample: str = "learned",
        factorised: bool = True,
        frame_length: int = 1,
        loc_bias_init: float = 0.0,
    ) -> None:
        super().__init__()
        if isinstance(length, bool) or not isinstance(length, numbers.Integral) or length < 1:
            raise ConfigError(f"length={length!r}: expected a positive integer number of samples")
        if (
            isinstance(frame_length, bool)
            or not isinstance(frame_length, numbers.Integral)
            or not 1 <= frame_length <= length
        ):
            raise ConfigError(f"frame_length={frame_length!r}: expected an integer in [1, length={length}]")
        length, frame_length = int(length), int(frame_length)
        self.length, self.factorised, self.frame_length = length, bool(factorised), frame_length
        # Factorised: decoder 0 -> location logits z1, decoder 1 -> magnitude logits z2 (paper order).
        # Not factorised: a single decoder -> magnitude logits.
        self.backbone = WaveUNet(
            channels,
            kernel_size=kernel_size,
            stride=stride,
            conv_depth=conv_depth,
            norm=norm,
            group_size=group_size,
            resample=resample,
            n_decoders=2 if self.factorised else 1,
            in_channels=1,
            out_channels=1,
        )
        if self.factorised and loc_bias_init:
            # ours: start dense (m_soft = (tanh(b)+1)/2 > 0.5 everywhere) and let the sparsity loss
            # prune. From an undecided mask (b = 0) the noisy, Adam-normalised location gradients
            # often push every logit below 0.5 before the magnitudes have learned an adversarial
            # direction, and an all-zero mask passes no gradient to v: the attack never starts.
            with torch.no_grad():
                self.backbone.decoders[0].output_conv.bias.fill_(float(loc_bias_init))
        self.input_length = self.backbone.input_length_for(length)
        self.backbone_output_length = self.backbone.output_length_for(self.input_length)
        # Output j of the valid net is centred on padded-input j + off, so padding x by `off` on the
        # left aligns output j with x[j]. (The reference instead added delta to the first L samples
        # of the padded input, shifting it by `off` samples against x: a bug we do not reproduce.)
        self.pad_left = (self.input_length - self.backbone_output_length) // 2
        self.pad_right = self.input_length - length - self.pad_left
        self.register_buffer("pad_index", reflect_indices(length, self.pad_left, self.pad_right), persistent=False)

    def count_parameters(self) -> int:
        """Number of trainable parameters (fixed resampling filters are buffers, not counted)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def _frame_pool(self, m: Tensor) -> Tensor:
        """Average over non-overlapping frames of F samples (last partial frame averaged over its
        real samples): (B, L) -> (B, ceil(L/F))."""
        f = self.frame_length
        n_frames = math.ceil(self.length / f)
        padded = F.pad(m, (0, n_frames * f - self.length))
        sums = padded.view(m.shape[0], n_frames, f).sum(-1)
        counts = torch.full((n_frames,), float(f), dtype=m.dtype, device=m.device)
        counts[-1] = self.length - (n_frames - 1) * f
        return sums / counts

    def _unframe(self, m: Tensor) -> Tensor:
        return m.repeat_interleave(self.frame_length, dim=-1)[..., : self.length]

    def forward(self, x: Tensor, eps: float) -> GeneratorOutput:
        """x: (B, L) raw waveform -> GeneratorOutput with delta bounded by eps per sample."""
        if isinstance(eps, Tensor):
            eps = float(eps)
        if not isinstance(eps, (int, float)) or isinstance(eps, bool) or not math.isfinite(eps) or eps <= 0:
            raise ConfigError(f"eps={eps!r}: expected a finite number > 0")
        if x.dim() != 2 or x.shape[1] != self.length:
            raise ConfigError(f"x shape {tuple(x.shape)}: expected (batch, length={self.length})")

        padded = x.index_select(1, self.pad_index).unsqueeze(1)  # (B, 1, Lin)
        outs = [z[:, 0, : self.length] for z in self.backbone(padded)]
        v = eps * torch.tanh(outs[-1])

        if not self.factorised:
            ones = torch.ones_like(v).detach()
            return GeneratorOutput(x_adv=x + v, delta=v, v=v, m_soft=ones, m_hard=ones, m=ones)

        m_soft = (torch.tanh(outs[0]) + 1.0) / 2.0
        if self.frame_length > 1:
            m_soft = self._frame_pool(m_soft)  # quantise per frame, then repeat to samples
        m_hard = (m_soft >= 0.5).to(m_soft.dtype).detach()
        if self.training:
            # Each element keeps its soft value w.p. 0.5, else the hard value with no gradient:
            # the network sees the quantised mask it will use at test time while still learning.
            keep_soft = torch.rand(m_soft.shape, device=m_soft.device) < 0.5
            m = torch.where(keep_soft, m_soft, m_hard)
        else:
            m = m_hard
        if self.frame_length > 1:
            m_soft, m_hard, m = self._unframe(m_soft), self._unframe(m_hard), self._unframe(m)
        delta = v * m
        return GeneratorOutput(x_adv=x + delta, delta=delta, v=v, m_soft=m_soft, m_hard=m_hard, m=m)
