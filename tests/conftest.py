"""Shared fixtures: a tiny pipeline config, a tiny prepared dataset, the repo paths."""

from __future__ import annotations

import copy
import os
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
SNAKEFILE = REPO / "workflow" / "Snakefile"
# the smallest wav2vec2/WavLM transformers config that still runs: built locally, nothing is downloaded
TINY_SSL = dict(
    hidden_size=16,
    num_hidden_layers=1,
    num_attention_heads=2,
    intermediate_size=16,
    conv_dim=[8, 8],
    conv_kernel=[10, 3],
    conv_stride=[5, 2],
    num_conv_pos_embeddings=8,
    num_conv_pos_embedding_groups=2,
    classifier_proj_size=8,
    layerdrop=0.0,
    mask_time_prob=0.0,
)

# the workflow's rules call the `staa` CLI: make this interpreter's environment visible to them
os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
os.environ.setdefault("MPLBACKEND", "Agg")


def load_default_config() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def tiny_config() -> dict:
    """The default config shrunk so the whole DAG runs in well under a minute per stage."""
    cfg = copy.deepcopy(load_default_config())
    ds = cfg["datasets"]["synth"]
    ds["clip_seconds"] = 0.25
    ds["synthetic"].update(n_speakers=4, utterances_per_emotion=3, emotions=["angry", "sad"])
    ds["split"] = {"dev_fraction": 0.25, "test_fraction": 0.25, "balance_gender": False}
    for v in cfg["victims"].values():
        v["epochs"] = 1
        v["batch_size"] = 8
    cfg["victims"]["emo18"]["arch"].update(channels=[4, 4, 4], hidden=8)
    cfg["victims"]["zhao19"]["arch"].update(channels=[4, 4, 4, 4], hidden=8)
    for fam in ("wav2vec2", "wavlm"):
        cfg["victims"][fam]["arch"]["small_config"] = dict(TINY_SSL)
    # three victims, the universal control, one baseline: every rule of the DAG runs, in about 30 jobs
    del cfg["victims"]["wavlm"]
    ds["victims"] = ["emo18", "zhao19", "wav2vec2"]
    cfg["generator"]["arch"]["channels"] = [4, 8]
    cfg["generator"]["train"].update(epochs=1, batch_size=4)
    cfg["generator"]["variants"] = {k: v for k, v in cfg["generator"]["variants"].items() if k in ("full", "universal")}
    cfg["generator"]["variants"]["universal"]["threats"] = ["emo18"]
    cfg["generator"]["sweeps"] = {"density": {**cfg["generator"]["sweeps"]["density"], "values": [0.05, 0.15]}}
    # one new point, one reusing `full`
    cfg["attack_eval"].update(timing_utterances=2)
    cfg["baselines"]["subset_size"] = 3
    cfg["baselines"]["methods"] = {"pgd": {**cfg["baselines"]["methods"]["pgd"], "steps": 3}}
    if "timing" in cfg:
        cfg["timing"].update(utterances=2, warmup=1, throughput_batch=4)
    return cfg


@pytest.fixture
def tiny_cfg() -> dict:
    return tiny_config()


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """A prepared tiny synthetic dataset (data-stage outputs), shared by the session."""
    from staa.data.prepare import prepare_dataset
    from staa.data.synthetic import generate_corpus

    root = tmp_path_factory.mktemp("corpus")
    generate_corpus(root, n_speakers=4, utterances_per_emotion=4, emotions=["angry", "sad"], seed=0)
    out = tmp_path_factory.mktemp("data")
    prepare_dataset(
        "tiny",
        {
            "reader": "synthetic",
            "root": str(root),
            "sample_rate": 16000,
            "clip_seconds": 0.25,
            "split": {"dev_fraction": 0.25, "test_fraction": 0.25, "balance_gender": False, "seed": 0},
        },
        out,
    )
    return out
