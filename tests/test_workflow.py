"""End-to-end: the whole DAG on a tiny config, idempotent reruns, exactly-the-right partial reruns
after config changes (docs/design.md §7), determinism of the pipeline's metrics, and lint."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import REPO, SNAKEFILE, tiny_config

SNAKEMAKE = [sys.executable, "-m", "snakemake"]
TIMING_KEYS = re.compile(r"seconds|throughput|device|threads")


def smk(workdir: Path, config: dict, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    cfg = workdir / "config.yaml"
    cfg.write_text(yaml.safe_dump(config))
    cmd = SNAKEMAKE + ["-s", str(SNAKEFILE), "--directory", str(workdir), "--configfile", str(cfg), *args]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
    if check and res.returncode != 0:
        raise AssertionError(f"snakemake failed ({res.returncode}):\n{res.stdout[-4000:]}\n{res.stderr[-6000:]}")
    return res


def planned_jobs(workdir: Path, config: dict) -> set[str]:
    """Jobs a dry run would execute, as 'rule[wildcards]' strings."""
    res = smk(workdir, config, "-n", "--quiet", "all", "--printshellcmds")
    out = res.stdout + res.stderr
    if "Nothing to be done" in out:
        return set()
    jobs = set()
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", out):
        m = re.match(r"(?:local)?rule (\w+):", block.strip())
        if not m or m.group(1) == "all":
            continue
        wc = re.search(r"wildcards: ([^\n]*)", block)
        jobs.add(f"{m.group(1)}[{wc.group(1).strip() if wc else ''}]")
    return jobs


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, dict]:
    """The tiny pipeline, run once to completion (shared by the tests below)."""
    wd = tmp_path_factory.mktemp("pipeline")
    cfg = tiny_config()
    smk(wd, cfg, "--cores", "2")
    return wd, cfg


def test_full_dag_outputs(built):
    wd, cfg = built
    r = wd / "results"
    for split in ("train", "dev", "test"):
        assert (r / "data" / "synth" / f"{split}.npy").is_file()
    for v in cfg["victims"]:
        m = json.loads((r / "victims" / "synth" / v / "seed0" / "metrics.json").read_text())
        assert {"wa", "ua", "per_class_recall", "confusion"} <= set(m)
    m = json.loads(
        (r / "attacks" / "synth" / "staa" / "emo18" / "full" / "seed0" / "on_zhao19" / "metrics.json").read_text()
    )
    for key in (
        "asr",
        "success_vs_truth",
        "snr_peak_db",
        "snr_energy_db",
        "l0",
        "l0_percent",
        "seconds_per_utterance",
        "n_utterances",
    ):
        assert key in m
    assert m["white_box"] is False
    assert m["provenance"]["packages"]["torch"] and len(m["provenance"]["settings_sha256"]) == 16
    assert m["asr_ci_low"] <= m["asr"] <= m["asr_ci_high"] and m["seed"] == 0
    if m["n_success"]:
        assert m["l0_percent_ci_low"] <= m["l0_percent"] <= m["l0_percent_ci_high"]
    assert (r / "attacks" / "synth" / "pgd" / "wav2vec2" / "seed0" / "on_zhao19" / "metrics.json").is_file()
    timing = pd.read_csv(r / "timing" / "synth" / "emo18.csv")
    pgd = timing.set_index("method").loc["pgd"]
    # PGD's budget is not cut: its full-budget estimate is what was measured, from 3 graph passes
    assert pgd["passes_graph_fwd"] == pgd["passes_bwd"] == 3 and not pgd["budget_cut"]
    assert pgd["seconds_full_budget_est"] == pytest.approx(pgd["seconds_per_utterance"])
    assert (r / "summary.md").is_file() and (r / "tables" / "transfer.csv").is_file()
    assert "## Provenance" in (r / "summary.md").read_text()
    assert any((r / "figures").glob("*.png"))
    # crafted once per generator, beside the victims' scores: adversarials, packed mask, log, examples
    run = r / "attacks" / "synth" / "staa" / "emo18" / "full" / "seed0"
    for name in ("adversarial.npy", "mask.npy", "attack_log.csv", "craft.json"):
        assert (run / name).is_file(), name
    n_ex = cfg["attack_eval"]["n_examples"]
    assert sorted(p.name for p in (run / "examples").iterdir()) == sorted(
        f"example_{k}{kind}" for k in range(n_ex) for kind in (".npz", "_clean.wav", "_adv.wav")
    )
    assert len(list((r / "figures" / "listening").glob("*.wav"))) == 2 * n_ex * len(cfg["generator"]["threats"])
    assert m["format_version"] == 1 and m["throughput_batch"] == cfg["attack_eval"]["throughput_batch"]
    assert (
        json.loads((run / "on_emo18" / "metrics.json").read_text())["subset_metrics"]["n_utterances"]
        == cfg["baselines"]["subset_size"]
    )


def test_second_run_does_nothing(built):
    wd, cfg = built
    assert planned_jobs(wd, cfg) == set()


def _changed(cfg: dict, path: str, value) -> dict:
    new = copy.deepcopy(cfg)
    node = new
    keys = path.split(".")
    for k in keys[:-1]:
        node = node[k]
    node[keys[-1]] = value
    return new


def _rules(jobs: set[str]) -> set[str]:
    return {j.split("[")[0] for j in jobs}


def test_victim_epochs_reruns_only_that_victim_and_downstream(built):
    wd, cfg = built
    jobs = planned_jobs(wd, _changed(cfg, "victims.emo18.epochs", 2))
    assert "train_victim[dataset=synth, victim=emo18, seed=0]" in jobs
    assert not any(j.startswith("train_victim") and "emo18" not in j for j in jobs)
    assert not _rules(jobs) & {"synth_corpus", "prepare_data", "make_subset"}
    # generators against wav2vec2 do not depend on emo18
    assert not any(j.startswith("train_generator") and "threat=wav2vec2" in j for j in jobs)
    assert any(j.startswith("train_generator") and "threat=emo18" in j for j in jobs)


def test_generator_loss_weight_reruns_that_generator_only(built):
    wd, cfg = built
    jobs = planned_jobs(wd, _changed(cfg, "generator.variants.full.losses.spa", 0.123))
    gens = {j for j in jobs if j.startswith("train_generator")}
    # the density sweep's generated point derives from `full`, so it follows
    assert gens == {
        "train_generator[dataset=synth, threat=emo18, variant=full, seed=0]",
        "train_generator[dataset=synth, threat=wav2vec2, variant=full, seed=0]",
        "train_generator[dataset=synth, threat=emo18, variant=density_0p05, seed=0]",
    }
    assert not _rules(jobs) & {"train_victim", "prepare_data", "attack_baseline", "score_baseline"}
    assert all(
        "variant=full" in j or "variant=density_0p05" in j for j in jobs if j.startswith(("craft_staa", "score_staa"))
    )
    assert len({j for j in jobs if j.startswith("craft_staa")}) == 3  # once per generator, not per victim
    assert len({j for j in jobs if j.startswith("score_staa")}) == 3 * len(cfg["victims"])
    assert "report[]" in jobs


def test_baseline_subset_reruns_baselines_not_generators(built):
    wd, cfg = built
    jobs = planned_jobs(wd, _changed(cfg, "baselines.subset_size", 2))
    assert {"make_subset", "attack_baseline", "score_baseline", "timing", "report"} <= _rules(jobs)
    # STAA-Net's adversarials stay; its scores on the subset (subset_metrics) are redone
    assert "score_staa" in _rules(jobs)
    assert not _rules(jobs) & {"train_victim", "train_generator", "prepare_data", "craft_staa"}


def test_frame_length_reruns_every_scoring_job_and_no_crafting(built):
    wd, cfg = built
    jobs = planned_jobs(wd, _changed(cfg, "attack_eval.frame_ms", 10))
    assert _rules(jobs) == {"score_staa", "score_baseline", "report"}


def test_examples_count_recrafts_staa_only(built):
    wd, cfg = built
    jobs = planned_jobs(wd, _changed(cfg, "attack_eval.n_examples", 1))
    assert {"craft_staa", "report"} <= _rules(jobs)
    assert not _rules(jobs) & {"train_generator", "attack_baseline", "score_baseline", "timing"}


def test_adding_a_seed_runs_only_that_seeds_jobs(built):
    wd, cfg = built
    jobs = planned_jobs(wd, _changed(cfg, "run.seeds", [0, 1]))
    assert {
        "train_generator",
        "craft_staa",
        "score_staa",
        "make_subset",
        "attack_baseline",
        "score_baseline",
        "report",
    } == _rules(jobs)
    assert all("seed=1" in j for j in jobs if j != "report[]")  # seed 0's results are reused, victims too
    both = planned_jobs(
        wd, {**_changed(cfg, "run.seeds", [0, 1]), "run": {**cfg["run"], "seeds": [0, 1], "victim_seeds": True}}
    )
    assert {j for j in both if j.startswith("train_victim")} == {
        f"train_victim[dataset=synth, victim={v}, seed=1]" for v in cfg["victims"]
    }


def test_sweep_points_train_new_generators_and_reuse_equal_variants(built):
    wd, cfg = built
    new = copy.deepcopy(cfg)
    budget = new["generator"]["train"].get("sparsity_target")
    new["generator"]["sweeps"] = {
        "density": {"base": "full", "key": "sparsity_target", "values": [budget, 0.4], "threats": ["emo18"]}
    }
    jobs = planned_jobs(wd, new)
    assert {j for j in jobs if j.startswith("train_generator")} == {
        "train_generator[dataset=synth, threat=emo18, variant=density_0p4, seed=0]"
    }
    assert not _rules(jobs) & {"train_victim", "attack_baseline", "timing"}


def test_figure_style_reruns_only_the_report(built):
    wd, cfg = built
    jobs = planned_jobs(wd, _changed(cfg, "report.style.dpi", 72))
    assert jobs == {"report[]"}


def test_pipeline_metrics_are_deterministic(built, tmp_path):
    """Same config and seed, a second fresh run: identical metrics (timing keys aside)."""
    wd, cfg = built
    targets = [
        "results/victims/synth/emo18/seed0/metrics.json",
        "results/attacks/synth/staa/emo18/full/seed0/on_emo18/metrics.json",
    ]
    smk(tmp_path, cfg, "--cores", "2", *targets)
    for t in targets:
        a = json.loads((wd / t).read_text())
        b = json.loads((tmp_path / t).read_text())
        strip = lambda d: {k: v for k, v in d.items() if not TIMING_KEYS.search(k)}  # noqa: E731
        # the working tree's state is provenance, not a result: an edit between the runs flips it
        for d in (a, b):
            d.get("provenance", {}).pop("git_dirty", None)
        assert strip(a) == strip(b), t


def test_unknown_config_key_fails_before_any_job(tmp_path):
    cfg = tiny_config()
    cfg["victims"]["emo18"]["epoch"] = 1
    res = smk(tmp_path, cfg, "-n", check=False)
    assert res.returncode != 0
    assert "epoch" in res.stdout + res.stderr
    assert not (tmp_path / "results").exists()


def test_threat_not_a_victim_fails(tmp_path):
    cfg = tiny_config()
    cfg["generator"]["threats"] = ["emo18", "hubert"]
    res = smk(tmp_path, cfg, "-n", check=False)
    assert res.returncode != 0 and "hubert" in res.stdout + res.stderr


def test_lint_is_clean():
    res = subprocess.run(
        SNAKEMAKE + ["-s", str(SNAKEFILE), "--directory", str(REPO), "--lint"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert "Lints for" not in out, out


def test_data_stage_on_real_corpus_layouts(tmp_path):
    """IEMOCAP, DEMoS and manifest fixture trees (real naming, real label-file format) go through
    the pipeline's data stage end to end; only the data jobs run."""
    import numpy as np
    import soundfile as sf

    from test_readers import _make_demos, _make_iemocap

    iemo = _make_iemocap(tmp_path / "IEMOCAP")
    demos = _make_demos(tmp_path / "DEMoS")
    man = tmp_path / "mine"
    man.mkdir()
    rows = ["path,label,speaker"]
    for spk in range(4):
        for k, lab in enumerate(["calm", "angry"]):
            p = man / f"s{spk}_{k}.wav"
            t = np.arange(4410) / 44100
            sf.write(p, np.stack([np.sin(2 * np.pi * 200 * t)] * 2, 1).astype(np.float32) * 0.1, 44100)  # stereo 44.1k
            rows.append(f"{p.name},{lab},spk{spk}")
    (man / "manifest.csv").write_text("\n".join(rows) + "\n")
    cfg = tiny_config()
    cfg["datasets"] = {
        "iemo": {"reader": "iemocap", "root": str(iemo), "clip_seconds": 0.25},
        "demos": {"reader": "demos", "root": str(demos), "clip_seconds": 0.25},
        "mine": {
            "reader": "manifest",
            "root": str(man),
            "clip_seconds": 0.25,
            "split": {"dev_fraction": 0.25, "test_fraction": 0.25, "balance_gender": False},
        },
    }
    cfg["run"]["datasets"] = ["iemo", "demos", "mine"]
    targets = [f"results/data/{d}/card.md" for d in cfg["run"]["datasets"]]
    res = smk(tmp_path, cfg, "--cores", "2", *targets)
    assert "train_victim" not in res.stdout + res.stderr
    iemo_cls = json.loads((tmp_path / "results/data/iemo/classes.json").read_text())
    assert iemo_cls["classes"] == ["ang", "hap", "neu", "sad"]
    import pandas as pd

    test = pd.read_csv(tmp_path / "results/data/iemo/test.csv")
    assert set(test.speaker.str[:5]) == {"Ses03"}
    demos_cls = json.loads((tmp_path / "results/data/demos/classes.json").read_text())
    assert len(demos_cls["classes"]) == 7 and "neutral" not in demos_cls["classes"]
    x = np.load(tmp_path / "results/data/mine/train.npy")
    assert x.shape[1] == 4000 and np.isfinite(x).all()
    card = (tmp_path / "results/data/mine/card.md").read_text()
    assert "angry" in card and "calm" in card


def test_victim_learning_rate_reruns_that_victim_and_downstream(built):
    wd, cfg = built
    jobs = planned_jobs(wd, _changed(cfg, "victims.zhao19.lr", 5e-4))
    assert {j for j in jobs if j.startswith("train_victim")} == {"train_victim[dataset=synth, victim=zhao19, seed=0]"}
    # zhao19 is no threat model: no generator retrains, only its scores and the report
    assert not _rules(jobs) & {"train_generator", "attack_baseline", "craft_staa", "timing", "prepare_data"}
    assert all("victim=zhao19" in j for j in jobs if j.startswith(("score_staa", "score_baseline")))


def test_paper_config_dry_runs_the_full_paper_dag(tmp_path):
    """config/paper.yaml validates and, with corpora at its paths, plans the whole paper grid:
    2 corpora x 4 victims, 2 threats x 6 variants (+ the reference's losses against Emo18), 6 baselines,
    transfer to every victim."""
    from test_readers import _make_demos, _make_iemocap

    _make_demos(tmp_path / "data" / "DEMoS")
    _make_iemocap(tmp_path / "data" / "IEMOCAP")
    cfg = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    res = smk(tmp_path, cfg, "-n", "--quiet", "rules")
    out = res.stdout + res.stderr
    counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", out, re.M)}
    assert counts["train_victim"] == 8 and counts["train_generator"] == 2 * (2 * 6 + 1)
    assert counts["craft_staa"] == 2 * (2 * 6 + 1) and counts["score_staa"] == 2 * (2 * 6 + 1) * 4
    assert counts["attack_baseline"] == 2 * 2 * 6 and counts["score_baseline"] == 2 * 2 * 6 * 4
    res = smk(tmp_path / "data", cfg, "-n", check=False)  # no corpora here: named before anything runs
    assert res.returncode != 0 and "data/DEMoS" in res.stdout + res.stderr


def test_user_models_as_victims_and_threat_models_end_to_end(tmp_path):
    """A user's Hugging Face classifiers, evaluated as they are (train: false): a raw-waveform one
    (wav2vec2) and a spectrogram one (AST) are victims and threat models; generators train against
    them, their adversarials transfer to emo18 and back, and the tables name them."""
    from test_hf_victims import make_checkpoint

    ckpts = {
        name: str(make_checkpoint(t, tmp_path / "models" / name, labels=["ang", "neu", "sad"]))
        for name, t in (("user_w2v", "wav2vec2"), ("user_ast", "audio-spectrogram-transformer"))
    }
    cfg = tiny_config()
    cfg["generator"].pop("sweeps")
    for name, path in ckpts.items():
        cfg["victims"][name] = {
            "family": "hf",
            "train": False,
            "arch": {"pretrained": path, "class_map": {"angry": "ang"}},
        }
    cfg["datasets"]["synth"]["victims"] = ["emo18", *ckpts]
    cfg["generator"]["threats"] = ["emo18", *ckpts]
    cfg["generator"]["variants"] = {"full": cfg["generator"]["variants"]["full"]}
    wd = tmp_path / "wd"
    wd.mkdir()
    smk(wd, cfg, "--cores", "2")
    r = wd / "results"
    for name in ckpts:
        m = json.loads((r / "victims" / "synth" / name / "seed0" / "metrics.json").read_text())
        assert m["epochs"] == 0 and m["trained"] is False and m["dropped_labels"] == ["neu"]
        wb = json.loads(
            (r / "attacks" / "synth" / "staa" / name / "full" / "seed0" / f"on_{name}" / "metrics.json").read_text()
        )
        assert wb["white_box"] and 0.0 <= wb["asr"] <= 1.0
    transfer = pd.read_csv(r / "tables" / "transfer.csv")
    assert set(ckpts) <= set(transfer["threat"]) and set(ckpts) <= set(transfer.columns)
    assert (r / "attacks" / "synth" / "pgd" / "user_ast" / "seed0" / "on_emo18" / "metrics.json").is_file()
