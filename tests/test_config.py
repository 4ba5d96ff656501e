"""Config validation: the schema rejects unknown keys and wrong types, naming them; semantic checks
catch cross-reference and range errors before any job starts."""

from __future__ import annotations

import copy

import pytest
import yaml

from conftest import REPO, SCHEMA, load_default_config
from staa.config import SYNTH_EMOTIONS, validate_config
from staa.errors import ConfigError


@pytest.mark.parametrize("name", ["config.yaml", "paper.yaml"])
def test_shipped_configs_are_valid(name):
    path = REPO / "config" / name
    if not path.exists():
        pytest.skip(f"{name} not present")
    validate_config(yaml.safe_load(path.read_text()), SCHEMA)


def _err(cfg) -> str:
    with pytest.raises(ConfigError) as exc:
        validate_config(cfg, SCHEMA)
    return str(exc.value)


def test_unknown_key_is_named():
    cfg = load_default_config()
    cfg["victims"]["emo18"]["epoch"] = 3
    msg = _err(cfg)
    assert "'epoch'" in msg and "victims.emo18" in msg


def test_unknown_top_level_key_is_named():
    cfg = load_default_config()
    cfg["sed"] = 1
    assert "'sed'" in _err(cfg)


def test_wrong_type_is_named():
    cfg = load_default_config()
    cfg["victims"]["zhao19"]["epochs"] = "ten"
    msg = _err(cfg)
    assert "victims.zhao19.epochs" in msg and "'ten'" in msg


def test_unknown_model_family_rejected():
    cfg = load_default_config()
    cfg["victims"]["emo18"]["family"] = "resnet"
    msg = _err(cfg)
    assert "victims.emo18.family" in msg and "resnet" in msg


def test_threat_must_be_a_victim():
    cfg = load_default_config()
    cfg["generator"]["threats"] = ["emo18", "hubert"]
    assert "'hubert'" in _err(cfg)


@pytest.mark.parametrize("eps", [0, -0.01])
def test_non_positive_eps_rejected(eps):
    cfg = load_default_config()
    cfg["generator"]["train"]["eps"] = eps
    assert "generator.train.eps" in _err(cfg)


def test_frame_longer_than_clip_rejected():
    cfg = load_default_config()
    cfg["generator"]["train"]["frame_length"] = 10**7
    assert "larger than the clip length" in _err(cfg)


def test_variant_with_unknown_loss_rejected():
    cfg = load_default_config()
    cfg["generator"]["variants"]["full"]["losses"]["smoothness"] = 1.0
    msg = _err(cfg)
    assert "'smoothness'" in msg and "variants.full" in msg


def test_run_dataset_must_be_declared():
    cfg = load_default_config()
    cfg["run"]["datasets"] = ["iemocap"]
    assert "'iemocap'" in _err(cfg)


def test_synth_emotions_match_the_generator():
    from staa.data.synthetic import EMOTIONS

    assert sorted(EMOTIONS) == sorted(SYNTH_EMOTIONS)


def test_several_errors_reported_at_once():
    cfg = copy.deepcopy(load_default_config())
    cfg["generator"]["threats"] = ["nope"]
    cfg["generator"]["train"]["eps"] = -1
    msg = _err(cfg)
    assert "'nope'" in msg and "generator.train.eps" in msg


def test_slurm_tiny_config_matches_tiny_config():
    """tests/slurm_tiny.yaml (used by .ci/slurm_test.sh) is tiny_config() frozen to a file."""
    from conftest import tiny_config

    assert yaml.safe_load((REPO / "tests" / "slurm_tiny.yaml").read_text()) == tiny_config()
    validate_config(tiny_config(), SCHEMA)


def test_sparsity_target_needs_mean_reduction():
    cfg = load_default_config()
    cfg["generator"]["train"]["reduction"] = "sum"
    assert "sparsity_target needs" in _err(cfg)


# ---- sweeps and seeds ---------------------------------------------------------------------------
def test_default_density_sweep_reuses_full_and_names_the_new_points():
    from staa.config import expand_sweeps, sweep_points

    cfg = load_default_config()
    pts = sweep_points(cfg)["density"]
    assert [(p["value"], p["variant"], p["generated"]) for p in pts] == [
        (0.05, "density_0p05", True),
        (0.1, "density_0p1", True),
        (0.15, "full", False),
        (0.2, "density_0p2", True),
        (0.4, "density_0p4", True),
    ]
    assert [(p["value"], p["variant"]) for p in sweep_points(cfg)["budget"]] == [
        ("topk", "full"),
        ("loss", "budget_loss"),
    ]
    variants = expand_sweeps(cfg)["generator"]["variants"]
    assert variants["density_0p4"]["sparsity_target"] == 0.4 and variants["density_0p4"]["threats"] == ["emo18"]
    assert variants["budget_loss"]["budget"] == "loss"
    n = len(cfg["generator"]["variants"])
    assert list(variants)[:n] == list(cfg["generator"]["variants"])  # declared variants first, unchanged


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s: s.update(base="nope"), "generator.sweeps.density.base names 'nope'"),
        (lambda s: s.update(key="channels"), "generator.sweeps.density.key: 'channels' cannot vary per variant"),
        (lambda s: s.update(values=[0.1, 0.1]), "generator.sweeps.density.values: [0.1, 0.1] repeats a value"),
        (lambda s: s.update(threats=["zhao19"]), "generator.sweeps.density.threats names 'zhao19'"),
        (lambda s: s.update(values=[0.1, 1.5]), "sparsity_target"),
    ],
)
def test_bad_sweeps_are_named(change, message):
    cfg = load_default_config()
    change(cfg["generator"]["sweeps"]["density"])
    with pytest.raises(ConfigError) as exc:
        validate_config(cfg, SCHEMA)
    assert message in str(exc.value)


def test_repeated_seeds_rejected():
    cfg = load_default_config()
    cfg["run"]["seeds"] = [0, 1, 0]
    with pytest.raises(ConfigError, match=r"run.seeds: \[0, 1, 0\] repeats a seed"):
        validate_config(cfg, SCHEMA)


def test_victim_seed_follows_the_switch():
    from staa.config import run_seeds, victim_seed

    cfg = load_default_config()
    assert run_seeds(cfg) == [cfg["seed"]]
    cfg["run"]["seeds"] = [3, 4]
    assert [victim_seed(cfg, "emo18", s) for s in run_seeds(cfg)] == [cfg["seed"], cfg["seed"]]
    cfg["run"]["victim_seeds"] = True
    assert [victim_seed(cfg, "emo18", s) for s in run_seeds(cfg)] == [3, 4]


@pytest.mark.parametrize(
    "override, message",
    [
        (
            {"mask_training": "reference", "budget": "topk"},
            "generator.variants.full: budget 'topk' needs mask_training 'ste'",
        ),
        ({"budget": "topk", "sparsity_target": None}, "generator.variants.full: budget 'topk' keeps sparsity_target"),
        ({"eps_mode": "relativ"}, "generator.variants.full.eps_mode"),
        ({"mask_training": "hard"}, "generator.variants.full.mask_training"),
    ],
)
def test_mask_settings_that_cannot_work_together_are_named(override, message):
    cfg = load_default_config()
    cfg["generator"]["variants"]["full"].update(override)
    assert message in _err(cfg)
