"""The report's flags (staa.report.flags) on small fabricated results trees: a victim whose clean
accuracy is not significantly above chance, and a STAA-Net generator whose mask collapsed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from staa.report import build_figures, build_tables, write_summary
from staa.report.flags import COLLAPSED_TEXT, DAGGER, chance_test, is_collapsed

CLASSES = ["angry", "happy", "neutral", "sad"]
DS = "synth"


def _json(path: Path, obj: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))
    return path


def _confusion(correct_per_class: list[int], per_class: int = 30) -> list[list[int]]:
    """4 x 4 counts, `per_class` utterances of each class, the wrong ones on the next class."""
    cm = np.zeros((4, 4), int)
    for c, k in enumerate(correct_per_class):
        cm[c, c] = k
        cm[c, (c + 1) % 4] = per_class - k
    return cm.tolist()


def victim_record(name: str, correct_per_class: list[int], seed: int = 0) -> dict:
    cm = np.asarray(_confusion(correct_per_class))
    recall = np.diag(cm) / cm.sum(axis=1)
    return {
        "dataset": DS,
        "victim": name,
        "family": "cnn",
        "seed": seed,
        "wa": float(np.trace(cm) / cm.sum()),
        "ua": float(recall.mean()),
        "per_class_recall": dict(zip(CLASSES, recall.tolist())),
        "confusion": cm.tolist(),
        "classes": CLASSES,
        "n_test": int(cm.sum()),
        "n_params": 1000,
        "epochs": 3,
    }


def attack_record(
    attack: str, threat: str, victim: str, asr: float, seed: int = 0, variant: str | None = "full", share: float = 12.0
) -> dict:
    from staa.metrics_format import FORMAT_VERSION

    staa = attack == "staa"
    n = 120 if staa else 30
    fooled = int(round(asr * n))
    some = fooled > 0
    return {
        "format_version": FORMAT_VERSION,
        "dataset": DS,
        "attack": attack,
        "method_family": "staa" if staa else attack,
        "threat": threat,
        "variant": variant if staa else None,
        "victim": victim,
        "white_box": victim == threat,
        "subset": "full" if staa else "subset",
        "seed": seed,
        "eps": 0.03 if staa else None,
        "asr": asr,
        "asr_ci_low": max(0.0, asr - 0.05),
        "asr_ci_high": min(1.0, asr + 0.05),
        "success_vs_truth": asr / 2,
        "error_rate_adv": 0.7,
        "clean_accuracy": 0.5,
        "snr_peak_db": 25.0 if some else None,
        "snr_peak_db_ci_low": 24.0 if some else None,
        "snr_peak_db_ci_high": 26.0 if some else None,
        "snr_energy_db": 30.0 if some else None,
        "snr_energy_db_ci_low": None,
        "snr_energy_db_ci_high": None,
        "si_sdr_db": None,
        "si_sdr_db_ci_low": None,
        "si_sdr_db_ci_high": None,
        "stoi": None,
        "stoi_n_speakers": 2,
        "l0": 1000.0 if some and share else None,
        "l0_percent": share if some and share else None,
        "l0_percent_ci_low": share - 1 if some and share else None,
        "l0_percent_ci_high": share + 1 if some and share else None,
        "l0_frames_percent": None,
        "l0_all_percent": share,
        "l0_all_percent_ci_low": share,
        "l0_all_percent_ci_high": share,
        "frame_length": 320,
        "length": 8000,
        "n_utterances": n,
        "n_success": fooled,
        "n_failed": 0,
        "seconds_per_utterance": 0.01 if staa else 1.0,
        "seconds_per_utterance_median": 0.01 if staa else 1.0,
        "victim_seconds_per_utterance_median": 0.001,
        "throughput_utt_per_s": None,
        "throughput_batch": None,
        "device": "cpu",
        "threads": 1,
        "subset_metrics": None,
        "per_class": {c: {"n": n // 4, "asr": asr, "l0_all_percent": share} for c in CLASSES},
        "provenance": {"git_commit": "unknown"},
    }


def _attack_path(root: Path, m: dict) -> Path:
    run = f"staa/{m['threat']}/{m['variant']}" if m["attack"] == "staa" else f"{m['attack']}/{m['threat']}"
    return root / "attacks" / DS / run / f"seed{m['seed']}" / f"on_{m['victim']}" / "metrics.json"


def _per_utterance(metrics_path: Path, fooled: list[int]) -> None:
    pd.DataFrame({"utt_id": [f"u{i:03d}" for i in range(len(fooled))], "fooled": fooled}).to_csv(
        metrics_path.with_name("per_utterance.csv"), index=False
    )


def _tables(tmp_path: Path, victims: list[Path], attacks: list[Path]) -> dict[str, pd.DataFrame]:
    out = tmp_path / "tables"
    build_tables(victims, attacks, [], out)
    res = {
        n: pd.read_csv(out / f"{n}.csv", dtype=str, keep_default_na=False) for n in ("victims", "whitebox", "transfer")
    }
    res.update({f"{n}.md": (out / f"{n}.md").read_text() for n in ("victims", "whitebox", "transfer", "ablation")})
    res.update({f"{n}.tex": (out / f"{n}.tex").read_text() for n in ("whitebox", "transfer")})
    return res


def _summary(tmp_path: Path, victims: list[Path], attacks: list[Path], **kw) -> str:
    return write_summary(victims, attacks, [], tmp_path / "summary.md", "flags", {}, **kw).read_text()


def _claims(text: str) -> str:
    return text.split("## Headline claims")[1].split("## Notes")[0]


# ------------------------------------------------------------------------------- victims at chance
@pytest.fixture()
def chance_tree(tmp_path: Path) -> tuple[list[Path], list[Path]]:
    """Victims `good` (60/120 correct) and `dud` (32/120: UA 0.267, 4 classes); STAA-Net and PGD
    against each, scored on both. The white-box ASR against `dud` is the issue's 96.7 %."""
    r = tmp_path / "results"
    victims = [
        _json(r / "victims" / DS / "good" / "seed0" / "metrics.json", victim_record("good", [15, 15, 15, 15])),
        _json(r / "victims" / DS / "dud" / "seed0" / "metrics.json", victim_record("dud", [8, 8, 8, 8])),
    ]
    attacks = []
    for attack in ("staa", "pgd"):
        for threat in ("good", "dud"):
            for victim in ("good", "dud"):
                asr = {("dud", "dud"): 0.967, ("good", "good"): 0.8}.get((threat, victim), 0.4)
                m = attack_record(attack, threat, victim, asr)
                attacks.append(_json(_attack_path(r, m), m))
    return victims, attacks


def test_binomial_and_permutation_tests_by_hand():
    from math import comb

    from staa.stats import binomial_greater, ua_permutation_p

    by_hand = sum(comb(120, i) * 0.25**i * 0.75 ** (120 - i) for i in range(32, 121))
    assert binomial_greater(32, 120, 0.25) == pytest.approx(by_hand, rel=1e-9)
    assert binomial_greater(0, 120, 0.25) == 1.0 and binomial_greater(0, 0, 0.25) == 1.0
    cm = _confusion([8, 8, 8, 8])
    assert ua_permutation_p(cm, seed=3) == ua_permutation_p(cm, seed=3)  # seeded
    assert ua_permutation_p(_confusion([30, 30, 30, 30]), resamples=999) == pytest.approx(1 / 1000)
    assert ua_permutation_p([[0, 0], [0, 0]]) == 1.0


def test_chance_test_numbers():
    """32/120 correct of 4 classes: the binomial p is about 0.37; 60/120: far below 0.05."""
    dud, good = chance_test(_confusion([8, 8, 8, 8])), chance_test(_confusion([15, 15, 15, 15]))
    assert (dud["n_correct"], dud["n_scored"], dud["chance"]) == (32, 120, 0.25)
    assert dud["p_wa"] == pytest.approx(0.37, abs=0.01) and dud["at_chance"]
    assert good["p_wa"] < 1e-6 and good["p_ua"] < 0.001 and not good["at_chance"]
    # one class predicted for everything on an unbalanced split: accuracy 40 % > 1/4 is significant, UA is not
    cm = np.zeros((4, 4), int)
    cm[:, 2] = [10, 10, 40, 40]
    one = chance_test(cm)
    assert one["p_wa"] < 0.01 and one["p_ua"] == 1.0 and one["at_chance"]


def test_victim_at_chance_is_flagged_in_the_tables(chance_tree, tmp_path):
    victims, attacks = chance_tree
    t = _tables(tmp_path, victims, attacks)
    v = t["victims"].set_index("victim")
    assert v.loc["dud", "at_chance"] == "True" and v.loc["good", "at_chance"] == "False"
    assert v.loc["dud", "n_correct"] == "32" and float(v.loc["dud", "p_wa"]) == pytest.approx(0.37, abs=0.01)
    assert f"0.267 {DAGGER}" in t["victims.md"] and f"0.500 {DAGGER}" not in t["victims.md"]
    wb = t["whitebox"].set_index(["attack", "threat"])
    for attack in ("staa", "pgd"):  # STAA-Net and the baseline, white-box on dud
        assert wb.loc[(attack, "dud"), "victim_at_chance"] == "True"
        assert wb.loc[(attack, "good"), "victim_at_chance"] == "False"
    assert f"0.967 [0.917, 1.000] {DAGGER}" in t["whitebox.md"] and "not significantly above chance" in t["whitebox.md"]
    assert "$^\\dagger$" in t["whitebox.tex"]
    tr = t["transfer"]
    assert set(tr["victims_at_chance"]) == {"dud"}  # every row has a cell on dud
    row = next(line for line in t["transfer.md"].splitlines() if line.startswith("| synth ") and "| good " in line)
    assert f"0.400 [0.350, 0.450] {DAGGER}" in row  # the transfer cell on dud, and the mean over it
    assert "not significantly above chance" in t["ablation.md"]


def test_victim_at_chance_is_flagged_in_the_summary(chance_tree, tmp_path):
    victims, attacks = chance_tree
    text = _summary(tmp_path, victims, attacks)
    claims = _claims(text)
    row = next(line for line in claims.splitlines() if line.startswith("| victims' clean accuracy"))
    assert "**AT CHANCE**" in row and "dud on synth (32/120 correct" in row and "good on synth" not in row
    wb = next(line for line in claims.splitlines() if line.startswith("| white-box ASR against dud"))
    assert DAGGER in wb and "96.7 %" in wb and "not significantly above chance" in wb
    ok = next(line for line in claims.splitlines() if line.startswith("| white-box ASR against good"))
    assert DAGGER not in ok
    assert "binomial" in claims and "permutation" in claims  # the test is named
    detail = text.split("## Per-dataset detail")[1]
    assert f"no {DAGGER} (p = 0.37" in detail and f"96.7 {DAGGER}" in detail


def test_victim_above_chance_is_not_flagged(tmp_path):
    r = tmp_path / "results"
    victims = [_json(r / "victims" / DS / "good" / "seed0" / "metrics.json", victim_record("good", [15, 15, 15, 15]))]
    m = attack_record("staa", "good", "good", 0.8)
    attacks = [_json(_attack_path(r, m), m)]
    t = _tables(tmp_path, victims, attacks)
    assert t["victims"]["at_chance"].tolist() == ["False"] and t["whitebox"]["victim_at_chance"].tolist() == ["False"]
    assert DAGGER not in t["whitebox.md"] and DAGGER not in t["victims.md"]
    claims = _claims(_summary(tmp_path, victims, attacks))
    assert "**ABOVE CHANCE**" in claims and DAGGER + " " not in claims.split("| claim |")[1]


def test_victims_per_seed_flag_the_attacks_of_that_seed(tmp_path):
    """run.victim_seeds: the victim at chance in seed 1 only marks seed 1's attacks, and the victims
    table names the seed."""
    r = tmp_path / "results"
    victims = [
        _json(r / "victims" / DS / "v" / f"seed{s}" / "metrics.json", victim_record("v", c, seed=s))
        for s, c in ((0, [15, 15, 15, 15]), (1, [8, 8, 8, 8]))
    ]
    attacks = []
    for s in (0, 1):
        m = attack_record("staa", "v", "v", 0.8, seed=s)
        attacks.append(_json(_attack_path(r, m), m))
    t = _tables(tmp_path, victims, attacks)
    assert t["victims"]["at_chance_seeds"].tolist() == ["1"]
    assert t["whitebox"]["victim_at_chance"].tolist() == ["True"]  # the mean over seeds 0 and 1 includes seed 1
    only0 = _tables(tmp_path / "s0", victims, attacks[:1])
    assert only0["whitebox"]["victim_at_chance"].tolist() == ["False"]
    text = _summary(tmp_path, victims, attacks)
    assert "v on synth, seed 1 (32/120 correct" in text


# ------------------------------------------------------------------------------- collapsed generators
def test_is_collapsed_definition():
    staa = attack_record("staa", "a", "a", 0.0, share=0.0)
    assert is_collapsed(staa)
    assert not is_collapsed(attack_record("staa", "a", "a", 0.5, share=3.0))
    assert is_collapsed({**attack_record("staa", "a", "a", 0.5, share=3.0), "collapsed": True})  # the record says so
    assert not is_collapsed({**staa, "l0_all_percent": None})  # not known
    assert not is_collapsed(attack_record("pgd", "a", "a", 0.0, share=0.0))  # a baseline that failed is an attack


@pytest.fixture()
def collapse_tree(tmp_path: Path) -> tuple[list[Path], list[Path]]:
    """Victims a and b (both learned). STAA-Net `full` against a over three seeds, seed 1 collapsed;
    variant `d05` against a collapsed in every seed; PGD against a in every seed; per-utterance files
    for the paired tests."""
    r = tmp_path / "results"
    victims = [
        _json(r / "victims" / DS / v / "seed0" / "metrics.json", victim_record(v, [20, 20, 20, 20])) for v in "ab"
    ]
    attacks = []
    for seed, asr in ((0, 0.6), (1, 0.0), (2, 0.7)):
        for victim in "ab":
            share = 0.0 if seed == 1 else 12.0
            a = asr if victim == "a" else asr / 2
            m = attack_record("staa", "a", victim, a, seed=seed, share=share)
            p = _json(_attack_path(r, m), m)
            _per_utterance(p, [1] * int(round(a * 120)) + [0] * (120 - int(round(a * 120))))
            attacks.append(p)
            m = attack_record("staa", "a", victim, 0.0, seed=seed, variant="d05", share=0.0)
            attacks.append(_json(_attack_path(r, m), m))
            m = attack_record("pgd", "a", victim, 0.5, seed=seed)
            p = _json(_attack_path(r, m), m)
            _per_utterance(p, [1, 0] * 15)
            attacks.append(p)
    return victims, attacks


def test_collapsed_seed_is_left_out_of_the_seed_mean(collapse_tree, tmp_path):
    victims, attacks = collapse_tree
    t = _tables(tmp_path, victims, attacks)
    wb = t["whitebox"]
    full = wb[(wb["attack"] == "staa") & (wb["variant"] == "full")].iloc[0]
    assert float(full["asr"]) == pytest.approx(0.65)  # seeds 0 and 2; the collapsed seed 1 is no attack
    assert (full["n_seeds"], full["n_collapsed"], full["collapsed"]) == ("2", "1", "False")
    assert "2/3 seeds; 1 collapsed" in t["whitebox.md"]
    d05 = wb[(wb["attack"] == "staa") & (wb["variant"] == "d05")]
    assert d05.empty  # not the reference variant: the white-box table shows `full` only
    tr = t["transfer"].set_index("variant")
    assert tr.loc["full", "collapsed"] == "False" and tr.loc["d05", "collapsed"] == "True"
    assert float(tr.loc["full", "b"]) == pytest.approx(0.325)
    d05_row = next(line for line in t["transfer.md"].splitlines() if "| d05 " in line)
    assert d05_row.count(COLLAPSED_TEXT) == 3 and not re.search(r"\bnan\b", d05_row)  # a, b and the mean
    abl = next(line for line in t["ablation.md"].splitlines() if "| d05 " in line)
    assert COLLAPSED_TEXT in abl and not re.search(r"\bnan\b", abl)


def test_collapsed_generator_reads_collapsed_in_the_summary(tmp_path):
    """One seed, the reference generator collapsed: no 'nan', no 'NO DATA', the words instead."""
    r = tmp_path / "results"
    victims = [
        _json(r / "victims" / DS / v / "seed0" / "metrics.json", victim_record(v, [20, 20, 20, 20])) for v in "ab"
    ]
    attacks = []
    for victim in "ab":
        m = attack_record("staa", "a", victim, 0.0, share=0.0)
        attacks.append(_json(_attack_path(r, m), m))
    text = _summary(tmp_path, victims, attacks)
    claims = _claims(text)
    for what in ("white-box ASR against a", "perturbed share against a"):
        row = next(line for line in claims.splitlines() if line.startswith(f"| {what} "))
        assert COLLAPSED_TEXT in row and "**COLLAPSED**" in row and "NO DATA" not in row
    tr = next(line for line in claims.splitlines() if line.startswith("| transfer ASR"))
    assert COLLAPSED_TEXT in tr and "NO DATA" not in tr
    assert not re.search(r"\bnan\b", text, re.I)  # (NO DATA stays for the speed-up: no timing rows)
    detail = text.split("## Per-dataset detail")[1]
    assert COLLAPSED_TEXT in detail
    t = _tables(tmp_path, victims, attacks)
    assert t["whitebox"]["collapsed"].tolist() == ["True"]
    assert (
        re.search(rf"\| {COLLAPSED_TEXT} +\|", t["whitebox.md"]) and "collapsed: 0 \\% perturbed" in t["whitebox.tex"]
    )


def test_collapsed_seeds_in_the_summary_and_paired_tests(collapse_tree, tmp_path):
    victims, attacks = collapse_tree
    sweeps = {
        "density": {
            "key": "sparsity_target",
            "points": [{"value": 0.05, "variant": "d05"}, {"value": 0.2, "variant": "full"}],
        }
    }
    text = _summary(tmp_path, victims, attacks, sweeps=sweeps)
    wb = next(line for line in _claims(text).splitlines() if line.startswith("| white-box ASR against a"))
    assert "65.0 %" in wb and "2/3 seeds; 1 collapsed" in wb
    pairs = text.split("## STAA-Net against each baseline")[1].split("## Sweep")[0]
    skipped = [line for line in pairs.splitlines() if "| 1 | pgd |" in line]
    assert len(skipped) == 2 and all("not tested" in line and COLLAPSED_TEXT in line for line in skipped)
    assert "2/3; 1 collapsed, not tested" in pairs
    sweep = text.split("## Sweep `density`")[1].split("## Per-dataset")[0]
    d05 = next(line for line in sweep.splitlines() if "`d05`" in line)
    assert d05.count(COLLAPSED_TEXT) == 3 and "0.0 [" not in d05
    full = next(line for line in sweep.splitlines() if "`full`" in line)
    assert "2/3 seeds; 1 collapsed" in full
    assert "staa[d05] against a on synth: collapsed: 0 % perturbed (3/3 seeds)" in text


def test_sweep_figure_labels_a_collapsed_point():
    from staa.report.figures import MethodColours, fig_sweep

    summary = pd.DataFrame(
        [
            {"dataset": DS, "threat": "a", "variant": v, "l0_all_percent": x, "asr": y, "transfer_asr_mean": y / 2}
            | {"collapsed": c, "n_collapsed": n, "n_seeds": 1 if c else 2}
            for v, x, y, c, n in (("d05", 0.0, 0.0, True, 1), ("full", 15.0, 0.4, False, 1))
        ]
    )
    sweep = {"key": "rho", "points": [{"value": 0.05, "variant": "d05"}, {"value": 0.2, "variant": "full"}]}
    attacks = pd.DataFrame(columns=["dataset", "threat", "white_box", "method_family", "attack"])
    fig = fig_sweep(summary, attacks, DS, "density", sweep, MethodColours([("staa", "staa")], None, "full"))
    texts = sorted(t.get_text() for t in fig.axes[0].texts)
    assert texts == ["0.2 (1/3 seeds collapsed)", f"rho=0.05: {COLLAPSED_TEXT}"]


def test_ablation_figure_labels_a_collapsed_bar(collapse_tree, tmp_path):
    """The ablation figure prints the words over a collapsed variant's bars, not a 0 or nan label;
    build_figures draws the sweep and ablation figures from the flagged rows."""
    from staa.report.collect import load_attack_metrics
    from staa.report.figures import MethodColours, fig_ablation
    from staa.report.seeds import mean_transfer, over_seeds
    from staa.report.tables import variant_summary

    _, attacks = collapse_tree
    raw = load_attack_metrics(attacks)
    summary = variant_summary(over_seeds(raw), mean_transfer(raw))
    colours = MethodColours([("staa", "staa"), ("staa[d05]", "staa")], None, "full")
    fig = fig_ablation(summary, DS, colours, "full")
    for ax in fig.axes:
        texts = [t.get_text() for t in ax.texts]
        assert texts.count(COLLAPSED_TEXT) == 1 and not any(t in ("0", "0.0", "nan") for t in texts)
    sweeps = {
        "density": {"key": "rho", "points": [{"value": 0.05, "variant": "d05"}, {"value": 0.2, "variant": "full"}]}
    }
    written = build_figures(
        attacks, [], [], [], [], tmp_path / "fig", style={"formats": ["png"], "dpi": 40}, sweeps=sweeps
    )
    assert {"ablation_synth.png", "sweep_density_synth.png"} <= {p.name for p in written}
