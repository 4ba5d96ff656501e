"""Your-model victims (families hf and exported): a bad file they name stops the config check with
one short line naming `victims.<name>.arch.<key>`, not the first job after the data stage.

Every checkpoint and program is a tiny one built here (no download). The catalogue in
docs/bad-inputs.md ("Your-model victims at config time") lists these cases with their messages."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest
import yaml

from conftest import SCHEMA, load_default_config
from staa.config import validate_config
from staa.errors import ConfigError, DataError

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from test_hf_victims import CLASS_MAP, MODEL_LABELS, TinyNet, export, make_checkpoint  # noqa: E402

MAX_LINE = 300  # a message is one line a user reads, not a dump (the test's temporary paths not counted)
DATASET = ["angry", "happy", "neutral", "sad"]  # the default config's synthetic emotions
LENGTH = 8000  # the default config's clips: 0.5 s at 16 kHz


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    """A tiny wav2vec2 audio classifier saved by save_pretrained (labels neu, hap, ang, sad, bored)."""
    return make_checkpoint("wav2vec2", tmp_path_factory.mktemp("hf") / "ser")


@pytest.fixture
def copy_ckpt(ckpt, tmp_path):
    return shutil.copytree(ckpt, tmp_path / "ser")


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    """A tiny exported program with a sidecar naming its five classes."""
    torch.manual_seed(0)
    return export(TinyNet(), tmp_path_factory.mktemp("pt2") / "ser.pt2")


def length(line: str) -> int:
    return len(line.replace(str(_BASE[0]), "/tmp/x")) if _BASE else len(line)


_BASE: list = []


@pytest.fixture(autouse=True)
def _no_hub_env(monkeypatch, tmp_path, tmp_path_factory):
    """An empty Hugging Face cache, downloads allowed: what a hub name resolves to is the test's."""
    for var in ("TRANSFORMERS_CACHE", "PYTORCH_TRANSFORMERS_CACHE", "PYTORCH_PRETRAINED_BERT_CACHE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    _BASE[:] = [tmp_path_factory.getbasetemp()]


def with_victim(arch: dict, family: str = "hf", **victim) -> dict:
    """The default config with victim `mine` evaluated as it is on the synthetic dataset."""
    cfg = copy.deepcopy(load_default_config())
    cfg["victims"]["mine"] = {"family": family, "train": False, "arch": arch, **victim}
    cfg["datasets"]["synth"]["victims"].append("mine")
    return cfg


def hf_cfg(pretrained, **arch) -> dict:
    return with_victim({"pretrained": str(pretrained), "class_map": dict(CLASS_MAP), **arch})


def pt2_cfg(program, **arch) -> dict:
    return with_victim({"program": str(program), "class_map": dict(CLASS_MAP), **arch}, family="exported")


def config_lines(cfg: dict) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        validate_config(cfg, SCHEMA)
    text = str(exc.value)
    assert text.startswith("invalid configuration:\n  - ")
    return text.split("\n  - ")[1:]


def one_line(cfg: dict, start: str) -> str:
    """The config check's only line: it starts with `start` and is short."""
    lines = config_lines(cfg)
    assert len(lines) == 1, lines
    line = lines[0]
    assert line.startswith(start), line
    assert length(line) < MAX_LINE, (length(line), line)
    return line


def short_error(exc_info, start: str) -> str:
    msg = str(exc_info.value)
    assert "\n" not in msg and msg.startswith(start) and length(msg) < MAX_LINE, (length(msg), msg)
    return msg


# ---- the good cases still validate --------------------------------------------------------------


def test_good_user_models_validate(ckpt, program):
    cfg = hf_cfg(ckpt)
    cfg["victims"]["mine2"] = {"family": "exported", "train": False, "arch": {"program": str(program)}}
    cfg["victims"]["mine2"]["arch"]["class_map"] = dict(CLASS_MAP)
    cfg["datasets"]["synth"]["victims"].append("mine2")
    validate_config(cfg, SCHEMA)


def test_docs_hub_example_validates_without_the_model():
    """A hub name not in the cache is the job's to download: the config check lets it through."""
    validate_config(
        with_victim({"pretrained": "superb/wav2vec2-base-superb-er", "class_map": {"angry": "ang"}}), SCHEMA
    )


def test_config_check_stays_torch_free(ckpt, program, tmp_path):
    cfg = hf_cfg(ckpt)
    cfg["victims"]["mine2"] = {"family": "exported", "train": False, "arch": {"program": str(program)}}
    cfg["victims"]["mine2"]["arch"]["class_map"] = dict(CLASS_MAP)
    cfg["datasets"]["synth"]["victims"].append("mine2")
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    code = (
        "import sys, yaml; from staa.config import validate_config; "
        f"validate_config(yaml.safe_load(open({str(path)!r})), {str(SCHEMA)!r}); "
        "bad = [m for m in ('torch', 'transformers') if m in sys.modules]; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---- hf: where the checkpoint is ------------------------------------------------------------------


def test_missing_local_directory(tmp_path):
    line = one_line(hf_cfg(tmp_path / "absent"), "victims.mine.arch.pretrained: directory ")
    assert "does not exist" in line


def test_relative_path_that_cannot_be_a_hub_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = one_line(hf_cfg("models/ser/v1"), "victims.mine.arch.pretrained: directory 'models/ser/v1' does not exist")
    assert "or a hub name" in line


def test_pretrained_is_a_file(tmp_path):
    (tmp_path / "model.bin").write_bytes(b"x")
    one_line(hf_cfg(tmp_path / "model.bin"), "victims.mine.arch.pretrained: ")


def test_folder_without_config_json(copy_ckpt):
    (copy_ckpt / "config.json").unlink()
    line = one_line(hf_cfg(copy_ckpt), "victims.mine.arch.pretrained: ")
    assert "has no config.json" in line


def test_folder_without_preprocessor_config(copy_ckpt):
    (copy_ckpt / "preprocessor_config.json").unlink()
    line = one_line(hf_cfg(copy_ckpt), "victims.mine.arch.pretrained: ")
    assert "no preprocessor_config.json" in line


def test_config_json_not_json(copy_ckpt):
    (copy_ckpt / "config.json").write_text("{not json")
    line = one_line(hf_cfg(copy_ckpt), "victims.mine.arch.pretrained: ")
    assert "config.json is not a JSON object" in line


def test_unsupported_model_type(tmp_path):
    transformers.AutoConfig.for_model("bert", num_hidden_layers=1).save_pretrained(tmp_path / "bert")
    line = one_line(hf_cfg(tmp_path / "bert"), "victims.mine.arch.pretrained: ")
    assert "is a 'bert' model (config.json), which is not supported; expected one of" in line
    assert "'wav2vec2'" in line and "'whisper'" in line


def test_wrong_feature_extractor_type(copy_ckpt):
    fe_path = copy_ckpt / "preprocessor_config.json"
    fe = json.loads(fe_path.read_text())
    fe_path.write_text(json.dumps({**fe, "feature_extractor_type": "WhisperFeatureExtractor"}))
    line = one_line(hf_cfg(copy_ckpt), "victims.mine.arch.pretrained: ")
    assert "has feature extractor 'WhisperFeatureExtractor'; expected Wav2Vec2FeatureExtractor" in line


def test_no_weights(copy_ckpt):
    (copy_ckpt / "model.safetensors").unlink()
    line = one_line(hf_cfg(copy_ckpt), "victims.mine.arch.pretrained: ")
    assert "has no weights; expected model.safetensors or pytorch_model.bin" in line


def test_weights_are_a_git_lfs_pointer(copy_ckpt):
    (copy_ckpt / "model.safetensors").write_text(
        "version https://git-lfs.github.com/spec/v1\noid sha256:4d7a\nsize 378000000\n"
    )
    line = one_line(hf_cfg(copy_ckpt), "victims.mine.arch.pretrained: ")
    assert "model.safetensors is a Git LFS pointer" in line


def test_truncated_safetensors(copy_ckpt):
    weights = copy_ckpt / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    line = one_line(hf_cfg(copy_ckpt), "victims.mine.arch.pretrained: ")
    assert "model.safetensors is truncated" in line


def test_sharded_weights_with_a_missing_shard(copy_ckpt):
    (copy_ckpt / "model.safetensors").unlink()
    index = {"metadata": {}, "weight_map": {"a": "model-00001-of-00002.safetensors"}}
    (copy_ckpt / "model.safetensors.index.json").write_text(json.dumps(index))
    line = one_line(hf_cfg(copy_ckpt), "victims.mine.arch.pretrained: ")
    assert "lists weight files that are missing: ['model-00001-of-00002.safetensors']" in line


def test_checkpoint_without_classification_head_evaluated_as_is(copy_ckpt):
    """A CTC or base checkpoint gets a random classification head: evaluated as it is, it is chance."""
    path = copy_ckpt / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "architectures": ["Wav2Vec2ForCTC"]}))
    line = one_line(hf_cfg(copy_ckpt), "victims.mine.arch.pretrained: ")
    assert "holds a Wav2Vec2ForCTC, whose classification head would be random" in line
    tuned = hf_cfg(copy_ckpt)  # fine-tuning it trains the head: fine
    tuned["victims"]["mine"].update(train=True, epochs=1, batch_size=2, lr=1e-4)
    validate_config(tuned, SCHEMA)


def test_id2label_that_does_not_number_the_outputs(copy_ckpt):
    path = copy_ckpt / "config.json"
    cfg = json.loads(path.read_text())
    cfg["id2label"] = {str(i + 1): label for i, label in enumerate(MODEL_LABELS)}
    path.write_text(json.dumps(cfg))
    line = one_line(hf_cfg(copy_ckpt), "victims.mine.arch.pretrained: ")
    assert "id2label keys [1, 2, 3, 4, 5]" in line


# ---- hf and exported: labels ----------------------------------------------------------------------


def test_class_map_to_a_label_the_model_lacks(ckpt):
    line = one_line(hf_cfg(ckpt, class_map={**CLASS_MAP, "angry": "furious"}), "victims.mine.arch.class_map: ")
    assert "angry -> furious: no such model label; the model's labels are ['neu', 'hap', 'ang', 'sad', 'bored']" in line


def test_class_left_without_a_label(ckpt):
    line = one_line(hf_cfg(ckpt, class_map={"angry": "ang", "neutral": "neu"}), "victims.mine.arch.class_map: ")
    assert "class(es) ['happy'] of dataset 'synth' map to no model label" in line


def test_two_classes_on_one_label(ckpt):
    line = one_line(hf_cfg(ckpt, class_map={**CLASS_MAP, "happy": "ang"}), "victims.mine.arch.class_map: ")
    assert "several classes of dataset 'synth' map to the same model label(s) ['ang']" in line


def test_long_label_lists_are_capped(tmp_path):
    labels = [f"sound_{i}" for i in range(527)]  # an AudioSet classifier
    path = make_checkpoint("wav2vec2", tmp_path / "audioset", labels=labels)
    line = one_line(hf_cfg(path), "victims.mine.arch.class_map: ")
    assert "... (527 in all)]" in line


def test_exported_class_map_to_a_label_the_program_lacks(program):
    line = one_line(pt2_cfg(program, class_map={**CLASS_MAP, "angry": "furious"}), "victims.mine.arch.class_map: ")
    assert "angry -> furious: no such model label" in line


def test_exported_class_left_without_a_label(program):
    line = one_line(pt2_cfg(program, class_map={"angry": "ang"}), "victims.mine.arch.class_map: ")
    assert "class(es) ['happy', 'neutral'] of dataset 'synth' map to no model label" in line


def test_class_map_checked_against_every_dataset_that_runs_the_victim(ckpt):
    """IEMOCAP's and DEMoS' classes follow from their reader options; a manifest's from its CSV."""
    cfg = hf_cfg(ckpt, class_map={})  # IEMOCAP's codes are the model's labels: nothing to map
    cfg["datasets"]["iemocap"] = {"reader": "iemocap", "root": "data/IEMOCAP", "victims": ["mine"]}
    del cfg["datasets"]["synth"]["victims"][-1]
    validate_config(cfg, SCHEMA)
    cfg["datasets"]["iemocap"]["reader_options"] = {"classes": ["ang", "hap", "exc", "sad", "neu", "fru"]}
    one_line(cfg, "victims.mine.arch.class_map: class(es) ['fru'] of dataset 'iemocap' map to no model label")
    cfg["datasets"]["demos"] = {"reader": "demos", "root": "data/DEMoS", "victims": ["mine"]}
    del cfg["datasets"]["iemocap"]
    line = one_line(cfg, "victims.mine.arch.class_map: class(es) ['anger', 'disgust'")
    assert "of dataset 'demos'" in line


def test_manifest_classes_are_read_from_the_csv(ckpt, tmp_path):
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "manifest.csv").write_text("path,label,speaker\na.wav,anger,s1\nb.wav,calm,s2\nc.wav,ang,s3\n")
    cfg = hf_cfg(ckpt)
    del cfg["datasets"]["synth"]["victims"][-1]
    cfg["datasets"]["mycorpus"] = {
        "reader": "manifest",
        "root": str(root),
        "reader_options": {"label_map": {"anger": "ang"}},
        "victims": ["mine"],
    }
    one_line(cfg, "victims.mine.arch.class_map: class(es) ['calm'] of dataset 'mycorpus' map to no model label")
    (root / "manifest.csv").unlink()  # not there yet: the data stage reports it, the job checks the map
    validate_config(cfg, SCHEMA)


# ---- hf: hub names ----------------------------------------------------------------------------------


def _cache(tmp_path, repo_id: str, files: dict) -> None:
    repo = tmp_path / "hf-cache" / ("models--" + repo_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0123abcd")
    snap = repo / "snapshots" / "0123abcd"
    snap.mkdir(parents=True)
    for name, src in files.items():
        shutil.copy(src, snap / name)


def test_cached_hub_model_is_checked_at_config_time(ckpt, tmp_path):
    _cache(tmp_path, "acme/ser", {"config.json": ckpt / "config.json"})  # the rest is the job's to fetch
    validate_config(hf_cfg("acme/ser"), SCHEMA)
    line = one_line(hf_cfg("acme/ser", class_map={**CLASS_MAP, "angry": "furious"}), "victims.mine.arch.class_map: ")
    assert "angry -> furious: no such model label" in line


def test_hub_name_offline_and_not_cached(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    line = one_line(hf_cfg("acme/absent"), "victims.mine.arch.pretrained: 'acme/absent' is neither a directory")
    assert "HF_HUB_OFFLINE is set" in line


def test_job_names_the_victim_and_hub_name_in_one_line(tmp_path):
    """The first job resolves a hub name the config check left to it: one line, no retry warnings.
    (The config check's own refusal under HF_HUB_OFFLINE is bypassed to reach transformers.)"""
    code = (
        "import staa.user_models as um; um.hub_offline = lambda: False\n"
        "import staa.models.hf as hf; hf.hf_pretrained_errors = lambda *a, **k: []\n"
        "from staa.models import build_victim\n"
        "from staa.errors import ConfigError\n"
        "try:\n"
        "    build_victim('hf', 4, 8000, {'pretrained': 'acme/absent-model'}, "
        "classes=['angry', 'happy', 'neutral', 'sad'], name='mine')\n"
        "except ConfigError as exc:\n"
        "    print(exc)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "c")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    line = out.stdout.strip()
    assert line.startswith("victims.mine.arch.pretrained: ") and "\n" not in line
    assert "'acme/absent-model' is no local directory" in line and length(line) < MAX_LINE, (length(line), line)
    assert "Traceback" not in out.stderr and "Retry" not in out.stderr, out.stderr


# ---- the job's lines name the victim ----------------------------------------------------------------


def build(family: str, arch: dict, classes=DATASET):
    from staa.models import build_victim

    return build_victim(family, len(classes), LENGTH, arch, classes=classes, sample_rate=16000, name="mine")


def test_job_folder_without_config_json_is_one_short_line(copy_ckpt):
    """Today's 5 KB line (transformers lists 400 model types) is one line of the config check's."""
    (copy_ckpt / "config.json").unlink()
    with pytest.raises(ConfigError) as exc:
        build("hf", {"pretrained": str(copy_ckpt), "class_map": CLASS_MAP})
    assert "has no config.json" in short_error(exc, "victims.mine.arch.pretrained: ")


def test_job_class_map_names_the_victim(ckpt, program):
    """Classes known only after the data stage (a manifest written later): the job checks the map."""
    with pytest.raises(ConfigError) as exc:
        build("hf", {"pretrained": str(ckpt), "class_map": CLASS_MAP}, classes=["calm", "sad"])
    assert "['calm'] map to no model label" in short_error(exc, "victims.mine.arch.class_map: ")
    with pytest.raises(ConfigError) as exc:
        build("exported", {"program": str(program)}, classes=["calm", "sad"])
    assert "['calm'] map to no model label" in short_error(exc, "victims.mine.arch.class_map: ")


def test_job_missing_or_foreign_program_names_the_victim(tmp_path):
    with pytest.raises(DataError) as exc:
        build("exported", {"program": str(tmp_path / "absent.pt2"), "classes": MODEL_LABELS})
    assert "does not exist" in short_error(exc, "victims.mine.arch.program: ")
    (tmp_path / "text.pt2").write_text("not an archive")
    with pytest.raises(DataError) as exc:
        build("exported", {"program": str(tmp_path / "text.pt2"), "classes": MODEL_LABELS, "class_map": CLASS_MAP})
    line = short_error(
        exc, f"victims.mine.arch.program: {tmp_path / 'text.pt2'} is not a readable torch.export program"
    )
    assert "(File is not a zip file)" in line


def test_train_victim_job_names_the_victim(tiny_dataset, program, tmp_path):
    """The step itself passes the victim's name to the builder (tiny_dataset's classes: angry, sad)."""
    from staa.steps.train_victim import VictimFiles, train_victim

    params = {"family": "exported", "train": False, "arch": {"program": str(program)}, "seed": 0}
    params.update(batch_size=4, select="last", epochs=1, lr=1e-3)
    with pytest.raises(ConfigError) as exc:
        train_victim("mine", params, tiny_dataset, VictimFiles.in_dir(tmp_path), torch.device("cpu"))
    assert "['angry'] map to no model label" in short_error(exc, "victims.mine.arch.class_map: ")


# ---- exported: the program file -------------------------------------------------------------------


def test_missing_program(tmp_path):
    line = one_line(pt2_cfg(tmp_path / "absent.pt2"), "victims.mine.arch.program: ")
    assert "does not exist; expected a .pt2 file written by torch.export.save" in line


def test_program_is_a_folder(tmp_path):
    line = one_line(pt2_cfg(tmp_path), "victims.mine.arch.program: ")
    assert "is a folder" in line


def test_program_that_is_not_an_archive(tmp_path):
    (tmp_path / "m.pt2").write_text("just text")
    line = one_line(pt2_cfg(tmp_path / "m.pt2", classes=MODEL_LABELS), "victims.mine.arch.program: ")
    assert "is not a readable torch.export program (File is not a zip file)" in line


def test_program_that_is_a_zip_of_something_else(tmp_path):
    with zipfile.ZipFile(tmp_path / "m.pt2", "w") as zf:
        zf.writestr("readme.txt", "hello")
    line = one_line(pt2_cfg(tmp_path / "m.pt2", classes=MODEL_LABELS), "victims.mine.arch.program: ")
    assert "is not a torch.export program archive (no models/*.json" in line


def test_program_declaring_pickled_payloads(program, tmp_path):
    pickled = tmp_path / "pickled.pt2"
    with zipfile.ZipFile(program) as src, zipfile.ZipFile(pickled, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name.endswith("_weights_config.json"):
                data = data.replace(b'"use_pickle": false', b'"use_pickle": true', 1)
            dst.writestr(name, data)
    line = one_line(pt2_cfg(pickled, classes=MODEL_LABELS), "victims.mine.arch.program: ")
    assert "is stored as a pickle, which would run code when loaded" in line


def test_program_classes_unknown(program, tmp_path):
    bare = shutil.copy(program, tmp_path / "bare.pt2")  # no sidecar beside it
    line = one_line(pt2_cfg(bare), "victims.mine.arch.classes: the program's class names are unknown")
    assert "bare.classes.json" in line
    (tmp_path / "bare.classes.json").write_text("[ang, hap]")
    line = one_line(pt2_cfg(bare), "victims.mine.arch.classes: ")
    assert "is not readable JSON" in line
