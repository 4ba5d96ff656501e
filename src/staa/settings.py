"""Typed settings of each pipeline step, and the one home of every default (docs/design.md §7).

Defaults and ranges live only in the workflow's schema, `workflow/schemas/config.schema.yaml`. The
workflow fills them into the config before any rule's `--params` is built (Snakemake's `validate()`,
and `fill_defaults` below for `staa validate-config` and the paper bench); a step called by hand or
from Python fills them from the same schema when it builds its settings object. The classes here
declare names and types only: a missing or mistyped key is named in one line, with what was expected.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import types
import typing
from pathlib import Path
from typing import Any, Union

from staa.errors import StaaError

# ---- the schema's defaults ----------------------------------------------------------------------


def schema_path() -> Path:
    """The workflow's config schema, found from the package (an editable install or a checkout)."""
    return Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


@functools.cache
def _schema() -> dict[str, Any]:
    import yaml

    path = schema_path()
    if not path.is_file():
        raise StaaError(f"schema {path} not found: staa needs the repository's workflow/ folder beside src/")
    return yaml.safe_load(path.read_text())


@functools.cache
def _filling_validator_class():
    """A Draft 2020-12 validator that writes each property's `default` into the instance as it
    validates (Snakemake's `validate(set_default=True)` does the same, from the jsonschema FAQ)."""
    import jsonschema

    base = jsonschema.Draft202012Validator
    validate_properties = base.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for key, sub in properties.items():
                if "default" in sub and key not in instance:
                    instance[key] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(base, {"properties": set_defaults})


def _subschema(section: str) -> dict[str, Any]:
    """The schema of `section`, a path like 'generator/train' or 'victims/*' ('*' = any name)."""
    node = _schema()
    for part in filter(None, section.split("/")):
        node = node["additionalProperties"] if part == "*" else node["properties"][part]
    return node


def fill_defaults(values: dict[str, Any], section: str = "") -> dict[str, Any]:
    """A copy of `values` with the schema's defaults of `section` filled in, nested objects included.
    Values that break the schema are left for the checks that name them (the config check, the step)."""
    out = copy.deepcopy(values)
    schema = {**_subschema(section), "definitions": _schema()["definitions"]}  # the section's $refs resolve
    # validating is what fills: run it to the end; the errors are reported by the config check and the step
    list(_filling_validator_class()(schema).iter_errors(out))
    return out


# generator.train settings a generator variant may override
VARIANT_OVERRIDES = (
    "eps",
    "frame_length",
    "epochs",
    "sparsity_target",
    "sparsity_scope",
    "select",
    "kappa",
    "reduction",
    "warmup_epochs",
    "loc_bias_init",
    "mask_training",
    "budget",
    "eps_mode",
    "input_norm",
)


def variant_settings(train: dict[str, Any], var: dict[str, Any]) -> dict[str, Any]:
    """What a variant trains with: `generator.train` with the variant's overrides, its factorisation
    and its loss weights (the one merge both the config check and the training step use)."""
    out = {**train, **{k: var[k] for k in VARIANT_OVERRIDES if k in var}}
    var = fill_defaults(var, "generator/variants/*")
    out["factorised"] = bool(var["factorised"])
    out["universal"] = bool(var["universal"])
    out["losses"] = dict(var["losses"])
    return out


# ---- typed settings built from `--params` -------------------------------------------------------

_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    dict: "a JSON object",
    list: "a list",
}


def _kinds(hint: Any) -> tuple[tuple[type, ...], bool]:
    """(accepted Python types, whether null is accepted) of a field's annotation."""
    args = typing.get_args(hint) if typing.get_origin(hint) in (Union, types.UnionType) else (hint,)
    kinds = tuple(typing.get_origin(a) or a for a in args if a is not type(None))
    return kinds, type(None) in args


def _accepts(kinds: tuple[type, ...], value: Any) -> bool:
    if isinstance(value, bool):
        return bool in kinds
    if isinstance(value, int) and float in kinds:
        return True
    if isinstance(value, float) and int in kinds and value.is_integer():
        return True  # JSON Schema counts 5.0 as an integer, so the config check lets it through
    return isinstance(value, kinds)


def _convert(kinds: tuple[type, ...], value: Any) -> Any:
    """An int where a float is declared becomes a float, a whole float where an int is declared an int."""
    if value is None or isinstance(value, bool):
        return value
    if kinds == (float,):
        return float(value)
    if kinds == (int,) and isinstance(value, float):
        return int(value)
    return value


def build(cls: type, values: dict[str, Any], prefix: str = ""):
    """An instance of the dataclass `cls` from `values`: every field must be present (defaults were
    filled from the schema before) and of its declared type; other keys are ignored."""
    if not isinstance(values, dict):
        raise StaaError(f"--params{' key ' + repr(prefix.rstrip('.')) if prefix else ''}: expected a JSON object")
    hints = typing.get_type_hints(cls)
    fields = {}
    for f in dataclasses.fields(cls):
        kinds, nullable = _kinds(hints[f.name])
        expected = " or ".join(_NAMES.get(k, k.__name__) for k in kinds) + (" or null" if nullable else "")
        key = prefix + f.name
        if f.name not in values:
            required = [prefix + g.name for g in dataclasses.fields(cls)]
            raise StaaError(
                f"--params lacks key {key!r} ({expected}); this step needs {required} "
                "(the workflow's rules pass them from the config)"
            )
        value = values[f.name]
        if not ((value is None and nullable) or (value is not None and _accepts(kinds, value))):
            raise StaaError(f"--params key {key!r} = {value!r}: expected {expected}")
        fields[f.name] = _convert(kinds, value)
    return cls(**fields)


@dataclasses.dataclass(frozen=True)
class DataSettings:
    """Reading and splitting one corpus (config `datasets.<name>`; `split.seed` is the run's seed)."""

    reader: str
    root: str
    sample_rate: int
    clip_seconds: float
    on_bad_audio: str
    split: dict
    reader_options: dict

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> DataSettings:
        return build(cls, fill_defaults(params, "datasets/*"))


@dataclasses.dataclass(frozen=True)
class VictimSettings:
    """One victim's training (config `victims.<name>`, the run's seed). `train: false` evaluates a
    model as it is; then epochs, batch_size and lr are not needed."""

    family: str
    seed: int
    train: bool
    arch: dict
    select: str
    weight_decay: float
    grad_clip: float | None
    epochs: int | None
    batch_size: int | None
    lr: float | None

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> VictimSettings:
        values = fill_defaults(params, "victims/*")
        if values.get("train", True) is not False:
            for key, kind in (("epochs", "an integer"), ("batch_size", "an integer"), ("lr", "a number")):
                if values.get(key) is None:
                    raise StaaError(
                        f"--params lacks key {key!r} ({kind}); a trained victim needs epochs, "
                        "batch_size and lr (the workflow's rules pass them from the config)"
                    )
        else:
            values = {"epochs": None, "batch_size": None, "lr": None, **values}
        return build(cls, values)


@dataclasses.dataclass(frozen=True)
class GeneratorSettings:
    """What one generator variant trains with: `generator.train` with the variant's overrides, its
    factorisation and loss weights (variant_settings above)."""

    epochs: int
    batch_size: int
    lr: float
    step_size: int
    gamma: float
    eps: float
    flex_eps: dict | None
    kappa: float
    target: str | None
    frame_length: int
    reduction: str
    grad_clip: float | None
    warmup_epochs: int
    loc_bias_init: float
    sparsity_target: float | None
    sparsity_scope: str
    select: str
    mask_training: str
    budget: str
    eps_mode: str
    input_norm: bool
    factorised: bool
    universal: bool
    losses: dict

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> GeneratorSettings:
        for key, kind in (("train", dict), ("variant_cfg", dict)):
            if key in params and not isinstance(params[key], kind):
                raise StaaError(f"--params key {key!r} = {params[key]!r}: expected a JSON object")
        if "train" not in params:
            raise StaaError("--params lacks key 'train' (a JSON object): the generator's training settings")
        train = fill_defaults(params["train"], "generator/train")
        build(cls, variant_settings(train, {}), prefix="train.")  # generator.train on its own first
        # what fails now came from the variant: name it there
        return build(cls, variant_settings(train, params.get("variant_cfg", {})), prefix="variant_cfg.")


@dataclasses.dataclass(frozen=True)
class GeneratorRun:
    """Which generator a training job makes: threat model, variant, architecture, seed."""

    threat: str
    variant: str
    arch: dict
    seed: int

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> GeneratorRun:
        return build(cls, params)


@dataclasses.dataclass(frozen=True)
class CraftSettings:
    """STAA-Net crafting: the generator's run and `attack_eval` (batch, listening examples, timing)."""

    dataset: str
    threat: str
    variant: str
    seed: int
    throughput_batch: int
    n_examples: int
    timing_utterances: int

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> CraftSettings:
        return build(cls, fill_defaults(params, "attack_eval"))


@dataclasses.dataclass(frozen=True)
class ScoreSettings:
    """Scoring one attack's stored adversarials on one victim (every method alike)."""

    dataset: str
    attack: str
    method: str
    threat: str
    variant: str | None
    victim: str
    seed: int
    scope: str
    frame_ms: float
    timing_utterances: int

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> ScoreSettings:
        values = fill_defaults(params, "attack_eval")
        if values.get("scope") not in (None, "full", "subset"):
            raise StaaError(f"--params key 'scope' = {values['scope']!r}: expected 'full' or 'subset'")
        return build(cls, {"variant": None, **values})


@dataclasses.dataclass(frozen=True)
class SubsetSettings:
    """The seeded test subset the baselines share."""

    subset_size: int
    seed: int

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> SubsetSettings:
        return build(cls, fill_defaults(params, "baselines"))


@dataclasses.dataclass(frozen=True)
class BaselineSettings:
    """One baseline's run: its name, threat model, seed and settings ({method, ...})."""

    name: str
    threat: str
    settings: dict
    seed: int
    eps_mode: str

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> BaselineSettings:
        out = build(cls, params)
        if not isinstance(out.settings.get("method"), str):
            raise StaaError(
                "--params lacks key 'settings.method' (a string): the attack to run "
                "(the workflow's rules pass it from the config)"
            )
        return out


@dataclasses.dataclass(frozen=True)
class TimingSettings:
    """The timing benchmark: the STAA-Net generator and every baseline in `methods` (as run, and
    `full_methods` before budget cuts), `utterances` timed after `warmup` calls."""

    dataset: str
    threat: str
    seed: int
    methods: dict
    full_methods: dict | None
    utterances: int
    warmup: int
    throughput_batch: int

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> TimingSettings:
        return build(cls, {"full_methods": None, **fill_defaults(params, "timing")})
