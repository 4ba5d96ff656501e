"""The CUDA path (run by `make gpu-check` on a machine with a GPU; skipped elsewhere), and the one
line a CUDA out-of-memory error becomes (tested everywhere with a simulated error)."""

from __future__ import annotations

import json

import pytest
import torch

from staa import cli

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_out_of_memory_is_one_line_naming_rule_batch_memory_and_key(monkeypatch, capsys):
    def boom(ns):
        raise torch.cuda.OutOfMemoryError(
            "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 79.19 GiB of which "
            "1.02 GiB is free. Of the allocated memory ..."
        )

    monkeypatch.setitem(cli.COMMANDS, "train-generator", (boom, ""))
    params = {
        "threat": "emo18",
        "variant": "full",
        "arch": {},
        "seed": 0,
        "train": {"epochs": 1, "batch_size": 8, "lr": 1e-3},
    }
    code = cli.main(
        [
            "train-generator",
            "--data-dir",
            "d",
            "--model",
            "o/g.pt",
            "--train-log",
            "o/l.csv",
            "--summary",
            "o/s.json",
            "--threat-model",
            "t",
            "--params",
            json.dumps(params),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert err == (
        "staa train-generator: error: CUDA out of memory in rule train_generator at batch size 8 "
        "(Tried to allocate 2.00 GiB); lower generator.train.batch_size, or give the job a larger GPU"
    )


@cuda
def test_models_on_cuda_match_cpu():
    from staa.generator import STAANet
    from staa.models import build_victim

    torch.manual_seed(0)
    gen = STAANet(8000, channels=[8, 8, 16], kernel_size=5, stride=4, group_size=4).eval()
    vic = build_victim("emo18", 4, 8000, {"channels": [8, 8, 8], "hidden": 8}).eval()
    x = torch.rand(2, 8000) - 0.5
    with torch.no_grad():
        cpu = gen(x, 0.03).x_adv, vic(x)
        gpu = gen.cuda()(x.cuda(), 0.03).x_adv.cpu(), vic.cuda()(x.cuda()).cpu()
    for a, b in zip(cpu, gpu):
        assert torch.allclose(a, b, atol=1e-4)


@cuda
def test_generator_trains_on_cuda_against_an_lstm_threat(tiny_dataset, tmp_path):
    """cuDNN cannot backpropagate through an LSTM in eval mode: the generator's training must still run."""
    from staa.runtime import setup_runtime
    from staa.steps.train_generator import GeneratorFiles, train_generator
    from staa.steps.train_victim import VictimFiles, train_victim

    device = setup_runtime(1, gpus=1)
    train_victim(
        "emo18",
        {
            "family": "emo18",
            "arch": {"channels": [4, 4, 4], "hidden": 8},
            "epochs": 1,
            "batch_size": 8,
            "lr": 1e-3,
            "seed": 0,
        },
        tiny_dataset,
        VictimFiles.in_dir(tmp_path / "v"),
        device,
    )
    meta = train_generator(
        {
            "threat": "emo18",
            "variant": "full",
            "seed": 0,
            "arch": {"channels": [4, 8]},
            "train": {"epochs": 1, "batch_size": 4, "lr": 1e-3},
            "variant_cfg": {"losses": {"spa": 1.0}},
        },
        tiny_dataset,
        tmp_path / "v" / "model.pt",
        GeneratorFiles.in_dir(tmp_path / "g"),
        device,
    )
    assert meta["selected_epoch"] == 1 and (tmp_path / "g" / "generator.pt").is_file()
