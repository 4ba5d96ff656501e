"""Reporting: tables, figures and the reproduction summary from explicit result files.

Public entry points:

- :func:`build_tables` -> victims/whitebox/transfer/timing/ablation as .csv/.md/.tex
- :func:`build_figures` -> PNG/PDF figures (see :mod:`staa.report.figures`)
- :func:`write_summary` -> Markdown summary against the paper's claim bands
"""

from staa.report.collect import (
    load_attack_metrics,
    load_example,
    load_generator_logs,
    load_timing,
    load_victim_logs,
    load_victim_metrics,
)
from staa.report.figures import METHOD_PALETTE, build_figures
from staa.report.summary import PAPER_CLAIMS, write_summary
from staa.report.tables import TABLE_NAMES, build_tables

__all__ = [
    "METHOD_PALETTE",
    "PAPER_CLAIMS",
    "TABLE_NAMES",
    "build_figures",
    "build_tables",
    "load_attack_metrics",
    "load_example",
    "load_generator_logs",
    "load_timing",
    "load_victim_logs",
    "load_victim_metrics",
    "write_summary",
]
