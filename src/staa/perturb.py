"""`staa perturb`: apply a trained generator to audio files of any length, rate and channel count.

Each channel is perturbed separately at the generator's rate in generator-length windows (see
staa.api), the perturbation is resampled to the file's rate and added, and the result is written in
the input's format and bit depth under --out, mirroring the input names. A CSV gives per file the
perturbed share, SNR, clipping and, with --victim, the victim's prediction before and after, also
after the file was written and read back (does the attack survive the file's bit depth?).
Usage, windowing and the CSV columns: docs/perturb.md.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np
import soundfile as sf

from staa.errors import ConfigError, DataError, WriteError
from staa.metrics import snr_energy_db, snr_peak_db
from staa.utils import atomic_path, check_outputs, write_csv

AUDIO_SUFFIXES = (".wav", ".flac")
CSV_NAME = "perturb.csv"

if TYPE_CHECKING:  # torch loads lazily: `staa --help` and argument parsing stay fast
    import torch

    from staa.api import Generator, VictimModel


@dataclass(frozen=True)
class Job:
    src: Path  # input file as given (or found under a given folder)
    dst: Path  # output file under --out


def collect_jobs(inputs: Sequence[str | Path], out_dir: str | Path) -> list[Job]:
    """Input files (folders searched recursively for *.wav/*.flac, sorted) and their outputs: a file
    goes to OUT/name, a folder's files to OUT/path-inside-the-folder. Refuses a missing path, an empty
    folder, an --out that is an input or lies inside an input folder, an output that would overwrite
    an input, and two inputs with the same output."""
    out_dir = Path(out_dir)
    if not inputs:
        raise ConfigError("no inputs given; expected WAV/FLAC files or folders of them")
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out {out_dir}: exists and is not a folder; expected a folder for the outputs")
    out_res = out_dir.resolve()
    jobs: list[Job] = []
    for raw in inputs:
        src = Path(raw)
        if not src.exists():
            raise DataError(f"{src}: not found; expected a WAV/FLAC file or a folder of them")
        res = src.resolve()
        if res == out_res:
            raise ConfigError(f"--out {out_dir} is also an input; expected a separate output folder")
        if src.is_dir():
            if res in out_res.parents:
                raise ConfigError(
                    f"--out {out_dir} lies inside input folder {src}; its outputs would be read as "
                    "inputs by the next run: choose an --out outside it"
                )
            found = sorted(
                p
                for p in src.rglob("*")
                if p.is_file()
                and p.suffix.lower() in AUDIO_SUFFIXES
                and not any(part.startswith(".") for part in p.relative_to(src).parts)
            )
            if not found:
                raise DataError(f"{src}: folder holds no audio; expected *.wav or *.flac files (searched recursively)")
            jobs += [Job(p, out_dir / p.relative_to(src)) for p in found]
        else:
            jobs.append(Job(src, out_dir / src.name))
    inputs_res = {j.src.resolve() for j in jobs}
    seen: dict[Path, Path] = {}
    unique: list[Job] = []
    for job in jobs:
        dst = job.dst.resolve()
        if dst == job.src.resolve():
            raise ConfigError(
                f"{job.src}: its output {job.dst} is the input itself; refusing to overwrite it (choose another --out)"
            )
        if dst in inputs_res:
            raise ConfigError(
                f"{job.src}: its output {job.dst} would overwrite another input file; refusing (choose another --out)"
            )
        if dst in seen:
            if seen[dst] == job.src.resolve():
                continue  # the same file named twice (alone and inside a folder): perturb it once
            raise ConfigError(
                f"{seen[dst]} and {job.src} would both be written to {job.dst}; expected distinct names "
                "(pass their folder instead, or run them separately)"
            )
        seen[dst] = job.src.resolve()
        unique.append(job)
    return unique


def check_audio(path: Path) -> Any:
    """soundfile's header info for `path`; DataError naming it if it is not decodable audio or holds 0 samples."""
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty (0 bytes); expected a WAV/FLAC audio file")
    try:
        info = sf.info(str(path))
    except Exception as exc:  # noqa: BLE001 -- LibsndfileError, RuntimeError, TypeError: any means not audio
        raise DataError(
            f"{path}: cannot decode audio ({str(exc).strip()}); expected a readable WAV/FLAC file"
        ) from None
    if info.frames <= 0:
        raise DataError(f"{path}: audio file is empty (0 samples); expected at least one sample")
    if not sf.check_format(info.format, info.subtype, info.endian):
        raise DataError(
            f"{path}: its format {info.format}/{info.subtype} can be read but not written by libsndfile; "
            "convert it to WAV or FLAC first"
        )
    return info


def read_audio(path: Path) -> tuple[np.ndarray, int]:
    """(samples, channels) float64 and the sample rate; float64 keeps PCM_24/PCM_32/DOUBLE exact."""
    try:
        data, sr = sf.read(str(path), dtype="float64", always_2d=True)
    except Exception as exc:  # noqa: BLE001 -- as in check_audio
        raise DataError(
            f"{path}: cannot decode audio ({str(exc).strip()}); expected a readable WAV/FLAC file"
        ) from None
    if data.shape[0] == 0:
        raise DataError(f"{path}: audio file is empty (0 samples); expected at least one sample")
    if not np.all(np.isfinite(data)):
        raise DataError(f"{path}: audio contains NaN or infinite samples")
    return data, int(sr)


def perturb_file(gen: Generator, job: Job, info: Any, victim: VictimModel | None = None) -> dict[str, Any]:
    """Perturb one file, write it atomically in the input's format and subtype, read it back, and
    return its CSV row."""
    x, sr = read_audio(job.src)
    _, delta, delta_g = gen.perturb_details(x, sr, channels_first=False)
    adv = x + delta.numpy().T.astype(np.float64)
    clipped = int((np.abs(adv) > 1.0).sum())
    adv = np.clip(adv, -1.0, 1.0)  # PCM clips anyway; FLOAT outputs are kept in range the same way
    with atomic_path(job.dst) as tmp:
        try:
            sf.write(str(tmp), adv, sr, subtype=info.subtype, format=info.format, endian=info.endian)
        except OSError:
            raise  # atomic_path names the output and the reason
        except Exception as exc:  # noqa: BLE001 -- the format was checked up front: an I/O failure (LibsndfileError)
            raise WriteError(
                f"{job.dst}: cannot write it: {str(exc).strip()} (format {info.format}/{info.subtype})"
            ) from None
        written, _ = sf.read(str(tmp), dtype="float64", always_2d=True)
    real = written - x  # the perturbation as stored: resampled, clipped and quantised
    row: dict[str, Any] = {
        "path": str(job.src),
        "output": str(job.dst),
        "format": info.format,
        "subtype": info.subtype,
        "sample_rate": sr,
        "channels": x.shape[1],
        "seconds": round(x.shape[0] / sr, 6),
        "perturbed_share": round(float((delta_g != 0).double().mean()), 6),
        "snr_db": round(float(snr_energy_db(x.reshape(-1), real.reshape(-1))), 3),
        "snr_peak_db": round(float(snr_peak_db(x.reshape(-1), real.reshape(-1))), 3),
        "clipped_samples": clipped,
        "clipped_share": round(clipped / x.size, 6),
    }
    if victim is not None:
        row["pred_clean"] = victim.predict(x, sr, channels_first=False).label
        row["pred_adv"] = victim.predict(adv, sr, channels_first=False).label
        row["pred_written"] = victim.predict(written, sr, channels_first=False).label
        row["prediction_changed"] = row["pred_written"] != row["pred_clean"]
    return row


def _progress(jobs: list[Job], log: TextIO) -> tuple[Iterable[Job], bool]:
    """A tqdm bar on an interactive stderr; otherwise (logs, pipes) the caller prints a line per file."""
    if len(jobs) > 1 and log is sys.stderr and getattr(log, "isatty", lambda: False)():
        from tqdm import tqdm  # a declared dependency

        return tqdm(jobs, file=log, unit="file", desc="perturb"), True
    return jobs, False


def perturb_files(
    inputs: Sequence[str | Path],
    out_dir: str | Path,
    generator: str | Path | Generator,
    victim: str | Path | VictimModel | None = None,
    csv: str | Path | None = None,
    device: str | torch.device = "cpu",
    batch_size: int = 32,
    log: TextIO | None = None,
) -> Any:
    """Perturb every input file into `out_dir` and write the CSV (default OUT/perturb.csv) atomically;
    returns the CSV's DataFrame. Every input is checked (exists, decodable, not empty) before anything
    is written."""
    import pandas as pd

    from staa.api import Generator, VictimModel, load_generator, load_victim

    log = sys.stderr if log is None else log  # looked up per call: a redirected stderr is honoured
    gen = generator if isinstance(generator, Generator) else load_generator(generator, device, batch_size)
    vic = None
    if victim is not None:
        vic = (
            victim
            if isinstance(victim, VictimModel)
            else load_victim(victim, device, gen.meta.get("classes"), batch_size)
        )
    jobs = collect_jobs(inputs, out_dir)
    csv_path = Path(csv) if csv else Path(out_dir) / CSV_NAME
    # every file written against every other and every input (audio, generator, victim), before any work
    check_outputs(
        {"output": [j.dst for j in jobs], "--csv" if csv else f"the table (default --csv OUT/{CSV_NAME})": csv_path},
        {"input": [j.src for j in jobs], "--generator": gen.path, "--victim": vic.path if vic is not None else None},
    )
    infos = [check_audio(j.src) for j in jobs]
    info_of = dict(zip(jobs, infos))
    rows = []
    items, bar = _progress(jobs, log)
    for i, job in enumerate(items):
        row = perturb_file(gen, job, info_of[job], vic)
        rows.append(row)
        if not bar:
            extra = f", {row['pred_clean']} -> {row['pred_written']}" if vic is not None else ""
            print(
                f"[perturb {i + 1}/{len(jobs)}] {job.src} -> {job.dst} (SNR {row['snr_db']:.1f} dB, "
                f"{row['clipped_samples']} clipped{extra})",
                file=log,
                flush=True,
            )
    df = pd.DataFrame(rows)
    write_csv(csv_path, df)
    summary = f"perturbed {len(rows)} file(s) into {out_dir}; table {csv_path}"
    if vic is not None:
        summary += f"; victim prediction changed on {int(df['prediction_changed'].sum())} of {len(rows)} (as written)"
    n_clip = int((df["clipped_samples"] > 0).sum())
    if n_clip:
        summary += f"; {n_clip} file(s) had samples clipped to [-1, 1]"
    print(summary, file=log, flush=True)
    return df


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `staa perturb` arguments."""
    parser.add_argument(
        "inputs", nargs="+", metavar="IN", help="WAV/FLAC files or folders (searched recursively for *.wav, *.flac)"
    )
    parser.add_argument("--generator", required=True, help="trained generator, results/generators/…/generator.pt")
    parser.add_argument(
        "--out",
        required=True,
        help="output folder: files keep their names (folders: their "
        "relative paths), format and bit depth; must not be an input",
    )
    parser.add_argument(
        "--victim",
        default=None,
        help="victim model.pt: add its prediction before/after (also after writing and reading "
        "back) to the CSV; it classifies the channel average in windows of its clip length "
        "and averages the logits over windows",
    )
    parser.add_argument("--csv", default=None, help=f"per-file table (default: OUT/{CSV_NAME})")
    parser.add_argument("--batch-size", type=int, default=32, help="windows per generator/victim forward pass")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--gpus", type=int, default=0)


def run(ns: argparse.Namespace) -> None:
    """Entry point of `staa perturb` (errors are StaaErrors: the CLI prints one line, exit 2)."""
    from staa.runtime import setup_runtime

    if ns.batch_size < 1:
        raise ConfigError(f"--batch-size {ns.batch_size}: expected a positive integer")
    device = setup_runtime(ns.threads, ns.gpus)
    perturb_files(ns.inputs, ns.out, ns.generator, ns.victim, ns.csv, device, ns.batch_size)
