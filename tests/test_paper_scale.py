"""The paper-scale path without the licensed corpora: fixture corpora in the real layouts, the smoke
overlay's grid, the fidelity rules of config/paper.yaml, the smoke check and the paper benchmark."""

from __future__ import annotations

import json
import re

import pytest
import soundfile as sf
import yaml

from conftest import REPO, SCHEMA
from staa.config import load_config_file, merge_configs, validate_config
from staa.data.fixtures import make_fixture_corpus
from staa.data.readers import read_corpus
from staa.errors import ConfigError, DataError

PAPER = [REPO / "config" / "paper.yaml", REPO / "config" / "paper-smoke.yaml"]


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    root = tmp_path_factory.mktemp("smoke") / "results" / "fixtures"
    make_fixture_corpus("demos", root / "DEMoS", n_speakers=6, utterances_per_class=1)
    make_fixture_corpus("iemocap", root / "IEMOCAP", utterances_per_class=1, dialogs=1)
    return root


def test_fixture_corpora_read_like_the_real_ones(fixtures):
    demos = read_corpus("demos", fixtures / "DEMoS", dev_fraction=0.32, test_fraction=0.25)
    assert sorted(demos.label.unique()) == ["anger", "disgust", "fear", "guilt", "happiness", "sadness", "surprise"]
    assert demos.speaker.nunique() == 6 and set(demos.split) == {"train", "dev", "test"}
    iemo = read_corpus("iemocap", fixtures / "IEMOCAP", sessions={"train": [1, 2, 5], "dev": [4], "test": [3]})
    assert sorted(iemo.label.unique()) == ["ang", "hap", "neu", "sad"]  # exc merged into hap, fru dropped
    assert set(iemo[iemo.split == "test"].speaker) == {"Ses03F", "Ses03M"}
    formats = {(sf.info(p).samplerate, sf.info(p).channels) for p in iemo.path}
    assert {(44100, 1), (22050, 2), (16000, 1), (44100, 2)} <= formats


def test_fixture_corpus_is_written_once_per_settings(fixtures):
    wav = next((fixtures / "DEMoS" / "DEMOS").iterdir())
    before = wav.stat().st_mtime_ns
    assert make_fixture_corpus("demos", fixtures / "DEMoS", n_speakers=6, utterances_per_class=1)["written"] == 0
    assert wav.stat().st_mtime_ns == before
    with pytest.raises(ConfigError, match="fixture layout 'timit' is unknown"):
        make_fixture_corpus("timit", fixtures / "x")


def test_smoke_overlay_plans_every_rule_on_a_thinned_grid(fixtures):
    import subprocess
    import sys

    wd = fixtures.parent.parent
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-s",
            str(REPO / "workflow" / "Snakefile"),
            "-n",
            "--directory",
            str(wd),
            "--configfile",
            *map(str, PAPER),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", res.stdout, re.M)}
    # every rule of the paper DAG runs; ablations and the reference's losses on IEMOCAP against Emo18 only
    assert counts["train_generator"] == 2 + 2 + 6 and counts["train_victim"] == 2 + 4
    assert counts["attack_baseline"] == 6 * 2 and counts["timing"] == 2  # baselines on IEMOCAP only
    for rule in (
        "prepare_data",
        "make_subset",
        "craft_staa",
        "score_staa",
        "score_baseline",
        "victims_table",
        "report",
    ):
        assert counts[rule] >= 1
    assert '"maxiter": 1' in res.stdout and '"full_methods"' in res.stdout  # cut budgets, full ones for timing


def test_paper_config_values_and_fidelity():
    paper = load_config_file(PAPER[0])
    variants = paper["generator"]["variants"]
    assert variants["full"]["losses"]["mag"] > 0 == variants["no_magnitude_loss"]["losses"]["mag"]
    ref = variants["reference_losses"]
    assert (ref["reduction"], ref["kappa"], ref["losses"]) == ("sum", 0.0, {"mag": 0.0, "qua": 1e-6, "spa": 0.1})
    # every value line of the paper config says where it comes from
    for line in PAPER[0].read_text().splitlines():
        if re.match(r"^\s+\w+: +[^\s#]", line):  # a key with a value (not a mapping header, not a comment)
            if not re.search(r"\((ref|paper|ours)", line) and not line.strip().startswith(("losses", "factorised")):
                pytest.fail(f"config/paper.yaml line without (ref)/(paper)/(ours): {line}")
    validate_config(merge_configs([load_config_file(p) for p in PAPER]), SCHEMA)


def test_two_variants_with_identical_settings_are_refused():
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["generator"]["variants"]["copy"] = dict(cfg["generator"]["variants"]["full"])
    with pytest.raises(ConfigError, match="generator.variants.copy has the same settings as generator.variants.full"):
        validate_config(cfg, SCHEMA)
    cfg["generator"]["variants"]["copy"]["kappa"] = 0.0  # a variant-level override makes it differ
    validate_config(cfg, SCHEMA)


def test_variant_overrides_reach_training():
    from staa.steps.train_generator import resolve

    train = resolve(
        {
            "train": {"epochs": 1, "batch_size": 2, "lr": 1e-3, "reduction": "mean", "kappa": 3.0, "eps": 0.03},
            "variant_cfg": {
                "losses": {"spa": 0.1},
                "reduction": "sum",
                "kappa": 0.0,
                "warmup_epochs": 0,
                "loc_bias_init": 0.0,
            },
        }
    )
    assert (train.reduction, train.kappa, train.warmup_epochs, train.loc_bias_init) == ("sum", 0.0, 0, 0.0)


def _summary(root, tag, density, variant="full", factorised=True, spa=8.0):
    path = root / "generators" / tag / "seed0" / "train_summary.json"
    path.parent.mkdir(parents=True)
    path.write_text(
        json.dumps(
            {
                "variant": variant,
                "factorised": factorised,
                "losses": {"spa": spa},
                "selected": {"dev_mask_density": density, "dev_fooling_rate": 0.5},
            }
        )
    )


def test_smoke_check_flags_collapsed_and_dense_masks(tmp_path):
    from staa.smoke import check_smoke

    _summary(tmp_path, "d/emo18/full", 0.3)
    _summary(tmp_path, "d/emo18/no_factorisation", 1.0, "no_factorisation", factorised=False)
    _summary(tmp_path, "d/emo18/reference_losses", 0.0, "reference_losses")
    for name in ("summary.md", "tables/whitebox.csv", "tables/transfer.csv", "tables/timing.csv"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("x")
    assert len(check_smoke(tmp_path)) == 3
    _summary(tmp_path, "d/wav2vec2/full", 0.0)
    _summary(tmp_path, "d/wav2vec2/no_magnitude_loss", 1.0, "no_magnitude_loss")
    with pytest.raises(DataError) as exc:
        check_smoke(tmp_path)
    assert "d/wav2vec2/full/seed0: the mask is all-zero" in str(exc.value)
    assert "d/wav2vec2/no_magnitude_loss/seed0: the mask is all-one" in str(exc.value)


def test_paper_bench_extrapolates_cut_budgets():
    """At the default scale (fast): PGD is timed on its full budget, the others on cut ones."""
    import torch

    from staa.paper_bench import paper_bench

    torch.set_num_threads(1)
    timing, costs = paper_bench([str(REPO / "config" / "config.yaml")], "synth", ["emo18"], 1, 0, torch.device("cpu"))
    rows = timing.set_index("method")
    assert rows.loc["pgd", "seconds_full_budget_est"] == pytest.approx(rows.loc["pgd", "seconds_per_utterance"])
    one = rows.loc["onepixel"]
    assert one["budget_cut"] and one["full_budget_work_units"] == 1 + 21 * 100  # (1 + maxiter) x population
    assert one["seconds_full_budget_est"] > one["seconds_per_utterance"]
    assert set(costs.model) == {"generator", "emo18"} and (costs.gflop_fwd > 0).all()


def test_grid_estimate_adds_up_the_stages():
    """The estimate's arithmetic on made-up per-utterance costs, by hand."""
    import pandas as pd

    from staa.paper_bench import grid_estimate

    cfg = {
        "run": {"datasets": ["d"]},
        "datasets": {"d": {"victims": ["a", "b"]}},
        "victims": {"a": {"epochs": 2}, "b": {"epochs": 1}},
        "generator": {"threats": ["a"], "train": {"epochs": 3}, "variants": {"full": {}, "x": {"datasets": ["e"]}}},
        "baselines": {"subset_size": 5, "methods": {"pgd": {}}},
    }
    costs = pd.DataFrame(
        [
            {"model": "generator", "seconds_fwd": 1.0, "seconds_fwd_bwd": 3.0, "seconds_train_step": None},
            {"model": "a", "seconds_fwd": 0.1, "seconds_fwd_bwd": 0.3, "seconds_train_step": 0.4},
            {"model": "b", "seconds_fwd": 0.2, "seconds_fwd_bwd": 0.6, "seconds_train_step": 0.8},
        ]
    )
    timing = pd.DataFrame(
        [{"threat": "a", "method_family": "pgd", "seconds_per_utterance": 2.0, "seconds_full_budget_est": 2.0}]
    )
    est = grid_estimate(cfg, costs, timing, {"d": {"train": 10, "dev": 4, "test": 6}}).set_index("stage")["seconds"]
    assert est["victims"] == pytest.approx(2 * (10 * 0.4 + 4 * 0.1) + 6 * 0.1 + 1 * (10 * 0.8 + 4 * 0.2) + 6 * 0.2)
    assert est["generators"] == pytest.approx(3 * (10 * (3.0 + 0.3) + 4 * (1.0 + 0.1)))  # variant x skips d
    assert est["attacks"] == pytest.approx(6 * (1.0 + 2 * (0.1 + 0.2)))
    assert est["baselines"] == pytest.approx(5 * 2.0 + 2 * 5 * (0.1 + 0.2))
    assert est["total"] == pytest.approx(est.drop("total").sum())
