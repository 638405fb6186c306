"""Evaluate page: the Table-1 breakdown of the current run next to the Plain baseline and other runs
on the same split, per-class accuracy, a confusion-matrix heat map, training the Plain baseline,
exporting the selected result's run as a report to keep (core ``reports.write_report``) and its model
as ONNX (core ``workflows.onnx_export.export_run``, in the worker).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from scl_desktop.core.data.manifest import SplitManifest
from scl_desktop.core.errors import SclError
from scl_desktop.core.events import Log
from scl_desktop.core.reports import write_report
from scl_desktop.core.runs.store import RunStore
from scl_desktop.core.training.baseline import train_baseline
from scl_desktop.core.training.config import BaselineConfig
from scl_desktop.core.workflows.onnx_export import OnnxExport, export_run
from scl_desktop.gui.layout import scrolled, splitter, tool_row
from scl_desktop.gui.pages.common import config_choices, dataset_folder, default_config, read_form
from scl_desktop.gui.pages.config_labels import LABELS
from scl_desktop.gui.run_text import run_choice
from scl_desktop.gui.session import Session
from scl_desktop.gui.settings import AppSettings
from scl_desktop.gui.widgets.config_form import ConfigForm
from scl_desktop.gui.widgets.confusion import ConfusionMatrixView
from scl_desktop.gui.widgets.plots import RoleBarChart, legend_html
from scl_desktop.gui.widgets.results_table import PerClassTable, ResultRow, ResultsTable
from scl_desktop.gui.widgets.task_controls import TaskControls


def _form_dialog(parent: QWidget, title: str, form: QWidget) -> QDialog:
    """A non-modal dialog holding ``form`` in a scroll area (the form keeps its values when closed)."""
    dialog = QDialog(parent)
    dialog.setWindowTitle(title)
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(dialog.hide)
    layout = QVBoxLayout(dialog)
    layout.addWidget(scrolled(form))
    layout.addWidget(buttons)
    dialog.resize(460, 620)
    return dialog


def comparable_results(store: RunStore, split: SplitManifest, first: Any = None) -> list[ResultRow]:
    """Results of ``first`` (a run), then of every other run of ``store`` trained on the same split, each
    naming its run by name (or id), dataset and date (``run_text.run_choice``).

    Runs are matched by the split fingerprint in the run index, so no split file is read.
    """
    fingerprint = split.fingerprint()
    runs: list[Any] = [first] if first is not None else []
    index = store.list()
    labels = {row.id: run_choice(row, result=False) for row in index}
    for row in index:
        if row.results and row.split == fingerprint and (first is None or row.id != first.id):
            try:
                runs.append(store.open(row.path))
            except SclError:  # a folder that vanished or is damaged is left out, not the whole comparison
                continue
    rows: list[ResultRow] = []
    for run in runs:
        for method in run.methods():
            try:
                rows.append(ResultRow(method, run.id, run.evaluation(method), labels.get(run.id, run.id)))
            except SclError:
                continue
    return rows


class EvaluatePage(QWidget):
    """Results of the current run and of comparable runs; baseline training on the same split."""

    go_to = Signal(str)

    def __init__(self, session: Session, settings: AppSettings) -> None:
        super().__init__()
        self.session = session
        self.settings = settings
        self.heading = QLabel("No results yet: fit a classifier, or open a run on the Runs page.")
        self.heading.setObjectName("evaluateHeading")
        self.heading.setWordWrap(True)
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh)
        self.export_button = QPushButton("Export report…")
        self.export_button.setObjectName("exportReportButton")
        self.export_button.setToolTip("Save the results of the selected result's run as one self-contained HTML "
                                      "page to keep (Table 1 beside Plain, per-class precision, recall, F1, kappa, "
                                      "the confusion matrix), with its per-class table as a CSV file beside it.")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self.export_report)
        self.last_report: list[Path] = []
        self.onnx_button = QPushButton("Export ONNX…")
        self.onnx_button.setObjectName("exportOnnxButton")
        self.onnx_button.setToolTip("Save the selected result's model (encoder + classifier, one graph) as an ONNX "
                                    "file for other programs, with its class names and input preparation in the "
                                    "metadata; checked against torch with onnxruntime.")
        self.onnx_button.setEnabled(False)
        self.onnx_button.clicked.connect(self.export_onnx)
        self.last_onnx: OnnxExport | None = None
        self.table = ResultsTable()
        self.table.itemSelectionChanged.connect(self._show_selected)
        self.per_class = PerClassTable()
        self.class_bars = RoleBarChart("Per-class accuracy of the selected result", "accuracy (%)", x_range=(0, 112))
        self.confusion = ConfusionMatrixView()
        bars = QWidget()
        bars_layout = QVBoxLayout(bars)
        bars_layout.setContentsMargins(0, 0, 0, 0)
        bars_layout.addWidget(self.class_bars, 1)
        bars_layout.addWidget(QLabel(legend_html()))
        detail_tabs = QTabWidget()
        detail_tabs.addTab(bars, "Per-class accuracy")
        detail_tabs.addTab(self.per_class, "Per-class table (all results)")
        self.confusion_box = QGroupBox("Confusion matrix (selected result)")
        confusion_layout = QVBoxLayout(self.confusion_box)
        confusion_layout.addWidget(self.confusion)
        lower = splitter(Qt.Orientation.Horizontal, detail_tabs, self.confusion_box, sizes=(480, 520))

        # baseline
        default, _ = default_config(BaselineConfig, settings)
        self.baseline_form = ConfigForm(default, labels=LABELS, choices=config_choices())
        self.baseline_form.setObjectName("baselineForm")
        self.baseline_dialog = _form_dialog(self, "Baseline settings", self.baseline_form)
        self.baseline_controls = TaskControls(session, "Train Plain baseline")
        self.baseline_controls.start_button.setObjectName("baselineButton")
        self.baseline_controls.start_clicked.connect(self.train_baseline)
        baseline_box = QGroupBox("Baseline")
        baseline_box.setToolTip("The paper's Plain model: the same network trained end to end with cross-entropy, "
                                "on the same split, to show what the two-stage method adds.")
        baseline_box.setMaximumWidth(420)
        baseline_layout = QVBoxLayout(baseline_box)
        explain = QLabel("The same network trained end to end with plain cross-entropy on the same split.")
        explain.setWordWrap(True)
        baseline_layout.addWidget(explain)
        baseline_layout.addWidget(self.baseline_controls)
        settings_button = QPushButton("Baseline settings…")
        settings_button.clicked.connect(self.baseline_dialog.show)
        baseline_layout.addLayout(tool_row(settings_button))
        baseline_layout.addStretch(1)

        self.table.setMinimumHeight(150)
        results = QWidget()
        results_layout = QVBoxLayout(results)
        results_layout.setContentsMargins(0, 0, 0, 0)
        results_layout.addWidget(self.heading)
        results_layout.addLayout(tool_row(refresh, self.export_button, self.onnx_button))
        results_layout.addWidget(self.table, 1)
        upper = QWidget()
        upper_layout = QHBoxLayout(upper)
        upper_layout.setContentsMargins(0, 0, 0, 0)
        upper_layout.addWidget(results, 3)
        upper_layout.addWidget(baseline_box, 1)
        body = splitter(Qt.Orientation.Vertical, upper, lower, sizes=(240, 520))
        layout = QVBoxLayout(self)
        layout.addWidget(body, 1)

        session.run_changed.connect(self.refresh)
        session.split_changed.connect(self._split_changed)
        session.results_changed.connect(self.refresh)
        self._split_changed()

    def current_split(self) -> SplitManifest | None:
        """The split results are compared on: the current run's, else the Dataset page's."""
        run = self.session.run
        if run is not None:
            try:
                return run.split
            except SclError:
                return None
        return self.session.split

    def _split_changed(self, *_args: object) -> None:
        self.baseline_controls.set_startable(self.current_split() is not None)

    def refresh(self, *_args: object) -> None:
        """Reload the results of the current run and of every run on the same split."""
        self._split_changed()
        split = self.current_split()
        run = self.session.run
        if split is None:
            self.table.set_rows([])
            self._show_selected()
            return
        try:
            rows = comparable_results(self.session.store, split, run)
        except SclError as exc:
            self.session.error.emit("Cannot read the results", exc, "")
            rows = []
        self.table.set_rows(rows)
        self.per_class.set_rows(rows)
        who = f"run <b>{run.id}</b>" if run is not None else "the current split"
        self.heading.setText(f"Results of {who} and of other runs on the same split ({split.protocol}, seed "
                             f"{split.seed}, {len(split.classes)} classes, {len(split.test)} test images)."
                             if rows else f"No results yet for {who}: fit a classifier or train the baseline.")
        if rows:
            self.table.selectRow(0)
        self._show_selected()

    def _show_selected(self) -> None:
        row = self.table.selected()
        self.export_button.setEnabled(row is not None)
        self.onnx_button.setEnabled(row is not None)
        if row is None:
            self.class_bars.set_values({})
            self.confusion.clear()
            return
        ev = row.evaluation
        self.class_bars.set_values({c: v or 0.0 for c, v in ev.per_class.items()}, ev.roles)
        self.confusion.set_matrix(ev.classes, ev.confusion, ev.roles)
        self.confusion_box.setTitle(f"Confusion matrix: {row.method} ({row.run_id})")

    # -- exports -------------------------------------------------------------------------
    def _ask_target(self, purpose: str, what: str, name: str, file_filter: str) -> tuple[Any, Any, Path] | None:
        """The selected result, its run and the file to save ``what`` of it in (``None``: nothing selected,
        cancelled, or an error shown). The save dialog starts in the last folder used for ``purpose``, else
        the dataset's folder, with ``name`` (``{run}`` and ``{method}`` filled in); its suffix is the default."""
        row = self.table.selected()
        if row is None:
            return None
        try:
            run = self.session.store.open(row.run_id)
            source = Path(run.split.dataset.source)
        except SclError as exc:
            self.session.error.emit(f"Cannot export the {what}", exc, "")
            return None
        start = Path(self.settings.last_folder(purpose, dataset_folder(source)))
        default = start / name.format(run=run.id, method=row.method)
        path, _ = QFileDialog.getSaveFileName(self, f"Save the {what}", str(default), file_filter)
        if not path:
            return None
        return row, run, Path(path) if Path(path).suffix else Path(path).with_suffix(default.suffix)

    def export_report(self) -> None:
        """Ask where to save the selected result's run as an HTML report (``<name>_per_class.csv`` goes beside
        it), starting in the last report folder, else the dataset's folder; then write both."""
        asked = self._ask_target("report", "report", "{run}_report.html", "HTML page (*.html);;All files (*)")
        if asked is None:
            return
        _row, run, target = asked
        try:
            self.last_report = write_report(run, self.session.store, html=target,
                                            csv=target.with_name(f"{target.stem}_per_class.csv"))
        except SclError as exc:
            self.session.error.emit("Cannot write the report", exc, "")
            return
        self.settings.remember_folder("report", target)
        self.session.log.emit("Report written: " + ", ".join(str(p) for p in self.last_report), "info")

    def export_onnx(self) -> None:
        """Ask where to save the selected result's model as ONNX (starting in the last ONNX folder, else the
        dataset's folder), then export and check it in the worker; the log says where it went."""
        asked = self._ask_target("onnx", "model", "{run}_{method}.onnx", "ONNX model (*.onnx);;All files (*)")
        if asked is None:
            return
        row, run, target = asked
        folder, method = run.path, row.method  # the worker opens the run itself
        task = self.session.start_task("Export ONNX", lambda _token: export_run(folder, target, method))
        if task is None:
            return
        task.event.connect(self._on_event)
        task.finished.connect(self._onnx_written)

    def _onnx_written(self, export: OnnxExport) -> None:
        self.last_onnx = export
        self.settings.remember_folder("onnx", export.path)
        self.session.log.emit(f"ONNX model written: {export.path} ({export.method} of run {export.run_id})", "info")

    # -- baseline ------------------------------------------------------------------------
    def train_baseline(self) -> None:
        """Train the baseline (Plain unless the settings say CB or CSCE) on the current split."""
        split = self.current_split()
        if split is None:
            return
        config = read_form(self.session, self.baseline_form, "baseline")
        if config is None:
            return
        task = self.session.start_task("Baseline", lambda token: train_baseline(split, config, cancel=token, run_store=self.session.store))
        if not self.baseline_controls.track(task, "Starting the baseline…"):
            return
        assert task is not None
        task.event.connect(self._on_event)
        task.finished.connect(lambda _result: self.refresh())
        task.cancelled.connect(self._baseline_cancelled)

    def _baseline_cancelled(self, run: object) -> None:
        """Show the cancelled baseline's run (it keeps its checkpoint) and say how to finish it."""
        if run is not None:
            self.session.log.emit(f"The baseline run {run.id} keeps its checkpoint; finish it with "
                                  f"`scl baseline --resume {run.id}` (the app trains baselines anew).", "warning")
        self.refresh()

    def _on_event(self, event: object) -> None:
        if isinstance(event, Log):
            self.session.log.emit(event.message, event.level)
