"""Outputs, checkpoints and the Python API: files a command writes that would overwrite each other or
an input, write failures, files that are not checkpoints, array layouts the API must not guess, and
numeric CLI arguments. Each bad input ends in one line naming the path or value (docs/bad-inputs.md,
section "Outputs, checkpoints and the Python API"); each test fails on the code before issue 20."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from staa.errors import DataError, StaaError
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


@pytest.mark.parametrize(
    "case,message",
    [
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
    ],
)
@pytest.mark.parametrize("loader,what", [(load_victim, "victim checkpoint"), (load_generator, "generator checkpoint")])
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
