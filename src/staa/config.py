"""Config validation beyond the JSON schema: cross-references and ranges (torch-free, fast).

The schema (workflow/schemas/config.schema.yaml) rejects unknown keys and wrong types; these
checks catch what a schema cannot express (a threat model that is not a victim, a frame longer
than the clip, a variant naming an unknown loss) before any job starts.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

from staa.errors import ConfigError
from staa.settings import VARIANT_OVERRIDES, fill_defaults, variant_settings

# Dataset, victim, variant and baseline names become path components and wildcard values:
# a letter or digit first (a leading '-' would read as an option), then letters, digits, '_', '-'.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]*$"
NAME_RULE = "a letter or digit first, then letters, digits, '_' or '-'"
# A name is a folder name in every path of its jobs (at most 255 bytes with the prefixes added), and
# Snakemake refuses, once planning has begun, a wildcard value that ends in one substring repeated
# 20 or more times (snakemake.io.PeriodicityDetector: "PeriodicWildcardError ... infinite recursion").
NAME_MAX = 100
_PERIODIC = re.compile(r"(?P<value>.+?)(?P=value){19,99}$")
# Where the synth_corpus rule writes a synthetic dataset's corpus.
SYNTH_ROOT = "results/corpora/{name}"
# Architecture options each victim family accepts (models.build_victim uses the same sets).
ARCH_KEYS = {
    "emo18": {"channels", "kernels", "pools", "hidden", "lstm_layers"},
    "zhao19": {"channels", "kernel", "pool", "hidden", "lstm_layers"},
    "wav2vec2": {"pretrained", "small_config", "freeze_feature_encoder", "hf_config_json"},
    "wavlm": {"pretrained", "small_config", "freeze_feature_encoder", "hf_config_json"},
    # a user's model: any Hugging Face audio classifier of a supported type, or a torch.export program
    # (the keys after class_map are written when the victim is built and read back from its checkpoint)
    "hf": {
        "pretrained",
        "class_map",
        "freeze_feature_encoder",
        "hf_config_json",
        "feature_extractor_json",
        "dataset_classes",
        "data_sample_rate",
    },
    "exported": {"program", "classes", "class_map", "sampling_rate", "sha256", "dataset_classes", "data_sample_rate"},
}
# the keys a build records in a foreign victim's arch: not for the config
_FOREIGN_RECORDED = {"hf_config_json", "feature_extractor_json", "dataset_classes", "data_sample_rate", "sha256"}
# Defaults of the architectures (models/cnn_lstm.py; transformers' Wav2Vec2Config/WavLMConfig)
# that set how many samples a victim needs to produce one output frame.
_EMO18_POOLS = (10, 8, 8)
_ZHAO19 = {"channels": 4, "pool": 4}
_SSL_CONV = {"conv_kernel": (10, 3, 3, 3, 3, 2, 2), "conv_stride": (5, 2, 2, 2, 2, 2, 2)}

LOSS_TERMS = ("mag", "qua", "spa")
# Bumped whenever the procedural corpus' audio changes, so cached corpora are regenerated.
CORPUS_VERSION = 3
SYNTH_EMOTIONS = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
BASELINE_METHODS = ("pgd", "sparsefool", "onepixel")
# The largest seed (the schema's `definitions.seed` maximum; tests/test_hardening_make.py keeps the
# two equal): every seed a step derives from it stays valid for torch and numpy with room to spare
# (torch.manual_seed(seed * 100003 + epoch) per epoch needs < 2^64; numpy's default_rng([seed, ...])
# and np.random.seed(seed % 2^32) take any), and 32-bit seed consumers take it too.
SEED_MAX = 2**31 - 1
# Snakemake's planning grows linearly with the seeds: `snakemake -n` on the default config took
# 1.8 s with 1 seed, 8 s with 40, 29 s with 100 and 58 s with 200 (about 0.3 s per seed; 2 cores):
# past this many seeds, planning alone takes more than about 30 s, which is worth a warning.
SEEDS_SLOW_PLANNING = 100
SECONDS_PER_SEED = 0.3
# The most seeds `make SEEDS=N` writes (about 5 minutes of planning); more go under run.seeds by hand.
SEEDS_OVERLAY_MAX = 1000


def schema_errors(config: dict[str, Any], schema_path: str | Path) -> list[str]:
    """All JSON-schema violations as readable lines; an unknown key is named with its path."""
    import jsonschema
    import yaml

    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    lines = []
    for err in sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path))):
        where = ".".join(str(p) for p in err.absolute_path) or "<top level>"
        if "propertyNames" in err.schema_path:
            lines.append(f"config section '{where}': name {err.instance!r} is not allowed; expected {NAME_RULE}")
        elif err.validator == "additionalProperties":
            allowed = sorted(err.schema.get("properties", {}))
            extra = sorted(set(err.instance) - set(allowed)) if isinstance(err.instance, dict) else []
            lines.append(f"unknown key(s) {extra} in config section '{where}'; allowed keys: {allowed}")
        else:
            lines.append(f"config key '{where}': {err.message}")
    return lines


def validate_config(config: dict[str, Any], schema_path: str | Path) -> None:
    """Schema + semantic checks; raises ConfigError listing every problem found."""
    errors = schema_errors(config, schema_path) or schema_errors(expand_sweeps(config), schema_path)
    if not errors:
        errors = semantic_errors(config)  # on the config with the schema's defaults filled in
    if errors:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(errors))


def dataset_victims(config: dict[str, Any], dataset: str) -> list[str]:
    return list(config["datasets"][dataset].get("victims") or list(config["victims"]))


def clip_length(ds_cfg: dict[str, Any]) -> int:
    """Samples per clip of a dataset's config, its schema defaults filled (Snakemake's validate(),
    fill_defaults)."""
    return int(round(float(ds_cfg["clip_seconds"]) * int(ds_cfg["sample_rate"])))


def variant_threats(config: dict[str, Any], variant: str) -> list[str]:
    gen = config["generator"]
    return list(gen["variants"][variant].get("threats") or gen["threats"])


def victim_min_samples(family: str, arch: dict[str, Any]) -> int:
    """The shortest clip (in samples) from which a victim of `family` still produces one output
    frame: its pooling (CNN-LSTMs) or strided feature encoder (SSL models) leaves nothing below."""
    if family == "emo18":
        return math.prod(int(p) for p in arch.get("pools", _EMO18_POOLS))
    if family == "zhao19":
        return int(arch.get("pool", _ZHAO19["pool"])) ** len(arch.get("channels", [0] * _ZHAO19["channels"]))
    if family == "hf":
        return 400  # a wav2vec2-style conv stack's receptive field; AST needs one 25 ms frame; Whisper pads
    if family == "exported":
        return 1  # the program is run once when the victim is built: a clip it cannot take fails there
    conv = {**_SSL_CONV, **(arch.get("small_config") or {})} if not arch.get("pretrained") else _SSL_CONV
    need = 1
    for k, st in reversed(list(zip(conv["conv_kernel"], conv["conv_stride"]))):
        need = (need - 1) * int(st) + int(k)
    return need


def foreign_arch_errors(name: str, victim: dict[str, Any]) -> list[str]:
    """A user's model (`hf`, `exported`): where it is, how its labels map, and that an exported program
    is evaluated as it is."""
    family, arch = victim.get("family"), victim.get("arch") or {}
    key, errs = f"victims.{name}.arch", []
    if family == "hf":
        p = arch.get("pretrained")
        if not (isinstance(p, str) and p):
            errs.append(
                f"{key}.pretrained: expected a hub name (e.g. superb/wav2vec2-base-superb-er) or a local "
                f"checkpoint directory, got {p!r}"
            )
        if "freeze_feature_encoder" in arch and not isinstance(arch["freeze_feature_encoder"], bool):
            errs.append(f"{key}.freeze_feature_encoder: expected true or false")
    else:
        if not (isinstance(arch.get("program"), str) and arch["program"]):
            errs.append(f"{key}.program: expected the path of a .pt2 file written by torch.export.save")
        c = arch.get("classes")
        if c is not None and not (
            isinstance(c, list) and c and all(isinstance(i, str) for i in c) and len(set(c)) == len(c)
        ):
            errs.append(f"{key}.classes: expected a non-empty list of distinct class names")
        sr = arch.get("sampling_rate")
        if sr is not None and not _posint(sr):
            errs.append(f"{key}.sampling_rate: expected a positive integer (Hz), got {sr!r}")
        if victim.get("train", True) is not False:
            errs.append(f"victims.{name}: an exported program is evaluated as it is; expected train: false")
    cm = arch.get("class_map")
    if cm is not None and not (
        isinstance(cm, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in cm.items())
    ):
        errs.append(f"{key}.class_map: expected a mapping of dataset class -> model label name (strings)")
    recorded = sorted(set(arch) & _FOREIGN_RECORDED)
    if recorded:
        errs.append(f"{key}: {recorded} are written when the victim is built; remove them from the config")
    return errs


def arch_errors(name: str, victim: dict[str, Any]) -> list[str]:
    """Unknown or inconsistent architecture options of victim `name` (before any job runs)."""
    family, arch = victim.get("family"), victim.get("arch") or {}
    if family not in ARCH_KEYS or not isinstance(arch, dict):
        return []  # the schema reports these
    errs = []
    unknown = sorted(set(arch) - ARCH_KEYS[family])
    if unknown:
        errs.append(
            f"victims.{name}.arch: unknown option(s) {unknown} for family {family!r}; "
            f"expected some of {sorted(ARCH_KEYS[family])}"
        )
    if family in ("hf", "exported"):
        return errs + foreign_arch_errors(name, victim)
    if family == "emo18":
        lists = {k: arch[k] for k in ("channels", "kernels", "pools") if k in arch}
        bad = [k for k, v in lists.items() if not (isinstance(v, list) and v and all(_posint(i) for i in v))]
        errs += [
            f"victims.{name}.arch.{k}: expected a non-empty list of positive integers, got {lists[k]!r}" for k in bad
        ]
        sizes = {k: len(v) for k, v in lists.items() if k not in bad}
        if len(set(sizes.values())) > 1:
            errs.append(
                f"victims.{name}.arch: channels, kernels and pools need one entry per conv block, got lengths {sizes}"
            )
    elif family == "zhao19":
        ch = arch.get("channels", [1])
        if not (isinstance(ch, list) and ch and all(_posint(i) for i in ch)):
            errs.append(f"victims.{name}.arch.channels: expected a non-empty list of positive integers, got {ch!r}")
    for key in ("hidden", "lstm_layers", "kernel", "pool"):
        if key in arch and key in ARCH_KEYS[family] and not _posint(arch[key]):
            errs.append(f"victims.{name}.arch.{key}: expected a positive integer, got {arch[key]!r}")
    if "small_config" in arch and not isinstance(arch["small_config"], (dict, type(None))):
        errs.append(f"victims.{name}.arch.small_config: expected a mapping of transformers config keys")
    elif arch.get("small_config"):
        known = ssl_config_keys(family)
        unknown = sorted(set(arch["small_config"]) - known) if known else []
        if unknown:  # transformers' configs would keep a misspelt key silently as an unused attribute
            errs.append(
                f"victims.{name}.arch.small_config: unknown option(s) {unknown} for {_SSL_CONFIGS[family][1]}; "
                "expected keys of its constructor (e.g. hidden_size, num_hidden_layers, conv_dim)"
            )
    return errs


_SSL_CONFIGS = {
    "wav2vec2": ("wav2vec2/configuration_wav2vec2.py", "Wav2Vec2Config"),
    "wavlm": ("wavlm/configuration_wavlm.py", "WavLMConfig"),
}
# PretrainedConfig's own keyword arguments that a model config also accepts
_HF_COMMON_KEYS = {
    "num_labels",
    "id2label",
    "label2id",
    "problem_type",
    "output_hidden_states",
    "output_attentions",
    "return_dict",
    "torch_dtype",
    "architectures",
    "finetuning_task",
    "model_type",
    "use_cache",
}


def ssl_config_keys(family: str) -> set[str] | None:
    """The keyword arguments of transformers' config class for `family`, read from its source with
    `ast` (importing transformers would import torch, and a config check must stay fast); None when
    the source cannot be found or parsed, so the check is skipped rather than wrong."""
    import ast
    import importlib.util

    spec = importlib.util.find_spec("transformers")
    if spec is None or not spec.submodule_search_locations:
        return None
    rel, cls = _SSL_CONFIGS[family]
    src = Path(list(spec.submodule_search_locations)[0]) / "models" / rel
    try:
        tree = ast.parse(src.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == cls:
            for fn in node.body:
                if isinstance(fn, ast.FunctionDef) and fn.name == "__init__":
                    args = fn.args.args[1:] + fn.args.kwonlyargs
                    return {a.arg for a in args} | _HF_COMMON_KEYS
    return None


def duplicate_variant_errors(gen: dict[str, Any]) -> list[str]:
    """Two variants with identical settings would train the same generator twice under two names
    (an ablation that differs from nothing): refuse them where their threats and datasets meet."""
    errs, seen = [], {}
    for name, var in gen["variants"].items():
        key = _settings_key(gen["train"], var)
        for other in seen.get(key, []):
            ov = gen["variants"][other]
            threats = set(var.get("threats") or gen["threats"]) & set(ov.get("threats") or gen["threats"])
            dsets = var.get("datasets"), ov.get("datasets")
            if threats and (None in dsets or set(dsets[0]) & set(dsets[1])):
                errs.append(
                    f"generator.variants.{name} has the same settings as generator.variants.{other}; "
                    "expected each variant to differ (an ablation must change something)"
                )
        seen.setdefault(key, []).append(name)
    return errs


def _settings_key(train: dict[str, Any], var: dict[str, Any]) -> str:
    settings = variant_settings(train, var)
    settings["losses"] = {k: w for k, w in settings["losses"].items() if w}  # a weight of 0 = no term
    return repr(sorted(settings.items()))


def sweep_value_name(value: Any) -> str:
    """A sweep value as part of a variant name (names allow letters, digits, '_' and '-')."""
    if value is None:
        return "none"
    if isinstance(value, (int, float)):  # 6 significant digits; 1e+06 -> 1e06, 1e-05 -> 1em05
        return f"{value:g}".replace(".", "p").replace("-", "m").replace("+", "")
    return str(value)


def sweep_points(config: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The points of every `generator.sweeps` entry: {sweep: [{value, variant, generated}]}.

    A point is the sweep's base variant with `key` set to one value. A point whose settings equal a
    declared variant that covers the sweep's threats reuses that variant's generator (the density
    budget of the reference variant, for instance); any other point becomes a generated variant named
    `{sweep}_{value}` (0.05 -> `density_0p05`, null -> `density_none`)."""
    gen = config.get("generator") or {}
    declared = gen.get("variants") or {}
    out: dict[str, list[dict[str, Any]]] = {}
    for sname, sw in (gen.get("sweeps") or {}).items():
        base = declared.get(sw["base"])
        if base is None:
            continue
        threats = list(sw.get("threats") or base.get("threats") or gen.get("threats") or [])
        points = []
        for value in sw["values"]:
            var = {**base, sw["key"]: value, "threats": threats}
            if sw.get("datasets"):
                var["datasets"] = list(sw["datasets"])
            key = _settings_key(gen["train"], var)
            reuse = next(
                (
                    n
                    for n, v in declared.items()
                    if _settings_key(gen["train"], v) == key and set(threats) <= set(v.get("threats") or gen["threats"])
                ),
                None,
            )
            points.append(
                {
                    "value": value,
                    "variant": reuse or f"{sname}_{sweep_value_name(value)}",
                    "generated": reuse is None,
                    "settings": var,
                    "threats": threats,
                }
            )
        out[sname] = points
    return out


def expand_sweeps(config: dict[str, Any]) -> dict[str, Any]:
    """`config` with each sweep's generated points added to `generator.variants` (a new dict; the
    declared variants come first and keep their order)."""
    points = sweep_points(config)
    if not points:
        return config
    gen = dict(config["generator"])
    variants = dict(gen["variants"])
    for pts in points.values():
        for pt in pts:
            if pt["generated"]:
                variants.setdefault(pt["variant"], pt["settings"])
    gen["variants"] = variants
    return {**config, "generator": gen}


def sweep_errors(config: dict[str, Any]) -> list[str]:
    """A sweep names a declared base variant, a key a variant may override, and distinct values."""
    gen = config.get("generator") or {}
    errs = []
    for sname, sw in (gen.get("sweeps") or {}).items():
        if not re.match(NAME_PATTERN, str(sname)):
            errs.append(f"generator.sweeps: name {sname!r} is not allowed; expected {NAME_RULE}")
        if sw["base"] not in (gen.get("variants") or {}):
            errs.append(
                f"generator.sweeps.{sname}.base names {sw['base']!r}, which is not under generator.variants "
                f"({sorted(gen.get('variants') or {})})"
            )
        if sw["key"] not in VARIANT_OVERRIDES:
            errs.append(
                f"generator.sweeps.{sname}.key: {sw['key']!r} cannot vary per variant; expected one of "
                f"{list(VARIANT_OVERRIDES)}"
            )
        names = [sweep_value_name(v) for v in sw["values"]]
        first: dict[str, Any] = {}
        repeated = False
        for value, vname in zip(sw["values"], names):
            if vname not in first:
                first[vname] = value
                continue
            other = first[vname]
            if other == value and isinstance(other, bool) == isinstance(value, bool):
                repeated = True
            else:  # distinct values that print alike (6 significant digits): their variants would be one
                errs.append(
                    f"generator.sweeps.{sname}.values: {other!r} and {value!r} share the variant name "
                    f"{sname}_{vname}; expected values that differ in their first 6 significant digits"
                )
        if repeated:
            errs.append(f"generator.sweeps.{sname}.values: {sw['values']} repeats a value; expected distinct values")
        for t in sw.get("threats") or []:
            if t not in gen.get("threats", []):
                errs.append(
                    f"generator.sweeps.{sname}.threats names {t!r}, not in generator.threats {gen.get('threats')}"
                )
        clash = [n for n in (f"{sname}_{v}" for v in names) if n in (gen.get("variants") or {})]
        if clash:
            errs.append(
                f"generator.sweeps.{sname}: generated variant name(s) {clash} are already declared under "
                "generator.variants; rename the sweep or the variant"
            )
    return errs


def config_warnings(config: dict[str, Any]) -> list[str]:
    """What is valid but worth a line on stderr before the DAG is planned: a seed list so long that
    planning alone takes more than about 30 s."""
    seeds = (config.get("run") or {}).get("seeds")
    if isinstance(seeds, list) and len(seeds) > SEEDS_SLOW_PLANNING:
        return [
            f"warning: run.seeds lists {len(seeds)} seeds; Snakemake plans about {SECONDS_PER_SEED:g} s per seed "
            f"(default config), so expect about {len(seeds) * SECONDS_PER_SEED:.0f} s of planning before the first job"
        ]
    return []


def seeds_overlay(value: Any) -> str:
    """The config overlay of `make SEEDS=N`: `run.seeds: [0, ..., N-1]` as YAML text. `value` is the
    text the user gave (N, a positive integer of at most SEEDS_OVERLAY_MAX)."""
    text = str(value)
    if not re.fullmatch(r"[0-9]+", text) or int(text) < 1:
        raise ConfigError(
            f"SEEDS={text!r}: expected a positive integer, the number of seeds (SEEDS=3 runs seeds 0, 1 and 2)"
        )
    n = int(text)
    if n > SEEDS_OVERLAY_MAX:
        raise ConfigError(
            f"SEEDS={n}: expected at most {SEEDS_OVERLAY_MAX} seeds (Snakemake plans about {SECONDS_PER_SEED:g} s "
            "per seed); list more under run.seeds in a config if you mean it"
        )
    return "# written by `make SEEDS=N` (staa seeds-overlay)\nrun:\n  seeds: [" + ", ".join(map(str, range(n))) + "]\n"


def run_seeds(config: dict[str, Any]) -> list[int]:
    """The seeds the stochastic stages run with (`run.seeds`; default: the global `seed`)."""
    return [int(s) for s in (config["run"].get("seeds") or [config["seed"]])]


def victim_seed(config: dict[str, Any], victim: str, seed: int) -> int:
    """The seed of the victim that run `seed` attacks: `seed` itself under `run.victim_seeds`,
    otherwise the victim's own `seed` key or the global seed (the paper trains each victim once)."""
    if config["run"].get("victim_seeds"):
        return int(seed)
    return int(config["victims"][victim].get("seed", config["seed"]))


def generator_arch_errors(arch: dict[str, Any]) -> list[str]:
    """The Wave-U-Net constraints the schema cannot state (staa.generator.waveunet checks them again)."""
    errs = []
    if arch.get("kernel_size", 5) % 2 == 0:
        errs.append(
            f"generator.arch.kernel_size = {arch['kernel_size']}: expected an odd integer (valid "
            "convolutions must take equal context on both sides to keep outputs aligned)"
        )
    if arch.get("norm", "group") == "group":
        size = int(arch.get("group_size", 8))
        bad = [c for c in arch.get("channels", []) if c % max(1, c // size)]
        if bad:
            errs.append(
                f"generator.arch.channels {bad} are not divisible into GroupNorm groups of group_size "
                f"{size}; expected channel counts that are multiples of group_size"
            )
    return errs


def _posint(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


def semantic_errors(config: dict[str, Any]) -> list[str]:
    """The checks between keys that a schema cannot express (each value's own type, range and default
    are the schema's), on the config with the schema's defaults filled in."""
    errs: list[str] = []
    config = fill_defaults(config)
    sweep_errs = sweep_errors(config)
    if not sweep_errs:
        config = expand_sweeps(config)  # generated sweep points are checked like declared variants
    seeds = config["run"].get("seeds") or []
    if len(set(seeds)) != len(seeds):
        errs.append(f"run.seeds: {seeds} repeats a seed; expected distinct seeds")
    datasets, victims = config["datasets"], config["victims"]
    named = [
        ("datasets", datasets),
        ("victims", victims),
        ("generator.variants", (config.get("generator") or {}).get("variants") or {}),
        ("baselines.methods", (config.get("baselines") or {}).get("methods") or {}),
    ]
    for section, entries in named:
        for n in entries:
            if not re.match(NAME_PATTERN, str(n)):
                errs.append(f"config section '{section}': name {n!r} is not allowed; expected {NAME_RULE}")
            elif len(str(n)) > NAME_MAX:
                errs.append(
                    f"config section '{section}': name {str(n)[:20]}... is {len(str(n))} characters long; "
                    f"expected at most {NAME_MAX} (it names a folder of every job)"
                )
            elif m := _PERIODIC.search(str(n)):
                errs.append(
                    f"config section '{section}': name {n!r} ends in {m['value']!r} repeated "
                    f"{len(m[0]) // len(m['value'])} times, which Snakemake refuses as a periodic wildcard; "
                    "expected a name without such a repetition"
                )
    if errs:
        return errs  # names reach paths and shell commands: nothing else is checked with a bad one
    for vname, v in victims.items():
        errs += arch_errors(vname, v)
    errs += config_user_model_errors(config)
    for ds in config["run"]["datasets"]:
        if ds not in datasets:
            errs.append(f"run.datasets names {ds!r}, which is not declared under datasets ({sorted(datasets)})")
    min_len = None
    for name, ds in datasets.items():
        for v in ds.get("victims") or []:
            if v not in victims:
                errs.append(
                    f"datasets.{name}.victims names {v!r}, which is not declared under victims ({sorted(victims)})"
                )
        if ds["reader"] == "synthetic":
            where = SYNTH_ROOT.format(name=name)
            if os.path.normpath(str(ds["root"])) != where:
                errs.append(
                    f"datasets.{name}.root: a synthetic corpus is written by the pipeline to {where!r}; "
                    f"expected root: {where}, got {ds['root']!r}"
                )
            emos = (ds.get("synthetic") or {}).get("emotions", [])
            bad = [e for e in emos if e not in SYNTH_EMOTIONS]
            if bad:
                errs.append(
                    f"datasets.{name}.synthetic.emotions: unknown {bad}; expected some of {list(SYNTH_EMOTIONS)}"
                )
        split_seed = (ds.get("reader_options") or {}).get("split_seed")  # DEMoS' own split (free-form options)
        if split_seed is not None and not (
            isinstance(split_seed, int) and not isinstance(split_seed, bool) and 0 <= split_seed <= SEED_MAX
        ):
            errs.append(
                f"datasets.{name}.reader_options.split_seed: expected an integer from 0 to {SEED_MAX}, got {split_seed!r}"
            )
        split = ds["split"]
        if split["dev_fraction"] + split["test_fraction"] >= 1:
            errs.append(f"datasets.{name}.split: dev_fraction + test_fraction must be < 1")
        length = clip_length(ds)
        min_len = length if min_len is None else min(min_len, length)
        for v in dataset_victims(config, name):
            if v in victims and not arch_errors(v, victims[v]):
                need = victim_min_samples(victims[v]["family"], victims[v].get("arch") or {})
                if length < need:
                    errs.append(
                        f"datasets.{name}.clip_seconds = {ds['clip_seconds']} gives {length} samples, "
                        f"but victim {v!r} needs at least {need} samples ({need / int(ds['sample_rate']):g} s) "
                        "to produce one output frame; raise clip_seconds or shrink the victim's pooling"
                    )
    gen = config.get("generator")
    if gen:
        for t in gen["threats"]:
            if t not in victims:
                errs.append(f"generator.threats names {t!r}, which is not a trained victim ({sorted(victims)})")
            for ds in config["run"]["datasets"]:
                if ds in datasets and t in victims and t not in dataset_victims(config, ds):
                    errs.append(f"generator.threats names {t!r}, which is not among datasets.{ds}.victims")
        errs += generator_arch_errors(gen.get("arch") or {})
        train = gen["train"]
        target = train["target"]
        for ds in config["run"]["datasets"]:  # a synthetic corpus' classes are known before any job
            syn = datasets.get(ds, {})
            emos = (syn.get("synthetic") or {}).get("emotions") if syn.get("reader") == "synthetic" else None
            if target is not None and emos and target not in emos:
                errs.append(
                    f"generator.train.target: {target!r} is not a class of dataset {ds!r}; expected one of {emos}"
                )
        _check_eps(errs, "generator.train.eps", train["eps"])
        if train.get("flex_eps"):
            _check_eps(errs, "generator.train.flex_eps.eps", train["flex_eps"]["eps"])
            _check_eps(errs, "generator.train.flex_eps.then", train["flex_eps"]["then"])
        _check_frame(errs, "generator.train.frame_length", train["frame_length"], min_len)
        errs += duplicate_variant_errors(gen)
        for vname, var in gen["variants"].items():
            reduction = var.get("reduction", train["reduction"])
            for ds in var.get("datasets") or []:
                if ds not in datasets:
                    errs.append(
                        f"generator.variants.{vname}.datasets names {ds!r}, which is not declared under datasets"
                    )
            for term, w in (var.get("losses") or {}).items():
                if term not in LOSS_TERMS:
                    errs.append(
                        f"generator.variants.{vname}.losses: unknown loss {term!r}; expected some of {list(LOSS_TERMS)}"
                    )
                elif w < 0:
                    errs.append(f"generator.variants.{vname}.losses.{term}: weight must be >= 0, got {w}")
            for t in var.get("threats") or []:
                if t not in gen["threats"]:
                    errs.append(
                        f"generator.variants.{vname}.threats names {t!r}, not in generator.threats {gen['threats']}"
                    )
            if "eps" in var:
                _check_eps(errs, f"generator.variants.{vname}.eps", var["eps"])
            if (var.get("sparsity_target", train["sparsity_target"]) is not None) and reduction != "mean":
                errs.append(
                    f"generator.variants.{vname}: sparsity_target needs generator.train.reduction 'mean' "
                    f"(a density budget is a fraction of the clip), got {reduction!r}"
                )
            if "frame_length" in var:
                _check_frame(errs, f"generator.variants.{vname}.frame_length", var["frame_length"], min_len)
            errs += mask_errors(f"generator.variants.{vname}", variant_settings(train, var))
    for ds in (config.get("baselines") or {}).get("datasets") or []:
        if ds not in datasets:
            errs.append(f"baselines.datasets names {ds!r}, which is not declared under datasets")
    methods = (config.get("baselines") or {}).get("methods") or {}
    cuts = (config.get("baselines") or {}).get("budget_cuts") or {}
    for bname in cuts:
        if bname not in methods:
            errs.append(
                f"baselines.budget_cuts names {bname!r}, which is not under baselines.methods ({sorted(methods)})"
            )
    for bname, b in methods.items():
        b = {**b, **cuts.get(bname, {})}
        if b["method"] not in BASELINE_METHODS:
            errs.append(
                f"baselines.methods.{bname}.method: unknown method {b['method']!r}; expected one of {list(BASELINE_METHODS)}"
            )
            continue
        from staa.attacks.settings import settings_error  # torch-free

        problem = settings_error(b["method"], {k: v for k, v in b.items() if k != "method"}, min_len)
        if problem:
            errs.append(f"baselines.methods.{bname}: {problem}")
    return errs + sweep_errs


def config_user_model_errors(config: dict[str, Any]) -> list[str]:
    """`user_model_errors` of every hf/exported victim of a config (schema defaults filled) whose
    arch passed its own checks, with the classes of each dataset it runs on."""
    from staa.user_models import dataset_classes, user_model_errors  # torch-free

    errs: list[str] = []
    known: dict[str, list[str] | None] = {}
    for name, victim in config["victims"].items():
        if victim.get("family") not in ("hf", "exported") or arch_errors(name, victim):
            continue
        used = [ds for ds in config["datasets"] if name in dataset_victims(config, ds)]
        for ds in used:
            if ds not in known:
                known[ds] = dataset_classes(config["datasets"][ds])
        errs += user_model_errors(name, victim, {ds: known[ds] for ds in used})
    return errs


def mask_errors(key: str, settings: dict[str, Any]) -> list[str]:
    """The mask settings that cannot work together (staa.generator.staa_net.STAANet)."""
    if not settings["factorised"]:
        return []
    if settings["budget"] == "topk" and settings["mask_training"] == "reference":
        return [
            f"{key}: budget 'topk' needs mask_training 'ste' (the reference's soft/hard mix has no exact budget); "
            "expected mask_training: ste, or budget: loss"
        ]
    if settings["budget"] == "topk" and settings["sparsity_target"] is None:
        return [f"{key}: budget 'topk' keeps sparsity_target of the frames; expected a density in (0, 1], got null"]
    return []


def _check_eps(errs: list[str], key: str, eps: Any) -> None:
    if not isinstance(eps, (int, float)) or eps <= 0:
        errs.append(f"{key}: must be > 0, got {eps!r}")


def _check_frame(errs: list[str], key: str, frame: Any, length: int | None) -> None:
    if not isinstance(frame, int) or frame < 1:
        errs.append(f"{key}: must be an integer >= 1, got {frame!r}")
    elif length is not None and frame > length:
        errs.append(f"{key} = {frame} is larger than the clip length ({length} samples)")


# The most nodes that aliases (`*name`) may add to a config when expanded: the shipped configs'
# `*small_ssl` adds about 40; a "billion laughs" document adds 10^9 (4 GB and a MemoryError later,
# in the schema check or Snakemake's validation, which walk the expanded tree).
ALIAS_EXPANSION_LIMIT = 10_000


class _AliasRefused(Exception):
    """An alias the strict loader refuses (too large an expansion, or a recursive structure)."""


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML config strictly: a missing file, bad YAML (with its line), a duplicate key (YAML
    would silently keep the last one), aliases that expand past ALIAS_EXPANSION_LIMIT nodes or
    into a recursive structure, or a top level that is not a mapping is a ConfigError."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found" + ("" if not path.exists() else " (it is a folder)"))
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_strict_loader())  # noqa: S506 (SafeLoader subclass)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a text file ({exc.reason}); expected a YAML config") from None
    except _AliasRefused as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: refused: its collections nest too deeply to read; expected a config") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: not valid YAML{where}: {what}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a YAML mapping of config keys at the top level, got {type(data).__name__}")
    return data


def _strict_loader():
    import yaml
    from yaml.events import AliasEvent
    from yaml.nodes import MappingNode, SequenceNode

    class StrictLoader(yaml.SafeLoader):
        """SafeLoader that refuses duplicate keys in a mapping (merge keys `<<` still work), aliases
        that expand past ALIAS_EXPANSION_LIMIT nodes in all, and an alias inside its own anchor."""

        def __init__(self, stream):
            super().__init__(stream)
            self._open_anchors: list[str] = []  # anchors of the collections being composed
            self._sizes: dict[int, int] = {}  # id(node) -> nodes in its expanded tree
            self._expanded = 0  # nodes the aliases read so far add

        def compose_node(self, parent, index):
            if self.check_event(AliasEvent):
                event = self.peek_event()
                where = f"line {event.start_mark.line + 1}: alias *{event.anchor}"
                if event.anchor in self._open_anchors:
                    raise _AliasRefused(
                        f"{where} refers to the node it is part of (a recursive structure); expected a tree of keys"
                    )
                if event.anchor in self.anchors:
                    self._expanded += self._tree_size(self.anchors[event.anchor]) - 1
                    if self._expanded > ALIAS_EXPANSION_LIMIT:
                        raise _AliasRefused(
                            f"{where} makes the aliases expand to more than {ALIAS_EXPANSION_LIMIT} nodes "
                            "(an alias bomb?); expected aliases that repeat a few small blocks"
                        )
            return super().compose_node(parent, index)

        def compose_sequence_node(self, anchor):
            return self._compose_collection(super().compose_sequence_node, anchor)

        def compose_mapping_node(self, anchor):
            return self._compose_collection(super().compose_mapping_node, anchor)

        def _compose_collection(self, compose, anchor):
            self._open_anchors.append(anchor)
            try:
                return compose(anchor)
            finally:
                self._open_anchors.pop()

        def _tree_size(self, node) -> int:
            """Nodes of `node` expanded (each alias counted as a copy), memoised per node."""
            key = id(node)
            if key not in self._sizes:
                if isinstance(node, SequenceNode):
                    size = 1 + sum(self._tree_size(n) for n in node.value)
                elif isinstance(node, MappingNode):
                    size = 1 + sum(self._tree_size(k) + self._tree_size(v) for k, v in node.value)
                else:
                    size = 1
                self._sizes[key] = size
            return self._sizes[key]

    def construct_mapping(loader, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = loader.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first at line {seen[key]}); expected each key once",
                    key_node.start_mark,
                )
            seen[key] = line
        loader.flatten_mapping(node)
        return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)

    StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return StrictLoader


def merge_configs(configs: list[dict[str, Any]]) -> dict[str, Any]:
    """Deep-merge config files in order, as Snakemake merges several `--configfile`s."""
    out: dict[str, Any] = {}

    def update(dst: dict[str, Any], src: dict[str, Any]) -> None:
        for k, v in src.items():
            if isinstance(v, dict) and isinstance(dst.get(k), dict):
                update(dst[k], v)
            else:
                dst[k] = v

    for c in configs:
        update(out, c)
    return out
