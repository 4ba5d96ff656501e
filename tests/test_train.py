"""Victim and generator training: determinism, resume after interruption, NaN handling."""

from __future__ import annotations

import io
import json

import pytest
import torch

from conftest import TINY_SSL
from staa.errors import TrainingError
from staa.runtime import setup_runtime
from staa.steps.train_victim import VictimFiles, train_victim

PARAMS = {
    "family": "emo18",
    "arch": {"channels": [4, 4, 4], "hidden": 8},
    "epochs": 2,
    "batch_size": 8,
    "lr": 1e-3,
    "seed": 0,
    "select": "best_dev_ua",
}


@pytest.fixture(autouse=True)
def _cpu():
    setup_runtime(1)


def _run(tiny_dataset, out, **over):
    return train_victim("emo18", {**PARAMS, **over}, tiny_dataset, VictimFiles.in_dir(out), torch.device("cpu"))


def test_same_seed_same_metrics(tiny_dataset, tmp_path):
    _run(tiny_dataset, tmp_path / "a")
    _run(tiny_dataset, tmp_path / "b")
    a = json.loads((tmp_path / "a" / "metrics.json").read_text())
    b = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert a == b
    sa = torch.load(tmp_path / "a" / "model.pt", weights_only=True)["state_dict"]
    sb = torch.load(tmp_path / "b" / "model.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_resume_gives_the_same_result(tiny_dataset, tmp_path):
    """A run interrupted after epoch 1 and rerun ends exactly where an uninterrupted run does."""
    _run(tiny_dataset, tmp_path / "full", epochs=3)
    _run(tiny_dataset, tmp_path / "cut", epochs=1)  # stands in for a job killed after epoch 1
    (tmp_path / "cut" / "metrics.json").unlink()
    log = io.StringIO()
    train_victim(
        "emo18",
        {**PARAMS, "epochs": 3},
        tiny_dataset,
        VictimFiles.in_dir(tmp_path / "cut"),
        torch.device("cpu"),
        log=log,
    )
    assert "resumed" in log.getvalue() and "after epoch 1" in log.getvalue()
    full = json.loads((tmp_path / "full" / "metrics.json").read_text())
    cut = json.loads((tmp_path / "cut" / "metrics.json").read_text())
    assert full == cut


def test_changed_settings_do_not_resume(tiny_dataset, tmp_path):
    _run(tiny_dataset, tmp_path / "x", epochs=1)
    log = io.StringIO()
    train_victim(
        "emo18",
        {**PARAMS, "epochs": 1, "lr": 5e-3},
        tiny_dataset,
        VictimFiles.in_dir(tmp_path / "x"),
        torch.device("cpu"),
        log=log,
    )
    assert "resumed" not in log.getvalue() and "other settings" in log.getvalue()


def test_nan_loss_stops_with_epoch_and_batch(tiny_dataset, tmp_path, monkeypatch):
    import staa.steps.train_victim as tv

    real = tv.F.cross_entropy
    calls = {"n": 0}
    n_batches = -(-len(__import__("numpy").load(tiny_dataset / "train.npy", mmap_mode="r")) // PARAMS["batch_size"])

    def flaky(*a, **k):
        calls["n"] += 1
        out = real(*a, **k)
        return out * float("nan") if calls["n"] > n_batches else out  # NaN from epoch 2 on

    monkeypatch.setattr(tv.F, "cross_entropy", flaky)
    with pytest.raises(TrainingError, match=r"epoch 2, batch 1"):
        _run(tiny_dataset, tmp_path / "nan", epochs=3)
    ck = torch.load(tmp_path / "nan" / "ckpt" / "last.pt", weights_only=True)
    assert ck["epoch"] == 1  # the last good checkpoint is kept
    assert not (tmp_path / "nan" / "metrics.json").exists()


@pytest.mark.parametrize("sig", ["SIGKILL", "SIGTERM", "SIGINT"])
def test_killed_job_resumes_and_matches(tiny_dataset, tmp_path, sig):
    """A training process killed (SIGKILL) or stopped (SIGTERM from Snakemake/scancel, SIGINT from
    Ctrl-C) mid-run resumes from its last checkpoint when rerun and ends with the same metrics as an
    uninterrupted run; the kill leaves no complete-looking output; a stop prints one line, no traceback."""
    import os
    import signal
    import subprocess
    import sys
    import time

    params = json.dumps({**PARAMS, "epochs": 40})

    def cmd(out):
        return [
            sys.executable,
            "-m",
            "staa.cli",
            "train-victim",
            "--name",
            "emo18",
            "--data-dir",
            str(tiny_dataset),
            "--model",
            str(out / "model.pt"),
            "--metrics",
            str(out / "metrics.json"),
            "--train-log",
            str(out / "train_log.csv"),
            "--params",
            params,
        ]

    subprocess.run(cmd(tmp_path / "ref"), check=True, capture_output=True, timeout=600)
    proc = subprocess.Popen(cmd(tmp_path / "cut"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    ckpt = tmp_path / "cut" / "ckpt" / "last.pt"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if ckpt.exists() and torch.load(ckpt, weights_only=True)["epoch"] >= 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "training finished before it could be interrupted"
    os.kill(proc.pid, getattr(signal, sig))
    _, err = proc.communicate(timeout=60)
    if sig != "SIGKILL":
        assert proc.returncode == 128 + getattr(signal, sig)
        assert "Traceback" not in err and f"interrupted ({sig})" in err, err
    done = torch.load(ckpt, weights_only=True)["epoch"]
    assert 3 <= done < 40
    assert not (tmp_path / "cut" / "metrics.json").exists() and not (tmp_path / "cut" / "model.pt").exists()
    res = subprocess.run(cmd(tmp_path / "cut"), check=True, capture_output=True, text=True, timeout=600)
    assert f"resumed from {ckpt} after epoch" in res.stderr
    ref = json.loads((tmp_path / "ref" / "metrics.json").read_text())
    cut = json.loads((tmp_path / "cut" / "metrics.json").read_text())
    assert ref == cut


def test_pretrained_ssl_victim_trains_one_epoch_offline(tiny_dataset, tmp_path):
    """The paper's recipe end to end, offline: a tiny Wav2vec 2.0 saved with save_pretrained stands
    in for facebook/wav2vec2-base-960h; one training epoch runs with the feature encoder frozen."""
    import transformers

    cfg = transformers.Wav2Vec2Config(**TINY_SSL)
    torch.manual_seed(0)
    pre = transformers.Wav2Vec2Model(cfg)
    pre.save_pretrained(tmp_path / "pretrained")
    frozen_before = pre.feature_extractor.conv_layers[0].conv.weight.detach().clone()
    params = {
        "family": "wav2vec2",
        "arch": {"pretrained": str(tmp_path / "pretrained")},
        "epochs": 1,
        "batch_size": 8,
        "lr": 3e-5,
        "seed": 0,
        "select": "last",
    }
    m = train_victim("wav2vec2", params, tiny_dataset, VictimFiles.in_dir(tmp_path / "v"), torch.device("cpu"))
    assert m["epochs"] == 1 and 0.0 <= m["ua"] <= 1.0
    from staa.models import load_victim

    trained = load_victim(tmp_path / "v" / "model.pt")
    after = trained.net.model.wav2vec2.feature_extractor.conv_layers[0].conv.weight
    assert torch.equal(after, frozen_before)  # the CNN feature encoder stayed frozen


def test_snapshots_are_copies_not_views():
    """A best-epoch snapshot must not follow the live weights (CPU .cpu() returns the same storage)."""
    from staa.checkpoint import to_cpu

    w = torch.nn.Linear(2, 2)
    snap = to_cpu(w.state_dict())
    with torch.no_grad():
        w.weight.add_(1.0)
    assert not torch.equal(snap["weight"], w.weight)


def test_best_dev_ua_weights_are_the_best_epoch(tiny_dataset, tmp_path, monkeypatch):
    """select=best_dev_ua saves the weights of the best dev epoch, not the last one (scripted dev UA)."""
    import staa.steps.train_victim as tv

    real = tv.classification_report
    uas = iter([0.2, 0.9, 0.3])  # three dev reports; the test report after them is the real one

    def report(y, p, classes):
        rep, ua = real(y, p, classes), next(uas, None)
        return rep if ua is None else {**rep, "ua": ua}

    monkeypatch.setattr(tv, "classification_report", report)
    m = _run(tiny_dataset, tmp_path / "v", epochs=3)
    assert m["selected_epoch"] == 2
    saved = torch.load(tmp_path / "v" / "model.pt", weights_only=True)["state_dict"]
    ckpt = torch.load(tmp_path / "v" / "ckpt" / "last.pt", weights_only=True)
    assert all(torch.equal(saved[k], v) for k, v in ckpt["extra"]["best"]["state"].items())
    assert not all(torch.equal(saved[k], v) for k, v in ckpt["states"]["model"].items())
