"""Tests for staa.report on a small fabricated results tree (no training, no audio corpus)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from staa.errors import DataError
from staa.report import build_figures, build_tables, write_summary
from staa.report.collect import load_attack_metrics, load_timing
from staa.report.summary import verdict

DATASETS = ["synth_a", "synth_b"]
VICTIMS = ["cnn", "crnn", "lstm", "w2v"]
THREATS = ["cnn", "crnn"]
VARIANTS = ["full", "no_spa"]
BASELINES = {"pgd": "pgd", "onepixel_k1": "onepixel"}
CLASSES = ["angry", "happy", "neutral", "sad"]


@dataclass
class Tree:
    root: Path
    victim_metrics: list[Path] = field(default_factory=list)
    attack_metrics: list[Path] = field(default_factory=list)
    timing: list[Path] = field(default_factory=list)
    victim_logs: list[Path] = field(default_factory=list)
    generator_logs: list[Path] = field(default_factory=list)
    examples: list[Path] = field(default_factory=list)
    metrics: dict[Path, dict] = field(default_factory=dict)


def _json(path: Path, obj: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))
    return path


def _record(m: dict) -> dict:
    """A fabricated attack record completed to the metrics format (the keys the tests do not set)."""
    from staa.metrics_format import FORMAT_VERSION

    staa = m["method_family"] == "staa"
    full = {
        "format_version": FORMAT_VERSION,
        "seed": 0,
        "eps": 0.03 if staa else None,
        "error_rate_adv": 0.5,
        "clean_accuracy": 0.8,
        "stoi_n_speakers": 2,
        "frame_length": 320,
        "length": 16000,
        "n_failed": 0,
        "victim_seconds_per_utterance_median": 0.001,
        "throughput_batch": 32 if staa else None,
        "device": "cpu",
        "threads": 1,
        "per_class": {},
        "provenance": {"git_commit": "unknown"},
    }
    for k in ("asr_ci_low", "asr_ci_high", "si_sdr_db", "stoi", "l0_all_percent"):
        full[k] = None
    for k in ("snr_peak_db", "snr_energy_db", "si_sdr_db", "l0_percent", "l0_all_percent"):
        full[f"{k}_ci_low"] = full[f"{k}_ci_high"] = None
    full.update(m)
    if full["subset_metrics"]:
        full["subset_metrics"] = {"l0_frames_percent": None, "si_sdr_db": None, "stoi": None, **full["subset_metrics"]}
    return full


def make_tree(root: Path) -> Tree:
    rng = np.random.default_rng(0)
    t = Tree(root)
    r = root / "results"
    for ds in DATASETS:
        for v in VICTIMS:
            conf = rng.integers(0, 20, size=(4, 4)).tolist()
            m = {
                "dataset": ds,
                "victim": v,
                "family": "cnn" if "cnn" in v else "rnn",
                "wa": float(rng.uniform(0.5, 0.9)),
                "ua": float(rng.uniform(0.4, 0.9)),
                "per_class_recall": {c: 0.5 for c in CLASSES},
                "confusion": conf,
                "classes": CLASSES,
                "n_test": 40,
                "n_params": 12345,
                "epochs": 5,
            }
            p = _json(r / "victims" / ds / v / "metrics.json", m)
            t.victim_metrics.append(p)
            t.metrics[p] = m
            log = pd.DataFrame(
                {
                    "epoch": range(1, 6),
                    "train_loss": np.linspace(1.4, 0.6, 5),
                    "train_acc": np.linspace(0.3, 0.8, 5),
                    "dev_wa": np.linspace(0.3, 0.7, 5),
                    "dev_ua": np.linspace(0.25, 0.65, 5) + rng.uniform(0, 0.05),
                    "lr": 1e-3,
                    "seconds": 1.5,
                }
            )
            lp = r / "victims" / ds / v / "train_log.csv"
            log.to_csv(lp, index=False)
            t.victim_logs.append(lp)
        for thr in THREATS:
            runs = [("staa", "staa", var) for var in VARIANTS]
            runs += [(b, fam, None) for b, fam in BASELINES.items()]
            for attack, fam, var in runs:
                for v in VICTIMS:
                    wb = v == thr
                    m = {
                        "dataset": ds,
                        "attack": attack,
                        "method_family": fam,
                        "threat": thr,
                        "variant": var,
                        "victim": v,
                        "white_box": wb,
                        "asr": float(rng.uniform(0.55, 0.98)) if wb else float(rng.uniform(0.2, 0.7)),
                        "success_vs_truth": float(rng.uniform(0.3, 0.9)),
                        "snr_peak_db": float(rng.uniform(15, 35)),
                        "snr_energy_db": None if attack == "onepixel_k1" else float(rng.uniform(20, 40)),
                        "l0": float(rng.uniform(900, 3000)),
                        "l0_percent": float(rng.uniform(8, 20)) if fam == "staa" else float(rng.uniform(0.001, 50)),
                        "l0_frames_percent": float(rng.uniform(10, 40)),
                        "seconds_per_utterance": float(rng.uniform(0.005, 0.02))
                        if fam == "staa"
                        else float(rng.uniform(0.5, 3)),
                        "seconds_per_utterance_median": 0.01,
                        "throughput_utt_per_s": None,
                        "n_utterances": 40 if fam == "staa" else 10,
                        "n_success": 20,
                        "subset": "full" if fam == "staa" else "subset",
                        "subset_metrics": None,
                    }
                    if wb and attack != "onepixel_k1":  # one-pixel: an empty breakdown (none in the table)
                        m["per_class"] = {
                            c: {"n": 10, "asr": float(rng.uniform(0, 1)), "l0_all_percent": float(rng.uniform(1, 50))}
                            for c in CLASSES
                        }
                    if fam == "staa":
                        m["subset_metrics"] = {
                            "asr": float(rng.uniform(0.5, 0.9)),
                            "success_vs_truth": 0.5,
                            "snr_peak_db": float(rng.uniform(15, 35)),
                            "snr_energy_db": None,
                            "l0": 1000.0,
                            "l0_percent": float(rng.uniform(8, 20)),
                            "n_utterances": 10,
                        }
                    m = _record(m)
                    sub = f"staa/{thr}/{var}" if fam == "staa" else f"{attack}/{thr}"
                    p = _json(r / "attacks" / ds / sub / f"on_{v}" / "metrics.json", m)
                    t.attack_metrics.append(p)
                    t.metrics[p] = m
            rows = [
                ("staa", "staa", 0.01, 1, 1.0),
                ("staa_batched", "staa", 0.002, 16, 0.2),
                ("pgd", "pgd", 0.9, 1, 90.0),
                ("onepixel_k1", "onepixel", 4.5, 1, 450.0 + DATASETS.index(ds)),
            ]
            tim = pd.DataFrame(
                [
                    {
                        "dataset": ds,
                        "method": m,
                        "method_family": f,
                        "threat": thr,
                        "seconds_per_utterance": s,
                        "seconds_p25": 0.8 * s,
                        "seconds_p75": 1.3 * s,
                        "n": 10,
                        "speedup_vs_staa": sp,
                        "device": "cpu",
                        "threads": 4,
                        "batch_size": b,
                    }
                    for m, f, s, b, sp in rows
                ]
            )
            tp = r / "timing" / ds / f"{thr}.csv"
            tp.parent.mkdir(parents=True, exist_ok=True)
            tim.to_csv(tp, index=False)
            t.timing.append(tp)
            for var in VARIANTS:
                e = np.arange(1, 6)
                g = pd.DataFrame(
                    {
                        "epoch": e,
                        "loss": 3 / e,
                        "adv": 2 / e,
                        "mag": 0.1 * e,
                        "qua": 0.5 / e,
                        "spa": 0.2 / e,
                        "fooling_rate": np.linspace(0.2, 0.9, 5),
                        "mask_density": np.linspace(0.5, 0.12, 5),
                        "eps": 0.05,
                        "lr": 1e-4,
                        "seconds": 3.0,
                    }
                )
                gp = r / "generators" / ds / thr / var / "train_log.csv"
                gp.parent.mkdir(parents=True, exist_ok=True)
                g.to_csv(gp, index=False)
                t.generator_logs.append(gp)
    sr = 16000
    x = 0.5 * np.sin(2 * np.pi * 440 * np.arange(sr) / sr) * np.hanning(sr)  # 1 s sine
    mask = np.zeros(sr, dtype=np.float32)  # frame-like blocks, as STAA-Net's mask
    for a, b in ((0.10, 0.18), (0.45, 0.50), (0.70, 0.78)):
        mask[int(a * sr) : int(b * sr)] = 1.0
    x_adv = x + mask * 0.02 * np.sign(rng.normal(size=sr))
    ep = r / "attacks" / DATASETS[0] / "staa" / "cnn" / "full" / "seed0" / "examples" / "example_0.npz"
    ep.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        ep,
        x=x.astype(np.float32),
        x_adv=x_adv.astype(np.float32),
        mask=mask,
        sample_rate=np.int64(sr),
        label="angry",
        clean_pred="angry",
        adv_pred="sad",
        utt_id="spk1_utt007",
    )
    t.examples.append(ep)
    return t


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Tree:
    return make_tree(tmp_path_factory.mktemp("res"))


@pytest.fixture(scope="module")
def tables(tree: Tree, tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    out = tmp_path_factory.mktemp("tables")
    paths = build_tables(tree.victim_metrics, tree.attack_metrics, tree.timing, out)
    names = {"victims", "whitebox", "transfer", "timing", "ablation", "per_class"}
    assert {p.name for p in paths} == {f"{n}.{e}" for n in names for e in ("csv", "md", "tex")}
    assert all(p.stat().st_size > 0 for p in paths)
    res = {n: pd.read_csv(out / f"{n}.csv", float_precision="round_trip", keep_default_na=True) for n in names}
    res["_dir"] = out  # type: ignore[assignment]
    return res


def _metrics(tree: Tree, **kw) -> list[dict]:
    return [m for p, m in tree.metrics.items() if "attack" in m and all(m.get(k) == v for k, v in kw.items())]


# ------------------------------------------------------------------------------- tables
def test_victims_table(tables, tree):
    v = tables["victims"]
    assert {"dataset", "victim", "wa", "ua", "n_test"} <= set(v.columns)
    assert len(v) == len(DATASETS) * len(VICTIMS)
    for p in tree.victim_metrics:
        m = tree.metrics[p]
        row = v[(v.dataset == m["dataset"]) & (v.victim == m["victim"])].iloc[0]
        assert row.wa == m["wa"] and row.ua == m["ua"] and row.n_test == m["n_test"]


def test_whitebox_rows_and_values(tables, tree):
    wb = tables["whitebox"]
    assert {
        "attack",
        "threat",
        "asr",
        "success_vs_truth",
        "snr_peak_db",
        "snr_energy_db",
        "l0",
        "l0_percent",
        "seconds_per_utterance",
    } <= set(wb.columns)
    for ds in DATASETS:
        for thr in THREATS:
            got = set(wb[(wb.dataset == ds) & (wb.threat == thr)].attack)
            assert got == {"staa", "staa (subset)", "pgd", "onepixel_k1"}
    assert set(wb[wb.attack == "staa"].variant) == {"full"}  # reference variant only
    m = _metrics(tree, dataset="synth_b", attack="staa", variant="full", threat="crnn", victim="crnn")[0]
    row = wb[(wb.dataset == "synth_b") & (wb.attack == "staa") & (wb.threat == "crnn")].iloc[0]
    for k in ("asr", "success_vs_truth", "snr_peak_db", "snr_energy_db", "l0", "l0_percent", "seconds_per_utterance"):
        assert row[k] == m[k], k
    sub = wb[(wb.dataset == "synth_b") & (wb.attack == "staa (subset)") & (wb.threat == "crnn")].iloc[0]
    assert sub.asr == m["subset_metrics"]["asr"]
    assert sub.l0_percent == m["subset_metrics"]["l0_percent"]
    assert sub.n_utterances == 10 and np.isnan(sub.snr_energy_db)
    one = wb[(wb.attack == "onepixel_k1")].iloc[0]
    assert np.isnan(one.snr_energy_db)  # null carried as missing, not 0


def test_transfer_table(tables, tree):
    tr = tables["transfer"]
    assert set(VICTIMS) <= set(tr.columns)
    keys = set(zip(tr.dataset, tr.attack, tr.variant.fillna(""), tr.threat))
    want = {(ds, "staa", var, thr) for ds in DATASETS for var in VARIANTS for thr in THREATS}
    want |= {(ds, b, "", thr) for ds in DATASETS for b in BASELINES for thr in THREATS}
    assert keys == want
    assert (tr.white_box_victim == tr.threat).all()
    for m in _metrics(tree, dataset="synth_a", attack="staa", variant="no_spa", threat="cnn"):
        row = tr[(tr.dataset == "synth_a") & (tr.variant == "no_spa") & (tr.threat == "cnn")]
        assert row.iloc[0][m["victim"]] == m["asr"]
    others = [m["asr"] for m in _metrics(tree, dataset="synth_a", attack="pgd", threat="crnn") if not m["white_box"]]
    row = tr[(tr.dataset == "synth_a") & (tr.attack == "pgd") & (tr.threat == "crnn")].iloc[0]
    assert row.mean_transfer_asr == pytest.approx(np.mean(others))
    md = (tables["_dir"] / "transfer.md").read_text()
    tex = (tables["_dir"] / "transfer.tex").read_text()
    assert md.count("**") >= 2 * len(tr) and "\\textbf{" in tex
    assert "\\toprule" in tex and "white\\_box\\_victim" in tex


def test_timing_and_ablation_tables(tables, tree):
    tm = tables["timing"]
    assert {
        "dataset",
        "threat",
        "method",
        "seconds_per_utterance",
        "seconds_p25",
        "seconds_p75",
        "speedup_vs_staa",
        "device",
        "threads",
    } <= set(tm.columns)
    src = load_timing(tree.timing)
    assert len(tm) == len(src)
    row = tm[(tm.dataset == "synth_b") & (tm.method == "onepixel_k1")].iloc[0]
    assert row.speedup_vs_staa == 451.0
    assert set(tm[tm.method == "staa_batched"].batch_size) == {16}
    ab = tables["ablation"]
    assert set(ab.variant) == set(VARIANTS) and len(ab) == len(DATASETS) * len(THREATS) * 2
    assert ab.iloc[0].variant == "full"  # reference first
    ms = _metrics(tree, dataset="synth_a", attack="staa", variant="no_spa", threat="crnn")
    row = ab[(ab.dataset == "synth_a") & (ab.variant == "no_spa") & (ab.threat == "crnn")].iloc[0]
    assert row.asr == next(m["asr"] for m in ms if m["white_box"])
    assert row.transfer_asr_mean == pytest.approx(np.mean([m["asr"] for m in ms if not m["white_box"]]))
    assert row.n_transfer_victims == 3


def test_per_class_table(tables, tree):
    pc = tables["per_class"]
    # white-box runs of every STAA-Net variant and of baselines that carry a breakdown
    expected = [m for m in tree.metrics.values() if m.get("white_box") and m.get("per_class")]
    assert len(pc) == len(expected)
    assert "onepixel_k1" not in set(pc["attack"])
    first = pc.groupby(["dataset", "threat"], sort=False)["attack"].first()
    assert set(first) == {"staa full"}  # the reference variant leads each block
    for m in expected:
        name = f"staa {m['variant']}" if m["method_family"] == "staa" else m["attack"]
        row = pc[(pc["dataset"] == m["dataset"]) & (pc["threat"] == m["threat"]) & (pc["attack"] == name)]
        assert len(row) == 1
        for c in CLASSES:
            assert row[f"asr_{c}"].item() == pytest.approx(m["per_class"][c]["asr"])
            assert row[f"l0_all_percent_{c}"].item() == pytest.approx(m["per_class"][c]["l0_all_percent"])


def test_tables_rounded_only_in_md(tables):
    md = (tables["_dir"] / "whitebox.md").read_text()
    asr = tables["whitebox"].asr.iloc[0]
    assert repr(asr) not in md and f"{asr:.3f}" in md


def test_tables_deterministic(tree, tables, tmp_path):
    build_tables(tree.victim_metrics, tree.attack_metrics, tree.timing, tmp_path)
    for f in tmp_path.iterdir():
        assert f.read_bytes() == (tables["_dir"] / f.name).read_bytes(), f.name
    assert not [f for f in tmp_path.iterdir() if f.name.startswith(".")]  # no temp files


def test_tables_without_baselines_or_timing(tree, tmp_path):
    staa_only = [p for p in tree.attack_metrics if "/staa/" in p.as_posix()]
    paths = build_tables(tree.victim_metrics, staa_only, [], tmp_path)
    assert len(paths) == 18
    assert len(pd.read_csv(tmp_path / "timing.csv")) == 0
    assert "No data" in (tmp_path / "timing.md").read_text()


# ------------------------------------------------------------------------------- errors
def test_missing_key_raises_dataerror(tree, tmp_path):
    src = tree.attack_metrics[0]
    bad = dict(tree.metrics[src])
    del bad["l0_percent"]
    p = _json(tmp_path / "bad" / "metrics.json", bad)
    with pytest.raises(DataError, match=r"l0_percent") as ei:
        load_attack_metrics([src, p])
    assert str(p) in str(ei.value)
    with pytest.raises(DataError, match="l0_percent"):
        build_tables([], [p], [], tmp_path / "out")
    vm = dict(tree.metrics[tree.victim_metrics[0]])
    del vm["ua"]
    pv = _json(tmp_path / "badv" / "metrics.json", vm)
    with pytest.raises(DataError, match=r"'ua'"):
        write_summary([pv], [], [], tmp_path / "s.md", "x", {})


def test_bad_inputs_raise_dataerror(tree, tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_attack_metrics([tmp_path / "nope.json"])
    m = dict(tree.metrics[tree.attack_metrics[0]])
    m["asr"] = "high"
    p = _json(tmp_path / "a" / "metrics.json", m)
    with pytest.raises(DataError, match="'asr'"):
        load_attack_metrics([p])
    m["asr"], m["white_box"] = 0.5, not m["white_box"]
    p = _json(tmp_path / "b" / "metrics.json", m)
    with pytest.raises(DataError, match="white_box"):
        load_attack_metrics([p])
    dup = _json(tmp_path / "c" / "metrics.json", tree.metrics[tree.attack_metrics[0]])
    with pytest.raises(DataError, match="duplicate"):
        load_attack_metrics([tree.attack_metrics[0], dup])
    tp = tmp_path / "t.csv"
    pd.read_csv(tree.timing[0]).drop(columns=["speedup_vs_staa"]).to_csv(tp, index=False)
    with pytest.raises(DataError, match="speedup_vs_staa"):
        load_timing([tp])


def test_metrics_format_version_and_schema_are_checked_on_read(tree, tmp_path):
    """A file without format_version (an older staa), of another version, or off the schema: the file,
    the version or key, and the rule to rerun."""
    m = dict(tree.metrics[tree.attack_metrics[0]])
    old = {k: v for k, v in m.items() if k != "format_version"}
    p = _json(tmp_path / "old" / "metrics.json", old)
    with pytest.raises(
        DataError, match=r"old/metrics.json: no 'format_version' key .*--forcerun score_staa score_baseline"
    ):
        load_attack_metrics([p])
    p = _json(tmp_path / "new" / "metrics.json", {**m, "format_version": 2})
    with pytest.raises(
        DataError,
        match=r"new/metrics.json: metrics format_version 2, but this staa reads format 1 "
        r"only; rerun its scoring rule .*--forcerun score_staa score_baseline",
    ):
        load_attack_metrics([p])
    p = _json(tmp_path / "extra" / "metrics.json", {**m, "asr_typo": 0.5})
    with pytest.raises(DataError, match=r"extra/metrics.json: .*'asr_typo' was unexpected.*metrics.schema.yaml"):
        load_attack_metrics([p])
    p = _json(tmp_path / "sub" / "metrics.json", {**m, "subset_metrics": {"asr": 0.5}})
    with pytest.raises(DataError, match=r"sub/metrics.json: key 'subset_metrics': "):
        load_attack_metrics([p])


def test_scoring_refuses_to_write_a_record_off_the_schema(tree, tmp_path):
    from staa.evaluate import write_attack_outputs

    m = {k: v for k, v in tree.metrics[tree.attack_metrics[0]].items() if k not in ("per_class", "n_success")}
    per = pd.DataFrame({"clean_pred": [0], "adv_pred": [1], "fooled": [1], "l0": [3]})
    table = pd.DataFrame({"utt_id": ["u1"], "label_idx": [0]})
    with pytest.raises(DataError, match=r"out/metrics.json: 'n_success' is a required property"):
        write_attack_outputs(
            tmp_path / "out" / "metrics.json", tmp_path / "out" / "per_utterance.csv", m, per, table, CLASSES
        )
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------- figures
def _is_png(p: Path) -> bool:
    return p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_figures_full(tree, tmp_path):
    def first(paths: list[Path]) -> list[Path]:  # one dataset keeps the test fast
        return [p for p in paths if DATASETS[0] in p.as_posix()]

    paths = build_figures(
        first(tree.attack_metrics),
        first(tree.timing),
        first(tree.victim_logs),
        first(tree.generator_logs),
        tree.examples,
        tmp_path,
        {"dpi": 60, "context": "paper"},
    )
    names = {p.name for p in paths}
    stems = ["whitebox_tradeoff", "transfer_heatmap", "timing", "ablation", "training_victims", "training_generators"]
    want = {f"{s}_{DATASETS[0]}.{e}" for s in stems for e in ("png", "pdf")}
    want |= {"example_utterance.png", "example_utterance.pdf"}
    assert names == want
    for p in paths:
        assert p.stat().st_size > 1000
        assert _is_png(p) if p.suffix == ".png" else p.read_bytes()[:5] == b"%PDF-"


def test_figures_missing_optional_inputs(tree, tmp_path):
    staa_only = [p for p in tree.attack_metrics if "/staa/" in p.as_posix() and "synth_a" in p.as_posix()]
    paths = build_figures(
        staa_only, [], [], [], [], tmp_path, {"dpi": 50, "formats": ["png"], "palette": {"staa": "black"}}
    )
    assert {p.name for p in paths} == {
        "whitebox_tradeoff_synth_a.png",
        "transfer_heatmap_synth_a.png",
        "ablation_synth_a.png",
    }
    assert all(_is_png(p) for p in paths)
    assert build_figures([], [], [], [], [], tmp_path / "empty", {}) == []
    # only a white-box baseline, no STAA: still no crash
    one = [p for p in tree.attack_metrics if "/pgd/cnn/on_cnn/" in p.as_posix()][:1]
    got = build_figures(one, [], [], [], [], tmp_path / "pgd", {"dpi": 50, "formats": ["png"]})
    assert {p.name.rsplit("_", 2)[0] for p in got} >= {"whitebox_tradeoff"}


# ------------------------------------------------------------------------------- summary
def test_summary(tree, tmp_path):
    info = {"synth_a": {"kind": "synthetic", "n_classes": 4}, "synth_b": {"synthetic": True, "sample_rate": 16000}}
    out = write_summary(tree.victim_metrics, tree.attack_metrics, tree.timing, tmp_path / "summary.md", "smoke", info)
    text = out.read_text()
    for band in ("6–25 %", "53–99 %", "57–418×"):
        assert band in text
    assert "`smoke`" in text and "synth_a" in text and "synthetic" in text.lower()
    claims = text.split("## Headline claims")[1].split("## Notes")[0]
    wb = [m for m in _metrics(tree, attack="staa", variant="full") if m["white_box"]]
    for m in wb:  # like with like: one white-box ASR row and one perturbed-share row per threat model
        row = next(
            line
            for line in claims.splitlines()
            if line.startswith(f"| white-box ASR against {m['threat']} ") and m["dataset"] in line
        )
        assert f"{100 * m['asr']:.1f} %" in row
        assert any(
            f"{m['l0_percent']:.1f} %" in line
            for line in claims.splitlines()
            if line.startswith(f"| perturbed share against {m['threat']} ")
        )
    assert claims.count("| white-box ASR against") == len(wb)
    # speed-up per baseline, STAA's own rows excluded
    assert "| speed-up over pgd " in claims and "| speed-up over staa" not in claims
    assert "**PASS**" not in claims and "**DIFFERS**" not in claims
    assert "CPU" in text or "cpu" in text
    assert "Victim models are small" in text


def test_summary_differs(tree, tmp_path):
    tp = tmp_path / "slow.csv"
    t = pd.read_csv(tree.timing[0])
    t.loc[t.method_family != "staa", "speedup_vs_staa"] = [2.0, 3.0]
    t.to_csv(tp, index=False)
    text = write_summary(tree.victim_metrics, tree.attack_metrics, [tp], tmp_path / "s.md", "smoke", {}).read_text()
    rows = [line for line in text.splitlines() if line.startswith("| speed-up over")]
    assert rows and all("**BELOW** (below the paper's band)" in r for r in rows)
    assert any("2.0×" in r for r in rows) and any("3.0×" in r for r in rows)


def test_verdict():
    assert verdict((10, 20), (6, 25))[0] == "INSIDE"
    assert verdict((1, 7), (6, 25)) == ("OVERLAPS", "straddles an edge of the paper's band")
    assert verdict((30, 40), (6, 25)) == ("ABOVE", "above the paper's band")
    assert verdict((1, 5), (6, 25)) == ("BELOW", "below the paper's band")
    assert verdict(None, (6, 25))[0] == "NO DATA"


def test_workflow_report_tables_match_the_package():
    """The report rule's declared table outputs are the tables `staa report` writes."""
    import ast
    import re

    from conftest import REPO
    from staa.report.tables import REPORT_TABLES

    text = (REPO / "workflow" / "rules" / "common.smk").read_text()
    declared = re.search(r"^REPORT_TABLES = (\(.*\))$", text, re.M)
    assert declared and ast.literal_eval(declared.group(1)) == REPORT_TABLES


def test_several_seeds_give_means_with_t_intervals_and_error_bars(tree, tmp_path):
    """Three seeds of every attack run: one row per run with the mean and the t-interval over seeds
    (printed '±'), the interval kind named; the sweep figure is drawn with them."""
    paths = list(tree.attack_metrics)
    for seed in (1, 2):
        for p in tree.attack_metrics:
            m = dict(tree.metrics[p], seed=seed, asr=min(1.0, tree.metrics[p]["asr"] + 0.05 * seed))
            q = p.parent.parent / f"seed{seed}" / p.parent.name / "metrics.json"
            paths.append(_json(q, m))
    build_tables(tree.victim_metrics, paths, tree.timing, tmp_path)
    wb = pd.read_csv(tmp_path / "whitebox.csv")
    assert set(wb["interval"]) == {"t over 3 seeds"} and (wb["asr_ci_low"] <= wb["asr"]).all()
    assert (wb.loc[wb["evaluated_on"] == "full", "asr_ci_low"] < wb.loc[wb["evaluated_on"] == "full", "asr"]).all()
    assert "±" in (tmp_path / "whitebox.md").read_text() and "t over 3 seeds" in (tmp_path / "whitebox.md").read_text()
    abl = pd.read_csv(tmp_path / "ablation.csv")
    assert (abl["n_seeds"] == 3).all() and abl["transfer_asr_mean_ci_high"].notna().all()
    sweeps = {
        "density": {
            "key": "sparsity_target",
            "points": [{"value": 0.2, "variant": "full"}, {"value": None, "variant": "no_spa"}],
        }
    }
    written = build_figures(
        paths,
        tree.timing,
        [],
        [],
        [],
        tmp_path / "fig",
        style={"formats": ["png"]},
        ablation_variants=["full"],
        sweeps=sweeps,
    )
    assert any(p.name.startswith("sweep_density_") for p in written)


def test_sweep_points_on_one_spot_share_one_label():
    """Budgets whose masks all collapse land on (0 %, 0 %): one annotation lists them, none overprints."""
    from staa.report.figures import MethodColours, fig_sweep

    rows = [("d05", 0.0, 0.0), ("d10", 0.0, 0.0), ("full", 15.0, 0.4), ("dnone", 0.0, 0.0)]
    summary = pd.DataFrame(
        [
            {
                "dataset": "synth",
                "threat": "emo18",
                "variant": v,
                "l0_all_percent": x,
                "asr": a,
                "transfer_asr_mean": a / 2,
            }
            for v, x, a in rows
        ]
    )
    sweep = {
        "key": "sparsity_target",
        "points": [
            {"value": 0.05, "variant": "d05"},
            {"value": 0.1, "variant": "d10"},
            {"value": 0.2, "variant": "full"},
            {"value": None, "variant": "dnone"},
        ],
    }
    attacks = pd.DataFrame(columns=["dataset", "threat", "white_box", "method_family", "attack"])
    fig = fig_sweep(
        summary, attacks, "synth", "density", sweep, MethodColours([("staa", "staa"), ("full", "staa")], None, "full")
    )
    texts = sorted(t.get_text() for t in fig.axes[0].texts)
    assert texts == ["0.2", "sparsity_target=0.05, 0.1, none"]
