"""Checks a paper smoke run (`make paper-smoke`) makes of its results beyond "every job succeeded":
no generator's mask collapsed to all-zero (nothing perturbed) or stayed all-one (no sparsity), and
the report was written."""

from __future__ import annotations

from pathlib import Path

from staa.errors import DataError
from staa.utils import read_json

# Variants whose collapse is a finding, not a failure: the reference's loss settings are known to
# prune the mask to nothing at paper scale (docs/paper-scale.md).
EXPECTED_TO_COLLAPSE = ("reference_losses",)


def check_smoke(results: str | Path, allow_collapse: tuple[str, ...] = EXPECTED_TO_COLLAPSE) -> list[str]:
    """Lines describing each generator's selected dev mask density; raises DataError listing every
    generator that ended all-zero or all-one, or a missing report."""
    results = Path(results)
    summaries = sorted(results.glob("generators/*/*/*/seed*/train_summary.json"))
    if not summaries:
        raise DataError(f"{results}/generators: no train_summary.json; run the smoke first")
    lines, problems = [], []
    for path in summaries:
        s = read_json(path, "generator training summary")
        tag = "/".join(path.parent.parts[-4:])
        density = float((s.get("selected") or s.get("final") or {}).get("dev_mask_density", float("nan")))
        lines.append(
            f"{tag}: dev mask density {density:.4f}, dev fooling rate "
            f"{float(s.get('selected', {}).get('dev_fooling_rate', float('nan'))):.3f}"
        )
        if not s.get("factorised", True) or s.get("variant") in allow_collapse:
            continue
        if not density > 0.0:
            problems.append(f"{tag}: the mask is all-zero (nothing is perturbed)")
        elif density >= 1.0 and (s.get("losses") or {}).get("spa"):
            problems.append(f"{tag}: the mask is all-one although the variant has a sparsity loss")
    for name in ("summary.md", "tables/whitebox.csv", "tables/transfer.csv", "tables/timing.csv"):
        if not (results / name).is_file():
            problems.append(f"{results / name}: missing")
    if problems:
        raise DataError("paper smoke check failed:\n  - " + "\n  - ".join(problems))
    return lines
