"""`staa` command line: one subcommand per pipeline step, each runnable by hand.

Rules pass the config values they depend on as one JSON object (`--params`, checked by the step's
settings class in `staa.settings`), so no step reads the config file itself, and name every file a
step writes (docs/design.md §8). Errors a user can fix are printed as one clear
line (exit 2), without a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any, Callable

from staa.errors import StaaError

COMMANDS: dict[str, tuple[Callable[[argparse.Namespace], None], str]] = {}


def command(name: str, help_: str):
    def deco(fn):
        COMMANDS[name] = (fn, help_)
        return fn

    return deco


def _params(ns: argparse.Namespace, *checks: str) -> dict[str, Any]:
    """The step's `--params` JSON object. `checks` name the staa.settings classes that check its keys
    and types here, before the runtime (threads, GPU) is set up: a bad key is reported first."""
    try:
        value = json.loads(ns.params)
    except json.JSONDecodeError as exc:
        raise StaaError(f"--params: not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise StaaError("--params: expected a JSON object")
    if checks:
        from staa import settings

        for name in checks:
            getattr(settings, name).from_params(value)
    return value


@command("validate-config", "check config files (merged in order) against the schema and cross-references")
def _validate(ns):
    from staa.config import config_warnings, load_config_file, merge_configs, validate_config
    from staa.settings import schema_path

    schema = Path(ns.schema) if ns.schema else schema_path()
    if not schema.is_file():
        raise StaaError(
            f"schema {schema} not found; pass --schema PATH (workflow/schemas/config.schema.yaml in the repository)"
        )
    cfg = merge_configs([load_config_file(c) for c in ns.config])
    validate_config(cfg, schema)
    for line in config_warnings(cfg):
        print(line, file=sys.stderr)
    print(f"{' + '.join(ns.config)}: valid")


@command("seeds-overlay", "write the config overlay of `make SEEDS=N`: run.seeds 0 .. N-1")
def _seeds_overlay(ns):
    from staa.config import seeds_overlay
    from staa.utils import write_text

    text = seeds_overlay(ns.seeds)  # checked before anything is written
    try:
        write_text(ns.out, text)
    except OSError as exc:
        raise StaaError(f"{ns.out}: cannot write the seeds overlay ({exc.strerror or exc})") from None


@command("synth-corpus", "generate the procedural emotional-speech corpus (WAVs + metadata.csv)")
def _synth(ns):
    from staa.data.synthetic import generate_corpus

    import inspect

    p = _params(ns)
    accepted = [k for k in inspect.signature(generate_corpus).parameters if k != "out_dir"]
    unknown = sorted(set(p) - set(accepted))
    if unknown:
        raise StaaError(f"--params: unknown key(s) {unknown}; expected some of {accepted}")
    meta = generate_corpus(ns.out, **p)
    print(f"wrote {len(meta)} utterances to {ns.out}", file=sys.stderr)


@command("fixture-corpus", "write a small corpus in the real DEMoS or IEMOCAP layout (for the paper smoke run)")
def _fixture(ns):
    from staa.data.fixtures import make_fixture_corpus

    info = make_fixture_corpus(ns.layout, ns.out, **_params(ns))
    print(f"{ns.out}: {info['written']} files written" if info["written"] else f"{ns.out}: up to date", file=sys.stderr)


@command("prepare-data", "read a corpus, split it, write fixed-length arrays, tables and a card")
def _prepare(ns):
    from staa.data.prepare import prepare_dataset
    from staa.utils import check_outputs

    params = _params(ns)
    out = Path(ns.out_dir)
    root = params.get("root") if isinstance(params.get("root"), str) else None
    check_outputs(
        {
            "--out-dir file": [out / f"{s}.{e}" for s in ("train", "dev", "test") for e in ("npy", "csv")]
            + [out / "classes.json", out / "card.md"]
        },
        {"the corpus root": root if root and Path(root).is_dir() else None},
    )
    info = prepare_dataset(ns.dataset, params, ns.out_dir)
    print(json.dumps(info), file=sys.stderr)


@command("train-victim", "train and evaluate one victim model on one dataset")
def _train_victim(ns):
    from staa.runtime import setup_runtime
    from staa.steps.train_victim import VictimFiles, train_victim

    params = _params(ns, "VictimSettings")
    device = setup_runtime(ns.threads, ns.gpus)
    train_victim(
        ns.name, params, ns.data_dir, VictimFiles(Path(ns.model), Path(ns.metrics), Path(ns.train_log)), device
    )


@command("victims-table", "gather victims' metrics.json into one CSV")
def _victims_table(ns):
    from staa.report.tables import build_tables
    from staa.utils import check_outputs

    out = Path(ns.out_dir)
    check_outputs({"--out-dir file": [out / f"victims.{e}" for e in ("csv", "md", "tex")]}, {"metrics": ns.metrics})
    build_tables([Path(p) for p in ns.metrics], [], [], out, names=("victims",))


@command("train-generator", "train one STAA-Net generator against a frozen threat model")
def _train_generator(ns):
    from staa.runtime import setup_runtime
    from staa.steps.train_generator import GeneratorFiles, train_generator

    params = _params(ns, "GeneratorRun", "GeneratorSettings")
    device = setup_runtime(ns.threads, ns.gpus)
    train_generator(
        params,
        ns.data_dir,
        ns.threat_model,
        GeneratorFiles(Path(ns.model), Path(ns.train_log), Path(ns.summary)),
        device,
    )


@command("craft-staa", "apply a generator to the test split once: adversarials, masks, seconds, examples")
def _craft_staa(ns):
    from staa.runtime import setup_runtime
    from staa.steps.craft_staa import CraftFiles, craft_staa

    params = _params(ns, "CraftSettings")
    device = setup_runtime(ns.threads, ns.gpus)
    files = CraftFiles(Path(ns.adversarial), Path(ns.mask), Path(ns.attack_log), Path(ns.craft), Path(ns.examples_dir))
    craft_staa(params, ns.data_dir, ns.generator, ns.threat_model, files, device)


@command("make-subset", "draw the seeded test subset shared by every baseline")
def _make_subset(ns):
    from staa.data.prepare import make_subset
    from staa.settings import SubsetSettings
    from staa.utils import check_outputs

    cfg = SubsetSettings.from_params(_params(ns))
    check_outputs({"--out": ns.out}, {"--data-dir": ns.data_dir})
    make_subset(ns.data_dir, cfg.subset_size, cfg.seed, ns.out)


@command("attack-baseline", "run one iterative baseline on the subset against its threat model")
def _attack_baseline(ns):
    from staa.runtime import setup_runtime
    from staa.steps.attack_baseline import BaselineFiles, run_baseline

    params = _params(ns, "BaselineSettings")
    device = setup_runtime(ns.threads, ns.gpus)
    run_baseline(
        params,
        ns.data_dir,
        ns.subset,
        ns.threat_model,
        BaselineFiles(Path(ns.adversarial), Path(ns.attack_log)),
        device,
    )


@command("score", "score stored adversarials (STAA-Net or a baseline) on one victim: white-box or transfer")
def _score(ns):
    from staa.runtime import setup_runtime
    from staa.steps.score import ScoreFiles, score_attack

    params = _params(ns, "ScoreSettings")
    device = setup_runtime(ns.threads, ns.gpus)
    score_attack(
        params,
        ns.data_dir,
        ns.adversarial,
        ns.attack_log,
        ns.victim_model,
        ScoreFiles(Path(ns.metrics), Path(ns.per_utterance)),
        device,
        subset_csv=ns.subset or None,
        mask_path=ns.mask or None,
        craft_path=ns.craft or None,
    )


@command("timing", "time STAA-Net and every baseline per utterance on the same inputs")
def _timing(ns):
    from staa.runtime import setup_runtime
    from staa.steps.timing import run_timing

    params = _params(ns, "TimingSettings")
    device = setup_runtime(ns.threads, ns.gpus)
    run_timing(params, ns.data_dir, ns.subset, ns.generator, ns.threat_model, ns.out, device)


@command("report", "build tables, figures and the reproduction summary from explicit result files")
def _report(ns):
    from staa.report import build_figures, build_tables, write_summary
    from staa.report.tables import REPORT_TABLES
    from staa.utils import check_outputs

    p = _params(ns)
    paths = {
        k: [Path(f) for f in getattr(ns, k)]
        for k in ("victims", "attacks", "timing", "victim_logs", "generator_logs", "examples")
    }
    tables_dir, figures_dir = Path(ns.tables_dir), Path(ns.figures_dir)
    check_outputs(
        {
            "--summary": ns.summary,
            "--tables-dir file": [tables_dir / f"{n}.{e}" for n in REPORT_TABLES for e in ("csv", "md", "tex")],
        },
        {"--" + k.replace("_", "-"): v for k, v in paths.items()},
        {"--tables-dir": tables_dir, "--figures-dir": figures_dir, "its listening folder": figures_dir / "listening"},
    )
    variants = p.get("ablation_variants")  # the declared variants (a sweep's points have their own figure)
    tables = build_tables(
        paths["victims"],
        paths["attacks"],
        paths["timing"],
        Path(ns.tables_dir),
        names=REPORT_TABLES,
        ablation_variants=variants,
    )
    figures = build_figures(
        paths["attacks"],
        paths["timing"],
        paths["victim_logs"],
        paths["generator_logs"],
        paths["examples"],
        Path(ns.figures_dir),
        style=p.get("style", {}),
        victims_order=p.get("victims_order", []),
        ablation_variants=variants,
        sweeps=p.get("sweeps"),
    )
    write_summary(
        paths["victims"],
        paths["attacks"],
        paths["timing"],
        Path(ns.summary),
        p.get("config_name", ""),
        p.get("datasets_info", {}),
        config_sha256=p.get("config_sha256"),
        sweeps=p.get("sweeps"),
    )
    _copy_listening_examples(paths["examples"], Path(ns.figures_dir) / "listening")
    print(f"wrote {len(tables)} table files, {len(figures)} figure files, {ns.summary}", file=sys.stderr)


def _copy_listening_examples(npz_paths: list[Path], out_dir: Path) -> None:
    """Put the clean/adversarial WAV pairs beside the figures, named by dataset and threat model,
    so the Snakemake report links them."""
    import shutil

    from staa.utils import atomic_path

    for npz in npz_paths:
        run = npz.parent.parent  # .../attacks/{ds}/staa/{threat}/{variant}/seed{s}
        seed, variant, threat, _, ds = (p.name for p in (run, *run.parents[:4]))
        tag = f"{ds}_{threat}_{variant}_{seed}_{npz.stem}"
        for kind in ("clean", "adv"):
            wav = npz.parent / f"{npz.stem}_{kind}.wav"
            if wav.is_file():
                with atomic_path(out_dir / f"{tag}_{kind}.wav") as tmp:
                    shutil.copyfile(wav, tmp)


@command("perturb", "apply a trained generator to WAV/FLAC files or folders (any length, rate, channels)")
def _perturb(ns):
    from staa.perturb import run

    run(ns)


@command("cost", "FLOPs, seconds and GFLOP/s per utterance of trained victims and generators")
def _cost(ns):
    import pandas as pd

    from staa.cost import model_costs
    from staa.runtime import setup_runtime
    from staa.utils import check_outputs

    check_outputs({"--out": ns.out}, {"--victims": ns.victims, "--generators": ns.generators})
    setup_runtime(ns.threads)
    df = pd.DataFrame(model_costs([Path(p) for p in ns.victims], [Path(p) for p in ns.generators], ns.repeats))
    print(df.round(4).to_markdown(index=False))
    if ns.out:
        from staa.utils import write_csv

        write_csv(ns.out, df)


@command("paper-bench", "paper-size generator vs every baseline at batch size 1, untrained, cut budgets extrapolated")
def _paper_bench(ns):
    from staa.paper_bench import main_table, paper_bench, write_outputs
    from staa.runtime import describe_device, setup_runtime
    from staa.utils import check_outputs

    if ns.out:
        prefix = Path(ns.out)
        check_outputs(
            {"--out": [prefix.with_name(prefix.stem + f"_{k}.csv") for k in ("timing", "models", "grid")]},
            {"--config": ns.config},
        )
    device = setup_runtime(ns.threads, ns.gpus)
    if ns.gpus and device.type != "cuda":
        raise StaaError("--gpus 1 but no CUDA device is visible to torch")
    print(f"paper-bench on {describe_device(device)}, {ns.threads} thread(s)", file=sys.stderr, flush=True)
    timing, costs = paper_bench(
        ns.config, ns.dataset, ns.threats, ns.utterances, ns.warmup, device, n_classes=ns.classes, all_victims=ns.grid
    )
    print(costs.round(4).to_markdown(index=False))
    print(main_table(timing).round(4).to_markdown(index=False))
    grid = None
    if ns.grid:
        from staa.config import load_config_file, merge_configs
        from staa.paper_bench import grid_estimate

        grid = grid_estimate(merge_configs([load_config_file(f) for f in ns.config]), costs, timing)
        print(f"\nFull grid of {' + '.join(ns.config)} on {describe_device(device)}, {ns.threads} thread(s):")
        print(grid.round(1).to_markdown(index=False))
    if ns.out:
        write_outputs(timing, costs, Path(ns.out), grid)


@command("check-smoke", "check a paper smoke run: no generator mask all-zero or all-one, report written")
def _check_smoke(ns):
    from staa.smoke import check_smoke

    for line in check_smoke(ns.results):
        print(line)
    print("paper smoke check: passed")


@command("bench", "print wall time and memory per stage and rule from the benchmark files")
def _bench(ns):
    from staa.bench import collect, summarise

    jobs = collect(ns.bench_dir)
    if jobs.empty:
        raise StaaError(f"{ns.bench_dir}: no benchmark files; run the pipeline first")
    stages = summarise(jobs, ns.cores)
    print(f"Per stage (estimated wall time on {ns.cores} parallel jobs):")
    print(stages.to_markdown(index=False))
    print(f"\nTotal job time {jobs.seconds.sum():.1f} s; estimated wall time {stages.est_wall_s.sum():.1f} s")
    if ns.per_rule:
        print("\nPer job:")
        print(jobs.sort_values("seconds", ascending=False).round(2).to_markdown(index=False))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="staa", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name, (fn, help_) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_)
        sp.set_defaults(fn=fn)
        _add_args(name, sp)
    return parser


def _runtime_args(sp: argparse.ArgumentParser, common: dict[str, dict[str, Any]]) -> None:
    """--params, --threads and --gpus: what every torch step takes."""
    sp.add_argument("--params", **common["--params"])
    sp.add_argument("--threads", type=int, default=1)
    sp.add_argument("--gpus", type=int, default=0)


def _outputs(sp: argparse.ArgumentParser, **files: str) -> None:
    """One required flag per file a step writes (--train-log for train_log, ...)."""
    for key, help_ in files.items():
        sp.add_argument("--" + key.replace("_", "-"), required=True, help=help_)


def _add_args(name: str, sp: argparse.ArgumentParser) -> None:
    common = {"--params": dict(default="{}", help="JSON object with the step's settings")}
    if name == "perturb":
        from staa.perturb import add_arguments

        add_arguments(sp)
    elif name == "validate-config":
        sp.add_argument("config", nargs="+", help="config file(s); several are deep-merged in order, as by Snakemake")
        sp.add_argument("--schema", default=None, help="default: the repository's workflow/schemas/config.schema.yaml")
    elif name == "seeds-overlay":
        sp.add_argument("--seeds", required=True, help="N: the overlay lists seeds 0 .. N-1")
        sp.add_argument("--out", required=True, help="the overlay file to write (YAML)")
    elif name == "synth-corpus":
        sp.add_argument("--out", required=True)
        sp.add_argument("--params", **common["--params"])
    elif name == "fixture-corpus":
        sp.add_argument("--layout", required=True, help="demos or iemocap")
        sp.add_argument("--out", required=True)
        sp.add_argument("--params", **common["--params"])
    elif name == "prepare-data":
        sp.add_argument("--dataset", required=True)
        sp.add_argument("--out-dir", required=True)
        sp.add_argument("--params", **common["--params"])
    elif name == "train-victim":
        sp.add_argument("--name", required=True)
        sp.add_argument("--data-dir", required=True)
        _outputs(
            sp,
            model="the trained victim (model.pt)",
            metrics="its clean test scores (metrics.json)",
            train_log="one row per epoch (train_log.csv)",
        )
        _runtime_args(sp, common)
    elif name == "train-generator":
        sp.add_argument("--data-dir", required=True)
        sp.add_argument("--threat-model", required=True)
        _outputs(
            sp,
            model="the trained generator (generator.pt)",
            train_log="one row per epoch (train_log.csv)",
            summary="the selected epoch and settings (train_summary.json)",
        )
        _runtime_args(sp, common)
    elif name == "craft-staa":
        sp.add_argument("--data-dir", required=True)
        sp.add_argument("--threat-model", required=True)
        sp.add_argument("--generator", required=True)
        _outputs(
            sp,
            adversarial="adversarial test split (.npy)",
            mask="packed hard masks (.npy)",
            attack_log="seconds per utterance (.csv)",
            craft="crafting record (craft.json)",
            examples_dir="folder of the listening examples",
        )
        _runtime_args(sp, common)
    elif name == "score":
        sp.add_argument("--data-dir", required=True)
        sp.add_argument("--adversarial", required=True)
        sp.add_argument("--attack-log", required=True)
        sp.add_argument("--victim-model", required=True)
        _outputs(
            sp,
            metrics="the attack's scores on the victim (metrics.json)",
            per_utterance="one row per utterance (per_utterance.csv)",
        )
        _runtime_args(sp, common)
        # empty or bare (the rules pass '' for what an attack or a dataset does not have): none
        sp.add_argument(
            "--subset",
            nargs="?",
            const="",
            default="",
            help="subset CSV: the adversarials' utterances (scope 'subset'), or also score these (scope 'full')",
        )
        sp.add_argument("--mask", nargs="?", const="", default="", help="packed perturbed-sample map (STAA-Net)")
        sp.add_argument("--craft", nargs="?", const="", default="", help="crafting record craft.json (STAA-Net)")
    elif name == "make-subset":
        sp.add_argument("--data-dir", required=True)
        sp.add_argument("--out", required=True)
        sp.add_argument("--params", **common["--params"])
    elif name in ("attack-baseline", "timing"):
        sp.add_argument("--data-dir", required=True)
        sp.add_argument("--subset", required=True)
        _runtime_args(sp, common)
        if name == "attack-baseline":
            sp.add_argument("--threat-model", required=True)
            _outputs(sp, adversarial="adversarial subset (.npy)", attack_log="seconds and status per utterance (.csv)")
        else:
            sp.add_argument("--generator", required=True)
            sp.add_argument("--threat-model", required=True)
            sp.add_argument("--out", required=True)
    elif name == "report":
        for flag in ("victims", "attacks", "timing", "victim-logs", "generator-logs", "examples"):
            sp.add_argument(f"--{flag}", nargs="*", default=[])
        sp.add_argument("--tables-dir", required=True)
        sp.add_argument("--figures-dir", required=True)
        sp.add_argument("--summary", required=True)
        sp.add_argument("--params", **common["--params"])
    elif name == "cost":
        sp.add_argument("--victims", nargs="*", default=[])
        sp.add_argument("--generators", nargs="*", default=[])
        sp.add_argument("--threads", type=int, default=1)
        sp.add_argument("--repeats", type=int, default=3)
        sp.add_argument("--out", default=None, help="also write the table as CSV")
    elif name == "paper-bench":
        sp.add_argument("--config", nargs="+", default=["config/paper.yaml"])
        sp.add_argument("--dataset", default="iemocap", help="whose clip length is used")
        sp.add_argument("--threats", nargs="*", default=None, help="default: the config's generator.threats")
        sp.add_argument("--classes", type=int, default=4)
        sp.add_argument("--utterances", type=int, default=2)
        sp.add_argument("--warmup", type=int, default=1)
        sp.add_argument("--threads", type=int, default=1)
        sp.add_argument("--gpus", type=int, default=0)
        sp.add_argument("--grid", action="store_true", help="also cost every victim and estimate the full grid")
        sp.add_argument(
            "--out", default=None, help="path prefix: writes PREFIX_timing.csv, PREFIX_models.csv (and PREFIX_grid.csv)"
        )
    elif name == "check-smoke":
        sp.add_argument("--results", default="results")
    elif name == "bench":
        sp.add_argument("--bench-dir", default="results/benchmarks")
        sp.add_argument("--cores", type=int, default=2)
        sp.add_argument("--per-rule", action="store_true")
    elif name == "victims-table":
        sp.add_argument("--out-dir", required=True)
        sp.add_argument("metrics", nargs="+")


# Per step: the config key that lowers its peak memory, and the --params key holding its value.
OOM_HINTS = {
    "train-victim": ("victims.{name}.batch_size", "batch_size"),
    "train-generator": ("generator.train.batch_size", "train.batch_size"),
    "craft-staa": ("attack_eval.throughput_batch", "throughput_batch"),
    "timing": ("timing.throughput_batch", "throughput_batch"),
    "attack-baseline": (
        "baselines.methods.{name}.eval_batch (one-pixel) or baselines.subset_size",
        "settings.eval_batch",
    ),
}


def _oom_message(ns: argparse.Namespace, exc: BaseException) -> str:
    """One line for a CUDA out-of-memory error: the step (= rule), its batch size, the memory asked
    for (torch's own first sentence) and the config key that lowers it."""
    key, param = OOM_HINTS.get(ns.cmd, ("run.threads or the batch sizes", ""))
    try:
        value: Any = json.loads(ns.params)
        for part in param.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        name = getattr(ns, "name", None) or value
    except (AttributeError, json.JSONDecodeError):
        value, name = None, None
    asked = str(exc).strip().split(". ")[1] if ". " in str(exc) else str(exc).strip().splitlines()[0]
    if isinstance(name, str):
        key = key.replace("{name}", name)
    return (
        f"CUDA out of memory in rule {ns.cmd.replace('-', '_')} at batch size {value if value is not None else '?'}"
        f" ({asked}); lower {key}, or give the job a larger GPU"
    )


def _terminate(signum: int, frame: Any) -> None:
    """SIGTERM (Snakemake, scancel, timeout) and SIGINT (Ctrl-C) end a job: one line, no traceback."""
    raise KeyboardInterrupt(signal.Signals(signum).name)


# Numeric options (argparse dest -> smallest allowed value), checked the same way for every subcommand
# that has them, before it runs: `--threads -1` was clamped to 1 while `--batch-size 0` was refused.
NUMERIC_MINIMUM = {
    "threads": 1,
    "gpus": 0,
    "batch_size": 1,
    "repeats": 1,
    "utterances": 1,
    "warmup": 0,
    "classes": 2,
    "cores": 1,
}


def check_numeric_args(ns: argparse.Namespace) -> None:
    """One line for the first numeric option below its minimum (NUMERIC_MINIMUM)."""
    for dest, low in NUMERIC_MINIMUM.items():
        value = getattr(ns, dest, None)
        if isinstance(value, int) and not isinstance(value, bool) and value < low:
            expected = "a positive integer" if low == 1 else f"an integer >= {low}"
            raise StaaError(f"--{dest.replace('_', '-')} {value}: expected {expected}")


def main(argv: list[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)
    # both stop a job the same way; SIGINT explicitly too, since a job started in the background by a
    # non-interactive shell inherits SIGINT as ignored and would otherwise run on after a Ctrl-C
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    try:
        check_numeric_args(ns)
        ns.fn(ns)
    except StaaError as exc:
        print(f"staa {ns.cmd}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        # a read or write the step did not turn into a StaaError (those of atomic_path are): one line
        # naming the file, not a traceback; an OSError without a file is a bug and keeps its traceback
        if exc.filename is None:
            raise
        where = os.fsdecode(exc.filename) + (f" -> {os.fsdecode(exc.filename2)}" if exc.filename2 else "")
        print(f"staa {ns.cmd}: error: {where}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        if type(exc).__name__ != "OutOfMemoryError":  # torch.cuda.OutOfMemoryError, without importing torch
            raise
        print(f"staa {ns.cmd}: error: {_oom_message(ns, exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        # every output is written atomically and checkpoints once per epoch: nothing half-written is
        # left, and a rerun resumes from the last completed epoch
        print(
            f"staa {ns.cmd}: interrupted ({exc.args[0] if exc.args else 'SIGINT'}); no output was half-written, "
            "and a rerun resumes training jobs from their last completed epoch",
            file=sys.stderr,
            flush=True,
        )
        return 130 if not exc.args else 128 + int(signal.Signals[exc.args[0]])
    return 0


if __name__ == "__main__":
    sys.exit(main())
