"""Shared state of one app window: the open dataset, split, current run, the run store, and the running task.

Pages read and set this state and react to its signals instead of talking to each other.
Only one long task runs at a time (training competes for the same CPU/GPU).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from scl_desktop.core.data.manifest import DatasetManifest, SplitManifest
from scl_desktop.core.paths import runs_dir
from scl_desktop.core.runs.store import RunStore
from scl_desktop.gui.run_text import run_title
from scl_desktop.gui.worker import StepFactory, Task


class Session(QObject):
    """Dataset, split, run and task shared by the pages of one main window."""

    dataset_changed = Signal(object)
    split_changed = Signal(object)
    run_changed = Signal(object)
    results_changed = Signal()
    busy_changed = Signal(bool)
    log = Signal(str, str)  # message, level
    error = Signal(str, object, str)  # title, exception or message, details

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.dataset: DatasetManifest | None = None
        self.split: SplitManifest | None = None
        self.run: Any = None
        self.task: Task | None = None
        self._store: RunStore | None = None

    @property
    def store(self) -> RunStore:
        """The runs of the current runs folder (a new store after the folder was moved in Settings)."""
        if self._store is None or self._store.root != runs_dir():
            self._store = RunStore()
        return self._store

    # -- state ---------------------------------------------------------------------------
    # One rule keeps the three consistent: the current run was trained on the current split, which was
    # drawn from the current dataset. A new dataset or split drops a run of another split; a run that is
    # opened brings its own split and dataset along.
    def set_dataset(self, dataset: DatasetManifest | None) -> None:
        self.dataset = dataset
        self.split = None
        self.dataset_changed.emit(dataset)
        self.split_changed.emit(None)
        if self.run is not None:  # it was trained on a split of the dataset before
            self.set_run(None)

    def set_split(self, split: SplitManifest | None) -> None:
        self.split = split
        self.split_changed.emit(split)
        if self.run is not None and (split is None or not run_matches(self.run, split)):
            self.set_run(None)

    def set_run(self, run: Any) -> None:
        """Make ``run`` current; when it was trained on another split than the current one, its split (and
        dataset) become current too, so that every page works on the run's own data."""
        self.run = run
        if run is not None and (self.split is None or not run_matches(run, self.split)):
            split = run.split
            if self.dataset is None or self.dataset.source != split.dataset.source:
                self.dataset = split.dataset
                self.dataset_changed.emit(split.dataset)
            self.split = split
            self.split_changed.emit(split)
        self.run_changed.emit(run)

    def describe_run(self) -> str:
        """The current run, its dataset and split in a few words (for the pages' "which run" labels)."""
        run = self.run
        if run is None:
            return "no run"
        name = run_title(run.name, run.id)
        source = Path(run.record.get("source") or run.split.dataset.source).name
        return f"{name}, {run.status_label}, on {source} ({run.split.protocol} split, train {len(run.split.train)})"

    # -- tasks ---------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self.task is not None and self.task.running

    def start_task(self, name: str, factory: StepFactory) -> Task | None:
        """Create and start a task unless one is already running (then say so and return None).

        Connect to the returned task's signals right away: events are delivered only once the
        GUI event loop runs again, so nothing is missed.
        """
        if self.busy:
            assert self.task is not None
            self.error.emit("Busy", f"'{self.task.name}' is still running.",
                            "Wait for it to finish or cancel it first.")
            return None
        task = Task(name, factory, self)
        task.failed.connect(self._on_task_failed)
        task.cancelled.connect(self._on_task_cancelled)
        task.done.connect(self._on_task_done)
        self.task = task
        self.log.emit(f"{name}: started", "info")
        task.start()
        self.busy_changed.emit(True)
        return task

    def cancel_task(self) -> None:
        if self.busy:
            assert self.task is not None
            self.log.emit(f"{self.task.name}: cancelling (stops at the next step, work so far is kept)", "warning")
            self.task.cancel()

    def _on_task_failed(self, exc: object, tb: str) -> None:
        name = self.task.name if self.task else "Task"
        self.error.emit(f"{name} failed", exc, tb)

    def _on_task_cancelled(self, _result: object) -> None:
        name = self.task.name if self.task else "Task"
        self.log.emit(f"{name}: cancelled; work done so far was kept", "warning")

    def _on_task_done(self) -> None:
        self.busy_changed.emit(False)


def run_matches(run: Any, split: SplitManifest) -> bool:
    """Whether ``run`` was trained on ``split`` (the same dataset, classes and train and test images)."""
    recorded = run.record.get("split_fingerprint")
    return (recorded or run.split.fingerprint()) == split.fingerprint()
