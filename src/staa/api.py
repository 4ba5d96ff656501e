"""A small Python API for notebooks: apply a trained STAA-Net generator to audio of any length and
rate, and ask a trained victim what it hears.

The generator and the victims work on fixed-length clips at one sample rate (16 kHz unless the
checkpoint records another). Here audio of any length, rate and channel count is handled the way
`staa perturb` handles files (docs/perturb.md):

* each channel is resampled to the model's rate (torchaudio.functional.resample) and cut into
  non-overlapping windows of the model's length; the last window (or a signal shorter than one
  window) is filled by reflecting the signal, repeatedly if needed, so even 0.1 s works;
* the generator's perturbation is cut back to the real samples, resampled to the input's rate and
  added: ``adv = wave + perturbation`` (no clipping here; files are clipped to [-1, 1] on writing);
* a victim classifies the channel average (victims are trained on mono) window by window and
  averages the logits over the windows: one prediction per signal.

Layout. A wave is float samples (nominally in [-1, 1]) of shape ``(samples,)`` or 2-D; a 2-D wave is
one signal with several channels, never a batch. Its layout is given by ``channels_first``:

* ``channels_first=False``: ``(samples, channels)``, soundfile's layout (what ``sf.read`` returns);
* ``channels_first=True``: ``(channels, samples)``, torchaudio's layout;
* ``channels_first=None`` (the default): ``(channels, samples)``, but only where that is plausible:
  a 2-D wave with more rows than columns (e.g. ``(48000, 2)``), or more than MAX_DEFAULT_CHANNELS
  rows, is refused with a line saying which argument to pass, instead of being perturbed as 48,000
  channels of 2 samples or averaged as 16 channels.

Results come back in the input's kind (NumPy or torch), shape and layout, as float32. Integer
samples (``sf.read(..., dtype="int16")``) are refused: their scale is not [-1, 1].

Example::

    import soundfile as sf
    from staa.api import load_generator, load_victim

    gen = load_generator("results/generators/synth/emo18/full/seed0/generator.pt")
    victim = load_victim("results/victims/synth/emo18/seed0/model.pt")
    wave, sr = sf.read("speech.wav", dtype="float32")      # (samples,) or (samples, channels)
    adv, delta = gen.perturb(wave, sr, channels_first=False)  # same layout back: (samples, channels)
    print(victim.predict(wave, sr, channels_first=False).label, "->",
          victim.predict(adv, sr, channels_first=False).label)
    print(victim.predict(adv, sr, channels_first=False).probabilities)  # {class name: probability}
    sf.write("speech_adv.wav", adv.clip(-1, 1), sr, subtype="PCM_16")
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from staa.errors import ConfigError, DataError

Wave = np.ndarray | Tensor
DEFAULT_SAMPLE_RATE = 16000
# with channels_first=None, a 2-D wave of more rows than this is refused (a batch of clips, or a
# transposed long signal, rather than a 7.1 recording): pass channels_first=True to take them as channels
MAX_DEFAULT_CHANNELS = 8


def window_batch(x: Tensor, length: int) -> Tensor:
    """(C, N) -> (C * W, length): non-overlapping windows, W = ceil(N / length); the tail (or a signal
    shorter than one window) is reflection-padded, repeatedly where the pad exceeds the signal."""
    from staa.generator.staa_net import reflect_indices

    n = x.shape[-1]
    n_win = max(1, math.ceil(n / length))
    idx = reflect_indices(n, 0, n_win * length - n).to(x.device)
    return x.index_select(-1, idx).reshape(x.shape[0] * n_win, length)


def resample(x: Tensor, orig_sr: int, new_sr: int, length: int | None = None) -> Tensor:
    """torchaudio's band-limited resampling along the last axis, trimmed or zero-padded to `length`
    samples (its own output length may be off by one against the other rate's sample count)."""
    if orig_sr != new_sr:
        import torchaudio.functional as AF

        x = AF.resample(x, int(orig_sr), int(new_sr))
    if length is not None and x.shape[-1] != length:
        x = x[..., :length] if x.shape[-1] > length else torch.nn.functional.pad(x, (0, length - x.shape[-1]))
    return x


def _layout(wave: Any, channels_first: bool | None, what: str) -> tuple[Tensor, bool, bool]:
    """The input as a float32 tensor on the CPU in the caller's shape, whether it is 1-D, and whether
    a 2-D one is (samples, channels); refuses a layout it would have to guess and non-float samples."""
    if channels_first is not None and not isinstance(channels_first, bool):
        raise ConfigError(f"{what}: channels_first={channels_first!r}: expected True, False or None")
    if isinstance(wave, Tensor):
        t = wave.detach().cpu()
        kind = "f" if t.is_floating_point() else "c" if t.is_complex() else "b" if t.dtype == torch.bool else "i"
        dtype = str(t.dtype).replace("torch.", "")
    else:
        try:
            arr = np.asarray(wave)
        except (TypeError, ValueError) as exc:
            raise DataError(f"{what}: cannot read the wave as an array ({exc}); expected float samples") from None
        kind, dtype = arr.dtype.kind, str(arr.dtype)
        t = None
    if kind in "iub":
        raise DataError(
            f"{what}: wave of dtype {dtype}: expected float samples in [-1, 1] (read with "
            "sf.read(path, dtype='float32'), or divide integer PCM by its full scale, e.g. 32768)"
        )
    if kind != "f":
        raise DataError(f"{what}: wave of dtype {dtype}: expected float samples in [-1, 1]")
    if t is None:
        # a copy in native byte order and positive strides (sf.read gives both; slices like x[::-1] do not)
        t = torch.from_numpy(np.array(arr, dtype=np.float32, order="C"))
    t = t.to(torch.float32)
    if t.dim() not in (1, 2):
        raise DataError(
            f"{what}: wave of shape {tuple(t.shape)}: expected (samples,), (channels, samples) or, with "
            "channels_first=False, (samples, channels); one signal per call, not a batch"
        )
    if t.dim() == 2 and channels_first is None:
        rows, cols = t.shape
        if rows > cols:
            raise DataError(
                f"{what}: wave of shape {tuple(t.shape)} has more rows than columns, so it looks like "
                "(samples, channels), the layout sf.read returns; pass channels_first=False for that "
                "layout (or channels_first=True if it really holds that many channels)"
            )
        if rows > MAX_DEFAULT_CHANNELS:
            raise DataError(
                f"{what}: wave of shape {tuple(t.shape)} would be {rows} channels of one signal (a 2-D wave "
                "is never a batch); pass channels_first=True if it is one signal of that many channels, or "
                "call once per clip"
            )
    return t, t.dim() == 1, t.dim() == 2 and channels_first is False


def _as_channels(
    wave: Wave, sample_rate: Any, what: str, channels_first: bool | None = None
) -> tuple[Tensor, bool, bool]:
    """The input as a float32 (C, N) tensor on the CPU, whether it was 1-D, and whether it was
    (samples, channels); a bad shape, layout, dtype, rate or sample raises DataError/ConfigError
    saying what was expected."""
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, numbers.Integral) or sample_rate < 1:
        raise ConfigError(f"{what}: sample_rate={sample_rate!r}: expected a positive integer (Hz)")
    t, flat, last = _layout(wave, channels_first, what)
    t = t.unsqueeze(0) if flat else t.T if last else t
    if t.shape[-1] == 0 or t.shape[0] == 0:
        raise DataError(f"{what}: wave of shape {tuple(t.shape)} is empty; expected at least one sample")
    if not torch.isfinite(t).all():
        raise DataError(f"{what}: wave contains NaN or infinite samples")
    return t, flat, last


def _positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ConfigError(f"{what}={value!r}: expected a positive integer")
    return int(value)


def _like(t: Tensor, template: Wave, flat: bool, last: bool = False) -> Wave:
    """`t` (C, N) in the input's kind, shape and layout: numpy in, numpy out (float32); tensor in,
    tensor out; (samples, channels) in, (samples, channels) out."""
    t = t[0] if flat else t.T.contiguous() if last else t
    return t.numpy() if not isinstance(template, Tensor) else t.to(template.device)


@dataclass
class Generator:
    """A trained STAA-Net generator; `perturb` applies it to audio of any length, rate and channel count."""

    net: torch.nn.Module
    meta: dict[str, Any]
    path: str = ""
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    batch_size: int = 32

    @property
    def sample_rate(self) -> int:
        return _positive_int(self.meta.get("sample_rate", DEFAULT_SAMPLE_RATE), f"{self.path}: generator sample_rate")

    @property
    def length(self) -> int:
        return int(self.net.length)

    @property
    def eps(self) -> float:
        return float(self.meta["eps"])

    @torch.no_grad()
    def perturb_details(
        self, wave: Wave, sample_rate: int, channels_first: bool | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """(x, perturbation, perturbation at the generator's rate), all (C, N_*) float32 on the CPU,
        whatever the input's layout (`channels_first` as in `perturb`)."""
        x, _, _ = _as_channels(wave, sample_rate, "generator input", channels_first)
        return (x, *self._perturbation(x, sample_rate))

    @torch.no_grad()
    def _perturbation(self, x: Tensor, sample_rate: int) -> tuple[Tensor, Tensor]:
        """(perturbation, perturbation at the generator's rate) of a checked (C, N) float32 input."""
        sr_g = self.sample_rate
        x_g = resample(x, sample_rate, sr_g)
        n_g = x_g.shape[-1]
        if n_g == 0:  # a few samples at a high rate can resample to none
            raise DataError(
                f"generator input: {x.shape[-1]} sample(s) at {sample_rate} Hz is less than one sample "
                f"at the generator's {sr_g} Hz"
            )
        windows = window_batch(x_g, self.length)
        deltas = [
            self.net(windows[i : i + self.batch_size].to(self.device), self.eps).delta.cpu()
            for i in range(0, windows.shape[0], self.batch_size)
        ]
        delta_g = torch.cat(deltas).reshape(x.shape[0], -1)[:, :n_g]
        delta = resample(delta_g, sr_g, sample_rate, x.shape[-1])
        return delta, delta_g

    def perturb(self, wave: Wave, sample_rate: int, channels_first: bool | None = None) -> tuple[Wave, Wave]:
        """(adversarial wave, perturbation) for `wave` at `sample_rate` Hz, each channel perturbed
        separately; same kind (numpy/torch), shape and layout as the input, float32,
        ``adv = wave + perturbation``, not clipped.

        `wave`: float samples of shape (samples,), or 2-D with `channels_first` saying the layout:
        False for (samples, channels) as sf.read returns, True for (channels, samples) as torchaudio
        does; None (default) takes (channels, samples) and refuses a 2-D wave with more rows than
        columns (or more than MAX_DEFAULT_CHANNELS rows) rather than guess."""
        x, flat, last = _as_channels(wave, sample_rate, "generator input", channels_first)
        delta, _ = self._perturbation(x, sample_rate)
        return _like(x + delta, wave, flat, last), _like(delta, wave, flat, last)


@dataclass
class Prediction:
    """A victim's verdict on one signal: the class with the highest window-averaged logit."""

    label: str
    probabilities: dict[str, float]  # softmax of the window-averaged logits
    windows: int


@dataclass
class VictimModel:
    """A trained victim; `predict` classifies audio of any length, rate and channel count."""

    net: torch.nn.Module
    classes: list[str]
    sample_rate: int
    path: str = ""
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    batch_size: int = 32

    @property
    def length(self) -> int:
        return int(self.net.length)

    @torch.no_grad()
    def logits(self, wave: Wave, sample_rate: int, channels_first: bool | None = None) -> tuple[Tensor, int]:
        """(mean logits over windows (C,), number of windows) of the channel average
        (`channels_first` as in `predict`)."""
        x, _, _ = _as_channels(wave, sample_rate, "victim input", channels_first)
        mono = resample(x.mean(dim=0, keepdim=True), sample_rate, self.sample_rate)
        if mono.shape[-1] == 0:
            raise DataError(
                f"victim input: {x.shape[-1]} sample(s) at {sample_rate} Hz is less than one sample "
                f"at the victim's {self.sample_rate} Hz"
            )
        windows = window_batch(mono, self.length)
        out = torch.cat(
            [
                self.net(windows[i : i + self.batch_size].to(self.device)).cpu()
                for i in range(0, windows.shape[0], self.batch_size)
            ]
        )
        return out.double().mean(dim=0), windows.shape[0]

    def predict(self, wave: Wave, sample_rate: int, channels_first: bool | None = None) -> Prediction:
        """The victim's prediction for one signal `wave` at `sample_rate` Hz: channels averaged,
        windows of the victim's clip length, logits averaged over windows.

        `wave`: float samples of shape (samples,), or 2-D with `channels_first` saying the layout:
        False for (samples, channels) as sf.read returns, True for (channels, samples); None
        (default) takes (channels, samples) and refuses a 2-D wave with more rows than columns (or
        more than MAX_DEFAULT_CHANNELS rows) rather than guess. A 2-D wave is never a batch."""
        logits, n_win = self.logits(wave, sample_rate, channels_first)
        probs = torch.softmax(logits, dim=0).tolist()
        return Prediction(self.classes[int(logits.argmax())], dict(zip(self.classes, probs)), n_win)


def load_generator(path: str | Path, device: str | torch.device = "cpu", batch_size: int = 32) -> Generator:
    """A trained generator (`generator.pt` of `staa train-generator`), ready to `perturb`; a file that is
    not a generator checkpoint raises DataError naming it."""
    from staa.generator import load_generator as _load

    device = torch.device(device)
    net, meta = _load(path, device)
    gen = Generator(net, meta, str(path), device, _positive_int(batch_size, "batch_size"))
    gen.sample_rate  # noqa: B018 -- validate the recorded rate now, not on the first file (eps: checked on loading)
    return gen


def load_victim(
    path: str | Path, device: str | torch.device = "cpu", classes: list[str] | None = None, batch_size: int = 32
) -> VictimModel:
    """A trained victim (`model.pt` of `staa train-victim`), ready to `predict`. Class names come from the
    checkpoint (`extra.classes`, or the dataset classes a foreign model records), else `classes` (e.g. a
    generator's), else class0, class1, ...; its sample rate from the checkpoint (`extra.sample_rate`, or
    a foreign model's recorded data rate), else 16 kHz. ConfigError if the rate or clip length cannot
    serve (the clip must be long enough for the victim to produce an output)."""
    from staa.config import ARCH_KEYS, victim_min_samples
    from staa.models import load_victim as _load

    device = torch.device(device)
    net = _load(path, device)
    extra = getattr(net, "extra", {}) or {}
    sr = extra.get("sample_rate", net.arch.get("data_sample_rate", DEFAULT_SAMPLE_RATE))
    if isinstance(sr, bool) or not isinstance(sr, numbers.Integral) or sr < 1:
        raise ConfigError(f"{path}: victim sample_rate={sr!r}: expected a positive integer (Hz)")
    length = net.length
    # the shortest clip is known for our own families; foreign models (hf, exported) bring their own
    need = victim_min_samples(net.family, net.arch) if net.family in ARCH_KEYS else 1
    if isinstance(length, bool) or not isinstance(length, numbers.Integral) or length < need:
        raise ConfigError(
            f"{path}: victim clip length {length!r} samples at {sr} Hz cannot serve: victim family "
            f"{net.family} needs clips of at least {need} samples to produce an output"
        )
    names = (
        extra.get("classes")
        or net.arch.get("dataset_classes")
        or classes
        or [f"class{i}" for i in range(net.num_classes)]
    )
    if len(names) != net.num_classes:
        raise DataError(f"{path}: victim has {net.num_classes} outputs but {len(names)} class names {list(names)}")
    return VictimModel(
        net, [str(c) for c in names], int(sr), str(path), device, _positive_int(batch_size, "batch_size")
    )
