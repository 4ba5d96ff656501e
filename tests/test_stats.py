"""The statistics behind intervals and claims, against values computed by hand or by scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sst

from staa.stats import bootstrap_ci, holm, mcnemar, paired_verdict


def test_bootstrap_interval_covers_the_mean_and_shrinks_with_n():
    rng = np.random.default_rng(1)
    small, large = rng.random(20) < 0.6, rng.random(2000) < 0.6
    m, lo, hi = bootstrap_ci(small)
    assert lo < m < hi and m == small.mean()
    _, lo2, hi2 = bootstrap_ci(large)
    assert hi2 - lo2 < (hi - lo) / 5
    # the percentile interval of a proportion is close to the normal one for large n
    se = math.sqrt(large.mean() * (1 - large.mean()) / large.size)
    assert hi2 - lo2 == pytest.approx(2 * 1.96 * se, rel=0.15)
    assert bootstrap_ci([1, 1, 1]) == (1.0, 1.0, 1.0) and math.isnan(bootstrap_ci([])[0])


def test_bootstrap_is_seeded():
    x = np.arange(30.0)
    assert bootstrap_ci(x, seed=3) == bootstrap_ci(x, seed=3) != bootstrap_ci(x, seed=4)


def test_mcnemar_exact_matches_the_binomial_test():
    a = np.array([1] * 9 + [0] * 2 + [1] * 5 + [0] * 4, bool)
    b = np.array([0] * 9 + [1] * 2 + [1] * 5 + [0] * 4, bool)
    n10, n01, p = mcnemar(a, b)
    assert (n10, n01) == (9, 2)
    assert p == pytest.approx(sst.binomtest(2, 11, 0.5).pvalue)
    assert mcnemar(a, a)[2] == 1.0
    with pytest.raises(ValueError, match="different lengths"):
        mcnemar(a, b[:-1])


def test_holm_by_hand():
    # sorted 0.01, 0.02, 0.04 -> 0.03, 0.04, 0.04 (monotone), back in input order
    assert holm([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_verdicts():
    assert paired_verdict(0.001, 0.2) == "better (p = 0.001)"
    assert paired_verdict(0.001, -0.2) == "worse (p = 0.001)"
    assert paired_verdict(0.3, 0.2) == "on a par (p = 0.3)"
    assert paired_verdict(0.001, -0.2, better="lower") == "better (p = 0.001)"


def test_attack_metrics_carry_the_asr_interval():
    from staa.evaluate import attack_metrics

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 100)).astype(np.float32)
    clean = np.zeros(40, int)
    adv = (rng.random(40) < 0.3).astype(int)
    m, _ = attack_metrics(x, x + 0.01, clean, clean, adv, 10)
    assert m["asr_ci_low"] < m["asr"] < m["asr_ci_high"]
    assert (m["asr"], m["asr_ci_low"], m["asr_ci_high"]) == pytest.approx(bootstrap_ci(adv != clean))


def test_summary_pairs_staa_with_each_baseline_on_shared_utterances(tmp_path):
    import pandas as pd

    from staa.report.summary import paired_comparisons

    def run(name, fooled, utts):
        d = tmp_path / name
        d.mkdir()
        pd.DataFrame({"utt_id": utts, "fooled": fooled}).to_csv(d / "per_utterance.csv", index=False)
        return str(d / "metrics.json")

    full = [f"u{i}" for i in range(40)]
    sub = full[:24]  # the baselines' subset
    rows = [
        {
            "dataset": "d",
            "threat": "t",
            "victim": "v",
            "white_box": False,
            "attack": "staa",
            "method_family": "staa",
            "variant": "full",
            "path": run("staa", [1] * 20 + [0] * 20, full),
        },
        {
            "dataset": "d",
            "threat": "t",
            "victim": "v",
            "white_box": False,
            "attack": "pgd",
            "method_family": "pgd",
            "variant": "",
            "path": run("pgd", [0] * 24, sub),
        },
        {
            "dataset": "d",
            "threat": "t",
            "victim": "v",
            "white_box": False,
            "attack": "sparsefool",
            "method_family": "sparsefool",
            "variant": "",
            "path": run("sf", [1] * 18 + [0] * 6, sub),
        },
    ]
    out = paired_comparisons(pd.DataFrame(rows)).set_index("baseline")
    assert out.loc["pgd", "n"] == 24 and out.loc["pgd", "staa_asr"] == pytest.approx(20 / 24)
    assert (out.loc["pgd", "staa_only"], out.loc["pgd", "baseline_only"]) == (20, 0)
    assert out.loc["pgd", "verdict"].startswith("better") and out.loc["sparsefool", "verdict"].startswith("on a par")
    assert list(out["p_holm"]) == pytest.approx(holm(list(out["p"])))


def test_provenance_names_commit_packages_and_settings():
    from staa.provenance import provenance, settings_hash

    rec = provenance({"b": 1, "a": [1, 2]}, "cpu")
    assert len(rec["git_commit"]) == 40 or rec["git_commit"] == "unknown"
    assert rec["packages"]["torch"] and rec["device"] == "cpu"
    assert rec["settings_sha256"] == settings_hash({"a": [1, 2], "b": 1}) != settings_hash({"a": [1, 2], "b": 2})


def test_si_sdr_by_hand():
    from staa.metrics import si_sdr_db

    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 1000))
    noise = rng.normal(size=(1, 1000))
    noise -= noise.mean()
    noise -= (noise * (x - x.mean())).sum() / ((x - x.mean()) ** 2).sum() * (x - x.mean())  # orthogonal to x
    noise *= 0.1 * np.linalg.norm(x - x.mean()) / np.linalg.norm(noise)
    assert si_sdr_db(x, x + noise)[0] == pytest.approx(20.0, abs=1e-6)  # energy ratio 100
    assert si_sdr_db(x, 3 * x + noise * 3)[0] == pytest.approx(20.0, abs=1e-6)  # scale-invariant


def test_stoi_by_speaker_never_averages_pystoi_sentinel():
    from staa.metrics import stoi_by_speaker

    t = np.arange(8000) / 16000
    voice = (0.3 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 4 * t))).astype(np.float32)
    x = np.stack([voice] * 6 + [np.zeros(8000, np.float32)])  # speaker b: one silent clip
    speakers = np.array(["a"] * 6 + ["b"])
    clean, n = stoi_by_speaker(x, x, speakers, 16000)
    assert n == 1 and clean == pytest.approx(1.0, abs=1e-6)  # a: 3 s of speech; b: no speech frames, left out
    noisy, _ = stoi_by_speaker(x, x + np.random.default_rng(0).normal(scale=0.3, size=x.shape), speakers, 16000)
    assert noisy < clean


# ---- seeds: means over seeds with t-intervals ------------------------------------------------
def _attack_row(seed: int, asr: float, victim: str = "emo18", **kw) -> dict:
    row = {
        "dataset": "d",
        "attack": "staa",
        "method_family": "staa",
        "threat": "emo18",
        "variant": "full",
        "victim": victim,
        "white_box": victim == "emo18",
        "subset": "full",
        "seed": seed,
        "asr": asr,
        "asr_ci_low": asr - 0.1,
        "asr_ci_high": asr + 0.1,
        "l0_percent": 10.0 + seed,
        "l0_percent_ci_low": 9.0,
        "l0_percent_ci_high": 12.0,
        "n_utterances": 20,
        "n_success": int(20 * asr),
        "per_class": None,
        "path": f"/nope/seed{seed}/on_{victim}/metrics.json",
    }
    row.update(kw)
    return row


def test_t_interval_matches_the_textbook_formula():
    from scipy import stats

    from staa.report.seeds import t_interval

    x = [0.5, 0.6, 0.7]
    m, lo, hi = t_interval(x)
    half = stats.t.ppf(0.975, 2) * np.std(x, ddof=1) / np.sqrt(3)
    assert m == pytest.approx(0.6) and hi - m == pytest.approx(half) and m - lo == pytest.approx(half)
    assert np.isnan(t_interval([0.4])[1]) and np.isnan(t_interval([])[0])


def test_over_seeds_keeps_the_bootstrap_for_one_seed_and_uses_t_for_several():
    import pandas as pd

    from staa.report.seeds import over_seeds

    one = over_seeds(pd.DataFrame([_attack_row(0, 0.5)]))
    assert one["interval"].iloc[0] == "bootstrap over utterances"
    assert (one["asr_ci_low"].iloc[0], one["asr_ci_high"].iloc[0]) == pytest.approx((0.4, 0.6))
    three = over_seeds(pd.DataFrame([_attack_row(s, a) for s, a in ((0, 0.5), (1, 0.6), (2, 0.7))]))
    assert len(three) == 1 and three["n_seeds"].iloc[0] == 3 and three["interval"].iloc[0] == "t over 3 seeds"
    assert three["asr"].iloc[0] == pytest.approx(0.6) and three["l0_percent"].iloc[0] == pytest.approx(11.0)
    assert three["asr_ci_low"].iloc[0] < 0.5 < 0.7 < three["asr_ci_high"].iloc[0]  # 3 seeds: t(2) is wide
    assert three["seeds"].iloc[0] == "0,1,2" and len(three["paths"].iloc[0]) == 3


def test_tables_print_intervals_by_kind():
    from staa.report.tables import format_interval

    assert format_interval("asr", 0.41, 0.33, 0.5, symmetric=False) == "0.410 [0.330, 0.500]"
    assert format_interval("asr", 0.62, 0.57, 0.67, symmetric=True) == "0.620 ± 0.050"
    assert format_interval("asr", 0.62, float("nan"), 0.67, symmetric=True) == "0.620"


def test_mean_transfer_bootstraps_per_utterance_means(tmp_path):
    import pandas as pd

    from staa.report.seeds import mean_transfer

    rows = []
    for victim, fooled in (("zhao19", [1, 0, 1, 0]), ("wav2vec2", [1, 1, 0, 0])):
        d = tmp_path / f"on_{victim}"
        d.mkdir()
        pd.DataFrame({"utt_id": ["a", "b", "c", "d"], "fooled": fooled}).to_csv(d / "per_utterance.csv", index=False)
        rows.append(_attack_row(0, float(np.mean(fooled)), victim, path=str(d / "metrics.json")))
    out = mean_transfer(pd.DataFrame(rows))
    assert len(out) == 1 and out["n_transfer_victims"].iloc[0] == 2
    assert out["transfer_asr_mean"].iloc[0] == pytest.approx(0.5)
    assert 0.0 <= out["transfer_asr_mean_ci_low"].iloc[0] < 0.5 < out["transfer_asr_mean_ci_high"].iloc[0] <= 1.0
