"""Corpus readers: each lists one corpus as the common utterance table (see ``manifest.COLUMNS``).

``read_corpus`` is the config-facing entry point: it checks the reader name and option names
before anything touches the disk, so a typo in a config fails with a clear message.
"""

from __future__ import annotations

import inspect
import os
from typing import Any

import pandas as pd

from staa.errors import ConfigError
from staa.data.readers.demos import read_demos
from staa.data.readers.iemocap import read_iemocap
from staa.data.readers.manifest import COLUMNS, read_manifest
from staa.data.readers.synthetic import read_synthetic

READERS = {"iemocap": read_iemocap, "demos": read_demos, "manifest": read_manifest, "synthetic": read_synthetic}

__all__ = ["COLUMNS", "READERS", "read_corpus", "read_demos", "read_iemocap", "read_manifest", "read_synthetic"]


def read_corpus(reader: str, root: str | os.PathLike, **options: Any) -> pd.DataFrame:
    """Dispatch to ``READERS[reader](root, **options)`` after validating the name and options."""
    if not isinstance(reader, str) or reader not in READERS:
        raise ConfigError(f"unknown corpus reader {reader!r}; expected one of {sorted(READERS)}")
    func = READERS[reader]
    params = list(inspect.signature(func).parameters.values())[1:]  # first parameter is root
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        accepted = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        for name in options:
            if name not in accepted:
                raise ConfigError(f"corpus reader {reader!r}: unknown option {name!r}; accepted options: {accepted}")
    return func(root, **options)
