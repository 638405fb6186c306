"""What a run report holds: the run, its split and settings, each method's stored evaluation, and the Plain
baseline trained on the same split (found through the run index's split fingerprint) to set them beside.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from scl_desktop.core.errors import CheckpointError, SclError
from scl_desktop.core.metrics import Evaluation
from scl_desktop.core.runs.folder import Run
from scl_desktop.core.runs.record import SPLIT_FILE
from scl_desktop.core.runs.store import RunStore

PLAIN = "Plain"
PARTS = ("train", "val", "test")
CSV_COLUMNS = ("method", "class", "role", "train_n", "test_n", "predicted_n", "precision", "recall", "f1", "accuracy")


@dataclass(frozen=True)
class MethodResult:
    """One method's stored evaluation; ``run_id`` is the run holding it, ``stale`` why it is out of date."""

    method: str
    run_id: str
    evaluation: Evaluation
    stale: str | None = None


@dataclass(frozen=True)
class RunReport:
    """Everything a report shows of one run (``plain``: the Plain baseline on the same split, or ``None``
    with ``plain_note`` saying why there is none beside the results)."""

    run_id: str
    run_name: str | None
    kind: str
    status: str
    created: str | None
    seed: int
    start: str
    dataset: str
    protocol: str
    split_seed: int
    classes: tuple[str, ...]
    roles: dict[str, str]
    counts: dict[str, dict[str, int]]
    settings: dict[str, Any]
    results: tuple[MethodResult, ...]
    plain: MethodResult | None
    plain_note: str

    @property
    def title(self) -> str:
        return f"Run {self.run_id}" + (f" ({self.run_name})" if self.run_name else "")


def find_plain(store: RunStore, fingerprint: str, exclude: str | None = None) -> MethodResult | None:
    """The newest Plain result of a baseline run on the split with ``fingerprint`` (finished runs first)."""
    rows = [r for r in store.list(kind="baseline")
            if r.id != exclude and r.split == fingerprint and PLAIN in r.results]
    for row in sorted(rows, key=lambda r: r.status_label != "done"):  # stable: newest first within each
        try:
            run = store.open(row.path)
            return MethodResult(PLAIN, run.id, run.evaluation(PLAIN), run.stale_results.get(PLAIN))
        except SclError:  # a vanished or damaged folder: try the next one
            continue
    return None


def build_report(run: Run, store: RunStore, methods: Sequence[str] | None = None) -> RunReport:
    """The report of ``run``'s stored results (only ``methods`` when given); ``CheckpointError`` when it has
    none of them yet."""
    from scl_desktop.core.weights.start import describe_start

    chosen = [m for m in run.methods() if not methods or m in methods]
    if not chosen:
        which = f"no {' or '.join(methods)} result" if methods else "no results"
        raise CheckpointError(f"Run {run.id} has {which} yet, so there is nothing to report.",
                              f"Fit a classifier first (`scl fit {run.id} --balance cb`), or see "
                              f"`scl evaluate {run.id}` for what it holds.")
    stale = run.stale_results
    results = tuple(MethodResult(m, run.id, run.evaluation(m), stale.get(m)) for m in chosen)
    split = run.split
    if PLAIN in run.methods():
        plain, note = None, "This run is the Plain baseline of its split."
    else:
        plain = find_plain(store, split.fingerprint(), exclude=run.id)
        note = (f"Plain: baseline run {plain.run_id} on the same split." if plain is not None else
                "No Plain baseline run on this split is in the run store, so there is nothing to set these "
                f"results beside. Train one with `scl baseline {run.path / SPLIT_FILE}`.")
    try:
        settings = dict(run.config)
    except CheckpointError:
        settings = {}
    return RunReport(
        run_id=run.id, run_name=run.name, kind=run.kind, status=run.status_label, created=run.created,
        seed=run.seed, start=describe_start(run.start_weights), dataset=split.dataset.source,
        protocol=split.protocol, split_seed=split.seed, classes=tuple(split.classes), roles=dict(split.roles),
        counts={p: split.counts(p) for p in PARTS}, settings=settings, results=results, plain=plain,
        plain_note=note,
    )


def per_class_rows(report: RunReport) -> list[dict[str, Any]]:
    """One row per method and class: role, training and test counts, times predicted, precision, recall,
    F1 and accuracy in percent (``None`` where undefined or no confusion matrix is stored)."""
    rows = []
    for result in report.results:
        ev = result.evaluation
        scores = ev.scores()
        for c in ev.classes:
            sc = scores.get(c)
            rows.append({
                "method": result.method, "class": c, "role": report.roles.get(c, ""),
                "train_n": report.counts["train"].get(c, 0), "test_n": ev.support.get(c, 0),
                "predicted_n": sc.predicted if sc else None,
                "precision": sc.precision if sc else None, "recall": sc.recall if sc else None,
                "f1": sc.f1 if sc else None, "accuracy": ev.per_class.get(c),
            })
    return rows


def per_class_csv(report: RunReport) -> str:
    """CSV text of ``per_class_rows`` (percentages with 4 decimals; empty where undefined)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in per_class_rows(report):
        writer.writerow(["" if row[k] is None else f"{row[k]:.4f}" if isinstance(row[k], float) else row[k]
                         for k in CSV_COLUMNS])
    return buf.getvalue()
