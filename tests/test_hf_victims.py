"""Foreign victims: Hugging Face audio classifiers (family hf) and torch.export programs (family exported).

Every checkpoint is a tiny one built and saved here (no download). Tolerances, on a synthetic
speech-like signal (harmonics with a formant bump, gliding f0, noise, syllable envelope):
  front-end vs the checkpoint's feature extractor: |diff| <= 1e-5 (observed: Wav2Vec2 ~1e-6,
  AST kaldi fbank and Whisper log-mel bit-identical);
  wrapper logits vs model(feature extractor output): |diff| <= 1e-4 + 1e-4 |logit|.
"""

from __future__ import annotations

import json
import shutil
import zipfile

import numpy as np
import pytest
import torch

from staa.errors import ConfigError, DataError
from staa.models import build_victim, check_trainable, load_victim, save_victim

transformers = pytest.importorskip("transformers")

FE_TOL = 1e-5
LOGIT_ATOL, LOGIT_RTOL = 1e-4, 1e-4
RATE = 16000
LENGTH = 12000  # 0.75 s: the tiny AST (56 frames) truncates it, the tiny Whisper (1 s window) pads it
MODEL_LABELS = ["neu", "hap", "ang", "sad", "bored"]
DATASET = ["angry", "happy", "neutral", "sad"]
CLASS_MAP = {"angry": "ang", "happy": "hap", "neutral": "neu"}  # 'sad' maps to the label of the same name
INDEX = [2, 1, 0, 3]

_SSL = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=37,
    conv_dim=(8, 8),
    conv_kernel=(10, 3),
    conv_stride=(5, 2),
    num_conv_pos_embeddings=8,
    num_conv_pos_embedding_groups=2,
    classifier_proj_size=8,
    layerdrop=0.0,
    mask_time_prob=0.0,
)
CONFIGS = {
    "wav2vec2": _SSL,
    "hubert": _SSL,
    "wavlm": _SSL,
    "unispeech": _SSL,
    "unispeech-sat": _SSL,
    "data2vec-audio": dict(_SSL, conv_pos_kernel_size=8, num_conv_pos_embeddings=2),
    "sew": dict(_SSL, squeeze_factor=2),
    "sew-d": dict(_SSL, squeeze_factor=2, position_buckets=16, max_position_embeddings=64),
    "audio-spectrogram-transformer": dict(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37, max_length=56, num_mel_bins=26
    ),
    "whisper": dict(
        d_model=32,
        encoder_layers=2,
        encoder_attention_heads=2,
        decoder_layers=1,
        decoder_attention_heads=2,
        encoder_ffn_dim=37,
        decoder_ffn_dim=37,
        num_mel_bins=16,
        max_source_positions=50,
        max_target_positions=8,
        vocab_size=64,
        classifier_proj_size=8,
    ),
}


def _feature_extractor(model_type: str, sampling_rate: int = RATE):
    if model_type == "audio-spectrogram-transformer":
        return transformers.ASTFeatureExtractor(num_mel_bins=26, max_length=56, sampling_rate=sampling_rate)
    if model_type == "whisper":
        return transformers.WhisperFeatureExtractor(feature_size=16, chunk_length=1, sampling_rate=sampling_rate)
    # hubert-style checkpoints ship do_normalize=False: cover both settings
    return transformers.Wav2Vec2FeatureExtractor(do_normalize=model_type != "hubert", sampling_rate=sampling_rate)


def speech_like(n: int, seed: int, sr: int = RATE) -> np.ndarray:
    """Voiced speech stand-in: gliding f0 with 30 harmonics, a formant bump, noise, syllable envelope."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sr
    f0 = 140 + 40 * np.sin(2 * np.pi * 1.5 * t + rng.uniform(0, 6))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    x = sum(np.sin(k * phase) / k * (1 + 2 * np.exp(-(((k * f0 - 700) / 300) ** 2))) for k in range(1, 30))
    x = x + 0.05 * rng.standard_normal(n)
    env = np.clip(np.sin(2 * np.pi * 3 * t + rng.uniform(0, 6)), 0, None) ** 0.5 + 0.02
    return (0.3 * x * env / np.abs(x).max()).astype(np.float32)


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def batch() -> torch.Tensor:
    return torch.from_numpy(np.stack([speech_like(LENGTH, s) for s in range(2)]))


def make_checkpoint(model_type: str, directory, sampling_rate: int = RATE, labels=MODEL_LABELS):
    torch.manual_seed(0)
    config = transformers.AutoConfig.for_model(
        model_type,
        **CONFIGS[model_type],
        id2label=dict(enumerate(labels)),
        label2id={v: i for i, v in enumerate(labels)},
    )
    transformers.AutoModelForAudioClassification.from_config(config).save_pretrained(directory)
    _feature_extractor(model_type, sampling_rate).save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("hf")
    return {t: make_checkpoint(t, root / t) for t in CONFIGS}


def hf_victim(path, **arch):
    return build_victim(
        "hf",
        len(DATASET),
        LENGTH,
        {"pretrained": str(path), "class_map": CLASS_MAP, **arch},
        classes=DATASET,
        sample_rate=RATE,
    ).eval()


def reference(path, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(features, logits) through transformers' own extractor and model, loaded independently."""
    fe = transformers.AutoFeatureExtractor.from_pretrained(path)
    model = transformers.AutoModelForAudioClassification.from_pretrained(path).eval()
    out = fe(list(x.numpy()), sampling_rate=RATE, return_tensors="pt")
    name = "input_features" if "input_features" in out else "input_values"
    with torch.no_grad():
        logits = model(**{name: out[name]}).logits
    return out[name], logits


@pytest.mark.parametrize("model_type", list(CONFIGS))
def test_hf_victim_matches_transformers(model_type, checkpoints, batch, tmp_path):
    path = checkpoints[model_type]
    victim = hf_victim(path)
    feats, logits = reference(path, batch)
    with torch.no_grad():
        ours = victim.net.frontend(batch)
        out = victim(batch)
    # (a) the differentiable front-end reproduces the checkpoint's feature extractor
    assert ours.shape == feats.shape
    assert (ours - feats).abs().max().item() <= FE_TOL
    # (b) the wrapper's logits are the model's on the extractor's features, in dataset class order
    assert out.shape == (2, len(DATASET))
    torch.testing.assert_close(out, logits[:, INDEX], atol=LOGIT_ATOL, rtol=LOGIT_RTOL)
    assert victim.dropped_labels == ["bored"]
    # (c) white-box gradients reach the raw waveform
    x = batch.clone().requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(victim(x), torch.tensor([0, 3]))
    (grad,) = torch.autograd.grad(loss, x)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    # (d) the saved victim rebuilds offline (the pretrained directory is gone) with identical logits
    copy = shutil.copytree(path, tmp_path / "ckpt")
    built = hf_victim(copy)
    save_victim(built, tmp_path / "model.pt", extra={"classes": DATASET})
    shutil.rmtree(copy)
    loaded = load_victim(tmp_path / "model.pt")
    with torch.no_grad():
        assert torch.equal(built(batch), loaded(batch))
    assert loaded.dropped_labels == ["bored"] and not loaded.znorm_input


def test_hf_resamples_to_the_model_rate(tmp_path, batch):
    path = make_checkpoint("wav2vec2", tmp_path / "w8k", sampling_rate=8000)
    victim = hf_victim(path)
    import torchaudio.functional as AF

    fe = transformers.AutoFeatureExtractor.from_pretrained(path)
    resampled = AF.resample(batch, RATE, 8000)
    want = fe(list(resampled.numpy()), sampling_rate=8000, return_tensors="pt")["input_values"]
    with torch.no_grad():
        got = victim.net.frontend(batch)
    assert got.shape == (2, LENGTH // 2)
    assert (got - want).abs().max().item() <= FE_TOL


def test_hf_fine_tunes_with_frozen_cnn(checkpoints, batch):
    victim = hf_victim(checkpoints["wav2vec2"]).train()
    cnn = victim.net.model.wav2vec2.feature_extractor
    assert not any(p.requires_grad for p in cnn.parameters())
    trainable = [p for p in victim.parameters() if p.requires_grad]
    before = [p.detach().clone() for p in trainable]
    opt = torch.optim.Adam(trainable, lr=1e-2)
    loss = torch.nn.functional.cross_entropy(victim(batch), torch.tensor([1, 2]))
    opt.zero_grad()
    loss.backward()
    opt.step()
    assert any(not torch.equal(a, b) for a, b in zip(before, trainable))


def test_class_map_errors(checkpoints):
    path = checkpoints["wav2vec2"]
    with pytest.raises(ConfigError, match=r"\['angry'\] map to no model label"):
        hf_victim(path, class_map={"happy": "hap", "neutral": "neu"})
    with pytest.raises(ConfigError, match="angry -> furious: no such model label"):
        hf_victim(path, class_map={**CLASS_MAP, "angry": "furious"})
    with pytest.raises(ConfigError, match="same model label"):
        hf_victim(path, class_map={**CLASS_MAP, "happy": "ang"})
    with pytest.raises(ConfigError, match="class names are needed"):
        build_victim("hf", 4, LENGTH, {"pretrained": str(path), "class_map": CLASS_MAP})
    with pytest.raises(ConfigError, match="pretrained is required"):
        build_victim("hf", 4, LENGTH, {"class_map": CLASS_MAP}, classes=DATASET)
    with pytest.raises(ConfigError, match="unknown architecture option"):
        build_victim("hf", 4, LENGTH, {"pretrained": str(path), "clas_map": CLASS_MAP}, classes=DATASET)


def test_unsupported_model_type_lists_supported(tmp_path):
    config = transformers.AutoConfig.for_model(
        "wav2vec2-conformer", hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37
    )
    config.save_pretrained(tmp_path)  # refused from config.json alone: no weights are read
    with pytest.raises(ConfigError, match=r"'wav2vec2-conformer'.*not supported.*'sew-d'.*'whisper'"):
        hf_victim(tmp_path)


def test_missing_preprocessor_config_and_directory(checkpoints, tmp_path):
    copy = shutil.copytree(checkpoints["hubert"], tmp_path / "c")
    (copy / "preprocessor_config.json").unlink()
    with pytest.raises(ConfigError, match="no readable feature extractor config"):
        hf_victim(copy)
    with pytest.raises(ConfigError, match="does not exist"):
        hf_victim(tmp_path / "absent")


# --- exported programs ------------------------------------------------------------------------


class TinyNet(torch.nn.Module):
    def __init__(self, n_out: int = 5):
        super().__init__()
        self.conv = torch.nn.Conv1d(1, 4, 64, stride=32)
        self.head = torch.nn.Linear(4, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.tanh(self.conv(x.unsqueeze(1))).mean(-1))


def export(module: torch.nn.Module, path, sidecar: bool = True):
    batch_dim = torch.export.Dim("batch", min=1, max=1024)
    program = torch.export.export(module.eval(), (torch.randn(2, LENGTH),), dynamic_shapes=({0: batch_dim},))
    torch.export.save(program, path)
    if sidecar:
        path.with_suffix(".classes.json").write_text(json.dumps({"classes": MODEL_LABELS}))
    return path


def test_exported_program_victim(tmp_path, batch):
    torch.manual_seed(0)
    module = TinyNet()
    path = export(module, tmp_path / "ser.pt2")
    arch = {"program": str(path), "class_map": CLASS_MAP}
    victim = build_victim("exported", 4, LENGTH, arch, classes=DATASET, sample_rate=RATE).eval()
    with torch.no_grad():
        out = victim(batch)
        torch.testing.assert_close(out, module(batch)[:, INDEX], atol=1e-6, rtol=1e-6)
    assert victim.dropped_labels == ["bored"] and victim.arch["classes"] == MODEL_LABELS
    assert list(victim.parameters()) == [] and victim.state_dict() == {}  # weights stay in the .pt2
    x = batch.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(victim(x).logsumexp(1).sum(), x)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0

    save_victim(victim, tmp_path / "model.pt")
    with torch.no_grad():
        assert torch.equal(load_victim(tmp_path / "model.pt")(batch), out)
    with pytest.raises(ConfigError, match="expected epochs: 0"):
        check_trainable("exported", 3, "ser")
    check_trainable("exported", 0)

    torch.manual_seed(1)
    export(TinyNet(), path)  # the file changes under the saved victim
    with pytest.raises(DataError, match="changed since this victim was built"):
        load_victim(tmp_path / "model.pt")


def test_exported_program_errors(tmp_path):
    torch.manual_seed(0)
    path = export(TinyNet(), tmp_path / "p.pt2", sidecar=False)
    with pytest.raises(ConfigError, match="class names are unknown"):
        build_victim("exported", 4, LENGTH, {"program": str(path)}, classes=DATASET)
    with pytest.raises(ConfigError, match=r"\['angry', 'happy', 'neutral'\] map to no model label"):
        build_victim("exported", 4, LENGTH, {"program": str(path), "classes": MODEL_LABELS}, classes=DATASET)
    with pytest.raises(DataError, match="not found"):
        build_victim(
            "exported", 4, LENGTH, {"program": str(tmp_path / "nope.pt2"), "classes": MODEL_LABELS}, classes=DATASET
        )
    # an archive that declares a pickled weight is refused before torch.export.load sees it
    pickled = tmp_path / "pickled.pt2"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(pickled, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name.endswith("_weights_config.json"):
                data = data.replace(b'"use_pickle": false', b'"use_pickle": true', 1)
            dst.writestr(name, data)
    with pytest.raises(DataError, match="stored as a pickle"):
        build_victim(
            "exported",
            4,
            LENGTH,
            {"program": str(pickled), "classes": MODEL_LABELS, "class_map": CLASS_MAP},
            classes=DATASET,
        )
    # a program exported for a fixed batch size fails at build time, not mid-attack
    static = tmp_path / "static.pt2"
    torch.export.save(torch.export.export(TinyNet().eval(), (torch.randn(1, LENGTH),)), static)
    with pytest.raises(ConfigError, match="dynamic batch"):
        build_victim(
            "exported",
            4,
            LENGTH,
            {"program": str(static), "classes": MODEL_LABELS, "class_map": CLASS_MAP},
            classes=DATASET,
        )


def test_config_check_knows_the_foreign_arch_keys():
    """config.ARCH_KEYS (torch-free) lists exactly what the builders accept."""
    from staa.config import ARCH_KEYS
    from staa.models import FOREIGN_ARCH_KEYS

    for family, keys in FOREIGN_ARCH_KEYS.items():
        assert ARCH_KEYS[family] == set(keys)
