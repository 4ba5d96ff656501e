"""Victim models: shapes, normalisation, safe checkpoints, the offline pretrained-SSL path."""

from __future__ import annotations

import pytest
import torch

from conftest import TINY_SSL
from staa.errors import ConfigError, DataError
from staa.models import build_victim, load_victim, save_victim

ARCHS = {
    "emo18": {"channels": [4, 4, 4], "hidden": 8},
    "zhao19": {"channels": [4, 4, 4, 4], "hidden": 8},
    "wav2vec2": {"small_config": TINY_SSL},
    "wavlm": {"small_config": TINY_SSL},
}


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.mark.parametrize("family", list(ARCHS))
def test_forward_shape_and_silence(family):
    torch.manual_seed(0)
    m = build_victim(family, 3, 4000, ARCHS[family]).eval()
    x = torch.randn(2, 4000) * 0.1
    assert m(x).shape == (2, 3)
    out = m(torch.zeros(2, 4000))  # silence: z-normalisation must not divide by zero
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("family", list(ARCHS))
def test_checkpoint_roundtrip_weights_only(family, tmp_path):
    torch.manual_seed(0)
    m = build_victim(family, 3, 4000, ARCHS[family]).eval()
    save_victim(m, tmp_path / "model.pt", extra={"classes": ["a", "b", "c"]})
    raw = torch.load(tmp_path / "model.pt", weights_only=True)  # no pickle code execution needed
    assert raw["family"] == family
    m2 = load_victim(tmp_path / "model.pt")
    x = torch.randn(2, 4000) * 0.1
    assert torch.equal(m(x), m2(x))
    assert m2.extra["classes"] == ["a", "b", "c"]


def test_unknown_family():
    with pytest.raises(ConfigError, match="resnet.*emo18"):
        build_victim("resnet", 4, 4000)


def test_unknown_arch_option():
    with pytest.raises(ConfigError, match="hiden"):
        build_victim("emo18", 4, 4000, {"hiden": 8})


def test_corrupt_checkpoint(tmp_path):
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"garbage")
    with pytest.raises((DataError, Exception)):
        load_victim(bad)
    with pytest.raises(DataError, match="not found"):
        load_victim(tmp_path / "missing.pt")


@pytest.mark.parametrize("family", ["wav2vec2", "wavlm"])
def test_pretrained_loads_offline_and_freezes_feature_encoder(family, tmp_path):
    """The paper's recipe: pretrained weights from a local directory, CNN feature encoder frozen."""
    import transformers

    cfg_cls = transformers.Wav2Vec2Config if family == "wav2vec2" else transformers.WavLMConfig
    base_cls = transformers.Wav2Vec2Model if family == "wav2vec2" else transformers.WavLMModel
    torch.manual_seed(0)
    base = base_cls(cfg_cls(**TINY_SSL))
    base.save_pretrained(tmp_path / "pre")
    m = build_victim(family, 4, 4000, {"pretrained": str(tmp_path / "pre")})
    enc = m.net.model.wav2vec2 if family == "wav2vec2" else m.net.model.wavlm
    assert torch.equal(enc.encoder.layers[0].attention.k_proj.weight, base.encoder.layers[0].attention.k_proj.weight)
    assert not any(p.requires_grad for p in enc.feature_extractor.parameters())
    assert all(p.requires_grad for p in m.net.model.classifier.parameters())
    assert m(torch.randn(2, 4000) * 0.1).shape == (2, 4)
    # the saved checkpoint rebuilds without the pretrained directory
    save_victim(m, tmp_path / "model.pt")
    (tmp_path / "pre" / "config.json").unlink()
    assert load_victim(tmp_path / "model.pt").num_classes == 4


def test_missing_pretrained_dir_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no_such_dir"):
        build_victim("wav2vec2", 4, 4000, {"pretrained": str(tmp_path / "no_such_dir")})
