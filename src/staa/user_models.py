"""The files a user's model victim names (families `hf` and `exported`), checked without torch.

The config check (staa.config.semantic_errors) calls `config_user_model_errors`, so a missing
checkpoint directory, a config.json of an unsupported model type, a `class_map` to a label the
model lacks, a missing or foreign .pt2 stop the check instead of the first job after the data
stage. Everything here reads JSON files, file headers and a zip archive's index only (no torch, no
transformers: the check stays fast); the victim builders (models/hf.py, models/exported.py) use
the same functions, so a job that meets a file the config check could not see (a hub model
downloaded by the job, a manifest written later) fails with the same one line. Every line names
the victim's key (`victims.<name>.arch.<key>`) and caps what it lists.
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# model_type -> (feature extractor class, name of the model's input); models/hf.py builds these
RAW_WAVEFORM_TYPES = ("wav2vec2", "hubert", "wavlm", "data2vec-audio", "unispeech", "unispeech-sat", "sew", "sew-d")
MODEL_TYPES: dict[str, tuple[str, str]] = {
    **{t: ("Wav2Vec2FeatureExtractor", "input_values") for t in RAW_WAVEFORM_TYPES},
    "audio-spectrogram-transformer": ("ASTFeatureExtractor", "input_values"),
    "whisper": ("WhisperFeatureExtractor", "input_features"),
}
# what `save_pretrained` writes and `from_pretrained` reads (transformers' names)
CONFIG_NAME = "config.json"
FEATURE_EXTRACTOR_NAMES = ("preprocessor_config.json", "processor_config.json")
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
FOREIGN_WEIGHTS = ("tf_model.h5", "flax_model.msgpack", "model.ckpt.index")
CLASSIFIER_SUFFIXES = ("ForSequenceClassification", "ForAudioClassification")
CHECKPOINT_FILES = "config.json, weights, preprocessor_config.json"
PT2_EXPECTED = "expected a .pt2 file written by torch.export.save"
LFS_POINTER = b"version https://git-lfs"
LIST_LIMIT = 8  # items of a list a message shows (a model may have hundreds of labels)
EXCERPT_LIMIT = 120  # characters of a library's own message quoted in ours
# a Hugging Face hub id: `name` or `owner/name` (huggingface_hub.utils.validate_repo_id)
_HUB_ID = re.compile(r"^(?:[\w.-]+/)?[\w.-]+$")


def short_list(items: Sequence[Any], limit: int = LIST_LIMIT) -> str:
    """`items` as a Python list, the first `limit` of them and the count when there are more."""
    items = list(items)
    if len(items) <= limit:
        return repr(items)
    return repr(items[:limit])[:-1] + f", ... ({len(items)} in all)]"


def excerpt(text: Any, limit: int = EXCERPT_LIMIT) -> str:
    """The first line of an exception's (or any) text, at most `limit` characters."""
    if isinstance(text, BaseException):
        text = str(text).strip() or type(text).__name__
    line = str(text).strip().splitlines()[0] if str(text).strip() else ""
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def is_hub_name(value: str) -> bool:
    """Whether `value` can be a hub model id (otherwise it can only be meant as a directory)."""
    return (
        len(value) <= 96
        and bool(_HUB_ID.match(value))
        and ".." not in value
        and "--" not in value
        and not value.endswith(".git")
        and not value.startswith((".", "-"))
    )


def looks_like_path(value: str) -> bool:
    """A value that is no hub id (absolute, `./`, `~`, two slashes, ...) names a directory."""
    return os.path.isabs(value) or value.startswith((".", "~")) or not is_hub_name(value)


# ---- labels ---------------------------------------------------------------------------------------


def map_classes(
    dataset_classes: Sequence[str],
    model_labels: Sequence[str],
    class_map: dict[str, str] | None,
    who: str,
    dataset: str | None = None,
) -> tuple[list[int], list[str]]:
    """Index of the model output for each dataset class, and the model labels left out.

    A dataset class maps to `class_map[class]`, or to the model label of the same name when the map
    does not list it; keys for classes this dataset lacks are ignored (one victim config may serve
    several corpora). `who` prefixes the messages (`victims.mine.arch`); `dataset` names the
    dataset in them where known."""
    from staa.errors import ConfigError

    class_map = dict(class_map or {})
    bad = {k: v for k, v in class_map.items() if not isinstance(v, str)}
    if bad:
        raise ConfigError(f"{who}.class_map: expected dataset class -> model label name (strings), got {bad}")
    position = {label: i for i, label in enumerate(model_labels)}
    labels = f"the model's labels are {short_list(model_labels)}"
    index, missing, unknown = [], [], []
    for c in dataset_classes:
        target = class_map.get(c, c)
        if target in position:
            index.append(position[target])
        elif c in class_map:
            unknown.append(f"{c} -> {target}")
        else:
            missing.append(c)
    if missing:
        which = f"class(es) {short_list(missing)} of dataset {dataset!r}" if dataset else f"dataset class(es) {missing}"
        raise ConfigError(
            f"{who}.class_map: {which} map to no model label; expected an entry "
            f"'<dataset class>: <model label>' for each, {labels}"
        )
    if unknown:
        raise ConfigError(f"{who}.class_map: {', '.join(unknown[:LIST_LIMIT])}: no such model label; {labels}")
    if len(set(index)) != len(index):
        shared = sorted({model_labels[i] for i in index if index.count(i) > 1})
        which = f"several classes of dataset {dataset!r}" if dataset else "several dataset classes"
        raise ConfigError(
            f"{who}.class_map: {which} map to the same model label(s) {short_list(shared)}; "
            "expected one model label per dataset class"
        )
    dropped = [label for i, label in enumerate(model_labels) if i not in set(index)]
    return index, dropped


def _class_map_errors(
    key: str, model_labels: Sequence[str], class_map: Any, dataset_classes: Mapping[str, list[str] | None]
) -> list[str]:
    from staa.errors import ConfigError

    errs: list[str] = []
    for ds, classes in dataset_classes.items():
        if classes is None:
            continue  # known only once the data stage has run: the victim's job checks them
        try:
            map_classes(classes, model_labels, class_map, key, dataset=ds)
        except ConfigError as exc:
            if str(exc) not in errs:
                errs.append(str(exc))
    return errs


# ---- dataset classes known before any job ----------------------------------------------------------


def dataset_classes(ds: dict[str, Any]) -> list[str] | None:
    """The classes the data stage will find for dataset config `ds` (schema defaults filled), or
    None where they are known only from the corpus itself. The data stage's classes are the sorted
    distinct labels; these readers fix them up front (each class must have utterances, or the
    data stage fails): a synthetic corpus' emotions, IEMOCAP's classes after `merge`, DEMoS' seven
    emotions (+ neutral), and a manifest that already exists (its label column, renamed by
    label_map)."""
    reader = ds.get("reader")
    options = ds.get("reader_options") or {}
    try:
        if reader == "synthetic":
            emotions = (ds.get("synthetic") or {}).get("emotions")
            return sorted(set(emotions)) if isinstance(emotions, list) and emotions else None
        if reader == "iemocap":
            return _iemocap_classes(options)
        if reader == "demos":
            from staa.data.readers.demos import EMOTIONAL_CLASSES

            neutral = options.get("include_neutral", False)
            return (
                None if not isinstance(neutral, bool) else sorted(EMOTIONAL_CLASSES + (["neutral"] if neutral else []))
            )
        if reader == "manifest":
            return _manifest_classes(ds.get("root"), options)
    except (TypeError, AttributeError, ValueError):
        return None  # malformed reader options: the data stage names them
    return None


def _iemocap_classes(options: dict[str, Any]) -> list[str] | None:
    from staa.data.readers.iemocap import DEFAULT_CLASSES, DEFAULT_MERGE

    classes = options.get("classes")
    merge = options.get("merge")
    classes = DEFAULT_CLASSES if classes is None else classes
    merge = DEFAULT_MERGE if merge is None else merge
    if not (isinstance(classes, list) and isinstance(merge, dict)):
        return None
    labels = {merge.get(c, c) for c in classes}
    # a code outside `classes` is kept under its merge target when that target is listed: a label
    # of its own only where the target itself is renamed (then present only if such a code occurs)
    extra = {v for v in merge.values() if v in classes} - labels
    return None if extra else sorted(labels)


def _manifest_classes(root: Any, options: dict[str, Any]) -> list[str] | None:
    import csv

    from staa.data.readers.manifest import DEFAULT_MANIFEST, manifest_path

    manifest = options.get("manifest", DEFAULT_MANIFEST)
    label_map = options.get("label_map") or {}
    if not isinstance(root, str) or not isinstance(manifest, str) or not isinstance(label_map, dict):
        return None
    path = manifest_path(root, manifest)
    if not path.is_file() or path.stat().st_size > 64 << 20:
        return None  # not there yet (the data stage reports it), or too large to read in a config check
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh, skipinitialspace=True)
            header = [h.strip() for h in next(reader)]
            col = header.index("label")
            labels = {row[col].strip() for row in reader if len(row) > col}
    except (OSError, UnicodeDecodeError, csv.Error, StopIteration, ValueError):
        return None
    if not labels or "" in labels:
        return None  # the data stage refuses the manifest with its own line
    return sorted({label_map.get(lab, lab) for lab in labels})


# ---- Hugging Face checkpoints ---------------------------------------------------------------------


def hub_cache_dir() -> Path:
    """Where transformers looks for downloaded hub models (its legacy variables first, then
    huggingface_hub's HF_HUB_CACHE / HF_HOME; read at call time)."""
    for var in ("TRANSFORMERS_CACHE", "PYTORCH_TRANSFORMERS_CACHE", "PYTORCH_PRETRAINED_BERT_CACHE", "HF_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.environ[var]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    home = os.environ.get("HF_HOME") or os.path.join(xdg, "huggingface")
    return Path(home).expanduser() / "hub"


def hub_offline() -> bool:
    """HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is set: nothing is downloaded."""
    return any(
        os.environ.get(v, "").strip().upper() in {"1", "ON", "YES", "TRUE"}
        for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def hub_snapshot(repo_id: str) -> tuple[bool, Path | None]:
    """(whether the cache holds anything of hub model `repo_id`, the folder of its `main` snapshot)."""
    repo = hub_cache_dir() / ("models--" + repo_id.replace("/", "--"))
    if not repo.is_dir():
        return False, None
    try:
        commit = (repo / "refs" / "main").read_text().strip()
    except OSError:
        return True, None
    snapshot = repo / "snapshots" / commit
    return True, snapshot if commit and snapshot.is_dir() else None


def _read_json(path: Path) -> tuple[Any, str | None]:
    try:
        return json.loads(path.read_text(encoding="utf-8")), None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return None, excerpt(exc)


def model_labels(cfg: dict[str, Any]) -> list[str] | str:
    """The model's output labels from its config.json, as transformers reads them (id2label, else
    LABEL_i for num_labels, default 2), or a message when HFClassifier could not index them."""
    id2label = cfg.get("id2label")
    if id2label is None:
        n = cfg.get("num_labels", 2)
        return [f"LABEL_{i}" for i in range(n)] if isinstance(n, int) and n > 0 else f"num_labels {n!r}"
    if not isinstance(id2label, dict) or not id2label:
        return f"id2label {excerpt(repr(id2label), 60)}"
    try:
        by_index = {int(k): v for k, v in id2label.items()}
    except (TypeError, ValueError):
        return f"id2label keys {short_list(list(id2label))}"
    if sorted(by_index) != list(range(len(by_index))) or not all(isinstance(v, str) for v in by_index.values()):
        return f"id2label keys {short_list(sorted(by_index))}"
    return [by_index[i] for i in range(len(by_index))]


def hf_checkpoint_errors(
    key: str,
    where: str,
    folder: Path,
    *,
    complete: bool = True,
    evaluate_as_is: bool = False,
    class_map: Any = None,
    dataset_classes: Mapping[str, list[str] | None] | None = None,
) -> list[str]:
    """What in checkpoint `folder` (a local directory, or a cached hub snapshot with `complete`
    False: files not yet downloaded are the job's to fetch) would stop the victim's build.
    `where` names the checkpoint in the messages (the `pretrained` value, quoted)."""
    pre = f"{key}.pretrained: {where}"
    cfg_path = folder / CONFIG_NAME
    if not cfg_path.is_file():
        if not complete:
            return []
        return [
            f"{pre} has no {CONFIG_NAME}; expected a checkpoint directory saved by save_pretrained ({CHECKPOINT_FILES})"
        ]
    cfg, problem = _read_json(cfg_path)
    if problem or not isinstance(cfg, dict):
        return [
            f"{pre}: {CONFIG_NAME} is not a JSON object ({problem or type(cfg).__name__}); expected the model config saved by save_pretrained"
        ]
    errs: list[str] = []
    model_type = cfg.get("model_type")
    if isinstance(model_type, str) and model_type not in MODEL_TYPES:
        return [
            f"{pre} is a {model_type!r} model ({CONFIG_NAME}), which is not supported; expected one of {sorted(MODEL_TYPES)}"
        ]
    labels = model_labels(cfg)
    if isinstance(labels, str):
        errs.append(f"{pre}: {CONFIG_NAME} has {labels}; expected id2label numbering the model's outputs 0, 1, ...")
    archs = cfg.get("architectures")
    if (
        evaluate_as_is
        and isinstance(archs, list)
        and archs
        and not any(str(a).endswith(CLASSIFIER_SUFFIXES) for a in archs)
    ):
        errs.append(
            f"{pre} holds a {archs[0]}, whose classification head would be random (train: false evaluates "
            "it as it is); expected a ...ForSequenceClassification or ...ForAudioClassification checkpoint"
        )
    if isinstance(model_type, str):
        errs += _feature_extractor_errors(pre, folder, model_type, complete)
    errs += _weights_errors(pre, folder, complete)
    if not isinstance(labels, str) and not errs:
        errs += _class_map_errors(key, labels, class_map, dataset_classes or {})
    return errs


def feature_extractor_dict(folder: Path) -> tuple[dict[str, Any] | None, str | None]:
    """(the feature extractor config, problem) as transformers finds it: preprocessor_config.json,
    else a processor_config.json's `feature_extractor`; (None, None) when neither exists."""
    for name in FEATURE_EXTRACTOR_NAMES:
        path = folder / name
        if path.is_file():
            data, problem = _read_json(path)
            if problem or not isinstance(data, dict):
                return None, f"{name} is not a JSON object ({problem or type(data).__name__})"
            data = data.get("feature_extractor", data)
            return (data, None) if isinstance(data, dict) else (None, f"{name}: 'feature_extractor' is not an object")
    return None, None


def feature_extractor_problem(model_type: str, fe: dict[str, Any]) -> str | None:
    """Why the victim cannot use extractor config `fe` for a `model_type` model, or None."""
    expected = MODEL_TYPES[model_type][0]
    kind = fe.get("feature_extractor_type")
    if kind != expected:
        return (
            f"has feature extractor {kind!r}; expected {expected} for a {model_type!r} model (preprocessor_config.json)"
        )
    if expected == "WhisperFeatureExtractor" and fe.get("dither", 0.0) not in (0, 0.0, None):
        return (
            f"has a WhisperFeatureExtractor with dither={fe['dither']}, which adds random noise to every input; "
            "expected dither 0.0 (deterministic features) in preprocessor_config.json"
        )
    rate = fe.get("sampling_rate")
    if rate is not None and not (isinstance(rate, int) and not isinstance(rate, bool) and rate > 0):
        return f"has sampling_rate {rate!r} (preprocessor_config.json); expected a positive integer (Hz)"
    return None


def _feature_extractor_errors(pre: str, folder: Path, model_type: str, complete: bool) -> list[str]:
    fe, problem = feature_extractor_dict(folder)
    if problem:
        return [f"{pre}: {problem}; expected the feature extractor config saved with the checkpoint"]
    if fe is None:
        if not complete:
            return []
        return [
            f"{pre} has no readable feature extractor config (no preprocessor_config.json); expected the one "
            "saved with the checkpoint, which fixes its preprocessing"
        ]
    bad = feature_extractor_problem(model_type, fe)
    return [f"{pre} {bad}"] if bad else []


def _weights_errors(pre: str, folder: Path, complete: bool) -> list[str]:
    present = [n for n in WEIGHT_FILES if (folder / n).is_file()]
    if not present:
        if not complete:
            return []
        foreign = [n for n in FOREIGN_WEIGHTS if (folder / n).is_file()]
        found = f" (found {foreign}: TensorFlow/Flax weights are not read)" if foreign else ""
        return [
            f"{pre} has no weights{found}; expected model.safetensors or pytorch_model.bin (or a sharded *.index.json)"
        ]
    # transformers reads the safetensors file when there is one, else the pickle
    chosen = present[0]
    files = [folder / chosen]
    if chosen.endswith(".index.json"):
        index, problem = _read_json(folder / chosen)
        weight_map = index.get("weight_map") if isinstance(index, dict) else None
        if problem or not isinstance(weight_map, dict):
            return [
                f"{pre}: {chosen} is not a weights index ({problem or 'no weight_map'}); expected the one save_pretrained writes"
            ]
        files = [folder / str(f) for f in sorted(set(map(str, weight_map.values())))]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            if not complete:
                return []
            return [f"{pre}: {chosen} lists weight files that are missing: {short_list(missing)}"]
    for f in files:
        problem = weights_file_problem(f)
        if problem:
            return [f"{pre}: {f.name} {problem}"]
    return []


def weights_file_problem(path: Path) -> str | None:
    """Why weights file `path` cannot be loaded (a Git LFS pointer, a truncated or foreign
    safetensors file), or None; read from its first bytes and its safetensors header only."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(8)
            if head.startswith(LFS_POINTER[:8]) and (head + fh.read(len(LFS_POINTER) - 8)) == LFS_POINTER:
                return (
                    "is a Git LFS pointer, not the weights; fetch them (git lfs pull) or download the checkpoint again"
                )
            if path.suffix != ".safetensors":
                return None if size else "is empty; expected the model's weights"
            if len(head) < 8:
                return f"is {size} bytes, too short for a safetensors file; expected the model's weights"
            n = int.from_bytes(head, "little")
            if n > size - 8 or n > 100 << 20:
                return f"is not a safetensors file (header of {n} bytes in a {size}-byte file); expected the model's weights"
            header = json.loads(fh.read(n))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        return f"is not a readable safetensors file ({excerpt(exc, 80)}); expected the model's weights"
    if not isinstance(header, dict):
        return "is not a safetensors file (its header is not a JSON object); expected the model's weights"
    ends = [v.get("data_offsets") for k, v in header.items() if k != "__metadata__" and isinstance(v, dict)]
    if not all(isinstance(e, list) and len(e) == 2 and all(isinstance(i, int) for i in e) for e in ends):
        return "is not a safetensors file (its header lacks tensor offsets); expected the model's weights"
    need = 8 + n + max((e[1] for e in ends), default=0)
    if need > size:
        return f"is truncated ({size} bytes, its header describes {need}); download or save it again"
    return None


def hf_pretrained_errors(
    key: str, pretrained: str, *, evaluate_as_is: bool, class_map: Any, dataset_classes: Mapping[str, list[str] | None]
) -> list[str]:
    """The config-time checks of an `hf` victim's `pretrained`: a local directory is read in full;
    a hub name is read from the local cache where it is there, and left to the victim's job (which
    downloads it) where it is not, unless downloads are off (HF_HUB_OFFLINE)."""
    local = Path(pretrained).expanduser()
    where = repr(pretrained)
    if local.is_dir():
        return hf_checkpoint_errors(
            key, where, local, evaluate_as_is=evaluate_as_is, class_map=class_map, dataset_classes=dataset_classes
        )
    if local.exists():
        return [
            f"{key}.pretrained: {where} is a file; expected a checkpoint directory ({CHECKPOINT_FILES}) or a hub name"
        ]
    if looks_like_path(pretrained):
        return [
            f"{key}.pretrained: directory {where} does not exist; expected a checkpoint directory "
            f"({CHECKPOINT_FILES}) or a hub name such as superb/wav2vec2-base-superb-er"
        ]
    cached, snapshot = hub_snapshot(pretrained)
    if not cached and hub_offline():
        return [
            f"{key}.pretrained: {where} is neither a directory nor a hub model in the local cache "
            f"({hub_cache_dir()}), and HF_HUB_OFFLINE is set; expected a local checkpoint directory, or the "
            "model downloaded once with network access"
        ]
    if snapshot is None:
        return []  # the victim's job downloads it and checks it with the same lines
    return hf_checkpoint_errors(
        key,
        where,
        snapshot,
        complete=False,
        evaluate_as_is=evaluate_as_is,
        class_map=class_map,
        dataset_classes=dataset_classes,
    )


# ---- exported programs ----------------------------------------------------------------------------


def sidecar_path(program: Path) -> Path:
    return program.with_suffix(".classes.json")


def archive_problem(path: Path) -> str | None:
    """Why `path` is not a torch.export archive we load (a phrase after the file's name: "is ..."),
    from its zip index and the small JSON entries that say how its payloads are stored (no torch):
    not a zip, not a torch.export program, or payloads stored as pickles. None if none of these."""
    try:
        with open(path, "rb") as fh:
            lfs = fh.read(len(LFS_POINTER)) == LFS_POINTER
        if lfs:
            return "is a Git LFS pointer, not the program; fetch it (git lfs pull)"
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            if not any("/models/" in f"/{n}" and n.endswith(".json") for n in names):
                return (
                    "is not a torch.export program archive (no models/*.json; old or foreign format); "
                    "expected a file written by torch.export.save"
                )
            for name in names:
                if name.endswith(("_weights_config.json", "_constants_config.json")):
                    entries = json.loads(zf.read(name)).get("config", {})
                    for fqn, meta in entries.items():
                        path_name = str(meta.get("path_name", ""))
                        if meta.get("use_pickle") or path_name.startswith(("custom_obj", "opaque_obj")):
                            return (
                                f"is refused: entry {excerpt(repr(fqn), 60)} of {name} is stored as a pickle, "
                                "which would run code when loaded; export a program with plain tensors"
                            )
    except (zipfile.BadZipFile, OSError, ValueError, AttributeError, UnicodeDecodeError) as exc:
        return f"is not a readable torch.export program ({excerpt(exc, 80)}); {PT2_EXPECTED}"
    return None


def program_classes(program: Path, classes: Any, key: str) -> list[str] | str:
    """The program's class names (arch.classes, else its sidecar), or the message why they are not known."""
    if classes is None:
        side = sidecar_path(program)
        if not side.is_file():
            return (
                f"{key}.classes: the program's class names are unknown; expected arch.classes or a "
                f"sidecar {side} holding a JSON list of names"
            )
        data, problem = _read_json(side)
        if problem:
            return f"{key}.classes: {side} is not readable JSON ({problem}); expected a list of class names"
        classes = data.get("classes") if isinstance(data, dict) else data
        where = f"{key}.classes: {side}"
    else:
        where = f"{key}.classes"
    if not (
        isinstance(classes, list)
        and classes
        and all(isinstance(c, str) for c in classes)
        and len(set(classes)) == len(classes)
    ):
        return f"{where}: expected a non-empty list of distinct class names, got {excerpt(repr(classes), 80)}"
    return list(classes)


def exported_errors(key: str, arch: dict[str, Any], dataset_classes: Mapping[str, list[str] | None]) -> list[str]:
    """The config-time checks of an `exported` victim: the .pt2 exists and is a torch.export
    archive with plain tensors, its classes are known, and class_map covers each dataset's classes."""
    program = str(arch["program"])
    path = Path(program).expanduser()
    if not path.is_file():
        state = "is a folder" if path.is_dir() else "does not exist"
        return [f"{key}.program: {program!r} {state}; {PT2_EXPECTED}"]
    problem = archive_problem(path)
    if problem:
        return [f"{key}.program: {program!r} {problem}"]
    classes = program_classes(path, arch.get("classes"), key)
    if isinstance(classes, str):
        return [classes]
    return _class_map_errors(key, classes, arch.get("class_map"), dataset_classes)


# ---- entry points ---------------------------------------------------------------------------------


def user_model_errors(
    name: str, victim: dict[str, Any], dataset_classes: Mapping[str, list[str] | None] | None
) -> list[str]:
    """Everything about victim `name`'s files that can be read without torch and would stop its job:
    one line each, naming `victims.<name>.arch.<key>`. `dataset_classes` maps each dataset the
    victim runs on to its classes (None where they are known only after the data stage). The
    victim's arch keys and types are checked before (staa.config.foreign_arch_errors)."""
    family, arch = victim.get("family"), victim.get("arch") or {}
    key = f"victims.{name}.arch"
    classes = dict(dataset_classes or {})
    if family == "hf":
        return hf_pretrained_errors(
            key,
            arch["pretrained"],
            evaluate_as_is=victim.get("train", True) is False,
            class_map=arch.get("class_map"),
            dataset_classes=classes,
        )
    if family == "exported":
        return exported_errors(key, arch, classes)
    return []
