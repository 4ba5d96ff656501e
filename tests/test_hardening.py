"""Bad inputs and faults a user meets: each ends in one clear line naming the file, key or value and
what was expected, before any job where it can (the config check), and never half-written outputs.

The catalogue in docs/bad-inputs.md lists these cases with their messages."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from conftest import REPO, SCHEMA, SNAKEFILE, load_default_config, tiny_config
from staa.config import load_config_file, validate_config
from staa.data.prepare import load_split, prepare_dataset
from staa.data.split import complete_split
from staa.errors import ConfigError, DataError
from staa.utils import write_json, write_text

STAA = [sys.executable, "-m", "staa.cli"]


def _config_error(cfg: dict) -> str:
    with pytest.raises(ConfigError) as exc:
        validate_config(cfg, SCHEMA)
    return str(exc.value)


# ---- shell injection and names ------------------------------------------------------------------

# placeholders whose values are integers the workflow computes itself
_SAFE_UNQUOTED = {"threads", "resources.gpu"}


def test_every_shell_placeholder_is_quoted():
    """Static check of every rule: each {placeholder} in a shell command ends in :q."""
    found = 0
    for smk in sorted((REPO / "workflow").rglob("*.smk")) + [SNAKEFILE]:
        text = smk.read_text()
        for block in re.findall(r"\n    shell:\n((?:        .*\n?)+)", text):
            for ph in re.findall(r"(?<!\{)\{([^{}]+)\}(?!\})", block):
                found += 1
                assert ph.endswith(":q") or ph in _SAFE_UNQUOTED, f"{smk.name}: unquoted {{{ph}}} in\n{block}"
    assert found > 50  # the check really saw the rules' commands


HOSTILE = "a b'c\"$(touch PWNED)`touch PWNED2`;x"


def test_hostile_corpus_root_reaches_the_step_verbatim(tmp_path):
    """A corpus root with spaces, quotes and command substitutions: the data stage runs through
    Snakemake, reads it verbatim (it arrives inside --params as one word) and nothing is executed."""
    from staa.data.synthetic import generate_corpus

    root = tmp_path / HOSTILE
    generate_corpus(root, n_speakers=4, utterances_per_emotion=2, emotions=["angry", "sad"], seed=0)
    cfg = tiny_config()
    cfg["datasets"]["synth"] = {
        **cfg["datasets"]["synth"],
        "reader": "manifest",
        "root": str(root),
        "reader_options": {"manifest": "metadata.csv"},
    }
    del cfg["datasets"]["synth"]["synthetic"]
    wd = tmp_path / "wd"
    wd.mkdir()
    (wd / "c.yaml").write_text(__import__("yaml").safe_dump(cfg))
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(SNAKEFILE),
        "--directory",
        str(wd),
        "--cores",
        "1",
        "-p",
        "results/data/synth/card.md",
        "--configfile",
        str(wd / "c.yaml"),
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    line = next(ln for ln in (res.stdout + res.stderr).splitlines() if "staa prepare-data" in ln)
    words = shlex.split(line[line.index("staa prepare-data") :])
    assert json.loads(words[words.index("--params") + 1])["root"] == str(root)
    assert not list(tmp_path.rglob("PWNED*")) and not list(wd.rglob("PWNED*"))
    assert "angry" in (wd / "results" / "data" / "synth" / "card.md").read_text()


@pytest.mark.parametrize(
    "section,name",
    [
        ("datasets", "mf$(touch PWNED)"),
        ("datasets", "a/b"),
        ("victims", "-rf"),
        ("victims", "emo 18"),
        ("generator.variants", "../x"),
        ("baselines.methods", "pgd;ls"),
    ],
)
def test_unsafe_names_are_refused(section, name):
    cfg = load_default_config()
    node = cfg
    for k in section.split("."):
        node = node[k]
    node[name] = node.pop(next(iter(node)))
    msg = _config_error(cfg)
    assert f"config section '{section}': name {name!r} is not allowed" in msg
    assert "letter or digit first" in msg


def test_snakemake_refuses_an_unsafe_name_before_any_job(tmp_path):
    cfg = load_default_config()
    cfg["datasets"]["mf$(touch PWNED)"] = cfg["datasets"].pop("synth")
    cfg["run"]["datasets"] = ["mf$(touch PWNED)"]
    (tmp_path / "c.yaml").write_text(__import__("yaml").safe_dump(cfg))
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-s",
            str(SNAKEFILE),
            "--directory",
            str(tmp_path),
            "-n",
            "--configfile",
            str(tmp_path / "c.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode != 0
    assert "name 'mf$(touch PWNED)' is not allowed" in res.stdout + res.stderr
    assert not list(tmp_path.rglob("PWNED"))


# ---- speakers across splits ---------------------------------------------------------------------


def _table(assigned: dict[str, str]) -> pd.DataFrame:
    """Two rows per speaker s0..s7; the first row of the speakers in `assigned` carries a split."""
    rows = []
    for i in range(8):
        spk = f"s{i}"
        for j in range(2):
            rows.append(
                {
                    "utt_id": f"{spk}_{j}",
                    "speaker": spk,
                    "gender": "",
                    "label": "a",
                    "split": assigned.get(spk, "") if j == 0 else "",
                }
            )
    return pd.DataFrame(rows)


def test_partly_filled_split_column_keeps_speakers_together():
    df = _table({"s0": "test", "s1": "dev", "s2": "train"})
    split = complete_split(df, 0.25, 0.25, seed=0, balance_gender=False)
    per = pd.DataFrame({"speaker": df["speaker"], "split": split}).groupby("speaker")["split"].nunique()
    assert (per == 1).all()
    assert set(split[df["speaker"] == "s0"]) == {"test"} and set(split[df["speaker"] == "s1"]) == {"dev"}


def test_speaker_in_two_assigned_splits_is_named():
    df = _table({"s0": "test"})
    df.loc[1, "split"] = "train"  # s0's second row
    with pytest.raises(DataError, match=r"1 speaker\(s\) in more than one split: s0 in test/train"):
        complete_split(df, 0.25, 0.25, seed=0, balance_gender=False)
    # an explicit request for speaker-dependent splits accepts it
    split = complete_split(df, 0.25, 0.25, seed=0, balance_gender=False, speaker_independent=False)
    assert set(split[df["speaker"] == "s0"]) == {"test", "train"}


# ---- files readable on a shared cluster ---------------------------------------------------------


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_outputs_get_the_umask_mode(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        write_json(tmp_path / "m.json", {"a": 1})
        write_text(tmp_path / "t.md", "x")
        (tmp_path / "plain").write_text("x")  # what a plain open() gives
    finally:
        os.umask(old)
    for name in ("m.json", "t.md", "plain"):
        assert (tmp_path / name).stat().st_mode & 0o777 == mode, name


# ---- config files -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,expected",
    [
        ("seed: 0\nrun: [a\n  b: c\n", "not valid YAML at line 3, column 4"),
        ("seed: 0\nseed: 1\n", "duplicate key 'seed' (first at line 1)"),
        ("run:\n  threads: 1\n  threads: 2\n", "line 3, column 3: duplicate key 'threads'"),
        ("- a\n- b\n", "expected a YAML mapping of config keys at the top level, got list"),
    ],
)
def test_config_file_errors_name_file_and_line(tmp_path, text, expected):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_config_file(path)
    assert str(path) in str(exc.value) and expected in str(exc.value)


def test_yaml_anchors_and_merge_keys_still_load(tmp_path):
    (tmp_path / "c.yaml").write_text("a: &x {p: 1, q: 2}\nb:\n  <<: *x\n  q: 3\n")
    assert load_config_file(tmp_path / "c.yaml") == {"a": {"p": 1, "q": 2}, "b": {"p": 1, "q": 3}}


def test_validate_config_cli_outside_the_repo(tmp_path):
    """Run from another folder: the schema is found from the package; a missing file is one line."""
    ok = subprocess.run(
        STAA + ["validate-config", str(REPO / "config" / "config.yaml")], cwd=tmp_path, capture_output=True, text=True
    )
    assert ok.returncode == 0 and "valid" in ok.stdout
    bad = subprocess.run(STAA + ["validate-config", "nope.yaml"], cwd=tmp_path, capture_output=True, text=True)
    assert bad.returncode == 2
    assert bad.stderr.strip() == "staa validate-config: error: nope.yaml: config file not found"


def test_make_checks_the_config_before_snakemake(tmp_path):
    (tmp_path / "dup.yaml").write_text("seed: 0\nseed: 1\n")
    res = subprocess.run(
        ["make", "-s", "dry-run", f"CONFIG={tmp_path / 'dup.yaml'}", f"VENV={Path(sys.executable).parents[1]}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode != 0
    assert "duplicate key 'seed'" in res.stderr and "Traceback" not in res.stderr


# ---- settings that used to fail only inside a job -----------------------------------------------


def test_architecture_typo_is_caught_up_front():
    cfg = load_default_config()
    cfg["victims"]["emo18"]["arch"]["chanels"] = cfg["victims"]["emo18"]["arch"].pop("channels")
    msg = _config_error(cfg)
    assert "victims.emo18.arch: unknown option(s) ['chanels'] for family 'emo18'" in msg


def test_ssl_config_typo_is_caught_up_front():
    """transformers' configs keep an unknown keyword as a silent attribute: we refuse it."""
    cfg = load_default_config()
    small = dict(cfg["victims"]["wavlm"]["arch"]["small_config"])
    small["hiden_size"] = small.pop("hidden_size")
    cfg["victims"]["wavlm"]["arch"]["small_config"] = small
    assert "victims.wavlm.arch.small_config: unknown option(s) ['hiden_size'] for WavLMConfig" in _config_error(cfg)


def test_architecture_lists_of_unequal_length_are_refused():
    cfg = load_default_config()
    cfg["victims"]["emo18"]["arch"]["pools"] = [10, 8]
    assert "channels, kernels and pools need one entry per conv block" in _config_error(cfg)


def test_unknown_target_class_is_refused_for_a_synthetic_corpus():
    cfg = load_default_config()
    cfg["generator"]["train"]["target"] = "angy"
    assert "generator.train.target: 'angy' is not a class of dataset 'synth'" in _config_error(cfg)


def test_generator_even_kernel_is_refused():
    cfg = load_default_config()
    cfg["generator"]["arch"]["kernel_size"] = 4
    assert "generator.arch.kernel_size = 4: expected an odd integer" in _config_error(cfg)


def test_baseline_setting_the_attack_rejects_is_caught_up_front():
    cfg = load_default_config()
    cfg["baselines"]["methods"]["onepixel"]["max_population"] = 4
    msg = _config_error(cfg)
    assert "baselines.methods.onepixel: attack 'onepixel': setting max_population=4 is invalid" in msg


def test_config_check_does_not_import_torch():
    code = (
        "import sys, yaml; from staa.config import validate_config; "
        f"validate_config(yaml.safe_load(open({str(REPO / 'config' / 'config.yaml')!r})), {str(SCHEMA)!r}); "
        "assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_clip_too_short_for_a_victim_is_named():
    cfg = load_default_config()
    cfg["datasets"]["synth"]["clip_seconds"] = 0.01
    msg = _config_error(cfg)
    assert "datasets.synth.clip_seconds = 0.01 gives 160 samples, but victim 'emo18' needs at least 640" in msg
    assert "victim 'zhao19' needs at least 256 samples" in msg and "'wav2vec2'" not in msg  # 120 suffice


def test_clip_length_minimum_is_the_real_one():
    """The computed minimum is exact: one sample less breaks the victim, the minimum works."""
    import torch

    from staa.config import victim_min_samples
    from staa.models import build_victim

    cfg = load_default_config()
    for name in ("emo18", "zhao19", "wav2vec2"):
        v = cfg["victims"][name]
        need = victim_min_samples(v["family"], v["arch"])
        model = build_victim(v["family"], 4, need, v["arch"]).eval()
        with torch.no_grad():
            assert model(torch.randn(1, need)).shape == (1, 4)
            with pytest.raises(RuntimeError):
                model(torch.randn(1, need - 1))


def test_synthetic_root_must_be_where_the_rule_writes():
    cfg = load_default_config()
    cfg["datasets"]["mysynth"] = cfg["datasets"].pop("synth")
    cfg["run"]["datasets"] = ["mysynth"]
    msg = _config_error(cfg)
    assert "datasets.mysynth.root: a synthetic corpus is written by the pipeline to 'results/corpora/mysynth'" in msg
    cfg["datasets"]["mysynth"]["root"] = "results/corpora/mysynth"
    validate_config(cfg, SCHEMA)


# ---- audio and labels ---------------------------------------------------------------------------


def _manifest_corpus(
    root: Path, durations: dict[str, float] | None = None, silent: bool = False, labels=("a", "b"), speakers=4
) -> Path:
    rng = np.random.default_rng(0)
    rows = []
    for s in range(speakers):
        for lab in labels:
            for j in range(2):
                name = f"s{s}_{lab}_{j}.wav"
                dur = (durations or {}).get(name, 0.3)
                audio = (
                    np.zeros(int(dur * 16000), np.float32) if silent else 0.1 * rng.standard_normal(int(dur * 16000))
                )
                sf.write(root / name, audio.astype(np.float32), 16000)
                rows.append({"path": name, "label": lab, "speaker": f"s{s}"})
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)
    return root


def _params(root: Path, **over) -> dict:
    return {
        "reader": "manifest",
        "root": str(root),
        "sample_rate": 16000,
        "clip_seconds": 0.25,
        "split": {"dev_fraction": 0.25, "test_fraction": 0.25, "balance_gender": False, "seed": 0},
        **over,
    }


def test_clip_below_the_floor_is_bad_audio(tmp_path):
    root = _manifest_corpus(tmp_path, {"s0_a_0.wav": 0.002})
    with pytest.raises(DataError, match=r"s0_a_0.wav: 2.0 ms of audio, shorter than the 25 ms floor"):
        prepare_dataset("d", _params(root), tmp_path / "out")
    assert not (tmp_path / "out").exists()
    info = prepare_dataset("d", _params(root, on_bad_audio="skip"), tmp_path / "out")
    assert info["n_skipped"] == 1
    assert "shorter than the 25 ms floor" in (tmp_path / "out" / "card.md").read_text()


def test_all_silent_corpus_is_refused(tmp_path):
    root = _manifest_corpus(tmp_path, silent=True)
    with pytest.raises(DataError, match=r"all 16 clips under .* are silent"):
        prepare_dataset("d", _params(root), tmp_path / "out")


def test_some_silent_clips_are_a_warning_in_card_and_log(tmp_path, capsys):
    root = _manifest_corpus(tmp_path)
    sf.write(root / "s1_b_1.wav", np.zeros(4800, np.float32), 16000)
    info = prepare_dataset("d", _params(root), tmp_path / "out", log=sys.stderr)
    assert info["n_silent"] == 1
    assert "1 of 16 clips are silent" in (tmp_path / "out" / "card.md").read_text()
    assert "WARNING: 1 of 16 clips are silent" in capsys.readouterr().err


def test_label_outside_label_map_is_a_warning(tmp_path):
    root = _manifest_corpus(tmp_path, labels=("ang", "sad"))
    info = prepare_dataset("d", _params(root, reader_options={"label_map": {"ang": "angry"}}), tmp_path / "out")
    assert info["classes"] == ["angry", "sad"]
    assert "label(s) ['sad'] are not in label_map" in (tmp_path / "out" / "card.md").read_text()


def test_class_without_test_utterances_is_refused(tmp_path):
    root = _manifest_corpus(tmp_path)
    man = pd.read_csv(root / "manifest.csv")
    # class 'c' spoken by one speaker only, who lands in train
    sf.write(root / "only.wav", (0.1 * np.ones(4800)).astype(np.float32), 16000)
    man = pd.concat([man, pd.DataFrame([{"path": "only.wav", "label": "c", "speaker": "s0", "split": "train"}])])
    man["split"] = man["split"].fillna("")
    man.loc[man["speaker"] == "s0", "split"] = "train"
    man.to_csv(root / "manifest.csv", index=False)
    with pytest.raises(DataError, match=r"class\(es\) \['c'\] have no test utterances"):
        prepare_dataset("d", _params(root), tmp_path / "out")


# ---- damaged or foreign files -------------------------------------------------------------------


class Foreign:
    """A class a safe load does not know: its pickle could run code on load."""


def test_foreign_pickle_is_refused_without_unsafe_advice(tmp_path):
    import torch

    from staa.models import load_victim
    from staa.generator import load_generator

    path = tmp_path / "model.pt"
    torch.save({"family": Foreign()}, path)  # a pickle beyond tensors and plain data
    for loader, what in ((load_victim, "victim checkpoint"), (load_generator, "generator checkpoint")):
        with pytest.raises(DataError) as exc:
            loader(path)
        msg = str(exc.value)
        assert msg.startswith(f"{path}: refused to load as unsafe: it is not a {what}")
        assert "weights_only" not in msg and "\n" not in msg
    torch.save({"state_dict": {}}, path)  # ours in form, but another kind of file
    with pytest.raises(DataError, match="not a victim checkpoint .*lacks .*'family'"):
        load_victim(path)
    torch.save({"format_version": 99, "meta_json": "{}", "state_dict": {}}, path)  # from a newer release
    with pytest.raises(DataError, match=r"generator checkpoint format version 99, newer than this code reads \(1\)"):
        load_generator(path)


def test_truncated_split_array_is_named(tiny_dataset, tmp_path):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(tiny_dataset, data)
    npy = data / "test.npy"
    npy.write_bytes(npy.read_bytes()[:-100])
    with pytest.raises(DataError, match=r"test.npy: \d+ bytes, expected \d+ .* \(truncated or overwritten\)"):
        load_split(data, "test")
    np.save(npy, np.zeros((3, 5), np.float64))
    with pytest.raises(DataError, match=r"test.npy: holds a float64 array"):
        load_split(data, "test")
    npy.write_bytes(b"not an array")
    with pytest.raises(DataError, match=r"test.npy: not a readable .npy array"):
        load_split(data, "test")


@pytest.mark.parametrize(
    "cmd,params,expected",
    [
        ("train-victim", {"family": "emo18"}, "--params lacks key 'epochs' (an integer)"),
        (
            "train-victim",
            {"family": "emo18", "epochs": "ten", "batch_size": 8, "lr": 1e-3, "seed": 0},
            "--params key 'epochs' = 'ten': expected an integer",
        ),
        (
            "train-generator",
            {"threat": "emo18", "variant": "full", "arch": {}, "train": {"epochs": 1}, "seed": 0},
            "--params lacks key 'train.batch_size'",
        ),
        (
            "attack-baseline",
            {"name": "pgd", "threat": "emo18", "settings": {}, "seed": 0, "eps_mode": "absolute"},
            "--params lacks key 'settings.method'",
        ),
    ],
)
def test_hand_run_step_names_a_missing_params_key(tmp_path, cmd, params, expected):
    args = {
        "train-victim": ["--name", "v", "--data-dir", "d", "--model", "m", "--metrics", "j", "--train-log", "l"],
        "train-generator": [
            "--data-dir",
            "d",
            "--model",
            "g",
            "--train-log",
            "l",
            "--summary",
            "s",
            "--threat-model",
            "t",
        ],
        "attack-baseline": [
            "--data-dir",
            "d",
            "--subset",
            "s",
            "--threat-model",
            "t",
            "--adversarial",
            "a",
            "--attack-log",
            "l",
        ],
    }[cmd]
    res = subprocess.run(
        STAA + [cmd, *args, "--params", json.dumps(params)], cwd=tmp_path, capture_output=True, text=True
    )
    assert res.returncode == 2
    assert expected in res.stderr and "Traceback" not in res.stderr


def test_damaged_files_between_steps_are_named(tiny_dataset, tmp_path):
    """Subset table, stored adversarials, attack log, STAA-Net's packed mask and classes.json: each
    damage names the file and the rule to rerun."""
    import shutil

    import torch

    from staa.data.prepare import load_subset, make_subset
    from staa.data.prepare import load_classes
    from staa.evaluate import save_mask
    from staa.steps.score import ScoreFiles, score_attack

    data = tmp_path / "data"
    shutil.copytree(tiny_dataset, data)
    subset = tmp_path / "subset.csv"
    make_subset(data, 3, 0, subset)
    x, table = load_subset(data, subset)
    bad = tmp_path / "bad_subset.csv"
    bad.write_text("utt_id\nfoo\n")
    with pytest.raises(DataError, match=r"bad_subset.csv: missing required column\(s\) \['index'\] in test subset CSV"):
        load_subset(data, bad)
    adv = tmp_path / "adversarial.npy"
    np.save(adv, x)
    alog = tmp_path / "attack_log.csv"
    pd.DataFrame({"utt_id": table["utt_id"], "seconds": 0.1, "status": "ok", "device": "cpu", "threads": 1}).to_csv(
        alog, index=False
    )
    params = {
        "dataset": "d",
        "attack": "pgd",
        "method": "pgd",
        "threat": "v",
        "victim": "v",
        "scope": "subset",
        "seed": 0,
    }

    def score(**kw):
        score_attack(
            params,
            data,
            adv,
            alog,
            tmp_path / "v.pt",
            ScoreFiles.in_dir(tmp_path / "out"),
            torch.device("cpu"),
            subset_csv=subset,
            **kw,
        )

    adv.write_bytes(adv.read_bytes()[:-8])
    with pytest.raises(DataError, match=r"adversarial.npy: \d+ bytes, expected .*rerun the attack_baseline rule"):
        score()
    np.save(adv, x[:2])
    with pytest.raises(DataError, match=r"adversarial.npy: shape \(2, \d+\), but the subset .* call for \(3, \d+\)"):
        score()
    np.save(adv, x)
    mask = tmp_path / "mask.npy"
    save_mask(mask, np.ones((2, x.shape[1]), dtype=bool))
    params.update(attack="staa", method="staa", variant="full")
    with pytest.raises(
        DataError,
        match=r"mask.npy: uint8 array of shape \(2, \d+\), expected a packed mask of shape "
        r"\(3, \d+\) .*rerun the craft_staa rule",
    ):
        score(mask_path=mask)
    pd.read_csv(alog).iloc[:2].to_csv(alog, index=False)
    with pytest.raises(
        DataError, match=r"attack_log.csv: its utterances differ from the subset .*rerun the craft_staa rule"
    ):
        score()
    assert not (tmp_path / "out").exists()
    (data / "classes.json").write_text("{not json")
    with pytest.raises(DataError, match=r"classes.json: not valid JSON .*expected a dataset description"):
        load_classes(data)


def test_score_without_a_subset_mask_or_craft_record_parses():
    """The rules pass '' (or nothing) for what an attack or a dataset does not have: none, not a usage error."""
    from staa.cli import build_parser

    base = [
        "score",
        "--data-dir",
        "d",
        "--metrics",
        "m",
        "--per-utterance",
        "p",
        "--adversarial",
        "a",
        "--attack-log",
        "l",
        "--victim-model",
        "v",
    ]
    for flag in ("--subset", "--mask", "--craft"):
        key = flag[2:]
        for extra in ([flag], [flag, ""], []):
            assert getattr(build_parser().parse_args(base + extra), key) == ""
        assert getattr(build_parser().parse_args(base + [flag, "s"]), key) == "s"
    ns = build_parser().parse_args(base + ["--mask", "--craft", "--subset", "s.csv"])
    assert (ns.mask, ns.craft, ns.subset) == ("", "", "s.csv")
