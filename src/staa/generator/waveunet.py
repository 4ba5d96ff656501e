"""Wave-U-Net backbone with valid (unpadded) convolutions and several decoders.

Follows Stoller et al. (2018) as ported to PyTorch by f90 (``Wave-U-Net-Pytorch``): odd kernels, no
padding, strided conv down / transposed conv up, centre-cropped skips, and an input length chosen by
searching upward over bottleneck sizes. Valid convolutions mean every output sample sees a full
receptive field of real input (no zero padding artefacts), at the price that the input must be longer
than the output and only some input lengths divide evenly through the strides. STAA-Net shares one
encoder between its location and magnitude decoders, so the encoder (including the bottleneck) is
computed once and fed to ``n_decoders`` decoders.
"""

from __future__ import annotations

import math
import numbers
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from staa.errors import ConfigError

NORMS = ("group", "batch", "none")
RESAMPLES = ("learned", "fixed")


def _check_int(name: str, value: object, minimum: int) -> int:
    """Config values may arrive as numpy ints (from YAML/arrays); bools are rejected."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ConfigError(f"{name}={value!r}: expected an integer >= {minimum}")
    return int(value)


def centre_crop(x: Tensor, length: int) -> Tensor:
    """Crop the last axis of ``x`` symmetrically to ``length`` (the skip connection rule)."""
    diff = x.shape[-1] - length
    if diff < 0 or diff % 2:
        raise RuntimeError(f"cannot centre-crop length {x.shape[-1]} to {length}")
    crop = diff // 2
    return x[..., crop : crop + length]


def _make_norm(norm: str, channels: int, group_size: int) -> nn.Module:
    if norm == "group":
        groups = max(1, channels // group_size)
        if channels % groups:
            raise ConfigError(
                f"channels={channels} with group_size={group_size} gives {groups} groups, which do not "
                f"divide the channels: expected channel counts that are multiples of group_size"
            )
        return nn.GroupNorm(groups, channels)
    if norm == "batch":
        return nn.BatchNorm1d(channels, momentum=0.01)  # f90's setting
    return nn.Identity()


class _ConvLayer(nn.Module):
    """Valid conv (or valid transposed conv) -> norm -> ReLU.

    The length rules mirror f90's ConvLayer: a strided conv must keep the first and last sample
    ((n - k) % s == 0) so that no input is silently dropped and the context stays symmetric.
    """

    def __init__(
        self, cin: int, cout: int, kernel_size: int, stride: int, norm: str, group_size: int, transpose: bool = False
    ) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.transpose = kernel_size, stride, transpose
        if transpose:
            # padding = k-1 removes the partially-overlapped ends: the "valid" transposed conv.
            self.filter: nn.Module = nn.ConvTranspose1d(cin, cout, kernel_size, stride, padding=kernel_size - 1)
        else:
            self.filter = nn.Conv1d(cin, cout, kernel_size, stride)
        self.norm = _make_norm(norm, cout, group_size)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.norm(self.filter(x)))

    def out_len(self, n: int) -> Optional[int]:
        k, s = self.kernel_size, self.stride
        if self.transpose:
            if n < 2:
                return None
            o = (n - 1) * s + 1 - (k - 1)
            return o if o >= 1 else None
        m = n - k
        if m < 0 or m % s:
            return None
        return m // s + 1

    def in_len(self, o: int) -> int:
        """Input length that yields ``o`` (down path only: plain or strided conv)."""
        assert not self.transpose
        return (o - 1) * self.stride + self.kernel_size


class _FixedDown(nn.Module):
    """Non-learned anti-aliasing low-pass + decimation, valid like a strided conv.

    Blackman-windowed sinc with cutoff at the new Nyquist (0.5/stride cycles/sample), as in f90's
    Resample1d, of length 4*stride-1 (the non-zero taps of a 4*stride+1 Blackman window; 15 for
    stride 4, f90's size). Unlike f90 we do not reflect-pad: the filter eats its own context so the
    whole network stays valid and the alignment arithmetic stays exact.
    """

    def __init__(self, channels: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.taps = 4 * stride - 1
        m = 4 * stride  # window length - 1 of the full (zero-ended) Blackman window
        n = torch.arange(1, m, dtype=torch.float64)  # drop the two zero end taps
        window = 0.42 - 0.5 * torch.cos(2 * math.pi * n / m) + 0.08 * torch.cos(4 * math.pi * n / m)
        h = torch.sinc((n - m / 2) / stride) * window
        h = h / h.sum()  # unit DC gain
        self.register_buffer("filt", h.float().repeat(channels, 1, 1), persistent=False)
        self.channels = channels

    def forward(self, x: Tensor) -> Tensor:
        return F.conv1d(x, self.filt.to(x.dtype), stride=self.stride, groups=self.channels)

    def out_len(self, n: int) -> Optional[int]:
        m = n - self.taps
        if m < 0 or m % self.stride:
            return None
        return m // self.stride + 1

    def in_len(self, o: int) -> int:
        return (o - 1) * self.stride + self.taps


class _FixedUp(nn.Module):
    """Non-learned linear interpolation with aligned end points: n -> (n-1)*stride+1 samples.

    Sample i of the input lands exactly on output i*stride, so no context is consumed and the
    mapping is symmetric (keeps the centre alignment of the valid network).
    """

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        size = (x.shape[-1] - 1) * self.stride + 1
        return F.interpolate(x, size=size, mode="linear", align_corners=True)

    def out_len(self, n: int) -> Optional[int]:
        return (n - 1) * self.stride + 1 if n >= 2 else None


def _chain_out(layers: Sequence[nn.Module], n: Optional[int]) -> Optional[int]:
    for layer in layers:
        if n is None:
            return None
        n = layer.out_len(n)  # type: ignore[operator]
    return n


class _DownBlock(nn.Module):
    def __init__(
        self,
        cin: int,
        c_short: int,
        cout: int,
        kernel_size: int,
        stride: int,
        depth: int,
        norm: str,
        group_size: int,
        resample: str,
    ) -> None:
        super().__init__()
        conv = lambda a, b: _ConvLayer(a, b, kernel_size, 1, norm, group_size)  # noqa: E731
        self.pre = nn.ModuleList([conv(cin, c_short)] + [conv(c_short, c_short) for _ in range(depth - 1)])
        self.post = nn.ModuleList([conv(c_short, cout)] + [conv(cout, cout) for _ in range(depth - 1)])
        if resample == "fixed":
            self.down: nn.Module = _FixedDown(cout, stride)
        else:
            self.down = _ConvLayer(cout, cout, kernel_size, stride, norm, group_size)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        for layer in self.pre:
            x = layer(x)
        shortcut = x
        for layer in self.post:
            x = layer(x)
        return self.down(x), shortcut


class _UpBlock(nn.Module):
    def __init__(
        self,
        cin: int,
        c_short: int,
        cout: int,
        kernel_size: int,
        stride: int,
        depth: int,
        norm: str,
        group_size: int,
        resample: str,
    ) -> None:
        super().__init__()
        conv = lambda a, b: _ConvLayer(a, b, kernel_size, 1, norm, group_size)  # noqa: E731
        if resample == "fixed":
            self.up: nn.Module = _FixedUp(stride)
        else:
            self.up = _ConvLayer(cin, cin, kernel_size, stride, norm, group_size, transpose=True)
        self.pre = nn.ModuleList([conv(cin, cout)] + [conv(cout, cout) for _ in range(depth - 1)])
        # Skip concatenated once, then `depth` convs (f90 re-concatenates per conv, which breaks for depth>1).
        self.post = nn.ModuleList([conv(cout + c_short, cout)] + [conv(cout, cout) for _ in range(depth - 1)])

    def forward(self, x: Tensor, shortcut: Tensor) -> Tensor:
        x = self.up(x)
        for layer in self.pre:
            x = layer(x)
        x = torch.cat([centre_crop(shortcut, x.shape[-1]), x], dim=1)
        for layer in self.post:
            x = layer(x)
        return x


class _Decoder(nn.Module):
    def __init__(self, blocks: list[_UpBlock], c0: int, out_channels: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.output_conv = nn.Conv1d(c0, out_channels, 1)

    def forward(self, x: Tensor, shortcuts: list[Tensor]) -> Tensor:
        for block, short in zip(self.blocks, reversed(shortcuts)):
            x = block(x, short)
        # No eval-time clamp (f90 clamps separated audio to [-1,1]); our outputs are logits.
        return self.output_conv(x)


class WaveUNet(nn.Module):
    """Shared-encoder, multi-decoder Wave-U-Net with valid convolutions.

    ``len(channels)`` levels: ``len(channels)-1`` down/up blocks, each changing the time resolution by
    ``stride``, plus ``conv_depth`` bottleneck convs at ``channels[-1]`` (part of the shared encoder).
    """

    def __init__(
        self,
        channels: Sequence[int],
        kernel_size: int = 5,
        stride: int = 4,
        conv_depth: int = 1,
        norm: str = "group",
        group_size: int = 8,
        resample: str = "learned",
        n_decoders: int = 2,
        in_channels: int = 1,
        out_channels: int = 1,
    ) -> None:
        super().__init__()
        try:
            ch_list = [] if isinstance(channels, (str, bytes)) else list(channels)
        except TypeError:
            ch_list = []
        if not ch_list:
            raise ConfigError(f"channels={channels!r}: expected a non-empty list of positive integers")
        channels = [_check_int(f"channels[{i}]", c, 1) for i, c in enumerate(ch_list)]
        kernel_size = _check_int("kernel_size", kernel_size, 1)
        if kernel_size % 2 == 0:
            raise ConfigError(
                f"kernel_size={kernel_size}: expected an odd integer (valid convs must eat "
                f"equal context on both sides to keep outputs aligned with inputs)"
            )
        stride = _check_int("stride", stride, 2)
        conv_depth = _check_int("conv_depth", conv_depth, 1)
        group_size = _check_int("group_size", group_size, 1)
        n_decoders = _check_int("n_decoders", n_decoders, 1)
        in_channels = _check_int("in_channels", in_channels, 1)
        out_channels = _check_int("out_channels", out_channels, 1)
        if norm not in NORMS:
            raise ConfigError(f"norm={norm!r}: expected one of {list(NORMS)}")
        if resample not in RESAMPLES:
            raise ConfigError(f"resample={resample!r}: expected one of {list(RESAMPLES)}")

        self.channels, self.kernel_size, self.stride = channels, kernel_size, stride
        self.conv_depth, self.norm, self.resample = conv_depth, norm, resample
        self.n_decoders, self.in_channels, self.out_channels = n_decoders, in_channels, out_channels
        levels = len(channels)
        args = (kernel_size, stride, conv_depth, norm, group_size, resample)
        self.down_blocks = nn.ModuleList(
            _DownBlock(in_channels if i == 0 else channels[i], channels[i], channels[i + 1], *args)
            for i in range(levels - 1)
        )
        c_bott_in = in_channels if levels == 1 else channels[-1]
        self.bottleneck = nn.ModuleList(
            _ConvLayer(c_bott_in if d == 0 else channels[-1], channels[-1], kernel_size, 1, norm, group_size)
            for d in range(conv_depth)
        )
        self.decoders = nn.ModuleList(
            _Decoder(
                [_UpBlock(channels[-1 - i], channels[-2 - i], channels[-2 - i], *args) for i in range(levels - 1)],
                channels[0],
                out_channels,
            )
            for _ in range(n_decoders)
        )

    # ---------------------------------------------------------------- length arithmetic
    def _output_length(self, n: int) -> Optional[int]:
        """Output length for input length ``n``, or None when ``n`` does not divide through."""
        shortcuts: list[int] = []
        cur: Optional[int] = n
        for block in self.down_blocks:
            cur = _chain_out(block.pre, cur)
            if cur is None:
                return None
            shortcuts.append(cur)
            cur = _chain_out(list(block.post) + [block.down], cur)
        cur = _chain_out(self.bottleneck, cur)
        for block, short in zip(self.decoders[0].blocks, reversed(shortcuts)):
            cur = _chain_out([block.up] + list(block.pre), cur)
            if cur is None or short < cur or (short - cur) % 2:
                return None
            cur = _chain_out(block.post, cur)
        return cur

    def output_length_for(self, input_length: int) -> int:
        """Output length for a valid ``input_length``; ConfigError otherwise."""
        out = self._output_length(int(input_length))
        if out is None:
            raise ConfigError(
                f"input_length={input_length} is not a valid input length for this Wave-U-Net "
                f"(strides must divide evenly and every layer must keep >= 1 sample); "
                f"use input_length_for(...) to get one"
            )
        return out

    def is_valid_input_length(self, input_length: int) -> bool:
        return self._output_length(int(input_length)) is not None

    def _input_for_bottleneck(self, b: int) -> int:
        """Invert the encoder: input length whose bottleneck output has ``b`` samples."""
        cur = b
        for layer in reversed(self.bottleneck):
            cur = layer.in_len(cur)
        for block in reversed(self.down_blocks):
            for layer in [block.down, *reversed(block.post), *reversed(block.pre)]:
                cur = layer.in_len(cur)
        return cur

    def input_length_for(self, output_length: int) -> int:
        """Minimal valid input length whose output has >= ``output_length`` samples.

        Like f90, searches upward over bottleneck sizes: the input length is strictly increasing in
        the bottleneck size and every valid input has an integer bottleneck size, so the first
        valid hit is the minimum.
        """
        _check_int("output_length", output_length, 1)
        b, tries_past_target = 1, 0
        while True:
            n = self._input_for_bottleneck(b)
            out = self._output_length(n)
            if out is not None and out >= output_length:
                return n
            dec = _chain_out([layer for blk in self.decoders[0].blocks for layer in (blk.up, *blk.pre, *blk.post)], b)
            if dec is not None and dec >= output_length:
                # Long enough but a skip crop is asymmetric (odd difference); a few more sizes fix
                # the parity, so give up only if none does.
                tries_past_target += 1
                if tries_past_target > 64:
                    raise ConfigError(
                        f"no valid input length for output_length={output_length} with kernel_size="
                        f"{self.kernel_size}, stride={self.stride}: skip crops never become symmetric"
                    )
            b += 1

    # ---------------------------------------------------------------- forward
    def forward(self, x: Tensor) -> list[Tensor]:
        """(B, in_channels, Lin) -> one (B, out_channels, output_length_for(Lin)) per decoder."""
        if x.dim() != 3 or x.shape[1] != self.in_channels:
            raise ConfigError(f"input shape {tuple(x.shape)}: expected (batch, {self.in_channels}, length)")
        self.output_length_for(x.shape[-1])  # raises with a clear message for bad lengths
        shortcuts: list[Tensor] = []
        for block in self.down_blocks:
            x, short = block(x)
            shortcuts.append(short)
        for layer in self.bottleneck:
            x = layer(x)
        return [dec(x, shortcuts) for dec in self.decoders]
