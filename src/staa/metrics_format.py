"""The attack metrics record's format: `format_version` and the JSON schema
(workflow/schemas/metrics.schema.yaml) every attack metrics.json is checked against, when the scoring
step writes it and when the report reads it. Torch-free, so the report can use it."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Mapping

from staa.errors import ConfigError, DataError

FORMAT_VERSION = 1
SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "metrics.schema.yaml"
# what rewrites every attack metrics.json in the current format
RERUN = "snakemake --cores 2 --forcerun score_staa score_baseline"


@functools.lru_cache(maxsize=1)
def _validator():
    import jsonschema
    import yaml

    if not SCHEMA_PATH.is_file():
        raise ConfigError(f"{SCHEMA_PATH}: metrics schema not found (it ships in the repository's workflow/schemas)")
    return jsonschema.Draft202012Validator(yaml.safe_load(SCHEMA_PATH.read_text()))


def check_attack_metrics(obj: Mapping[str, Any], path: str | Path) -> None:
    """DataError naming `path` if `obj` is not an attack metrics record of this format: no or another
    format_version (with what to do), or the first schema violation with the key it concerns."""
    version = obj.get("format_version")
    if version is None:
        raise DataError(
            f"{path}: no 'format_version' key (written by an older staa, before format "
            f"{FORMAT_VERSION}); rerun its scoring rule to rewrite it: {RERUN}"
        )
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise DataError(
            f"{path}: metrics format_version {version!r}, but this staa reads format {FORMAT_VERSION} "
            f"only; rerun its scoring rule with this staa ({RERUN}), or read it with the staa that wrote it"
        )
    errors = sorted(_validator().iter_errors(dict(obj)), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        err = errors[0]
        where = ".".join(str(p) for p in err.absolute_path)
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise DataError(
            f"{path}: " + (f"key '{where}': " if where else "") + f"{err.message}{more}; expected an "
            f"attack metrics record of format {FORMAT_VERSION} ({SCHEMA_PATH.name})"
        )
