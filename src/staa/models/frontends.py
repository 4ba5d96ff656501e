"""Differentiable torch re-implementations of Hugging Face audio feature extractors.

A white-box attack perturbs the raw waveform, so a checkpoint's preprocessing must sit inside the
autograd graph: these modules map a (B, L) waveform at the data's rate to exactly the tensor the
checkpoint's own feature extractor (numpy / torchaudio, no gradients) would produce. Each follows
the numerics of transformers' extractor it names (tests/test_hf_victims.py checks the match).
Their constant tensors (windows, filter banks) are non-persistent buffers: a victim checkpoint
holds model weights only and rebuilds these from the saved extractor config.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from staa.errors import ConfigError

# transformers' Wav2Vec2FeatureExtractor.zero_mean_unit_var_norm: (x - mean) / sqrt(var + 1e-7)
HF_NORM_EPS = 1e-7


class Resample(nn.Module):
    """Band-limited resampling from the data's rate to the model's (identity when they agree)."""

    def __init__(self, data_rate: int, model_rate: int):
        super().__init__()
        self.data_rate, self.model_rate = int(data_rate), int(model_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.data_rate == self.model_rate:
            return x
        import torchaudio.functional as AF

        return AF.resample(x, self.data_rate, self.model_rate)


class WaveformFrontEnd(nn.Module):
    """Wav2Vec2FeatureExtractor (wav2vec2, HuBERT, WavLM, Data2VecAudio, UniSpeech(-SAT), SEW(-D)):
    resample, then per-utterance zero mean / unit variance when the extractor's `do_normalize` is set."""

    def __init__(self, do_normalize: bool, model_rate: int, data_rate: int):
        super().__init__()
        self.do_normalize = bool(do_normalize)
        self.resample = Resample(data_rate, model_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.resample(x)
        if not self.do_normalize:
            return x
        mean = x.mean(dim=-1, keepdim=True)
        var = x.var(dim=-1, keepdim=True, unbiased=False)
        return (x - mean) / torch.sqrt(var + HF_NORM_EPS)


class KaldiFbankFrontEnd(nn.Module):
    """ASTFeatureExtractor: torchaudio.compliance.kaldi.fbank with its defaults (25 ms Hanning frames,
    10 ms shift, snip_edges, DC removal, pre-emphasis 0.97, 512-point power spectrum, Kaldi mel bank
    from 20 Hz to Nyquist, log with float32-eps floor), zero-padded or cut to `max_length` frames,
    then (x - mean) / (2 std). Batched here (kaldi.fbank takes one utterance at a time)."""

    def __init__(
        self,
        num_mel_bins: int,
        max_length: int,
        do_normalize: bool,
        mean: float,
        std: float,
        model_rate: int,
        data_rate: int,
    ):
        super().__init__()
        from torchaudio.compliance.kaldi import get_mel_banks

        self.resample = Resample(data_rate, model_rate)
        self.num_mel_bins, self.max_length = int(num_mel_bins), int(max_length)
        self.do_normalize, self.mean, self.std = bool(do_normalize), float(mean), float(std)
        # the same integer arithmetic as kaldi._get_waveform_and_window_properties
        self.shift = int(model_rate * 10.0 * 0.001)
        self.size = int(model_rate * 25.0 * 0.001)
        self.padded = 1 if self.size == 0 else 2 ** (self.size - 1).bit_length()
        banks, _ = get_mel_banks(self.num_mel_bins, self.padded, float(model_rate), 20.0, 0.0, 100.0, -500.0, 1.0)
        self.register_buffer("mel_banks", F.pad(banks.float(), (0, 1)), persistent=False)  # (bins, padded/2 + 1)
        self.register_buffer("window", torch.hann_window(self.size, periodic=False), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.resample(x)
        batch = x.shape[0]
        if x.shape[-1] < self.size:  # kaldi returns no frames; the extractor pads them all with zeros
            feats = x.new_zeros(batch, 0, self.num_mel_bins)
        else:
            frames = x.unfold(-1, self.size, self.shift)  # (B, m, size), snip_edges=True
            frames = frames - frames.mean(dim=-1, keepdim=True)
            previous = torch.cat([frames[..., :1], frames[..., :-1]], dim=-1)
            frames = (frames - 0.97 * previous) * self.window
            frames = F.pad(frames, (0, self.padded - self.size))
            power = torch.fft.rfft(frames).abs().pow(2.0)
            mel = power @ self.mel_banks.T
            feats = mel.clamp_min(torch.finfo(torch.float32).eps).log()
        n = feats.shape[1]
        if n < self.max_length:
            feats = F.pad(feats, (0, 0, 0, self.max_length - n))
        else:
            feats = feats[:, : self.max_length]
        if self.do_normalize:
            feats = (feats - self.mean) / (self.std * 2)
        return feats  # (B, max_length, num_mel_bins)


class WhisperLogMelFrontEnd(nn.Module):
    """WhisperFeatureExtractor (its torch path): zero-pad or cut to the `chunk_length` window,
    centred STFT with a periodic Hann window, power, Slaney mel bank, log10 with a 1e-10 floor,
    clamp to (max - 8) per utterance, then (x + 4) / 4; the last STFT frame is dropped."""

    def __init__(self, mel_filters: Any, n_fft: int, hop_length: int, n_samples: int, model_rate: int, data_rate: int):
        super().__init__()
        self.resample = Resample(data_rate, model_rate)
        self.n_fft, self.hop_length, self.n_samples = int(n_fft), int(hop_length), int(n_samples)
        self.register_buffer(
            "mel_filters", torch.as_tensor(mel_filters, dtype=torch.float32).T.contiguous(), persistent=False
        )  # (n_mels, n_freq)
        self.register_buffer("window", torch.hann_window(self.n_fft), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.resample(x)
        n = x.shape[-1]
        x = F.pad(x, (0, self.n_samples - n)) if n < self.n_samples else x[:, : self.n_samples]
        stft = torch.stft(x, self.n_fft, self.hop_length, window=self.window, return_complex=True)
        magnitudes = stft[..., :-1].abs() ** 2
        log_spec = torch.clamp(self.mel_filters @ magnitudes, min=1e-10).log10()
        peak = log_spec.amax(dim=(1, 2), keepdim=True)
        log_spec = torch.maximum(log_spec, peak - 8.0)
        return (log_spec + 4.0) / 4.0  # (B, n_mels, frames)


def build_frontend(feature_extractor: Any, data_rate: int) -> nn.Module:
    """The torch front-end equivalent to a transformers feature extractor instance."""
    kind = type(feature_extractor).__name__
    rate = int(feature_extractor.sampling_rate)
    if kind == "Wav2Vec2FeatureExtractor":
        return WaveformFrontEnd(feature_extractor.do_normalize, rate, data_rate)
    if kind == "ASTFeatureExtractor":
        fe = feature_extractor
        return KaldiFbankFrontEnd(fe.num_mel_bins, fe.max_length, fe.do_normalize, fe.mean, fe.std, rate, data_rate)
    if kind == "WhisperFeatureExtractor":
        fe = feature_extractor
        if getattr(fe, "dither", 0.0):
            raise ConfigError(
                f"WhisperFeatureExtractor: dither={fe.dither} adds random noise to every input; "
                "expected dither 0.0 (deterministic features) in preprocessor_config.json"
            )
        return WhisperLogMelFrontEnd(fe.mel_filters, fe.n_fft, fe.hop_length, fe.n_samples, rate, data_rate)
    raise ConfigError(
        f"feature extractor {kind} has no differentiable torch front-end; expected "
        "Wav2Vec2FeatureExtractor, ASTFeatureExtractor or WhisperFeatureExtractor"
    )
