"""Label page: batch labelling of new imagery with a trained run, and review of the results.

Drop image folders, GeoTIFF tiles or large scenes on the window (or add them with the buttons),
choose the run and its model, how scenes are cut into windows, the batch size and device, and
press Label. ``core.labelling.label.label_inputs`` runs in a worker; its ``LabelBatch`` events fill
the results table live. At the end: thumbnails, the class histogram, each classified scene
drawn over its image, and exports (``core.labelling.export.export_outputs``) with their report.
All labelling logic is in ``core``; this page collects options and draws what comes back.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from scl_desktop.core.data.demo import demo_data_of, ensure_demo_scene
from scl_desktop.core.data.gsd import dataset_gsd, format_gsd
from scl_desktop.core.data.imaging import SUPPORTED_EXTENSIONS
from scl_desktop.core.errors import Cancelled, SclError
from scl_desktop.core.events import CancelToken, Log, Progress
from scl_desktop.core.labelling.label import (
    LabelBatch,
    LabelConfig,
    best_method,
    label_inputs,
    training_tile,
)
from scl_desktop.core.labelling.tiling import TilingConfig
from scl_desktop.core.labelling.types import LabelResult
from scl_desktop.gui.layout import scrolled, splitter, tool_row
from scl_desktop.gui.pages.common import DEVICE_CHOICES, dataset_folder
from scl_desktop.gui.run_text import run_choice
from scl_desktop.gui.session import Session
from scl_desktop.gui.settings import AppSettings
from scl_desktop.gui.widgets.label_export import ExportPanel
from scl_desktop.gui.widgets.label_table import (
    LabelFilterProxy,
    LabelTableModel,
    LabelTableView,
    class_colour_names,
    swatch_icon,
)
from scl_desktop.gui.widgets.plots import RoleBarChart
from scl_desktop.gui.widgets.scene_view import SceneOverlayView
from scl_desktop.gui.widgets.task_controls import TaskControls

MAX_PREVIEWS = 16
PREVIEW_SIDE = 1024
IMAGE_FILTER = ("Images and GeoTIFF (" + " ".join(f"*{e}" for e in sorted(SUPPORTED_EXTENSIONS)) + ");;All files (*)")


@dataclass
class LabelOutcome:
    """What a labelling task returns: the engine's result and a preview image per scene (or ``None``)."""

    result: LabelResult
    previews: list[np.ndarray | None]


def label_step(run_id: str, inputs: Sequence[Path], config: LabelConfig,
               token: CancelToken) -> Generator[Any, None, LabelOutcome]:
    """Label ``inputs`` with run ``run_id`` (``core.labelling.label_inputs``), then read a downsampled
    preview of each scene (the first ``MAX_PREVIEWS``) to draw the classes over. On cancel raises
    ``Cancelled`` whose ``kept`` is the ``LabelOutcome`` of the rows so far (no previews), or ``None``."""
    try:
        result = yield from label_inputs(run_id, list(inputs), config, token)
    except Cancelled as exc:
        kept = LabelOutcome(exc.kept, [None] * len(exc.kept.scenes)) if exc.kept is not None else None
        raise Cancelled(exc.what, exc.hint, kept=kept) from exc
    previews: list[np.ndarray | None] = []
    for n, scene in enumerate(result.scenes):
        if token.cancelled or n >= MAX_PREVIEWS:
            previews.append(None)
            continue
        yield Progress("Scene previews", n, len(result.scenes), unit="scenes")
        try:
            previews.append(result.preview(scene, PREVIEW_SIDE))
        except Exception as exc:  # noqa: BLE001 - a preview is a nicety: say why it is missing, go on
            yield Log(f"No preview of {scene.input.path}: {exc}", "warning")
            previews.append(None)
    if len(result.scenes) > MAX_PREVIEWS:
        yield Log(f"Previews were drawn for the first {MAX_PREVIEWS} of {len(result.scenes)} scenes; the others show "
                  "their classes without the image.", "warning")
    return LabelOutcome(result, previews)


class LabelPage(QWidget):
    """Inputs and options on the left; progress, results table, scene and histogram on the right."""

    def __init__(self, session: Session, settings: AppSettings) -> None:
        super().__init__()
        self.session = session
        self.settings = settings
        self.inputs: list[Path] = []
        self.run: Any = None
        self.outcome: LabelOutcome | None = None
        self._prefer_current = True

        # --- 1. inputs
        inputs_box = QGroupBox("1 · Images to label")
        hint = QLabel("Drop image folders, GeoTIFF tiles or large scenes anywhere on this page, or add them:")
        hint.setWordWrap(True)
        self.input_list = QListWidget()
        self.input_list.setObjectName("labelInputs")
        self.input_list.setMinimumHeight(70)
        self.input_list.setMaximumHeight(84)
        buttons = []
        for text, slot, tip in (
                ("Add folder…", self.choose_folder, "A folder of images (searched recursively)."),
                ("Add files…", self.choose_files, "Image files, GeoTIFF tiles or large GeoTIFF scenes."),
                ("Demo scene", self.add_demo_scene, "The built-in synthetic 1024 × 1024 px GeoTIFF scene (UTM 33N) "
                 "made of demo-class patches."),
                ("Clear", self.clear_inputs, "Remove every input from the list.")):
            button = QPushButton(text)
            button.setToolTip(tip)
            button.clicked.connect(slot)
            buttons.append(button)
        inputs_layout = QVBoxLayout(inputs_box)
        inputs_layout.addWidget(hint)
        inputs_layout.addLayout(tool_row(*buttons[:2]))
        inputs_layout.addLayout(tool_row(*buttons[2:]))
        inputs_layout.addWidget(self.input_list)

        # --- 2. model
        model_box = QGroupBox("2 · Model and device")
        model_form = QFormLayout(model_box)
        self.run_combo = QComboBox()
        self.run_combo.setObjectName("labelRun")
        self.run_combo.setToolTip("A run with at least one trained classifier (see the Runs page).")
        self.run_combo.currentIndexChanged.connect(self._run_chosen)
        self.method_combo = QComboBox()
        self.method_combo.setObjectName("labelMethod")
        self.method_combo.setToolTip("Which model of the run. best: the one with the highest overall test accuracy.")
        self.model_info = QLabel("")
        self.model_info.setWordWrap(True)
        self.model_info.setStyleSheet("color: #404a57")
        self.batch = QSpinBox()
        self.batch.setRange(1, 4096)
        self.batch.setValue(LabelConfig.batch_size)
        self.batch.setToolTip("Images per batch. Lower it if the device runs out of memory.")
        self.device = QComboBox()
        self.device.addItems(list(DEVICE_CHOICES))
        self.device.setCurrentText(settings.device)
        self.device.setToolTip("auto: a CUDA GPU, then Apple MPS, then the CPU.")
        model_form.addRow("Run", self.run_combo)
        model_form.addRow("Method", self.method_combo)
        model_form.addRow(self.model_info)
        model_form.addRow("Batch size", self.batch)
        model_form.addRow("Device", self.device)

        # --- 3. tiling
        tiling_box = QGroupBox("3 · Cutting scenes into windows")
        tiling_form = QFormLayout(tiling_box)
        self.mode = QComboBox()
        for text, value in (("auto: cut images that hold two windows", "auto"), ("whole: never cut", "whole"),
                            ("grid: always cut", "grid")):
            self.mode.addItem(text, value)
        self.mode.setToolTip("auto cuts an image into windows when at least two fit along one side; smaller images "
                             "are labelled whole, as the training images were.")
        self.units = QComboBox()
        self.units.addItem("pixels", "px")
        self.units.addItem("metres (projected CRS)", "m")
        self.units.setToolTip("Window size and stride in pixels, or in metres of each scene's CRS "
                              "(converted with its pixel size).")
        self.units.currentIndexChanged.connect(self._units_changed)
        self.tile = QDoubleSpinBox()
        self.tile.setRange(0, 100_000)
        self.tile.setSpecialValueText("training image size")
        self.tile.setToolTip("Window size. Default: the median size of the training images, so windows cover "
                             "about the ground the model learned from when the resolution matches.")
        self.stride = QDoubleSpinBox()
        self.stride.setRange(0, 100_000)
        self.stride.setSpecialValueText("window size (no overlap)")
        self.stride.setToolTip("Step between windows; smaller than the window size makes them overlap.")
        self.edge = QComboBox()
        self.edge.addItem("shift back inside the scene", "shift")
        self.edge.addItem("pad with nodata", "pad")
        self.edge.setToolTip("Edge windows: moved back so they end at the scene edge (full windows that overlap "
                             "their neighbour), or left on the grid and padded with nodata.")
        self.min_valid = QDoubleSpinBox()
        self.min_valid.setRange(0.0, 1.0)
        self.min_valid.setSingleStep(0.05)
        self.min_valid.setValue(TilingConfig.min_valid)
        self.min_valid.setToolTip("Windows with a smaller share of valid (not nodata) pixels are skipped and counted.")
        tiling_form.addRow("Mode", self.mode)
        tiling_form.addRow("Units", self.units)
        tiling_form.addRow("Window", self.tile)
        tiling_form.addRow("Stride", self.stride)
        tiling_form.addRow("Edges", self.edge)
        tiling_form.addRow("Min. valid share", self.min_valid)
        self._units_changed()

        left = QWidget()
        left_layout = QVBoxLayout(left)
        for box in (inputs_box, model_box, tiling_box):
            left_layout.addWidget(box)
        left_layout.addStretch(1)
        left_scroll = scrolled(left)
        left_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        left_scroll.setMinimumWidth(310)
        for combo in (self.run_combo, self.method_combo, self.mode, self.units, self.edge, self.device):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(10)

        # --- right: run controls and results
        self.controls = TaskControls(session, "Label", cancelled_text="Cancelled; the rows so far are shown.",
                                     cancel_tip="Stop after the current batch; the rows so far are kept.")
        self.controls.start_clicked.connect(self.start)
        self.summary = self.controls.progress.status  # progress while labelling, then what came out
        self.summary.setWordWrap(True)
        self.summary.setText("Add images or scenes, choose a run, then press Label.")

        self.model = LabelTableModel()
        self.proxy = LabelFilterProxy(self.model)
        self.table = LabelTableView(self.proxy)
        self.class_filter = QComboBox()
        self.class_filter.setObjectName("classFilter")
        self.class_filter.setMinimumContentsLength(12)
        self.class_filter.currentIndexChanged.connect(self._filter_changed)
        self.min_confidence = QSpinBox()
        self.min_confidence.setObjectName("minConfidence")
        self.min_confidence.setRange(0, 100)
        self.min_confidence.setSuffix(" %")
        self.min_confidence.setToolTip("Show only rows at least this confident.")
        self.min_confidence.valueChanged.connect(self._filter_changed)
        self.shown = QLabel("")
        self.shown.setObjectName("rowsShown")
        filters = QHBoxLayout()
        filters.addWidget(QLabel("Class"))
        filters.addWidget(self.class_filter)
        filters.addWidget(QLabel("Min. confidence"))
        filters.addWidget(self.min_confidence)
        filters.addStretch(1)
        filters.addWidget(self.shown)
        table_box = QWidget()
        table_layout = QVBoxLayout(table_box)
        table_layout.setContentsMargins(0, 0, 0, 0)
        table_layout.addLayout(filters)
        table_layout.addWidget(self.table, 1)

        self.scene_view = SceneOverlayView()
        self.histogram = RoleBarChart(None, "images / windows per predicted class")
        self.histogram.setObjectName("labelHistogram")
        self.histogram.setToolTip("Rows per predicted class, in the colours of the scene overlay and the "
                                  "classification GeoTIFF.")
        listing = splitter(Qt.Orientation.Vertical, table_box, self.histogram, stretch=(3, 2), sizes=(330, 200))
        results = splitter(Qt.Orientation.Horizontal, listing, self.scene_view, stretch=(1, 1), sizes=(540, 420))

        self.exporter = ExportPanel(session, settings)

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.addWidget(self.controls)
        right_layout.addWidget(results, 1)
        right_layout.addWidget(self.exporter)

        body = splitter(Qt.Orientation.Horizontal, left_scroll, right, stretch=(0, 1), sizes=(340, 960))
        page = QScrollArea()  # a window narrower than the page needs scrolls instead of squeezing the table
        page.setObjectName("labelPageScroll")
        page.setFrameShape(QScrollArea.Shape.NoFrame)
        page.setWidget(body)
        page.setWidgetResizable(True)
        layout = QVBoxLayout(self)
        layout.addWidget(page)

        self.model.rows_changed.connect(self._rows_changed)
        self.table.selectionModel().currentRowChanged.connect(self._row_selected)
        self.scene_view.cell_clicked.connect(self.select_window)
        session.run_changed.connect(self._runs_changed)
        session.results_changed.connect(self._runs_changed)
        session.busy_changed.connect(self._update_buttons)
        self._set_classes(())
        self._update_buttons()

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        self.refresh_runs()  # runs may have been trained or deleted elsewhere (the CLI) meanwhile

    def _runs_changed(self, *_args: object) -> None:
        self._prefer_current = True  # a new current run or new results: offer that run
        if self.isVisible():
            self.refresh_runs()

    # -- inputs --------------------------------------------------------------------------
    def add_inputs(self, paths: Sequence[Path]) -> None:
        """Add files or folders to label (what was dropped or chosen); missing paths are refused with a message."""
        paths = [Path(p) for p in paths]
        missing = [p for p in paths if not p.exists()]
        if missing:
            self.session.error.emit("Cannot add these inputs",
                                    SclError(f"{missing[0]} does not exist.", "Check the path and add it again."), "")
            return
        for path in paths:
            if path not in self.inputs:
                self.inputs.append(path)
                self.input_list.addItem(str(path))
                self.input_list.item(self.input_list.count() - 1).setToolTip(str(path))
        if paths:
            self.settings.remember_folder("label", paths[0])
        self._update_buttons()

    def clear_inputs(self) -> None:
        self.inputs = []
        self.input_list.clear()
        self._update_buttons()

    def _dataset_folder(self) -> Path | None:
        """The folder of the current dataset, where file dialogs start before one was used."""
        dataset = self.session.dataset
        return dataset_folder(dataset.source) if dataset is not None and dataset.source else None

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of images to label", self.settings.last_folder("label", self._dataset_folder()))
        if folder:
            self.add_inputs([Path(folder)])

    def choose_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Images or GeoTIFF scenes to label",
                                                self.settings.last_folder("label", self._dataset_folder()), IMAGE_FILTER)
        if files:
            self.add_inputs([Path(f) for f in files])

    def add_demo_scene(self) -> None:
        """Add the built-in demo GeoTIFF scene (written once, in a worker)."""
        task = self.session.start_task("Demo scene", lambda _token: _demo_scene_step())
        if task is not None:
            task.finished.connect(lambda path: self.add_inputs([path]))

    # -- runs ----------------------------------------------------------------------------
    def refresh_runs(self) -> None:
        """List the runs that have a trained classifier; keep the choice, except that a new current run
        (or new results) is chosen once."""
        keep = self.run_combo.currentData()
        current = self.session.run.id if self.session.run is not None else None
        if keep is None or self._prefer_current:
            keep, self._prefer_current = current or keep, False
        try:
            rows = [r for r in self.session.store.list() if r.results]
        except SclError as exc:
            self.session.error.emit("Cannot read the run history", exc, "")
            rows = []
        rows.sort(key=lambda r: r.created or "", reverse=True)
        self.run_combo.blockSignals(True)
        self.run_combo.clear()
        for row in rows:
            text = run_choice(row)
            self.run_combo.addItem(text, row.id)
            tip = "\n".join(t for t in (text, row.source, row.note) if t)
            self.run_combo.setItemData(self.run_combo.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        if not rows:
            self.run_combo.addItem("no run with a trained classifier yet", None)
        self.run_combo.setCurrentIndex(max(self.run_combo.findData(keep), 0))
        self.run_combo.blockSignals(False)
        self._run_chosen()

    def _run_chosen(self, *_args: object) -> None:
        run_id = self.run_combo.currentData()
        kept_method = self.method_combo.currentData() if self.run is not None and self.run.id == run_id else None
        self.method_combo.clear()
        self.run = None
        if run_id is None:
            self.model_info.setText("Train an encoder and fit a classifier first (Encoder and Classifier pages), or "
                                    "train a Plain baseline (Evaluate page).")
            self._update_buttons()
            return
        try:
            run = self.session.store.open(run_id)
            best = best_method(run)
            split = run.split
        except SclError as exc:
            self.model_info.setText(f"This run cannot be used: {exc.what}")
            self._update_buttons()
            return
        self.run = run
        self.method_combo.addItem(f"best: {best}", None)
        for method in run.methods():
            overall = run.evaluation(method).overall
            self.method_combo.addItem(method + (f" ({overall:.1f} %)" if overall is not None else ""), method)
        self.method_combo.setCurrentIndex(max(self.method_combo.findData(kept_method), 0))
        gsd = dataset_gsd(split.dataset)
        self.model_info.setText(
            f"{len(split.classes)} classes; windows of {training_tile(split)} px by default (the training images' size"
            + (f", {format_gsd(gsd)} per pixel)." if gsd is not None else ").")
            + (" Trained on the synthetic demo data: its labels of real imagery mean nothing."
               if demo_data_of(split.dataset) is not None else ""))
        if self.model.rowCount() == 0:
            self._set_classes(split.classes)
        self._update_buttons()

    # -- options -------------------------------------------------------------------------
    def _units_changed(self) -> None:
        metres = self.units.currentData() == "m"
        for spin in (self.tile, self.stride):
            spin.setDecimals(1 if metres else 0)
            spin.setSuffix(" m" if metres else " px")

    def label_config(self) -> LabelConfig:
        """The ``LabelConfig`` the widgets describe (``ConfigError`` for inconsistent values)."""
        metres = self.units.currentData() == "m"
        tile, stride = self.tile.value() or None, self.stride.value() or None
        tiling = TilingConfig(tile=None if metres or tile is None else int(tile), tile_m=tile if metres else None,
                              stride=None if metres or stride is None else int(stride),
                              stride_m=stride if metres else None, edge=self.edge.currentData(),
                              min_valid=self.min_valid.value(), mode=self.mode.currentData())
        config = LabelConfig(tiling=tiling, batch_size=self.batch.value(), device=self.device.currentText(),
                             method=self.method_combo.currentData())
        config.validate()
        return config

    # -- labelling -----------------------------------------------------------------------
    def start(self) -> None:
        """Label the inputs with the chosen run and options."""
        if self.run is None or not self.inputs:
            return
        try:
            config = self.label_config()
        except SclError as exc:
            self.session.error.emit("Invalid labelling settings", exc, "")
            return
        run_id, inputs, classes = self.run.id, list(self.inputs), self.run.split.classes
        task = self.session.start_task("Labelling", lambda token: label_step(run_id, inputs, config, token))
        if not self.controls.track(task, f"Labelling {len(self.inputs)} input(s) with run {self.run.id}: "
                                         "reading the inputs…"):
            return
        assert task is not None
        self.outcome = None
        self.model.start(classes)
        self._set_classes(classes)
        self.scene_view.clear("The classified scene appears here when labelling ends.")
        self.exporter.set_result(None)
        task.event.connect(self._on_event)
        task.finished.connect(self._show_outcome)
        task.cancelled.connect(self._on_cancelled)
        task.failed.connect(lambda *_: self.model.flush())
        self._update_buttons()

    def _on_event(self, event: object) -> None:
        if isinstance(event, LabelBatch):
            self.model.add_rows(event.rows)
        elif isinstance(event, Log):
            self.session.log.emit(event.message, event.level)

    def _on_cancelled(self, outcome: object) -> None:
        if isinstance(outcome, LabelOutcome):
            self._show_outcome(outcome, cancelled=True)
        else:  # stopped before any image was labelled
            self.model.flush()
            self.summary.setText("Cancelled before any image was labelled.")

    def _show_outcome(self, outcome: LabelOutcome, cancelled: bool = False) -> None:
        result = outcome.result
        self.outcome = outcome
        self.model.set_rows(result.rows, result.classes, result.thumbnails)
        self._set_classes(result.classes)
        self.scene_view.set_scenes(result.scenes, outcome.previews, result.classes)
        self.exporter.set_result(result)
        scenes = f", {len(result.scenes)} scene(s) cut into windows" if result.scenes else ""
        skipped = []
        if result.skipped_nodata:
            skipped.append(f"{result.skipped_nodata} mostly-nodata window(s) skipped")
        if result.skipped_files:
            skipped.append(f"{len(result.skipped_files)} unreadable file(s) or window(s) skipped (see the log)")
        head = (f"<b>Cancelled</b> after {result.done} of {result.total} tiles: the table shows the rows so far and "
                "exports hold only these." if cancelled
                else f"<b>{len(result.rows)}</b> rows from {len(result.inputs)} input(s){scenes}.")
        self.summary.setText(f"{head} Model {result.method} of run {result.run_id} on {result.device}, "
                             f"{result.seconds:.1f} s ({result.tiles_per_s:.1f} tiles/s)."
                             + (" " + "; ".join(skipped) + "." if skipped else ""))
        self._update_buttons()

    # -- results view --------------------------------------------------------------------
    def _set_classes(self, classes: Sequence[str]) -> None:
        keep = self.class_filter.currentData()
        self.class_filter.blockSignals(True)
        self.class_filter.clear()
        self.class_filter.addItem("all classes", None)
        colours = class_colour_names(classes)
        for i, name in enumerate(classes):
            self.class_filter.addItem(name, i)
            self.class_filter.setItemData(i + 1, swatch_icon(colours[name]), Qt.ItemDataRole.DecorationRole)
        self.class_filter.setCurrentIndex(max(self.class_filter.findData(keep), 0) if keep is not None else 0)
        self.class_filter.blockSignals(False)
        self.histogram.setMinimumHeight(min(400, max(140, 15 * len(classes) + 45)))  # class names must not overlap
        self._filter_changed()

    def set_filter(self, class_name: str | None, min_confidence_pct: int = 0) -> None:
        """Show only ``class_name`` (``None``: all) with at least ``min_confidence_pct`` % confidence."""
        index = 0 if class_name is None else self.class_filter.findText(class_name)
        self.class_filter.setCurrentIndex(max(index, 0))
        self.min_confidence.setValue(min_confidence_pct)

    def _filter_changed(self, *_args: object) -> None:
        class_index, confidence = self.class_filter.currentData(), self.min_confidence.value() / 100
        self.proxy.set_filter(class_index, confidence)
        self.scene_view.set_filter(class_index, confidence)
        self.scene_view.marker.setVisible(False)
        self._row_selected(self.table.currentIndex(), None)  # outline the selected row again, if still shown
        self._show_count()

    def _row_selected(self, current: Any, _previous: Any) -> None:
        row = self.table.row_at(current.row()) if current.isValid() else None
        if row is not None and row.cell_row is not None:
            self.scene_view.mark_cell(row.path, row.cell_row, row.cell_col)

    def select_window(self, path: str, cell_row: int, cell_col: int) -> None:
        """Select the table row of a scene window (when the filter shows it) and outline the window."""
        source = self.model.find(path, cell_row, cell_col)
        index = self.proxy.mapFromSource(self.model.index(source, 0)) if source >= 0 else None
        if index is not None and index.isValid():
            self.table.selectRow(index.row())
            self.table.scrollTo(index)
        else:
            self.scene_view.mark_cell(path, cell_row, cell_col)

    def _rows_changed(self) -> None:
        counts = self.model.class_counts()
        self.histogram.set_values(counts, colors=class_colour_names(list(counts)))
        self._show_count()

    def _show_count(self) -> None:
        total, shown = self.model.rowCount(), self.proxy.rowCount()
        self.shown.setText(f"{shown:,} of {total:,} rows" if shown != total else f"{total:,} rows")

    def _update_buttons(self, *_args: object) -> None:
        self.controls.set_startable(self.run is not None and bool(self.inputs))


def _demo_scene_step() -> Generator[Any, None, Path]:
    yield Log("Preparing the demo GeoTIFF scene (generated once)…")
    return ensure_demo_scene()

