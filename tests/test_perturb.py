"""`staa perturb` and the notebook API (staa.api): windowing, resampling, formats, the CSV, bad inputs."""

from __future__ import annotations

import argparse
import io

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from staa.api import load_generator, load_victim, window_batch
from staa.errors import ConfigError, DataError
from staa.generator import STAANet
from staa.models import build_victim, save_victim
from staa.perturb import add_arguments, collect_jobs, perturb_files, run
from staa.generator import save_generator

LENGTH = 800  # generator and victim clip: 50 ms at 16 kHz keeps everything fast
ARCH = {"channels": [4, 8], "kernel_size": 5, "stride": 4, "group_size": 4}
CLASSES = ["angry", "happy", "sad"]


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A tiny untrained generator (mask bias +0.3: most samples perturbed, not all) and emo18 victim."""
    d = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    gen = STAANet(LENGTH, loc_bias_init=0.3, **ARCH).eval()
    save_generator(
        gen,
        d / "generator.pt",
        {"arch": ARCH, "length": LENGTH, "factorised": True, "frame_length": 1, "eps": 0.05, "classes": CLASSES},
    )
    vic = build_victim("emo18", 3, LENGTH, {"channels": [4, 4, 4], "hidden": 8, "pools": [4, 4, 4]}).eval()
    save_victim(vic, d / "victim.pt")  # no class names: they must come from the generator's meta
    return d / "generator.pt", d / "victim.pt"


def tone(seconds: float, sr: int, channels: int = 1, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * sr)) / sr
    cols = [0.4 * np.sin(2 * np.pi * (150 + 40 * c) * t) + 0.05 * rng.standard_normal(t.size) for c in range(channels)]
    return np.stack(cols, axis=1)


@pytest.fixture()
def corpus(tmp_path):
    """Files of several rates, channel counts, lengths and subtypes, one in a subfolder."""
    root = tmp_path / "in"
    (root / "sub").mkdir(parents=True)
    sf.write(root / "stereo44k.wav", tone(0.3, 44100, 2), 44100, subtype="PCM_16")
    sf.write(root / "sub" / "mono8k.flac", tone(0.4, 8000), 8000, subtype="PCM_16")
    sf.write(root / "short.wav", tone(0.1, 16000, seed=1), 16000, subtype="PCM_24")
    sf.write(root / "float22k.wav", tone(0.07, 22050, 3), 22050, subtype="FLOAT")
    return root


def test_formats_rates_lengths_and_csv(models, corpus, tmp_path):
    gen, vic = models
    log = io.StringIO()
    df = perturb_files([corpus], tmp_path / "out", gen, vic, log=log)
    assert len(df) == 4 and log.getvalue().count("[perturb ") == 4  # a line per file off a terminal
    for _, row in df.iterrows():
        src, dst = sf.info(row["path"]), sf.info(row["output"])
        assert (dst.format, dst.subtype, dst.samplerate, dst.channels, dst.frames) == (
            src.format,
            src.subtype,
            src.samplerate,
            src.channels,
            src.frames,
        )
        assert 0 < row["perturbed_share"] < 1 and 10 < row["snr_db"] < 60
        assert row["pred_clean"] in CLASSES and row["pred_written"] in CLASSES
    assert (tmp_path / "out" / "sub" / "mono8k.flac").is_file()  # relative structure kept
    csv = pd.read_csv(tmp_path / "out" / "perturb.csv")
    assert list(csv.columns) == [
        "path",
        "output",
        "format",
        "subtype",
        "sample_rate",
        "channels",
        "seconds",
        "perturbed_share",
        "snr_db",
        "snr_peak_db",
        "clipped_samples",
        "clipped_share",
        "pred_clean",
        "pred_adv",
        "pred_written",
        "prediction_changed",
    ]
    assert sorted(csv["sample_rate"]) == [8000, 16000, 22050, 44100]


def test_deterministic_and_unperturbed_samples_kept(models, tmp_path):
    """Same input, same bytes; at the generator's rate nothing is resampled, so every sample the
    mask leaves alone is stored bit for bit, and the file equals the API's result quantised."""
    gen_path, _ = models
    x = tone(0.23, 16000)[:, 0]
    sf.write(tmp_path / "a.wav", x, 16000, subtype="PCM_16")
    for out in ("o1", "o2"):
        perturb_files([tmp_path / "a.wav"], tmp_path / out, gen_path, log=io.StringIO())
    assert (tmp_path / "o1" / "a.wav").read_bytes() == (tmp_path / "o2" / "a.wav").read_bytes()
    tables = [pd.read_csv(tmp_path / out / "perturb.csv").drop(columns="output") for out in ("o1", "o2")]
    pd.testing.assert_frame_equal(*tables)
    clean, _ = sf.read(tmp_path / "a.wav", dtype="int16")
    stored, _ = sf.read(tmp_path / "o1" / "a.wav", dtype="int16")
    xf, _ = sf.read(tmp_path / "a.wav", dtype="float32")
    adv, delta = load_generator(gen_path).perturb(xf, 16000)
    assert np.array_equal(stored[delta == 0], clean[delta == 0]) and (delta != 0).any()
    assert np.abs(stored / 32768.0 - np.clip(adv, -1, 1)).max() <= 1 / 32768
    share = pd.read_csv(tmp_path / "o1" / "perturb.csv")["perturbed_share"][0]
    assert share == pytest.approx((delta != 0).mean(), abs=1e-6)


def test_api_shapes_channels_and_short_signals(models):
    gen = load_generator(models[0])
    assert gen.sample_rate == 16000 and gen.length == LENGTH
    stereo = torch.from_numpy(tone(1.3, 44100, 2).T.astype(np.float32))  # (channels, samples), > 1 window
    adv, delta = gen.perturb(stereo, 44100)
    assert isinstance(adv, torch.Tensor) and adv.shape == stereo.shape and torch.equal(adv, stereo + delta)
    # each channel is perturbed on its own: channel 1 alone gives channel 1 of the pair
    _, d1 = gen.perturb(stereo[1].numpy(), 44100)
    assert isinstance(d1, np.ndarray) and d1.shape == (stereo.shape[1],)
    np.testing.assert_allclose(d1, delta[1].numpy(), atol=1e-6)
    assert float(delta.abs().max()) <= 0.05 * 1.2  # eps bound, up to resampling overshoot
    for n in (1, 3, 2 * LENGTH + 1):  # shorter than a window (repeated reflection), and a ragged tail
        a, d = gen.perturb(np.full(n, 0.1, dtype=np.float32), 16000)
        assert a.shape == d.shape == (n,) and np.isfinite(a).all()


def test_window_batch_reflects_repeatedly():
    x = torch.arange(3.0).unsqueeze(0)
    assert window_batch(x, 8).tolist() == [[0, 1, 2, 1, 0, 1, 2, 1]]
    assert window_batch(torch.arange(10.0).reshape(2, 5), 4).tolist() == [
        [0, 1, 2, 3],
        [4, 3, 2, 1],
        [5, 6, 7, 8],
        [9, 8, 7, 6],
    ]


def test_victim_averages_logits_over_windows(models):
    vic = load_victim(models[1], classes=CLASSES)
    assert vic.classes == CLASSES and vic.sample_rate == 16000
    x = tone(3 * LENGTH / 16000, 16000)[:, 0].astype(np.float32)
    with torch.no_grad():
        expected = vic.net(torch.from_numpy(x).reshape(3, LENGTH)).double().mean(0)
    pred = vic.predict(np.stack([x, x]), 16000)  # channels are averaged (identical here)
    assert pred.windows == 3 and pred.label == CLASSES[int(expected.argmax())]
    assert sum(pred.probabilities.values()) == pytest.approx(1.0)
    assert load_victim(models[1]).classes == ["class0", "class1", "class2"]


def test_cli_arguments_and_run(models, corpus, tmp_path, capsys):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    ns = parser.parse_args(
        [
            str(corpus / "short.wav"),
            "--generator",
            str(models[0]),
            "--out",
            str(tmp_path / "o"),
            "--csv",
            str(tmp_path / "t.csv"),
        ]
    )
    run(ns)
    assert (tmp_path / "o" / "short.wav").is_file() and len(pd.read_csv(tmp_path / "t.csv")) == 1
    assert "perturbed 1 file(s)" in capsys.readouterr().err


def test_interrupted_write_leaves_nothing(models, corpus, tmp_path, monkeypatch):
    def torn(path, *a, **k):
        with open(path, "wb") as fh:
            fh.write(b"RIFF half")
        raise KeyboardInterrupt

    monkeypatch.setattr("staa.perturb.sf.write", torn)
    with pytest.raises(KeyboardInterrupt):
        perturb_files([corpus / "short.wav"], tmp_path / "o", models[0], log=io.StringIO())
    assert list((tmp_path / "o").iterdir()) == []


def _bad(tmp_path, models, case):
    """(inputs, out, generator, victim) for one bad-input case."""
    gen, vic = models
    out = tmp_path / "out"
    if case == "not audio":
        (tmp_path / "a.wav").write_text("not a wave file\n")
        return [tmp_path / "a.wav"], out, gen, None
    if case == "0 bytes":
        (tmp_path / "a.wav").write_bytes(b"")
        return [tmp_path / "a.wav"], out, gen, None
    if case == "0 samples":
        sf.write(tmp_path / "a.wav", np.zeros(0), 16000, subtype="PCM_16")
        return [tmp_path / "a.wav"], out, gen, None
    if case == "nan":
        sf.write(tmp_path / "a.wav", np.array([0.1, np.nan, 0.2]), 16000, subtype="FLOAT")
        return [tmp_path / "a.wav"], out, gen, None
    if case == "missing":
        return [tmp_path / "a.wav"], out, gen, None
    if case == "no audio in folder":
        (tmp_path / "d").mkdir()
        (tmp_path / "d" / "notes.txt").write_text("x")
        return [tmp_path / "d"], out, gen, None
    sf.write(tmp_path / "a.wav", tone(0.1, 16000), 16000)
    if case == "generator is a victim":
        return [tmp_path / "a.wav"], out, vic, None
    if case == "victim too short":
        torch.manual_seed(0)
        save_victim(build_victim("emo18", 3, 100, {"channels": [4, 4, 4], "hidden": 8}), tmp_path / "v.pt")
        return [tmp_path / "a.wav"], out, gen, tmp_path / "v.pt"
    if case == "victim rate":
        torch.manual_seed(0)
        v = build_victim("emo18", 3, LENGTH, {"channels": [4, 4, 4], "hidden": 8, "pools": [4, 4, 4]})
        save_victim(v, tmp_path / "v.pt", extra={"sample_rate": 0})
        return [tmp_path / "a.wav"], out, gen, tmp_path / "v.pt"
    if case == "out is input":
        return [tmp_path], tmp_path, gen, None
    if case == "out inside input":
        return [tmp_path], tmp_path / "adv", gen, None
    if case == "overwrite input":
        return [tmp_path / "a.wav"], tmp_path, gen, None
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case,error,message",
    [
        ("not audio", DataError, r"a\.wav: cannot decode audio .*expected a readable WAV/FLAC"),
        ("0 bytes", DataError, r"a\.wav: file is empty \(0 bytes\)"),
        ("0 samples", DataError, r"a\.wav: audio file is empty \(0 samples\)"),
        ("nan", DataError, r"a\.wav: audio contains NaN"),
        ("missing", DataError, r"a\.wav: not found; expected a WAV/FLAC file or a folder"),
        ("no audio in folder", DataError, r"d: folder holds no audio; expected \*\.wav or \*\.flac"),
        ("generator is a victim", DataError, r"victim\.pt: not a generator checkpoint \(it lacks \['meta_json'\]\)"),
        (
            "victim too short",
            ConfigError,
            r"v\.pt: victim clip length 100 samples at 16000 Hz cannot serve.*at least 640",
        ),
        ("victim rate", ConfigError, r"v\.pt: victim sample_rate=0: expected a positive integer"),
        ("out is input", ConfigError, r"--out .* is also an input"),
        ("out inside input", ConfigError, r"--out .*adv lies inside input folder"),
        ("overwrite input", ConfigError, r"a\.wav: its output .*a\.wav is the input itself; refusing"),
    ],
)
def test_bad_inputs_one_clear_line(models, tmp_path, case, error, message):
    inputs, out, gen, vic = _bad(tmp_path, models, case)
    with pytest.raises(error, match=message) as info:
        perturb_files(inputs, out, gen, vic, log=io.StringIO())
    assert "\n" not in str(info.value)
    assert not (tmp_path / "out").exists()  # checked before anything is written


def test_two_inputs_with_one_output_name(models, tmp_path):
    for d in ("x", "y"):
        (tmp_path / d).mkdir()
        sf.write(tmp_path / d / "a.wav", tone(0.1, 16000), 16000)
    with pytest.raises(ConfigError, match=r"would both be written to .*a\.wav"):
        collect_jobs([tmp_path / "x" / "a.wav", tmp_path / "y" / "a.wav"], tmp_path / "out")
    sf.write(tmp_path / "a.wav", tone(0.1, 16000), 16000)
    with pytest.raises(ConfigError, match=r"x/a\.wav: its output .* would overwrite another input file"):
        collect_jobs([tmp_path / "x" / "a.wav", tmp_path / "a.wav"], tmp_path)
    # the same file named alone and inside its folder is perturbed once
    assert len(collect_jobs([tmp_path / "x", tmp_path / "x" / "a.wav"], tmp_path / "out")) == 1


def test_progress_bar_on_a_terminal(models, corpus, tmp_path, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    term = Terminal()
    monkeypatch.setattr("sys.stderr", term)
    perturb_files([corpus], tmp_path / "out", models[0])
    assert "perturb: 100%" in term.getvalue() and "[perturb " not in term.getvalue()  # tqdm, not lines
