"""STAA-Net generator: a Wave-U-Net that emits a sparse perturbation delta = v * m.

One decoder predicts *where* to perturb (location mask m), the other *how much* (magnitude v,
bounded by eps through tanh). Factorising the two lets a sparsity penalty act on m alone while v
keeps a smooth, bounded parameterisation.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Sequence

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


MASK_TRAININGS = ("reference", "ste")
BUDGETS = ("loss", "topk")
EPS_MODES = ("absolute", "relative")


def level(x: Tensor) -> Tensor:
    """Per-utterance RMS level, (B, L) -> (B, 1), floored so that silence gets a tiny bound."""
    return x.detach().pow(2).mean(dim=1, keepdim=True).sqrt().clamp_min(1e-6)


def eps_bound(x: Tensor, eps: float, mode: str, ref_level: float | None) -> Tensor | float:
    """The per-sample magnitude bound: `eps` (absolute, the paper's) or, level-relative (ours),
    eps * RMS(x) / ref_level, so that eps keeps its meaning at an utterance of the reference level
    (the train split's mean RMS) while loud and quiet utterances get bounds in proportion."""
    if mode == "absolute":
        return eps
    if mode != "relative":
        raise ConfigError(f"eps_mode={mode!r}: expected one of {list(EPS_MODES)}")
    if ref_level is None or not ref_level > 0:
        raise ConfigError(f"eps_mode 'relative' needs a reference level > 0, got {ref_level!r}")
    return eps * level(x) / float(ref_level)


def topk_mask(scores: Tensor, k: int) -> Tensor:
    """Exact budget: 1 at the k highest scores of each row, 0 elsewhere (ties broken by index)."""
    idx = scores.topk(k, dim=1, sorted=False).indices
    return torch.zeros_like(scores).scatter_(1, idx, 1.0)


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ConfigError(f"{name}={value!r}: expected one of {list(choices)}")
    return value


class STAANet(nn.Module):
    """Generator for fixed-length clips of ``length`` samples (see module docstring).

    How the mask is made (constructor settings, saved with the checkpoint):
    - ``budget='loss'``: the test mask is 1[m_soft >= 0.5]; its density is set by the loss terms.
      ``budget='topk'`` (ours): the test mask keeps exactly round(density * frames) frames per
      utterance, those with the highest location score, so the budget holds exactly.
    - ``mask_training='reference'``: the paper's stochastic mix, each element soft or hard with
      probability 0.5 (only with ``budget='loss'``). ``'ste'`` (ours): the training forward pass
      applies the hard test mask and the gradient flows through the soft map (straight-through),
      so the mask that is trained is the mask that is tested.
    - ``eps_mode``: the magnitude bound is absolute (the paper's) or level-relative
      (:func:`eps_bound`, with ``ref_level`` the train split's mean RMS).
    """

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
        mask_training: str = "reference",
        budget: str = "loss",
        density: float | None = None,
        eps_mode: str = "absolute",
        ref_level: float | None = None,
        input_norm: bool = False,
    ) -> None:
        super().__init__()
        # ours: the backbone sees the utterance z-normalised, as the victims do, so that a quiet
        # utterance is not a different input to it (GroupNorm's eps swamps the conv outputs of a
        # signal at RMS ~0.01); with a level-relative bound the whole map is then level-free
        self.input_norm = bool(input_norm)
        self._init_head(length, factorised, frame_length, mask_training, budget, density, eps_mode, ref_level)
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
        length = self.length
        self.input_length = self.backbone.input_length_for(length)
        self.backbone_output_length = self.backbone.output_length_for(self.input_length)
        # Output j of the valid net is centred on padded-input j + off, so padding x by `off` on the
        # left aligns output j with x[j]. (The reference instead added delta to the first L samples
        # of the padded input, shifting it by `off` samples against x: a bug we do not reproduce.)
        self.pad_left = (self.input_length - self.backbone_output_length) // 2
        self.pad_right = self.input_length - length - self.pad_left
        self.register_buffer("pad_index", reflect_indices(length, self.pad_left, self.pad_right), persistent=False)

    def _init_head(
        self,
        length: int,
        factorised: bool,
        frame_length: int,
        mask_training: str,
        budget: str,
        density: float | None,
        eps_mode: str,
        ref_level: float | None,
    ) -> None:
        """Check and keep the mask and bound settings shared by every generator kind."""
        if isinstance(length, bool) or not isinstance(length, numbers.Integral) or length < 1:
            raise ConfigError(f"length={length!r}: expected a positive integer number of samples")
        if (
            isinstance(frame_length, bool)
            or not isinstance(frame_length, numbers.Integral)
            or not 1 <= frame_length <= length
        ):
            raise ConfigError(f"frame_length={frame_length!r}: expected an integer in [1, length={length}]")
        self.length, self.factorised, self.frame_length = int(length), bool(factorised), int(frame_length)
        self.n_frames = math.ceil(self.length / self.frame_length)
        self.mask_training = _check_choice("mask_training", mask_training, MASK_TRAININGS)
        self.budget = _check_choice("budget", budget, BUDGETS)
        self.eps_mode = _check_choice("eps_mode", eps_mode, EPS_MODES)
        if self.budget == "topk" and self.mask_training == "reference":
            raise ConfigError(
                "budget 'topk' needs mask_training 'ste': the reference's soft/hard mix has no exact budget"
            )
        self.k = None
        if self.factorised and self.budget == "topk":
            if density is None or not 0.0 < float(density) <= 1.0:
                raise ConfigError(f"budget 'topk' needs a density in (0, 1], got {density!r}")
            self.k = max(1, round(float(density) * self.n_frames))
        self.density = None if density is None else float(density)
        self.ref_level = None if ref_level is None else float(ref_level)
        if self.eps_mode == "relative" and not (self.ref_level and self.ref_level > 0):
            raise ConfigError(f"eps_mode 'relative' needs ref_level > 0, got {ref_level!r}")

    def count_parameters(self) -> int:
        """Number of trainable parameters (fixed resampling filters are buffers, not counted)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def _frame_pool(self, m: Tensor) -> Tensor:
        """Average over non-overlapping frames of F samples (last partial frame averaged over its
        real samples): (B, L) -> (B, ceil(L/F))."""
        f = self.frame_length
        n_frames = self.n_frames
        padded = F.pad(m, (0, n_frames * f - self.length))
        sums = padded.view(m.shape[0], n_frames, f).sum(-1)
        counts = torch.full((n_frames,), float(f), dtype=m.dtype, device=m.device)
        counts[-1] = self.length - (n_frames - 1) * f
        return sums / counts

    def _unframe(self, m: Tensor) -> Tensor:
        return m.repeat_interleave(self.frame_length, dim=-1)[..., : self.length]

    def logits(self, x: Tensor) -> list[Tensor]:
        """(location logits, magnitude logits) or (magnitude logits,), each (B, L)."""
        if self.input_norm:
            x = (x - x.mean(dim=1, keepdim=True)) / x.std(dim=1, keepdim=True).clamp_min(1e-5)
        padded = x.index_select(1, self.pad_index).unsqueeze(1)  # (B, 1, Lin)
        return [z[:, 0, : self.length] for z in self.backbone(padded)]

    def hard_mask(self, m_soft: Tensor) -> Tensor:
        """The test mask from the (frame-level) soft map: exact top-k or the 0.5 threshold."""
        if self.k is not None:
            return topk_mask(m_soft.detach(), self.k)
        return (m_soft >= 0.5).to(m_soft.dtype).detach()

    def forward(self, x: Tensor, eps: float) -> GeneratorOutput:
        """x: (B, L) raw waveform -> GeneratorOutput with delta bounded per sample by the bound
        that `eps` gives under this generator's eps_mode."""
        if isinstance(eps, Tensor):
            eps = float(eps)
        if not isinstance(eps, (int, float)) or isinstance(eps, bool) or not math.isfinite(eps) or eps <= 0:
            raise ConfigError(f"eps={eps!r}: expected a finite number > 0")
        if x.dim() != 2 or x.shape[1] != self.length:
            raise ConfigError(f"x shape {tuple(x.shape)}: expected (batch, length={self.length})")

        outs = self.logits(x)
        v = eps_bound(x, eps, self.eps_mode, self.ref_level) * torch.tanh(outs[-1])

        if not self.factorised:
            ones = torch.ones_like(v).detach()
            return GeneratorOutput(x_adv=x + v, delta=v, v=v, m_soft=ones, m_hard=ones, m=ones)

        m_soft = (torch.tanh(outs[0]) + 1.0) / 2.0
        if self.frame_length > 1:
            m_soft = self._frame_pool(m_soft)  # quantise per frame, then repeat to samples
        m_hard = self.hard_mask(m_soft)
        if not self.training:
            m = m_hard
        elif self.mask_training == "ste":
            # ours: the forward pass applies the test mask; the gradient reaches the soft map
            m = m_hard + (m_soft - m_soft.detach())
        else:
            # The paper's: each element keeps its soft value w.p. 0.5, else the hard value with no
            # gradient. Soft values below 0.5 perturb training inputs and vanish at test.
            keep_soft = torch.rand(m_soft.shape, device=m_soft.device) < 0.5
            m = torch.where(keep_soft, m_soft, m_hard)
        if self.frame_length > 1:
            m_soft, m_hard, m = self._unframe(m_soft), self._unframe(m_hard), self._unframe(m)
        delta = v * m
        return GeneratorOutput(x_adv=x + delta, delta=delta, v=v, m_soft=m_soft, m_hard=m_hard, m=m)


class UniversalPerturbation(STAANet):
    """The input-independence control (ours): one magnitude pattern and one location score map,
    learned parameters shared by every utterance, with STAA-Net's head (same mask, budget and
    bound). Trained by the same loop, it is what STAA-Net must beat to be an input-dependent attack.
    Under eps_mode 'relative' the shared pattern is still scaled by each utterance's level."""

    def __init__(
        self,
        length: int,
        factorised: bool = True,
        frame_length: int = 1,
        loc_bias_init: float = 0.0,
        mask_training: str = "ste",
        budget: str = "topk",
        density: float | None = None,
        eps_mode: str = "absolute",
        ref_level: float | None = None,
        input_norm: bool = False,
        **_arch: Any,
    ) -> None:
        nn.Module.__init__(self)
        self._init_head(length, factorised, frame_length, mask_training, budget, density, eps_mode, ref_level)
        # small random start: a zero start would give every location the same score (top-k ties)
        gen = torch.Generator().manual_seed(0)
        self.mag_logits = nn.Parameter(0.1 * torch.randn(self.length, generator=gen))
        self.loc_logits = nn.Parameter(float(loc_bias_init) + 0.1 * torch.randn(self.length, generator=gen))
        self.input_length = self.length
        self.pad_left = self.pad_right = 0

    #: the logits are GAIN x parameters: Adam moves each parameter by about lr per step, so without a
    #: gain the pattern barely leaves its start in a generator's training length (600 steps at lr 1e-3
    #: move a logit by at most 0.6), while a generator's outputs move far faster. Measured on the
    #: embedded default against Emo18 (10 epochs, 15 % top-k, one seed): test ASR 0.11 at gain 1,
    #: 0.62 at 30, 0.53 at 100. A weak control would make "better than universal" an empty claim.
    GAIN = 30.0

    def logits(self, x: Tensor) -> list[Tensor]:
        batch = x.shape[0]
        mag = (self.GAIN * self.mag_logits).unsqueeze(0).expand(batch, -1)
        if not self.factorised:
            return [mag]
        return [(self.GAIN * self.loc_logits).unsqueeze(0).expand(batch, -1), mag]
