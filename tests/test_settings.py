"""One home for each default (docs/design.md §7): the schema's `default:` entries are what a step
gets for a key it is not given, and the step modules carry no defaults of their own."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from staa import settings as st
from staa.errors import StaaError

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())


def _defaults(section: dict) -> dict:
    return {k: v["default"] for k, v in section["properties"].items() if "default" in v}


def test_steps_get_the_schema_defaults():
    props = SCHEMA["properties"]
    train = st.GeneratorSettings.from_params({"train": {"epochs": 1, "batch_size": 2, "lr": 1e-3}, "variant_cfg": {}})
    for key, value in _defaults(props["generator"]["properties"]["train"]).items():
        assert getattr(train, key) == value, key
    assert train.select == "last" and train.reduction == "mean"  # the two defaults that once disagreed
    craft = st.CraftSettings.from_params({"dataset": "d", "threat": "t", "variant": "v", "seed": 0})
    for key, value in _defaults(props["attack_eval"]).items():
        if hasattr(craft, key):
            assert getattr(craft, key) == value, key
    timing = st.TimingSettings.from_params({"dataset": "d", "threat": "t", "seed": 0, "methods": {}})
    assert (timing.utterances, timing.warmup, timing.throughput_batch) == tuple(
        _defaults(props["timing"])[k] for k in ("utterances", "warmup", "throughput_batch")
    )
    victim = st.VictimSettings.from_params({"family": "emo18", "seed": 0, "epochs": 1, "batch_size": 2, "lr": 1})
    assert (victim.select, victim.weight_decay, victim.grad_clip, victim.arch) == ("best_dev_ua", 0.0, None, {})
    data = st.DataSettings.from_params({"reader": "synthetic", "root": "r"})
    assert (
        data.split == {"dev_fraction": 0.2, "test_fraction": 0.2, "balance_gender": True, "speaker_independent": True}
        and data.sample_rate == 16000
    )


def test_given_values_win_and_variants_override_train():
    train = st.GeneratorSettings.from_params(
        {
            "train": {"epochs": 1, "batch_size": 2, "lr": 1e-3, "eps": 0.1, "select": "best_dev"},
            "variant_cfg": {"eps": 0.2, "factorised": False},
        }
    )
    assert (train.eps, train.select, train.factorised, train.losses) == (0.2, "best_dev", False, {})


@pytest.mark.parametrize(
    "cls,params,message",
    [
        (
            st.ScoreSettings,
            {"dataset": "d", "attack": "a", "method": "m", "threat": "t", "victim": "v", "scope": "full"},
            "--params lacks key 'seed' (an integer)",
        ),
        (
            st.ScoreSettings,
            {"dataset": "d", "attack": "a", "method": "m", "threat": "t", "victim": "v", "seed": 0, "scope": "all"},
            "--params key 'scope' = 'all': expected 'full' or 'subset'",
        ),
        (
            st.GeneratorSettings,
            {"train": {"epochs": 1, "batch_size": 2, "lr": None}},
            "--params key 'train.lr' = None: expected a number",
        ),
        (
            st.GeneratorSettings,
            {"train": {"epochs": True, "batch_size": 2, "lr": 1}},
            "--params key 'train.epochs' = True: expected an integer",
        ),
        (st.GeneratorSettings, {"train": []}, "--params key 'train' = []: expected a JSON object"),
        (
            st.GeneratorSettings,
            {"train": {"epochs": 1, "batch_size": 2, "lr": 1}, "variant_cfg": {"frame_length": "8"}},
            "--params key 'variant_cfg.frame_length' = '8': expected an integer",
        ),
        (
            st.CraftSettings,
            {"dataset": "d", "threat": "t", "variant": "v", "seed": "0"},
            "--params key 'seed' = '0': expected an integer",
        ),
        (
            st.BaselineSettings,
            {"name": "p", "threat": "t", "seed": 0, "eps_mode": "absolute", "settings": {"eps": 1}},
            "--params lacks key 'settings.method' (a string)",
        ),
        (
            st.VictimSettings,
            {"family": "emo18", "seed": 0, "epochs": 1, "batch_size": 2},
            "--params lacks key 'lr' (a number)",
        ),
    ],
)
def test_a_bad_params_key_is_named(cls, params, message):
    with pytest.raises(StaaError) as err:
        cls.from_params(params)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_an_untrained_victim_needs_no_training_settings():
    v = st.VictimSettings.from_params({"family": "hf", "seed": 0, "train": False})
    assert (v.train, v.epochs, v.batch_size, v.lr) == (False, None, None, None)


def test_step_modules_carry_no_defaults_of_their_own():
    """No `.get(key, default)` on a step's params or settings: a default belongs in the schema."""
    offenders = []
    for path in sorted((ROOT / "src" / "staa" / "steps").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "get"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id in ("params", "train", "cfg")
                and len(node.args) == 2
            ):
                offenders.append(f"{path.name}:{node.lineno}")
    assert not offenders, f"defaults in step code (put them in the schema): {offenders}"


def test_whole_number_floats_count_as_integers():
    """JSON Schema (and so the config check) counts 5.0 as an integer: the step must accept it too."""
    train = st.GeneratorSettings.from_params(
        {"train": {"epochs": 2.0, "batch_size": 4, "lr": 1, "step_size": 5.0}, "variant_cfg": {"frame_length": 1.0}}
    )
    assert (train.epochs, train.step_size, train.frame_length, train.lr) == (2, 5, 1, 1.0)
    assert all(type(v) is int for v in (train.epochs, train.step_size, train.frame_length)) and type(train.lr) is float
    with pytest.raises(StaaError, match=r"'train.epochs' = 2.5: expected an integer"):
        st.GeneratorSettings.from_params({"train": {"epochs": 2.5, "batch_size": 4, "lr": 1}})


def test_a_bad_params_key_is_reported_before_the_runtime_is_set_up(capsys, monkeypatch):
    """A bad --params is named before threads and GPUs are set up (which may fail on their own)."""
    from staa import cli, runtime

    def no_runtime(*args, **kwargs):
        raise AssertionError("the runtime was set up before --params was checked")

    monkeypatch.setattr(runtime, "setup_runtime", no_runtime)
    code = cli.main(
        [
            "train-victim",
            "--name",
            "v",
            "--data-dir",
            "d",
            "--model",
            "m",
            "--metrics",
            "j",
            "--train-log",
            "l",
            "--params",
            '{"family": "emo18", "seed": 0}',
        ]
    )
    assert code == 2 and "--params lacks key 'epochs'" in capsys.readouterr().err
