"""Outputs, checkpoints and the Python API: files a command writes that would overwrite each other or
an input, write failures, files that are not checkpoints, array layouts the API must not guess, and
numeric CLI arguments. Each bad input ends in one line naming the path or value (docs/bad-inputs.md,
section "Outputs, checkpoints and the Python API"); each test fails on the code before issue 20."""

from __future__ import annotations

import errno
import io
import json
import os
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from staa.errors import ConfigError, DataError, StaaError, WriteError
from staa.generator import STAANet, load_generator, save_generator
from staa.models import build_victim, load_victim, save_victim

LENGTH = 800  # 50 ms at 16 kHz: every model here is tiny
ARCH = {"channels": [4, 8], "kernel_size": 5, "stride": 4, "group_size": 4}
VICTIM_ARCH = {"channels": [4, 4, 4], "hidden": 8, "pools": [4, 4, 4]}
CLASSES = ["angry", "happy", "sad"]


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> tuple[Path, Path]:
    """A tiny untrained generator (most samples perturbed) and emo18 victim, as files."""
    d = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    gen = STAANet(LENGTH, loc_bias_init=0.3, **ARCH).eval()
    meta = {"arch": ARCH, "length": LENGTH, "factorised": True, "frame_length": 1, "eps": 0.05, "classes": CLASSES}
    save_generator(gen, d / "generator.pt", meta)
    save_victim(build_victim("emo18", 3, LENGTH, VICTIM_ARCH).eval(), d / "victim.pt", extra={"classes": CLASSES})
    return d / "generator.pt", d / "victim.pt"


def tone(seconds: float, sr: int, channels: int = 1) -> np.ndarray:
    """(samples, channels) float64, soundfile's layout."""
    t = np.arange(round(seconds * sr)) / sr
    return np.stack([0.4 * np.sin(2 * np.pi * (150 + 40 * c) * t) for c in range(channels)], axis=1)


def one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and "Traceback" not in msg
    return msg


def run_cli(capsys, *argv: str) -> tuple[int, str]:
    """`staa ARGV` in this process: (exit status, stderr)."""
    from staa.cli import main

    rc = main([str(a) for a in argv])
    return rc, capsys.readouterr().err


# ---- files that are not checkpoints -----------------------------------------------------------


def _not_a_checkpoint(tmp_path: Path, case: str, models: tuple[Path, Path]) -> Path:
    path = tmp_path / "model.pt"
    if case == "text":
        path.write_text("epochs: 10\nlr: 0.001\n")  # the weights-only unpickler used to say KeyError: 101
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "truncated":
        data = models[1].read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif case == "foreign zip":
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("notes/readme.txt", "hello")
    elif case == "damaged pickle inside":
        with zipfile.ZipFile(models[1]) as src, zipfile.ZipFile(path, "w") as dst:
            for item in src.infolist():
                data = src.read(item)
                dst.writestr(item, b"hello world" if item.filename.endswith("data.pkl") else data)
    elif case == "numpy":
        with open(path, "wb") as fh:
            np.save(fh, np.zeros(4))
    elif case == "plain pickle":
        import pickle

        path.write_bytes(pickle.dumps({"state_dict": {}}, protocol=4))
    elif case == "binary junk":
        path.write_bytes(bytes(range(200, 256)) * 4)
    elif case == "folder":
        path.mkdir()
    else:
        raise AssertionError(case)
    return path


NOT_CHECKPOINTS = [
    ("text", r"model\.pt: a text file \(it starts 'epochs: 10 lr: 0\.001'\), not a {what}; check that the path"),
    ("empty", r"model\.pt: file is empty \(0 bytes\); expected a {what}$"),
    ("truncated", r"model\.pt: truncated or damaged {what} \(not a complete zip archive, \d+ bytes\); rerun"),
    (
        "foreign zip",
        r"model\.pt: a zip archive but not a torch checkpoint \(no data\.pkl inside\); expected a {what}",
    ),
    ("damaged pickle inside", r"model\.pt: not a readable {what} \(.+\); rerun the step that writes it"),
    ("numpy", r"model\.pt: a NumPy \.npy array, not a {what}$"),
    ("plain pickle", r"model\.pt: a Python pickle, not a {what} written by torch\.save; not loaded"),
    ("binary junk", r"model\.pt: not a {what}: unrecognised content \(it starts with bytes c8 c9 "),
    ("folder", r"model\.pt: is a folder; expected a {what} file"),
]


@pytest.mark.parametrize("case,message", NOT_CHECKPOINTS, ids=[c[0] for c in NOT_CHECKPOINTS])
@pytest.mark.parametrize(
    "loader,what",
    [(load_victim, "victim checkpoint"), (load_generator, "generator checkpoint")],
    ids=["victim", "generator"],
)
def test_a_file_that_is_not_a_checkpoint_is_named(tmp_path, models, case, message, loader, what):
    path = _not_a_checkpoint(tmp_path, case, models)
    with pytest.raises(DataError) as exc:
        loader(path)
    msg = one_line(exc)
    assert re.search(message.format(what=what), msg), msg
    assert len(msg) < 300 and "weights_only" not in msg


@pytest.mark.parametrize(
    "given,loader,message",
    [
        (
            "victim",
            load_generator,
            r"not a generator checkpoint \(it lacks \['meta_json'\]\): it is a victim checkpoint",
        ),
        ("generator", load_victim, r"not a victim checkpoint \(it lacks \[.*\]\): it is a generator checkpoint"),
        ("resume", load_victim, r"not a victim checkpoint \(.*\): it is a training \(resume\) checkpoint"),
        ("tensor", load_generator, r"not a generator checkpoint \(.*\): it is a single tensor of shape \(3,\)"),
    ],
)
def test_a_checkpoint_of_the_wrong_kind_says_what_it_is(tmp_path, models, given, loader, message):
    path = {"victim": models[1], "generator": models[0]}.get(given, tmp_path / "x.pt")
    if given == "resume":
        torch.save({"fingerprint": "abc", "epoch": 3, "model": {}}, path)
    elif given == "tensor":
        torch.save(torch.zeros(3), path)
    with pytest.raises(DataError, match=message) as exc:
        loader(path)
    one_line(exc)


def test_damaged_generator_metadata_is_named(tmp_path, models):
    """A generator whose metadata lacks eps used to load and fail later with KeyError: 'eps' in craft-staa."""
    payload = torch.load(models[0], weights_only=True)
    meta = json.loads(payload["meta_json"])
    for change, message in (
        ({"eps": None}, r"eps=None, expected a positive number"),
        ({"eps": -1}, r"eps=-1, expected a positive number"),
        ({"arch": "wide"}, r"not a valid generator checkpoint"),
    ):
        torch.save({**payload, "meta_json": json.dumps({**meta, **change})}, tmp_path / "g.pt")
        with pytest.raises(DataError, match=message) as exc:
            load_generator(tmp_path / "g.pt")
        assert one_line(exc).startswith(f"{tmp_path / 'g.pt'}: ")
    torch.save({**payload, "meta_json": json.dumps({k: v for k, v in meta.items() if k != "eps"})}, tmp_path / "g.pt")
    with pytest.raises(DataError, match=r"its metadata lacks \['eps'\]"):
        load_generator(tmp_path / "g.pt")
    torch.save({**payload, "meta_json": "[1, 2]"}, tmp_path / "g.pt")
    with pytest.raises(DataError, match=r"meta_json holds a list"):
        load_generator(tmp_path / "g.pt")


def test_damaged_victim_metadata_names_the_checkpoint(tmp_path, models):
    payload = torch.load(models[1], weights_only=True)
    for change, message in (
        ({"arch_json": 5}, r"victim\.pt: not a valid victim checkpoint"),  # was a raw TypeError
        ({"num_classes": [3]}, r"victim\.pt: not a valid victim checkpoint"),
        ({"extra_json": "{oops"}, r"victim\.pt: not a valid victim checkpoint"),  # was a raw JSONDecodeError
        ({"family": "resnet"}, r"victim\.pt: unknown model family 'resnet'"),  # the file was not named
    ):
        torch.save({**payload, **change}, tmp_path / "victim.pt")
        with pytest.raises(StaaError, match=message) as exc:
            load_victim(tmp_path / "victim.pt")
        one_line(exc)


@pytest.mark.parametrize("flag", ["--generator", "--victim"])
def test_perturb_with_a_text_file_as_model_is_one_line(tmp_path, models, capsys, flag):
    sf.write(tmp_path / "a.wav", tone(0.1, 16000), 16000)
    (tmp_path / "notes.txt").write_text("hello\n")
    args = {"--generator": models[0], "--victim": models[1], flag: tmp_path / "notes.txt"}
    rc, err = run_cli(capsys, "perturb", tmp_path / "a.wav", "--out", tmp_path / "out", *sum(args.items(), ()))
    assert rc == 2 and "Traceback" not in err and "KeyError" not in err
    assert err.strip() == (
        f"staa perturb: error: {tmp_path / 'notes.txt'}: a text file (it starts 'hello'), not a "
        f"{flag[2:]} checkpoint; check that the path names the right file"
    )
    assert not (tmp_path / "out").exists()


def test_steps_with_a_text_file_as_model_are_one_line(tiny_dataset, tmp_path, models, capsys):
    """craft-staa, timing and score load their models through the same loaders."""
    from staa.data.prepare import load_subset, make_subset

    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    subset = tmp_path / "subset.csv"
    make_subset(tiny_dataset, 2, 0, subset)
    x, table = load_subset(tiny_dataset, subset)
    np.save(tmp_path / "adv.npy", x)
    pd.DataFrame({"utt_id": table["utt_id"], "seconds": 0.1, "status": "ok", "device": "cpu", "threads": 1}).to_csv(
        tmp_path / "log.csv", index=False
    )
    craft = {"dataset": "d", "threat": "v", "variant": "full", "seed": 0}
    score = {**craft, "attack": "pgd", "method": "pgd", "victim": "v", "scope": "subset", "variant": ""}
    out = tmp_path / "o"
    for argv, bad in (
        (
            ["craft-staa", "--generator", text, "--threat-model", models[1], "--adversarial", out / "a.npy"]
            + ["--mask", out / "m.npy", "--attack-log", out / "l.csv", "--craft", out / "c.json"]
            + ["--examples-dir", out / "ex", "--params", json.dumps(craft)],
            "generator",
        ),
        (
            ["timing", "--subset", subset, "--generator", models[0], "--threat-model", text, "--out", out / "t.csv"]
            + ["--params", json.dumps({"dataset": "d", "threat": "v", "seed": 0, "methods": {}, "full_methods": None})],
            "victim",
        ),
        (
            ["score", "--adversarial", tmp_path / "adv.npy", "--attack-log", tmp_path / "log.csv", "--subset", subset]
            + ["--victim-model", text, "--metrics", out / "m.json", "--per-utterance", out / "p.csv"]
            + ["--params", json.dumps(score)],
            "victim",
        ),
    ):
        rc, err = run_cli(capsys, argv[0], "--data-dir", tiny_dataset, *argv[1:])
        assert rc == 2, err
        assert err.strip() == (
            f"staa {argv[0]}: error: {text}: a text file (it starts 'hello'), not a {bad} checkpoint; "
            "check that the path names the right file"
        )
    assert not out.exists()


# ---- outputs that would overwrite each other or an input --------------------------------------


def _perturb(tmp_path, models, inputs, out, **kw):
    from staa.perturb import perturb_files

    return perturb_files(inputs, out, kw.pop("generator", models[0]), log=io.StringIO(), **kw)


def test_perturb_csv_onto_an_output_is_refused(tmp_path, models):
    """--csv OUT/a.wav replaced the adversarial audio with the table, and the run reported success."""
    sf.write(tmp_path / "a.wav", tone(0.1, 16000), 16000)
    out = tmp_path / "out"
    with pytest.raises(ConfigError) as exc:
        _perturb(tmp_path, models, [tmp_path / "a.wav"], out, csv=out / "a.wav")
    assert one_line(exc) == (
        f"output {out / 'a.wav'} and --csv {out / 'a.wav'} are the same file: one would overwrite the other; "
        "give each output its own path"
    )
    assert not out.exists()  # checked before anything is written


def test_perturb_input_named_like_the_default_table_is_refused(tmp_path, models):
    """An audio file named perturb.csv (soundfile reads it by its content) went to OUT/perturb.csv,
    which the table then replaced."""
    sf.write(tmp_path / "perturb.csv", tone(0.1, 16000), 16000, format="WAV")
    out = tmp_path / "out"
    with pytest.raises(ConfigError) as exc:
        _perturb(tmp_path, models, [tmp_path / "perturb.csv"], out)
    assert one_line(exc) == (
        f"output {out / 'perturb.csv'} and the table (default --csv OUT/perturb.csv) {out / 'perturb.csv'} are "
        "the same file: one would overwrite the other; give each output its own path"
    )
    assert not out.exists()


@pytest.mark.parametrize("which", ["--generator", "--victim"])
def test_perturb_csv_onto_a_model_is_refused(tmp_path, models, which):
    import shutil

    gen, vic = (shutil.copy(m, tmp_path / m.name) for m in models)
    before = Path(gen if which == "--generator" else vic).read_bytes()
    sf.write(tmp_path / "a.wav", tone(0.1, 16000), 16000)
    target = Path(gen if which == "--generator" else vic)
    with pytest.raises(ConfigError, match=rf"--csv {re.escape(str(target))} would overwrite {which} ") as exc:
        _perturb(tmp_path, models, [tmp_path / "a.wav"], tmp_path / "out", generator=gen, victim=vic, csv=target)
    assert one_line(exc).endswith("an input of this command; choose another path")
    assert target.read_bytes() == before and not (tmp_path / "out").exists()


def test_perturb_csv_that_is_a_folder_or_holds_the_outputs(tmp_path, models):
    sf.write(tmp_path / "a.wav", tone(0.1, 16000), 16000)
    (tmp_path / "tables").mkdir()
    with pytest.raises(WriteError) as exc:  # was IsADirectoryError after every file was perturbed
        _perturb(tmp_path, models, [tmp_path / "a.wav"], tmp_path / "out", csv=tmp_path / "tables")
    assert (
        one_line(exc) == f"--csv {tmp_path / 'tables'}: cannot write it: it is an existing folder; expected a file path"
    )
    with pytest.raises(ConfigError) as exc:
        _perturb(tmp_path, models, [tmp_path / "a.wav"], tmp_path / "out", csv=tmp_path / "out")
    assert one_line(exc).startswith(f"output {tmp_path / 'out' / 'a.wav'} lies inside --csv {tmp_path / 'out'}, which")
    assert not (tmp_path / "out").exists()


def test_perturb_outputs_differing_in_case_collide_where_the_file_system_ignores_case(tmp_path, models, monkeypatch):
    """x/A.wav and y/a.wav go to OUT/A.wav and OUT/a.wav: one file on macOS or Windows."""
    for d, name in (("x", "A.wav"), ("y", "a.wav")):
        (tmp_path / d).mkdir()
        sf.write(tmp_path / d / name, tone(0.1, 16000), 16000)
    inputs = [tmp_path / "x" / "A.wav", tmp_path / "y" / "a.wav"]
    monkeypatch.setattr("staa.utils._folds_case", lambda folder: True)
    with pytest.raises(ConfigError, match=r"output .*A\.wav and output .*a\.wav are the same file") as exc:
        _perturb(tmp_path, models, inputs, tmp_path / "out")
    one_line(exc)
    monkeypatch.setattr("staa.utils._folds_case", lambda folder: False)  # a case-sensitive file system: both kept
    assert len(_perturb(tmp_path, models, inputs, tmp_path / "out")) == 2


def test_output_through_a_symlinked_folder_onto_an_input_is_refused(tmp_path):
    from staa.utils import check_outputs

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.csv").write_text("x\n")
    (tmp_path / "link").symlink_to(tmp_path / "data")
    with pytest.raises(ConfigError, match=r"--metrics .*link/train\.csv would overwrite --data-dir file .*train\.csv"):
        check_outputs({"--metrics": tmp_path / "link" / "train.csv"}, {"--data-dir": tmp_path / "data"})
    check_outputs({"--metrics": tmp_path / "link" / "metrics.json"}, {"--data-dir": tmp_path / "data"})  # fine


def _step_call(step: str, tmp_path: Path, data: Path, same: str):
    """Call step `step` with two of its paths equal (`same` names the case); returns the callable."""
    from staa.steps.attack_baseline import BaselineFiles, run_baseline
    from staa.steps.craft_staa import CraftFiles, craft_staa
    from staa.steps.score import ScoreFiles, score_attack
    from staa.steps.timing import run_timing
    from staa.steps.train_generator import GeneratorFiles, train_generator
    from staa.steps.train_victim import VictimFiles, train_victim

    cpu, o = torch.device("cpu"), tmp_path / "o"
    if step == "train-victim":
        files = VictimFiles.in_dir(o)
        files = {
            "metrics=train_log": VictimFiles(o / "model.pt", o / "log.csv", o / "log.csv"),
            "train_log=data": VictimFiles(o / "model.pt", o / "metrics.json", data / "train.csv"),
            "train_log=ckpt": VictimFiles(o / "model.pt", o / "metrics.json", o / "ckpt" / "last.pt"),
        }[same]
        return lambda: train_victim("v", {}, data, files, cpu)
    if step == "train-generator":
        files = {
            "summary=threat": GeneratorFiles(o / "g.pt", o / "log.csv", tmp_path / "threat.pt"),
            "model=train_log": GeneratorFiles(o / "g.pt", o / "g.pt", o / "s.json"),
        }[same]
        return lambda: train_generator({}, data, tmp_path / "threat.pt", files, cpu)
    if step == "craft-staa":
        files = {
            "mask=adversarial": CraftFiles(o / "a.npy", o / "a.npy", o / "l.csv", o / "c.json", o / "ex"),
            "craft=generator": CraftFiles(o / "a.npy", o / "m.npy", o / "l.csv", tmp_path / "g.pt", o / "ex"),
            "examples=craft": CraftFiles(o / "a.npy", o / "m.npy", o / "l.csv", o / "c.json", o / "c.json"),
            "mask=example": CraftFiles(o / "a.npy", o / "ex" / "example_1.npz", o / "l.csv", o / "c.json", o / "ex"),
            "examples holds=craft": CraftFiles(o / "a.npy", o / "m.npy", o / "l.csv", o / "c.json", o / "c.json" / "x"),
        }[same]
        params = {"dataset": "d", "threat": "v", "variant": "full", "seed": 0, "n_examples": 2}
        return lambda: craft_staa(params, data, tmp_path / "g.pt", tmp_path / "threat.pt", files, cpu)
    if step == "attack-baseline":
        files = BaselineFiles(o / "a.npy", tmp_path / "subset.csv")
        return lambda: run_baseline({}, data, tmp_path / "subset.csv", tmp_path / "threat.pt", files, cpu)
    if step == "score":
        files = {
            "metrics=per_utterance": ScoreFiles(o / "m.json", o / "m.json"),
            "per_utterance=attack_log": ScoreFiles(o / "m.json", tmp_path / "log.csv"),
            "metrics=mask": ScoreFiles(tmp_path / "mask.npy", o / "p.csv"),
        }[same]
        return lambda: score_attack(
            {},
            data,
            tmp_path / "adv.npy",
            tmp_path / "log.csv",
            tmp_path / "v.pt",
            files,
            cpu,
            mask_path=tmp_path / "mask.npy",
        )
    if step == "timing":
        return lambda: run_timing(
            {}, data, tmp_path / "subset.csv", tmp_path / "g.pt", tmp_path / "t.pt", tmp_path / "g.pt", cpu
        )
    raise AssertionError(step)


COLLISIONS = [
    ("train-victim", "metrics=train_log", r"--metrics \S+log\.csv and --train-log \S+log\.csv are the same file"),
    ("train-victim", "train_log=data", r"--train-log \S+train\.csv would overwrite --data-dir file \S+train\.csv"),
    (
        "train-victim",
        "train_log=ckpt",
        r"its resume checkpoint \S+last\.pt and --train-log \S+last\.pt are the same",
    ),
    ("train-generator", "summary=threat", r"--summary \S+threat\.pt would overwrite --threat-model \S+threat\.pt"),
    ("train-generator", "model=train_log", r"--model \S+g\.pt and --train-log \S+g\.pt are the same file"),
    ("craft-staa", "mask=adversarial", r"--adversarial \S+a\.npy and --mask \S+a\.npy are the same file"),
    ("craft-staa", "craft=generator", r"--craft \S+g\.pt would overwrite --generator \S+g\.pt"),
    (
        "craft-staa",
        "examples=craft",
        r"--craft \S+c\.json and --examples-dir \S+c\.json are the same path \(once as a",
    ),
    ("craft-staa", "mask=example", r"listening example \S+example_1\.npz and --mask \S+example_1\.npz are the same"),
    ("craft-staa", "examples holds=craft", r"--examples-dir \S+c\.json/x lies inside --craft \S+c\.json, which is"),
    ("attack-baseline", "log=subset", r"--attack-log \S+subset\.csv would overwrite --subset \S+subset\.csv"),
    ("score", "metrics=per_utterance", r"--metrics \S+m\.json and --per-utterance \S+m\.json are the same file"),
    ("score", "per_utterance=attack_log", r"--per-utterance \S+log\.csv would overwrite --attack-log \S+log\.csv"),
    ("score", "metrics=mask", r"--metrics \S+mask\.npy would overwrite --mask \S+mask\.npy"),
    ("timing", "out=generator", r"--out \S+g\.pt would overwrite --generator \S+g\.pt"),
]


@pytest.mark.parametrize("step,same,message", COLLISIONS, ids=[f"{c[0]}:{c[1]}" for c in COLLISIONS])
def test_step_outputs_that_collide_are_refused_before_anything_runs(tiny_dataset, tmp_path, step, same, message):
    """Each step wrote its files one after another: the later silently replaced the earlier, or an input."""
    call = _step_call(step, tmp_path, tiny_dataset, same)
    before = {p: p.read_bytes() for p in tiny_dataset.iterdir() if p.is_file()}
    with pytest.raises(ConfigError, match=message) as exc:
        call()
    one_line(exc)
    assert not (tmp_path / "o").exists() and before == {
        p: p.read_bytes() for p in tiny_dataset.iterdir() if p.is_file()
    }


def test_cli_commands_check_their_outputs(tiny_dataset, tmp_path, capsys):
    """Commands whose writing the CLI drives: make-subset, report, victims-table, cost, paper-bench, prepare-data."""
    (tmp_path / "timing").mkdir()
    (tmp_path / "timing" / "timing.csv").write_text("x\n")
    (tmp_path / "m.json").write_text("{}")
    (tmp_path / "a.yaml").write_text("run: {}\n")
    t = tmp_path / "timing"
    for argv, expected in (
        (
            [
                "make-subset",
                "--data-dir",
                tiny_dataset,
                "--out",
                tiny_dataset / "test.csv",
                "--params",
                '{"seed": 0, "subset_size": 2}',
            ],
            f"--out {tiny_dataset / 'test.csv'} would overwrite --data-dir file {tiny_dataset / 'test.csv'}",
        ),
        (
            [
                "report",
                "--timing",
                t / "timing.csv",
                "--tables-dir",
                t,
                "--figures-dir",
                tmp_path / "f",
                "--summary",
                tmp_path / "s.md",
            ],
            f"--tables-dir file {t / 'timing.csv'} would overwrite --timing {t / 'timing.csv'}",
        ),
        (
            [
                "report",
                "--victims",
                tmp_path / "m.json",
                "--tables-dir",
                t,
                "--figures-dir",
                tmp_path / "f",
                "--summary",
                tmp_path / "m.json",
            ],
            f"--summary {tmp_path / 'm.json'} would overwrite --victims {tmp_path / 'm.json'}",
        ),
        (
            ["report", "--tables-dir", t, "--figures-dir", tmp_path / "f", "--summary", tmp_path / "f" / "listening"],
            f"--summary {tmp_path / 'f' / 'listening'} and its listening folder {tmp_path / 'f' / 'listening'} are the same path",
        ),
        (
            ["victims-table", "--out-dir", tmp_path, tmp_path / "victims.csv"],
            f"--out-dir file {tmp_path / 'victims.csv'} would overwrite metrics {tmp_path / 'victims.csv'}",
        ),
        (
            ["cost", "--victims", tmp_path / "m.json", "--out", tmp_path / "m.json"],
            f"--out {tmp_path / 'm.json'} would overwrite --victims {tmp_path / 'm.json'}",
        ),
        (
            ["paper-bench", "--config", tmp_path / "a_timing.csv", "--out", tmp_path / "a"],
            f"--out {tmp_path / 'a_timing.csv'} would overwrite --config {tmp_path / 'a_timing.csv'}",
        ),
        (
            [
                "prepare-data",
                "--dataset",
                "d",
                "--out-dir",
                tiny_dataset,
                "--params",
                json.dumps({"root": str(tiny_dataset)}),
            ],
            f"--out-dir file {tiny_dataset / 'train.npy'} would overwrite the corpus root file {tiny_dataset / 'train.npy'}",
        ),
    ):
        (tmp_path / "victims.csv").write_text("x\n")
        (tmp_path / "a_timing.csv").write_text("x\n")
        rc, err = run_cli(capsys, *argv)
        assert rc == 2 and err.startswith(f"staa {argv[0]}: error: {expected}"), err
        assert err.count("\n") == 1
    assert not (tmp_path / "f").exists() and (t / "timing.csv").read_text() == "x\n"


# ---- outputs that cannot be written ---------------------------------------------------------------


def test_perturb_into_a_folder_under_a_file_is_one_line_before_any_work(tmp_path, models, capsys):
    """`--out some_file/sub` ended in NotADirectoryError (and a read-only folder in OSError: [Errno 30])."""
    sf.write(tmp_path / "a.wav", tone(0.1, 16000), 16000)
    (tmp_path / "some_file").write_text("x")
    out = tmp_path / "some_file" / "sub"
    rc, err = run_cli(capsys, "perturb", tmp_path / "a.wav", "--generator", models[0], "--out", out)
    assert rc == 2 and err == (
        f"staa perturb: error: output {out / 'a.wav'}: cannot write it: {tmp_path / 'some_file'} is a file, not a folder\n"
    )


def test_read_only_output_folder_is_named_before_any_work(tmp_path, models, monkeypatch):
    """A read-only file system (EROFS): os.access says so for root too; the CSV's folder is named."""
    sf.write(tmp_path / "a.wav", tone(0.1, 16000), 16000)
    ro = tmp_path / "ro"
    ro.mkdir()
    real_access, real_statvfs = os.access, os.statvfs

    class RdOnly:
        f_flag = os.ST_RDONLY

    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == ro else real_access(p, mode))
    monkeypatch.setattr(os, "statvfs", lambda p: RdOnly() if Path(p) == ro else real_statvfs(p))
    with pytest.raises(WriteError) as exc:
        _perturb(tmp_path, models, [tmp_path / "a.wav"], tmp_path / "out", csv=ro / "t.csv")
    assert one_line(exc) == f"--csv {ro / 't.csv'}: cannot write it: folder {ro} is on a read-only file system"
    assert not (tmp_path / "out").exists()


def test_step_output_under_a_file_is_one_line_before_any_work(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    rc, err = run_cli(
        capsys,
        "score",
        "--data-dir",
        tmp_path / "d",
        "--adversarial",
        "a",
        "--attack-log",
        "l",
        "--victim-model",
        "v",
        "--metrics",
        tmp_path / "f" / "m.json",
        "--per-utterance",
        tmp_path / "p.csv",
        "--params",
        json.dumps(
            {
                "dataset": "d",
                "attack": "pgd",
                "method": "pgd",
                "threat": "v",
                "victim": "v",
                "variant": "",
                "scope": "subset",
                "seed": 0,
            }
        ),
    )
    assert rc == 2 and err == (
        f"staa score: error: --metrics {tmp_path / 'f' / 'm.json'}: cannot write it: {tmp_path / 'f'} is a file, "
        "not a folder\n"
    )


@pytest.mark.parametrize(
    "where,code,reason",
    [
        ("replace", errno.EROFS, "Read-only file system"),
        ("mkstemp", errno.EACCES, "Permission denied"),
        ("write", errno.ENOSPC, "no space left on the device (or disk quota exceeded); free some space"),
        ("write", errno.EIO, "Input/output error"),
    ],
)
def test_write_failures_are_one_line_naming_the_output(tmp_path, monkeypatch, where, code, reason):
    """Every write goes through utils.atomic_path: an OSError there (the folder turned read-only, a
    full disk) used to escape as a traceback."""
    import tempfile

    from staa.utils import write_csv

    def fail(*a, **k):
        raise OSError(code, os.strerror(code), str(tmp_path / ".x.tmp"))

    target = {"replace": (os, "replace"), "mkstemp": (tempfile, "mkstemp"), "write": (pd.DataFrame, "to_csv")}[where]
    monkeypatch.setattr(*target, fail)
    with pytest.raises(WriteError) as exc:
        write_csv(tmp_path / "out" / "t.csv", pd.DataFrame({"a": [1]}))
    assert one_line(exc).startswith(f"{tmp_path / 'out' / 't.csv'}: cannot write it: {reason}")
    assert not (tmp_path / "out" / "t.csv").exists()
    assert not [p for p in (tmp_path / "out").iterdir()]  # no temporary file left behind


def test_write_failure_of_a_step_reaches_the_cli_as_one_line(tmp_path, models, monkeypatch, capsys):
    sf.write(tmp_path / "a.wav", tone(0.1, 16000), 16000)

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", full)
    rc, err = run_cli(capsys, "perturb", tmp_path / "a.wav", "--generator", models[0], "--out", tmp_path / "o")
    assert rc == 2 and err.splitlines(keepends=True)[-1] == (
        f"staa perturb: error: {tmp_path / 'o' / 'perturb.csv'}: cannot write it: no space left on the device "
        "(or disk quota exceeded); free some space\n"
    )


def test_an_os_error_naming_a_file_is_one_line_in_the_cli(monkeypatch, capsys, tmp_path):
    """The CLI's net for reads and writes no step turned into a StaaError."""

    def denied(ns):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "in.wav"))

    monkeypatch.setattr("staa.perturb.run", denied)
    rc, err = run_cli(capsys, "perturb", "x.wav", "--generator", "g.pt", "--out", "o")
    assert rc == 2 and err == f"staa perturb: error: {tmp_path / 'in.wav'}: Permission denied\n"


# ---- the Python API's array layout ----------------------------------------------------------------


@pytest.fixture(scope="module")
def api_models(models):
    from staa.api import load_generator as api_generator
    from staa.api import load_victim as api_victim

    return api_generator(models[0]), api_victim(models[1])


def test_api_refuses_soundfile_layout_unless_told(api_models):
    """sf.read's (samples, channels) array was taken as 48,000 channels of 2 samples, silently."""
    gen, vic = api_models
    wave = tone(1.0, 48000, 2).astype(np.float32)  # (48000, 2), as sf.read returns it
    for call, what in ((gen.perturb, "generator input"), (vic.predict, "victim input")):
        with pytest.raises(DataError) as exc:
            call(wave, 48000)
        assert one_line(exc) == (
            f"{what}: wave of shape (48000, 2) has more rows than columns, so it looks like (samples, channels), "
            "the layout sf.read returns; pass channels_first=False for that layout (or channels_first=True if it "
            "really holds that many channels)"
        )


def test_api_takes_both_layouts_explicitly(api_models):
    gen, vic = api_models
    wave = tone(0.2, 22050, 2).astype(np.float32)  # (samples, channels)
    adv, delta = gen.perturb(wave, 22050, channels_first=False)
    assert adv.shape == delta.shape == wave.shape and adv.dtype == np.float32  # the caller's layout back
    adv_t, delta_t = gen.perturb(wave.T, 22050, channels_first=True)
    np.testing.assert_array_equal(delta, delta_t.T)
    np.testing.assert_array_equal(delta_t, gen.perturb(wave.T, 22050)[1])  # the default is (channels, samples)
    np.testing.assert_allclose(adv, wave + delta, atol=1e-7)
    # the whole signal is perturbed, not 2 samples per "channel"
    assert (delta != 0).mean() > 0.5
    tensor_adv, _ = gen.perturb(torch.from_numpy(wave), 22050, channels_first=False)
    assert isinstance(tensor_adv, torch.Tensor) and tuple(tensor_adv.shape) == wave.shape
    p_last, p_first = vic.predict(wave, 22050, channels_first=False), vic.predict(wave.T, 22050, channels_first=True)
    assert p_last == p_first == vic.predict(wave.T, 22050)
    assert vic.logits(wave, 22050, channels_first=False)[1] == p_last.windows
    with pytest.raises(ConfigError, match=r"channels_first='last': expected True, False or None"):
        gen.perturb(wave, 22050, channels_first="last")


def test_api_refuses_a_batch_taken_for_channels(api_models):
    """A (16, L) batch of clips was averaged into one prediction, as 16 channels of one signal."""
    gen, vic = api_models
    batch = np.stack([tone(0.1, 16000)[:, 0]] * 16).astype(np.float32)
    with pytest.raises(DataError, match=r"victim input: wave of shape \(16, 1600\) would be 16 channels of one signal"):
        vic.predict(batch, 16000)
    assert vic.predict(batch, 16000, channels_first=True).windows == 2  # told: 16 channels, averaged
    with pytest.raises(DataError, match=r"wave of shape \(2, 3, 100\): expected \(samples,\), .*not a batch") as exc:
        gen.perturb(np.zeros((2, 3, 100), np.float32), 16000)
    one_line(exc)


@pytest.mark.parametrize("dtype", ["int16", "int32", "uint8", "bool"])
def test_api_refuses_integer_samples(api_models, dtype):
    """sf.read(..., dtype='int16') gives samples up to 32767: they were perturbed as if in [-1, 1]."""
    gen, vic = api_models
    wave = (tone(0.1, 16000)[:, 0] * 1000).astype(dtype)
    for call, what in ((gen.perturb, "generator"), (vic.predict, "victim")):
        with pytest.raises(
            DataError, match=rf"{what} input: wave of dtype {dtype}: expected float samples in \[-1, 1\]"
        ):
            call(wave, 16000)
        with pytest.raises(DataError, match=rf"wave of dtype {dtype}"):
            call(torch.from_numpy(wave), 16000)


def test_api_accepts_reversed_and_big_endian_arrays(api_models):
    """x[::-1] (negative strides) and big-endian arrays ended in raw ValueError/TypeError from torch."""
    gen, vic = api_models
    x = tone(0.1, 16000)[:, 0].astype(np.float32)
    reference = gen.perturb(np.ascontiguousarray(x[::-1]), 16000)[1]
    np.testing.assert_array_equal(gen.perturb(x[::-1], 16000)[1], reference)
    np.testing.assert_array_equal(gen.perturb(x.astype(">f4"), 16000)[1], gen.perturb(x, 16000)[1])
    assert vic.predict(x[::-1], 16000).label in CLASSES
    with pytest.raises(DataError, match=r"generator input: wave of dtype <U1: expected float samples") as exc:
        gen.perturb(np.array(list("abc")), 16000)
    one_line(exc)


def test_perturb_a_file_with_more_channels_than_samples(tmp_path, models):
    """`staa perturb` states its layout: a 1-frame stereo file is not refused as a guess."""
    sf.write(tmp_path / "a.wav", np.array([[0.1, -0.1]]), 16000, subtype="FLOAT")
    df = _perturb(tmp_path, models, [tmp_path / "a.wav"], tmp_path / "out", victim=models[1])
    assert df["channels"].tolist() == [2] and sf.info(tmp_path / "out" / "a.wav").frames == 1


# ---- numeric CLI arguments and the exported victim's parameter count -------------------------------

_STEP_ARGS = ["--data-dir", "d", "--params", "{}"]


@pytest.mark.parametrize(
    "argv,message",
    [
        (
            ["perturb", "a.wav", "--generator", "g.pt", "--out", "o", "--threads", "-1"],
            "--threads -1: expected a positive integer",
        ),
        (
            ["perturb", "a.wav", "--generator", "g.pt", "--out", "o", "--threads", "0"],
            "--threads 0: expected a positive integer",
        ),
        (
            ["perturb", "a.wav", "--generator", "g.pt", "--out", "o", "--gpus", "-1"],
            "--gpus -1: expected an integer >= 0",
        ),
        (
            ["perturb", "a.wav", "--generator", "g.pt", "--out", "o", "--batch-size", "0"],
            "--batch-size 0: expected a positive integer",
        ),
        (
            [
                "train-victim",
                "--name",
                "v",
                "--model",
                "m",
                "--metrics",
                "j",
                "--train-log",
                "l",
                *_STEP_ARGS,
                "--threads",
                "-1",
            ],
            "--threads -1: expected a positive integer",
        ),
        (
            [
                "score",
                "--adversarial",
                "a",
                "--attack-log",
                "l",
                "--victim-model",
                "v",
                "--metrics",
                "m",
                "--per-utterance",
                "p",
                *_STEP_ARGS,
                "--gpus",
                "-2",
            ],
            "--gpus -2: expected an integer >= 0",
        ),
        (
            [
                "timing",
                "--subset",
                "s",
                "--generator",
                "g",
                "--threat-model",
                "t",
                "--out",
                "o",
                *_STEP_ARGS,
                "--threads",
                "-4",
            ],
            "--threads -4: expected a positive integer",
        ),
        (["cost", "--repeats", "0"], "--repeats 0: expected a positive integer"),
        (["cost", "--threads", "-1"], "--threads -1: expected a positive integer"),
        (["paper-bench", "--utterances", "0"], "--utterances 0: expected a positive integer"),
        (["paper-bench", "--warmup", "-1"], "--warmup -1: expected an integer >= 0"),
        (["paper-bench", "--classes", "1"], "--classes 1: expected an integer >= 2"),
        (["bench", "--cores", "0"], "--cores 0: expected a positive integer"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_numeric_arguments_are_checked_alike_in_every_subcommand(capsys, tmp_path, monkeypatch, argv, message):
    """--threads -1 was silently clamped to 1 (while --batch-size 0 was refused); --gpus -1 meant CPU."""
    monkeypatch.chdir(tmp_path)
    rc, err = run_cli(capsys, *argv)
    assert rc == 2 and err == f"staa {argv[0]}: error: {message}\n"


def test_setup_runtime_refuses_rather_than_clamps():
    from staa.runtime import setup_runtime

    with pytest.raises(ConfigError, match=r"threads=-1: expected a positive integer"):
        setup_runtime(-1)
    with pytest.raises(ConfigError, match=r"gpus=-1: expected an integer >= 0"):
        setup_runtime(1, -1)
    assert setup_runtime(np.int64(1)).type == "cpu"


def test_exported_victim_log_counts_the_programs_parameters(tiny_dataset, tmp_path):
    """The log and metrics.json said `0 parameters`: the program's weights live outside the module tree."""
    from staa.data.prepare import load_classes
    from staa.steps.train_victim import VictimFiles, train_victim

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv1d(1, 4, 64, stride=32)
            self.head = torch.nn.Linear(4, 2)

        def forward(self, x):
            return self.head(torch.tanh(self.conv(x.unsqueeze(1))).mean(-1))

    torch.manual_seed(0)
    length = int(load_classes(tiny_dataset)["length"])
    batch = torch.export.Dim("batch", min=1, max=1024)
    program = torch.export.export(Tiny().eval(), (torch.randn(2, length),), dynamic_shapes=({0: batch},))
    torch.export.save(program, tmp_path / "p.pt2")
    classes = load_classes(tiny_dataset)["classes"]
    params = {
        "family": "exported",
        "arch": {"program": str(tmp_path / "p.pt2"), "classes": classes},
        "epochs": 0,
        "train": False,
        "batch_size": 4,
        "lr": 1e-3,
        "seed": 0,
    }
    log = io.StringIO()
    metrics = train_victim("mine", params, tiny_dataset, VictimFiles.in_dir(tmp_path / "v"), torch.device("cpu"), log)
    expected = 4 * 64 + 4 + 4 * 2 + 2
    assert metrics["n_params"] == expected
    assert f"[mine] exported: {expected} parameters (of the exported program, frozen)" in log.getvalue()


def test_an_exported_program_given_as_a_checkpoint_is_named(tmp_path):
    class Mean(torch.nn.Module):
        def forward(self, x):
            return x.mean(-1, keepdim=True)

    torch.export.save(torch.export.export(Mean(), (torch.randn(2, 10),)), tmp_path / "p.pt2")
    with pytest.raises(DataError) as exc:
        load_victim(tmp_path / "p.pt2")
    assert one_line(exc) == (
        f"{tmp_path / 'p.pt2'}: a torch.export program (.pt2), not a victim checkpoint; to attack or score it, "
        "configure it as a victim of family 'exported' (docs/your-model.md)"
    )
