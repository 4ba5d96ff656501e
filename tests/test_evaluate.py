"""Attack metrics against hand-computed values; baseline runs record failures and go on; the
subset is seeded and shared; the timing table has its contract columns; STAA-Net evaluation."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from staa.evaluate import attack_metrics
from staa.metrics import classification_report, l0_frames, snr_energy_db, snr_peak_db
from staa.runtime import setup_runtime


@pytest.fixture(autouse=True)
def _cpu():
    setup_runtime(1)


def test_snr_and_l0_hand_computed():
    x = np.array([[0.5, -1.0, 0.25, 0.0]])
    d = np.array([[0.0, 0.1, 0.0, -0.05]])
    assert snr_peak_db(x, d)[0] == pytest.approx(20 * np.log10(1.0 / 0.1))
    assert snr_energy_db(x, d)[0] == pytest.approx(10 * np.log10((0.25 + 1 + 0.0625) / (0.01 + 0.0025)))
    assert l0_frames(d, 2)[0] == 2 and l0_frames(d, 4)[0] == 1


def test_attack_metrics_counts_successes_only():
    x = np.ones((3, 4), dtype=np.float32) * 0.5
    adv = x.copy()
    adv[0, :2] += 0.1  # fooled, 2 samples
    adv[1, :1] += 0.1  # not fooled, 1 sample
    labels, clean, advp = np.array([0, 1, 1]), np.array([0, 1, 0]), np.array([1, 1, 0])
    m, per = attack_metrics(x, adv, labels, clean, advp, frame_length=2)
    assert m["asr"] == pytest.approx(1 / 3)
    assert m["n_success"] == 1 and m["l0"] == 2 and m["l0_percent"] == 50.0
    assert m["success_vs_truth"] == pytest.approx(1 / 2)  # of the 2 clean-correct, one now wrong
    assert m["snr_peak_db"] == pytest.approx(20 * np.log10(0.5 / 0.1), rel=1e-4)  # clean peak / delta peak
    assert per["fooled"].tolist() == [1, 0, 0]


def test_classification_report_ua_is_unweighted():
    y = np.array([0, 0, 0, 1])
    p = np.array([0, 0, 0, 0])
    r = classification_report(y, p, ["a", "b"])
    assert r["wa"] == 0.75 and r["ua"] == 0.5 and r["confusion"] == [[3, 0], [1, 0]]


def _tiny_victim(tiny_dataset, tmp_path):
    from staa.steps.train_victim import VictimFiles, train_victim

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
        torch.device("cpu"),
    )
    return tmp_path / "v" / "model.pt"


def _generator_params(losses: dict, **train) -> dict:
    """A tiny full-variant generator against the emo18 threat model; `train` overrides settings."""
    return {
        "threat": "emo18",
        "variant": "full",
        "seed": 0,
        "arch": {"channels": [4, 4], "kernel_size": 5, "stride": 4, "group_size": 4},
        "train": {
            "epochs": 1,
            "batch_size": 4,
            "lr": 1e-3,
            "eps": 0.03,
            "warmup_epochs": 1,
            "loc_bias_init": 1.0,
            **train,
        },
        "variant_cfg": {"factorised": True, "losses": losses},
    }


def test_baseline_failure_is_recorded_and_run_goes_on(tiny_dataset, tmp_path, monkeypatch):
    from staa.data.prepare import make_subset
    from staa.steps import attack_baseline as ab

    model = _tiny_victim(tiny_dataset, tmp_path)
    sub = make_subset(tiny_dataset, 4, 0, tmp_path / "subset.csv")
    assert sub.equals(make_subset(tiny_dataset, 4, 0, tmp_path / "subset2.csv"))  # seeded
    calls = {"n": 0}
    real = ab.make_attack

    def flaky_factory(method, **s):
        atk = real(method, **s)

        def run(m, x, y, generator=None):
            calls["n"] += 1
            if calls["n"] == 2:
                raise RuntimeError("solver diverged")
            return atk(m, x, y, generator=generator)

        run.validate_for_length = atk.validate_for_length
        return run

    monkeypatch.setattr(ab, "make_attack", flaky_factory)
    params = {
        "name": "pgd",
        "threat": "emo18",
        "seed": 0,
        "eps_mode": "absolute",
        "settings": {"method": "pgd", "eps": 0.01, "steps": 2},
    }
    log = ab.run_baseline(
        params,
        tiny_dataset,
        tmp_path / "subset.csv",
        model,
        ab.BaselineFiles.in_dir(tmp_path / "b"),
        torch.device("cpu"),
    )
    assert log["status"].tolist().count("failed") == 1 and len(log) == 4
    assert "solver diverged" in log.loc[log.status == "failed", "error"].iloc[0]
    from staa.steps.score import ScoreFiles, score_attack

    m = score_attack(
        {
            "dataset": "tiny",
            "attack": "pgd",
            "method": "pgd",
            "threat": "emo18",
            "victim": "emo18",
            "scope": "subset",
            "seed": 0,
        },
        tiny_dataset,
        tmp_path / "b" / "adversarial.npy",
        tmp_path / "b" / "attack_log.csv",
        model,
        ScoreFiles.in_dir(tmp_path / "b" / "on_emo18"),
        torch.device("cpu"),
        subset_csv=tmp_path / "subset.csv",
    )
    assert m["n_failed"] == 1 and m["n_utterances"] == 4 and m["white_box"] is True
    assert m["format_version"] == 1 and m["variant"] is None and m["eps"] is None and m["subset"] == "subset"
    per = pd.read_csv(tmp_path / "b" / "on_emo18" / "per_utterance.csv")
    assert len(per) == 4 and per["seconds"].notna().all()


def test_unknown_baseline_method_is_a_config_error(tiny_dataset, tmp_path):
    from staa.data.prepare import make_subset
    from staa.errors import ConfigError
    from staa.steps.attack_baseline import BaselineFiles, run_baseline

    make_subset(tiny_dataset, 2, 0, tmp_path / "s.csv")
    with pytest.raises(ConfigError, match="cw"):
        run_baseline(
            {"name": "x", "threat": "t", "seed": 0, "eps_mode": "absolute", "settings": {"method": "cw"}},
            tiny_dataset,
            tmp_path / "s.csv",
            tmp_path / "nomodel.pt",
            BaselineFiles.in_dir(tmp_path / "o"),
            torch.device("cpu"),
        )


def test_staa_generator_train_craft_score_and_time(tiny_dataset, tmp_path):
    """Train a generator, craft once, score on the threat model with the shared scoring step (and on
    the subset too), then the timing benchmark; the examples and the packed mask are where they belong."""
    from staa.data.prepare import make_subset
    from staa.steps.craft_staa import CraftFiles, craft_staa, generate
    from staa.evaluate import load_mask
    from staa.steps.score import ScoreFiles, score_attack
    from staa.steps.timing import run_timing
    from staa.generator import load_generator
    from staa.steps.train_generator import GeneratorFiles, train_generator

    model = _tiny_victim(tiny_dataset, tmp_path)
    params = _generator_params(losses={"mag": 1.0, "qua": 0.05, "spa": 1.0})
    train_generator(params, tiny_dataset, model, GeneratorFiles.in_dir(tmp_path / "g"), torch.device("cpu"))
    log = pd.read_csv(tmp_path / "g" / "train_log.csv")
    assert {"epoch", "loss", "adv", "mag", "qua", "spa", "fooling_rate", "mask_density"} <= set(log.columns)
    make_subset(tiny_dataset, 3, 0, tmp_path / "subset.csv")
    run = tmp_path / "a"
    alog = craft_staa(
        {
            "dataset": "tiny",
            "threat": "emo18",
            "variant": "full",
            "seed": 0,
            "n_examples": 1,
            "timing_utterances": 2,
            "throughput_batch": 4,
        },
        tiny_dataset,
        tmp_path / "g" / "generator.pt",
        model,
        CraftFiles.in_dir(run),
        torch.device("cpu"),
    )
    assert alog["seconds"].notna().sum() == 2 and (alog["status"] == "ok").all()
    x = np.load(tiny_dataset / "test.npy")
    gen, meta = load_generator(tmp_path / "g" / "generator.pt")
    x_adv, mask = generate(gen, x, float(meta["eps"]), torch.device("cpu"), 4)
    assert np.array_equal(np.load(run / "adversarial.npy"), x_adv)
    assert np.array_equal(load_mask(run / "mask.npy", x.shape, ""), mask)
    assert np.load(run / "mask.npy").nbytes == x.shape[0] * -(-x.shape[1] // 8)  # packed: a bit per sample
    assert (run / "examples" / "example_0_adv.wav").is_file() and (run / "examples" / "example_0.npz").is_file()
    m = score_attack(
        {
            "dataset": "tiny",
            "attack": "staa",
            "method": "staa",
            "threat": "emo18",
            "variant": "full",
            "victim": "emo18",
            "scope": "full",
            "seed": 0,
            "timing_utterances": 2,
        },
        tiny_dataset,
        run / "adversarial.npy",
        run / "attack_log.csv",
        model,
        ScoreFiles.in_dir(run / "on_emo18"),
        torch.device("cpu"),
        subset_csv=tmp_path / "subset.csv",
        mask_path=run / "mask.npy",
        craft_path=run / "craft.json",
    )
    assert 0 <= m["asr"] <= 1 and m["subset_metrics"]["n_utterances"] == 3
    assert m["eps"] == float(meta["eps"]) and m["throughput_batch"] == 4 and m["n_failed"] == 0
    assert m["seconds_per_utterance_median"] > 0 and m["victim_seconds_per_utterance_median"] > 0
    written = json.loads((run / "on_emo18" / "metrics.json").read_text())
    assert written["white_box"] is True and written["format_version"] == 1
    pc = written["per_class"]  # per true emotion: counts add up, the class rates average to the ASR
    assert set(pc) <= {"angry", "sad"} and sum(d["n"] for d in pc.values()) == m["n_utterances"]
    assert sum(d["n"] * d["asr"] for d in pc.values()) / m["n_utterances"] == pytest.approx(m["asr"])
    df = run_timing(
        {
            "dataset": "tiny",
            "threat": "emo18",
            "seed": 0,
            "utterances": 2,
            "warmup": 1,
            "throughput_batch": 4,
            "methods": {"pgd": {"method": "pgd", "eps": 0.01, "steps": 3}},
        },
        tiny_dataset,
        tmp_path / "subset.csv",
        tmp_path / "g" / "generator.pt",
        model,
        tmp_path / "timing.csv",
        torch.device("cpu"),
    )
    for col in ("method", "threat", "seconds_per_utterance", "speedup_vs_staa", "device", "threads"):
        assert col in df.columns
    assert set(df.method) == {"staa", "staa_batched", "pgd"}
    assert df.loc[df.method == "staa", "speedup_vs_staa"].iloc[0] == pytest.approx(1.0)


def test_generator_best_dev_selection(tiny_dataset, tmp_path, monkeypatch):
    """select=best_dev keeps the post-warm-up epoch with the best dev fooling rate whose hard dev
    density lies in the window (within the budget, and not collapsed under a quarter of it), and
    that is the state saved in generator.pt (dev results scripted)."""
    import staa.generator.training as gt
    import staa.steps.train_generator as tg
    from staa.generator import load_generator

    # (dev fooling, dev density): warm-up; over budget; collapsed (best fooling, empty mask); in; in
    script = iter([(0.9, 1.0), (0.8, 0.30), (0.95, 0.0), (0.7, 0.21), (0.6, 0.20)])

    def fake_dev(*args, **kwargs):
        f, d = next(script)
        return {"fooling_rate": f, "mask_density": d, "saturation": 0.1, "delta_cosine": 0.5, "mask_overlap": 0.5}

    monkeypatch.setattr(gt, "evaluate_dev", fake_dev)
    model = _tiny_victim(tiny_dataset, tmp_path)
    params = _generator_params(
        losses={"mag": 0.5, "qua": 0.05, "spa": 8.0}, epochs=5, lr=3e-3, sparsity_target=0.2, select="best_dev"
    )
    tg.train_generator(params, tiny_dataset, model, tg.GeneratorFiles.in_dir(tmp_path / "g"), torch.device("cpu"))
    summary = json.loads((tmp_path / "g" / "train_summary.json").read_text())
    # epoch 1 is the warm-up, 2 is over budget (0.30 > 0.22), 3 collapsed: epoch 4 wins over epoch 5
    assert summary["selected_epoch"] == 4 and summary["selected"]["epoch"] == 4
    assert summary["collapsed"] is False
    ckpt = torch.load(tmp_path / "g" / "ckpt" / "last.pt", weights_only=True)
    gen, meta = load_generator(tmp_path / "g" / "generator.pt")
    assert meta["selected_epoch"] == 4
    saved = gen.state_dict()
    assert all(torch.equal(saved[k], v) for k, v in ckpt["extra"]["best"]["state"].items())
    assert not all(torch.equal(saved[k], v) for k, v in ckpt["states"]["model"].items())  # not the last epoch
    # the rules on their own
    settings = tg.resolve(params)
    assert gt.density_window(settings) == (pytest.approx(0.22), pytest.approx(0.05))
    row = {"epoch": 3, "dev_mask_density": 0.21}
    assert gt.selectable(row, (0.22, 0.05), 1) and not gt.selectable(row, (0.20, 0.05), 1)
    assert not gt.selectable(row, (None, 0.0), 3) and not gt.selectable(
        {**row, "dev_mask_density": 0.01}, (0.22, 0.05), 1
    )


def test_a_generator_that_collapses_is_marked(tiny_dataset, tmp_path, monkeypatch):
    """No epoch with a mask above the collapse floor: the generator is kept (a sweep point is a
    result) but marked collapsed in its summary and checkpoint meta, never silently an attack."""
    import staa.generator.training as gt
    import staa.steps.train_generator as tg
    from staa.generator import load_generator

    monkeypatch.setattr(
        gt,
        "evaluate_dev",
        lambda *a, **k: {
            "fooling_rate": 0.5,
            "mask_density": 0.0,
            "saturation": 0.0,
            "delta_cosine": None,
            "mask_overlap": None,
        },
    )
    model = _tiny_victim(tiny_dataset, tmp_path)
    params = _generator_params(
        losses={"mag": 0.5, "qua": 0.05, "spa": 8.0}, epochs=2, lr=3e-3, sparsity_target=0.1, select="best_dev"
    )
    meta = tg.train_generator(
        params, tiny_dataset, model, tg.GeneratorFiles.in_dir(tmp_path / "g"), torch.device("cpu")
    )
    assert meta["collapsed"] is True
    assert load_generator(tmp_path / "g" / "generator.pt")[1]["collapsed"] is True
    assert "collapsed" in json.loads((tmp_path / "g" / "train_summary.json").read_text())["note"]


def test_unknown_generator_select_is_a_config_error():
    from staa.errors import ConfigError
    from staa.steps.train_generator import resolve

    with pytest.raises(ConfigError, match="select"):
        resolve({"train": {"epochs": 1, "batch_size": 2, "lr": 1e-3, "select": "best"}, "variant_cfg": {}})
