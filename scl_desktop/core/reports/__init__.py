"""Reports to keep: a run's results as one self-contained HTML page and a per-class CSV.

``write_report`` builds the report of a stored run (``content.build_report``: its split, settings, each
method's evaluation with per-class precision, recall, F1 and accuracy, Cohen's kappa, the confusion matrix,
and the Plain baseline on the same split) and writes the files atomically. Nothing is trained or recomputed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from scl_desktop.core.atomic import write_text
from scl_desktop.core.errors import ConfigError, DiskFullError, SclError
from scl_desktop.core.reports.content import RunReport, build_report, per_class_csv
from scl_desktop.core.reports.html_page import report_html
from scl_desktop.core.runs.folder import Run
from scl_desktop.core.runs.store import RunStore

__all__ = ["RunReport", "build_report", "per_class_csv", "report_html", "write_report"]


def write_report(run: Run, store: RunStore, html: str | os.PathLike[str] | None = None,
                 csv: str | os.PathLike[str] | None = None, methods: Sequence[str] | None = None) -> list[Path]:
    """Write ``run``'s report as HTML to ``html`` and its per-class table as CSV to ``csv`` (either may be
    ``None``); each file atomically. Returns the files written. ``SclError`` (with what to do) when a file
    cannot be written; ``CheckpointError`` when the run has no results yet."""
    if html is None and csv is None:
        raise ConfigError("No report file was named.", "Name an HTML file, a CSV file or both.")
    report = build_report(run, store, methods)
    written = []
    for target, text in ((html, report_html), (csv, per_class_csv)):
        if target is None:
            continue
        path = Path(target).expanduser()
        try:
            written.append(write_text(path, text(report)))
        except DiskFullError:
            raise
        except SclError as exc:
            raise SclError(exc.what,
                           "Choose a file in a folder you can write to "
                           f"(`scl evaluate {run.id} --report ~/{run.id}.html`).") from exc
    return written
