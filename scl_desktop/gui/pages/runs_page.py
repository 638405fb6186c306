"""Runs page: the history from the run index; open a past run's curves and results, make it the
current run, compare runs side by side (with a warning and no winner when they were trained on
different datasets or splits), rename, annotate, delete.
"""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QInputDialog,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from scl_desktop.core.errors import SclError
from scl_desktop.core.runs.compare import comparison_warning
from scl_desktop.core.weights.start import describe_start
from scl_desktop.gui import dialogs
from scl_desktop.gui.layout import splitter, tool_row
from scl_desktop.gui.run_text import created_text, run_choice, run_title
from scl_desktop.gui.session import Session
from scl_desktop.gui.settings import AppSettings
from scl_desktop.gui.widgets.plots import LiveCurves
from scl_desktop.gui.widgets.results_table import PerClassTable, ResultRow, ResultsTable

STAGE_COLORS = ("#2f6fd0", "#e07b24", "#3a9a5b", "#8e44ad", "#c0392b", "#7a8594")
COLUMNS = ("Run", "Kind", "Created", "Status", "Dataset", "Arch", "Best method", "Majority", "Minority", "Overall",
           "Note")
NOTE_COLUMN = len(COLUMNS) - 1


class RunsPage(QWidget):
    """Every run the store knows, newest first."""

    go_to = Signal(str)

    def __init__(self, session: Session, settings: AppSettings) -> None:
        super().__init__()
        self.session = session
        self.settings = settings
        self.rows: list[Any] = []
        self.opened: Any = None
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("runsTable")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(NOTE_COLUMN, QHeaderView.ResizeMode.Stretch)
        self.table.doubleClicked.connect(lambda _index: self.open_selected())

        buttons = {}
        for key, text, slot, tip in (
                ("refresh", "Refresh", self.refresh, "Re-read the run folders."),
                ("open", "Open", self.open_selected, "Show the selected run's curves and results below."),
                ("use", "Make current", self.use_selected, "Continue with this run on the Classifier and Evaluate "
                 "pages (fit another classifier, resume, compare with baselines)."),
                ("compare", "Compare", self.compare_selected, "Select two or more runs, then compare their results."),
                ("rename", "Rename…", self.rename_selected, "Give the selected run a name (unique among the runs); "
                 "it can then be named by it everywhere, also in `scl` commands."),
                ("note", "Note…", self.note_selected, "Write a note on the selected run (what it tried, what came "
                 "out); shown in the Note column and by `scl runs show`."),
                ("delete", "Delete…", self.delete_selected, "Delete the selected runs and their folders.")):
            button = QPushButton(text)
            button.setObjectName(f"runs_{key}")
            button.setToolTip(tip)
            button.clicked.connect(slot)
            buttons[key] = button
        self.buttons = buttons

        self.detail_label = QLabel("Select a run and press Open (or double-click it).")
        self.detail_label.setWordWrap(True)
        self.detail_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.loss_plot = LiveCurves("Loss per epoch", "epoch", "loss", [])
        self.acc_plot = LiveCurves("Accuracy per epoch (minority solid, overall dashed)", "epoch", "accuracy (%)",
                                   [], y_range=(0, 100))
        self.results = ResultsTable()
        curves = splitter(Qt.Orientation.Horizontal, self.loss_plot, self.acc_plot)
        detail = QWidget()
        detail_layout = QVBoxLayout(detail)
        detail_layout.addWidget(self.detail_label)
        detail_layout.addWidget(curves, 2)
        detail_layout.addWidget(self.results, 1)
        self.compare_warning = QLabel("")
        self.compare_warning.setObjectName("compareWarning")
        self.compare_warning.setWordWrap(True)
        self.compare_warning.setStyleSheet("color: #a04000; font-weight: bold")
        self.compare_warning.hide()
        self.compare_results = ResultsTable()
        self.compare_results.setObjectName("compareTable")
        self.compare_per_class = PerClassTable()
        compare = QWidget()
        compare_layout = QVBoxLayout(compare)
        compare_layout.setContentsMargins(0, 0, 0, 0)
        compare_layout.addWidget(self.compare_warning)
        compare_layout.addWidget(splitter(Qt.Orientation.Vertical, self.compare_results, self.compare_per_class), 1)
        self.tabs = QTabWidget()
        self.tabs.addTab(detail, "Opened run")
        self.tabs.addTab(compare, "Comparison")

        body = splitter(Qt.Orientation.Vertical, self.table, self.tabs, sizes=(260, 480))
        layout = QVBoxLayout(self)
        layout.addLayout(tool_row(*buttons.values()))
        layout.addWidget(body, 1)
        session.results_changed.connect(self.refresh)
        session.run_changed.connect(self.refresh)

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        self.refresh()

    # -- listing -------------------------------------------------------------------------
    def refresh(self, *_args: object) -> None:
        try:
            self.rows = sorted(self.session.store.list(), key=lambda r: r.created or "", reverse=True)
        except SclError as exc:
            self.session.error.emit("Cannot read the run history", exc, "")
            self.rows = []
        self.table.setRowCount(len(self.rows))
        for i, row in enumerate(self.rows):
            best = row.best("overall")
            method, summary = best if best else ("", {})
            values = (run_title(row.name, row.id), row.kind, created_text(row.created), row.status_label,
                      row.dataset_name, row.arch or "", method, _pct(summary.get("majority")),
                      _pct(summary.get("minority")), _pct(summary.get("overall")), row.note or "")
            tips = {0: run_choice(row), 4: row.source or "", NOTE_COLUMN: row.note or ""}
            for col, value in enumerate(values):
                item = QTableWidgetItem(value)
                if 7 <= col < NOTE_COLUMN:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if col in tips:
                    item.setToolTip(tips[col])
                self.table.setItem(i, col, item)

    def selected_rows(self) -> list[Any]:
        """The index rows (``RunRow``) of the selected runs."""
        return [self.rows[index.row()] for index in self.table.selectionModel().selectedRows()]

    def selected_ids(self) -> list[str]:
        return [row.id for row in self.selected_rows()]

    def select_run(self, run_id: str) -> None:
        """Select the row of ``run_id`` (for the keyboard-less and for tests)."""
        for i, row in enumerate(self.rows):
            if row.id == run_id:
                self.table.selectRow(i)
                return

    def _open(self, run_id: str) -> Any:
        try:
            return self.session.store.open(run_id)
        except SclError as exc:
            self.session.error.emit("Cannot open the run", exc, "")
            return None

    # -- actions -------------------------------------------------------------------------
    def open_selected(self) -> None:
        """Show the (first) selected run's curves and results."""
        ids = self.selected_ids()
        if not ids:
            return
        run = self._open(ids[0])
        if run is None:
            return
        self.opened = run
        self.tabs.setCurrentIndex(0)
        self.detail_label.setText(f"<b>{run.id}</b> — {run.kind}, {run.status_label}, seed {run.seed}, started from "
                                  f"{html.escape(describe_start(run.start_weights))}<br>{run.path}")
        self.loss_plot.remove_all_series()
        self.acc_plot.remove_all_series()
        try:
            for i, stage in enumerate(run.metrics_stages()):
                rows = run.read_metrics(stage)
                epochs = [r.get("epoch") for r in rows]
                color = STAGE_COLORS[i % len(STAGE_COLORS)]
                if any(r.get("loss") is not None for r in rows):  # the encoder's kNN probe has accuracies only
                    self.loss_plot.ensure_series(stage, color)
                    self.loss_plot.set_series(stage, *_pairs(epochs, [r.get("loss") for r in rows]))
                if any(r.get("overall") is not None for r in rows):
                    for key, dashed in (("minority", False), ("overall", True)):
                        name = f"{key} ({stage})"
                        self.acc_plot.ensure_series(name, color, dashed=dashed)
                        self.acc_plot.set_series(name, *_pairs(epochs, [r.get(key) for r in rows]))
            self.results.set_rows([ResultRow(m, run.id, run.evaluation(m)) for m in run.methods()])
        except SclError as exc:
            self.session.error.emit("Cannot read the run's results", exc, "")

    def use_selected(self) -> None:
        """Make the selected run the current one and show its results on the Evaluate page."""
        ids = self.selected_ids()
        run = self._open(ids[0]) if ids else None
        if run is not None:
            self.session.set_run(run)
            self.session.log.emit(f"Current run: {run.id}", "info")
            self.go_to.emit("evaluate")

    def compare_selected(self) -> None:
        """Put the results of all selected runs side by side; runs of different datasets or splits get a
        warning and no winner (core ``runs.compare.comparison_warning``)."""
        rows: list[ResultRow] = []
        selected = self.selected_rows()
        for index_row in selected:
            run = self._open(index_row.id)
            if run is None:
                return
            label = run_choice(index_row, result=False)
            try:
                rows += [ResultRow(m, run.id, run.evaluation(m), label) for m in run.methods()]
            except SclError as exc:
                self.session.error.emit("Cannot read the run's results", exc, "")
                return
        if not rows:
            self.session.error.emit("Nothing to compare", "The selected runs have no results yet.",
                                    "Fit a classifier or train a baseline first.")
            return
        classes = {tuple(r.evaluation.classes) for r in rows}
        warning = comparison_warning(selected)
        self.compare_warning.setText(warning or "")
        self.compare_warning.setVisible(warning is not None)
        self.compare_results.set_rows(rows, mark_best=warning is None)
        self.compare_per_class.set_rows(rows if len(classes) == 1 else [])
        self.tabs.setCurrentIndex(1)

    def rename_selected(self) -> None:
        """Ask for a new name of the (first) selected run and give it (``RunStore.rename``)."""
        selected = self.selected_rows()
        if not selected:
            return
        row = selected[0]
        name, ok = QInputDialog.getText(self, "Rename the run", f"Name of run {row.id}:", text=row.name or "")
        if not ok or not name.strip():
            return
        try:
            run = self.session.store.rename(row.id, name)
        except SclError as exc:
            self.session.error.emit("Cannot rename the run", exc, "")
            return
        self.session.log.emit(f"Run {run.id} is now named {run.name}", "info")
        self._edited(run)

    def note_selected(self) -> None:
        """Ask for the note of the (first) selected run and store it (``Run.set_note``; empty removes it)."""
        selected = self.selected_rows()
        if not selected:
            return
        row = selected[0]
        text, ok = QInputDialog.getMultiLineText(self, "Note on the run", f"Note on run {run_title(row.name, row.id)}:",
                                                 row.note or "")
        run = self._open(row.id) if ok else None
        if run is None:
            return
        try:
            run.set_note(text)
        except SclError as exc:
            self.session.error.emit("Cannot save the note", exc, "")
            return
        self.session.log.emit(f"Note on run {run.id} " + ("saved" if run.note else "removed"), "info")
        self._edited(run)

    def _edited(self, run: Any) -> None:
        """Show a renamed or annotated run again; the current one is set anew so every page names it anew."""
        if self.session.run is not None and self.session.run.id == run.id:
            self.session.set_run(run)
        self.refresh()
        self.select_run(run.id)

    def delete_selected(self) -> None:
        """Delete the selected runs (after asking) with their folders."""
        ids = self.selected_ids()
        if not ids:
            return
        if self.session.busy:
            self.session.error.emit("Busy", "Runs cannot be deleted while a task runs.", "Wait or cancel it first.")
            return
        if not dialogs.ask(self, "Delete runs?", f"Delete {len(ids)} run(s) and their folders (checkpoints, "
                                                 f"results)? This cannot be undone.\n\n" + "\n".join(ids)):
            return
        for run_id in ids:
            try:
                self.session.store.delete(run_id)
            except SclError as exc:
                self.session.error.emit("Cannot delete the run", exc, "")
                continue
            if self.session.run is not None and self.session.run.id == run_id:
                self.session.set_run(None)
            self.session.log.emit(f"Deleted run {run_id}", "info")
        self.refresh()


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def _pairs(xs: list[Any], ys: list[Any]) -> tuple[list[float], list[float]]:
    kept = [(x, y) for x, y in zip(xs, ys, strict=True) if isinstance(x, int | float) and isinstance(y, int | float)]
    return [x for x, _ in kept], [y for _, y in kept]
