"""Dataset page: open or drop data, band mapping and stretch with a live preview, the class table,
the class-count chart, the import report and the split builder.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from scl_desktop.core import paths
from scl_desktop.core.atomic import write_bytes
from scl_desktop.core.data.demo import PATCH_SIZE, demo_split_config, generate_demo_dataset
from scl_desktop.core.data.imaging import read_rgb
from scl_desktop.core.data.importer import ImportConfig, import_dataset
from scl_desktop.core.data.manifest import (
    MAJORITY,
    MINORITY,
    DatasetManifest,
    ImageItem,
    RasterSettings,
    SplitManifest,
    display_path,
)
from scl_desktop.core.data.split import PAPER_TEST_PER_CLASS, SplitConfig, build_split
from scl_desktop.core.errors import SclError
from scl_desktop.core.events import CancelToken, Log
from scl_desktop.gui.layout import scrolled, splitter
from scl_desktop.gui.pages.common import next_page_button
from scl_desktop.gui.session import Session
from scl_desktop.gui.settings import AppSettings
from scl_desktop.gui.widgets.class_table import ClassTable
from scl_desktop.gui.widgets.images import to_pixmap
from scl_desktop.gui.widgets.plots import RoleBarChart, legend_html
from scl_desktop.gui.widgets.progress import ProgressPanel

RASTER_SUFFIXES = {".tif", ".tiff"}
PREVIEW_SIZE = 220
AUTO_SIZE = 15
"""The cache-size spin box's minimum, shown as "Automatic": each training chooses the size."""


def import_step(source: str | Path | Sequence[Path] | None, bands: tuple[int, ...] | None,
                stretch: tuple[float, float], size: int | None, token: CancelToken) -> Generator[Any, None, DatasetManifest]:
    """Import ``source`` (``None``: the built-in demo data, generated on first use)."""
    if source is None:
        yield Log("Preparing the built-in demo data (synthetic aerial-like scenes, generated once)…")
        source = yield from generate_demo_dataset(cancel=token)
    elif not isinstance(source, str | Path):
        tiles = list(source)
        source = tiles_manifest(tiles)
        yield Log(f"Listed {len(tiles)} tiles in {source} (class = folder name).")
    config = ImportConfig(source=source, bands=bands, stretch=stretch, size=size)
    return (yield from import_dataset(config, cancel=token))


def tiles_manifest(tiles: Sequence[Path]) -> Path:
    """A CSV manifest (path,label) for dropped raster tiles, the class being each tile's folder name."""
    paths_sorted = sorted(str(Path(t).resolve()) for t in tiles)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["path", "label"])
    for tile in paths_sorted:
        writer.writerow([tile, Path(tile).parent.name])
    digest = hashlib.sha256("\n".join(paths_sorted).encode("utf-8", "surrogateescape")).hexdigest()[:12]
    # file names that are not UTF-8 are written as their own bytes, which the CSV import reads back
    return write_bytes(paths.data_dir() / "imports" / f"tiles-{digest}.csv",
                       buffer.getvalue().encode("utf-8", "surrogateescape"))


class DatasetPage(QWidget):
    """Everything about the data, up to the split that training uses."""

    go_to = Signal(str)

    def __init__(self, session: Session, settings: AppSettings) -> None:
        super().__init__()
        self.session = session
        self.settings = settings
        self._source: Any = None
        self._description = ""
        self._pending_split: SplitConfig | None = None  # split settings of a session being restored
        self._preview_item: ImageItem | None = None
        self._thumbs: dict[str, QPixmap | None] = {}

        # --- source bar
        self.source_label = QLabel("No dataset yet: drop a folder, GeoTIFF tiles or a CSV manifest anywhere on the "
                                   "window, or use the buttons.")
        self.source_label.setObjectName("sourceLabel")
        self.source_label.setWordWrap(True)
        bar = QHBoxLayout()
        for text, slot, tip in (("Open folder…", self.choose_folder, "A folder with one sub-folder of images per class."),
                                ("Open CSV…", self.choose_csv, "A CSV manifest with columns path,label[,split]."),
                                ("Open GeoTIFF tiles…", self.choose_tiles, "GeoTIFF tiles; the class is the name of the "
                                 "folder each tile is in."),
                                ("Demo data", self.open_demo, "The built-in synthetic, class-imbalanced demo dataset.")):
            button = QPushButton(text)
            button.setToolTip(tip)
            button.clicked.connect(slot)
            bar.addWidget(button)
        bar.addStretch(1)
        self.progress = ProgressPanel()

        # --- import settings (band mapping, stretch, size) with live preview
        self.band_spins = []
        bands_row = QHBoxLayout()
        for channel in ("R", "G", "B"):
            spin = QSpinBox()
            spin.setRange(0, 64)
            spin.setSpecialValueText("auto")
            spin.setPrefix(f"{channel}: band ")
            spin.setToolTip(f"Which raster band feeds the {channel} input channel (auto: the first three; "
                            "one band is replicated).")
            spin.valueChanged.connect(self._update_preview)
            self.band_spins.append(spin)
            bands_row.addWidget(spin)
        self.stretch_low = QDoubleSpinBox()
        self.stretch_high = QDoubleSpinBox()
        for spin, value in ((self.stretch_low, 2.0), (self.stretch_high, 98.0)):
            spin.setRange(0.0, 100.0)
            spin.setDecimals(1)
            spin.setSuffix(" %")
            spin.setValue(value)
            spin.setToolTip("Percentiles mapped to black and white for 16-bit and float rasters "
                            "(statistics over the whole dataset). 8-bit images are not stretched.")
            spin.valueChanged.connect(self._update_preview)
        stretch_row = QHBoxLayout()
        stretch_row.addWidget(self.stretch_low)
        stretch_row.addWidget(QLabel("to"))
        stretch_row.addWidget(self.stretch_high)
        self.size_spin = QSpinBox()
        self.size_spin.setRange(AUTO_SIZE, 1024)
        self.size_spin.setSpecialValueText("Automatic")
        self.size_spin.setValue(AUTO_SIZE)
        self.size_spin.setSuffix(" px")
        self.size_spin.setToolTip(
            "Side of the decoded image cache (every image is decoded once to this square size). Automatic: each "
            "training chooses it from the images' native size and its view size, never upsampling a typical "
            "image, at most 512 px; a size given here is used by every training on this dataset.")
        self.reimport_button = QPushButton("Re-import with these settings")
        self.reimport_button.clicked.connect(self.reimport)
        self.preview = QLabel("Preview of a multiband raster appears here.")
        self.preview.setObjectName("rasterPreview")
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setFixedHeight(PREVIEW_SIZE)
        self.preview.setMinimumWidth(PREVIEW_SIZE)
        self.preview.setWordWrap(True)
        self.preview_caption = QLabel("")
        self.preview_caption.setWordWrap(True)
        import_box = QGroupBox("Import settings")
        import_form = QFormLayout(import_box)
        import_form.addRow("Band mapping", bands_row)
        import_form.addRow("Stretch", stretch_row)
        import_form.addRow("Cache size", self.size_spin)
        import_form.addRow(self.preview)
        import_form.addRow(self.preview_caption)
        import_form.addRow(self.reimport_button)

        # --- split builder
        split_box = QGroupBox("Split (train / validation / test)")
        split_form = QFormLayout(split_box)
        self.protocol = QComboBox()
        self.protocol.addItem("ci — the paper's imbalance protocol", "ci")
        self.protocol.addItem("stratified — data already imbalanced", "stratified")
        self.protocol.addItem("predefined — split column of the CSV", "predefined")
        self.protocol.setToolTip("ci: the first K classes are majority classes with many training images, the others "
                                 "minority classes with only s; a balanced test set from the rest.\nstratified: per "
                                 "class fractions for test and validation; roles from the training counts.")
        self.protocol.currentIndexChanged.connect(self._protocol_changed)
        self.majority_mode = QComboBox()
        self.majority_mode.addItem("automatic", "auto")
        self.majority_mode.addItem("the first K classes", "first")
        self.majority_mode.addItem("the classes ticked below", "named")
        self.majority_mode.setToolTip("Which classes are majority classes. automatic: the first two thirds of the "
                                      "classes for ci, by training count otherwise.")
        self.majority_mode.currentIndexChanged.connect(self._protocol_changed)
        self.majority_k = _spin(1, 999, 1, "Number of majority classes: the first K classes in order.")
        self.majority_list = QListWidget()
        self.majority_list.setObjectName("majorityList")
        self.majority_list.setToolTip("Tick the majority classes; the others are minority classes.")
        self.majority_list.setMaximumHeight(120)
        self.major_frac = _dspin(0.01, 0.99, 0.5, "Share of each majority class's images used for training "
                                 "(the paper: 0.5 for AID).")
        self.major_count = _spin(0, 100000, 0, "Training images per majority class instead of a share "
                                 "(the paper: 140 for NWPU, 50 for UC Merced).", special="use share")
        self.s_spin = _spin(1, 100000, 10, "Training images per minority class (the paper's s: 5 or 10).")
        self.test_per_class = _spin(0, 100000, 0, "Test images per class, the same for every class (balanced). "
                                    f"auto: the paper's {PAPER_TEST_PER_CLASS} when every class can give it, "
                                    "else as many as every class can give.", special="auto")
        self.test_frac = _dspin(0.01, 0.9, 0.3, "Share of each class that goes to the test set (stratified).")
        self.val_frac = _dspin(0.0, 0.9, SplitConfig.val_frac, "Share for validation, scored after every epoch so "
                               "the test images are used once, at the end (ci: of the images left after train and "
                               "test; stratified: of each class's training images). 0: none.")
        self.seed = _spin(0, 2**31 - 1, 0, "Random seed: the same seed gives the same split.")
        self._ci_rows = [self.major_frac, self.major_count, self.s_spin, self.test_per_class]
        split_form.addRow("Protocol", self.protocol)
        split_form.addRow("Majority classes", self.majority_mode)
        split_form.addRow("K", self.majority_k)
        split_form.addRow(self.majority_list)
        split_form.addRow("Majority share", self.major_frac)
        split_form.addRow("Majority count", self.major_count)
        split_form.addRow("Minority s", self.s_spin)
        split_form.addRow("Test per class", self.test_per_class)
        split_form.addRow("Test share", self.test_frac)
        split_form.addRow("Validation share", self.val_frac)
        split_form.addRow("Seed", self.seed)
        self.split_button = QPushButton("Build split")
        self.split_button.setObjectName("buildSplit")
        self.split_button.clicked.connect(self.build_split)
        split_form.addRow(self.split_button)
        self.split_summary = QTableWidget(3, 3)
        self.split_summary.setObjectName("splitSummary")
        self.split_summary.setHorizontalHeaderLabels(["train", "val", "test"])
        self.split_summary.setVerticalHeaderLabels(["majority", "minority", "all"])
        self.split_summary.setFixedHeight(110)
        self.split_summary.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        split_form.addRow(self.split_summary)
        self.split_note = QLabel("")
        self.split_note.setWordWrap(True)
        split_form.addRow(self.split_note)
        self.to_encoder = next_page_button("Next: train the encoder →", self.go_to, "encoder")
        split_form.addRow(self.to_encoder)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.addWidget(import_box)
        left_layout.addWidget(split_box)
        left_layout.addStretch(1)
        left_scroll = scrolled(left)
        left_scroll.setMinimumWidth(320)

        # --- right: classes + chart, import report
        self.class_table = ClassTable()
        self.chart = RoleBarChart("Images per class", "images")
        self.chart_legend = QLabel(legend_html())
        chart_box = QWidget()
        chart_layout = QVBoxLayout(chart_box)
        chart_layout.setContentsMargins(0, 0, 0, 0)
        chart_layout.addWidget(self.chart, 1)
        chart_layout.addWidget(self.chart_legend)
        classes_split = splitter(Qt.Orientation.Horizontal, self.class_table, chart_box, sizes=(420, 400))
        self.report = QTreeWidget()
        self.report.setObjectName("importReport")
        self.report.setHeaderLabels(["What", "Why"])
        self.report.setColumnWidth(0, 420)
        self.tabs = QTabWidget()
        self.tabs.addTab(classes_split, "Classes")
        self.tabs.addTab(self.report, "Import report")

        body = splitter(Qt.Orientation.Horizontal, left_scroll, self.tabs, stretch=(0, 1), sizes=(470, 800))
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.source_label)
        layout.addWidget(self.progress)
        layout.addWidget(body, 1)

        session.dataset_changed.connect(self._show_dataset)
        session.split_changed.connect(self._show_split)
        session.busy_changed.connect(self._busy_changed)
        self._protocol_changed()
        self._show_dataset(None)

    # -- choosing data -------------------------------------------------------------------
    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Dataset folder (one sub-folder per class)",
                                                  self.settings.last_folder("dataset"))
        if folder:
            self.open_paths([Path(folder)])

    def choose_csv(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "CSV manifest (path,label[,split])", self.settings.last_folder("csv"),
                                              "CSV files (*.csv);;All files (*)")
        if path:
            self.open_paths([Path(path)])

    def choose_tiles(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "GeoTIFF tiles (class = folder name)",
                                                self.settings.last_folder("tiles"), "GeoTIFF (*.tif *.tiff);;All files (*)")
        if paths:
            self.open_paths([Path(p) for p in paths])

    def open_demo(self) -> None:
        """Generate (first time only) and import the built-in demo dataset at its own image size
        (``demo_data.PATCH_SIZE``: larger would only upscale it)."""
        if not self.session.busy:
            self.size_spin.setValue(PATCH_SIZE)
        self._start_import(None, "Demo data")

    def open_paths(self, paths: Sequence[Path]) -> None:
        """Import what was dropped or chosen: a folder, a CSV manifest or raster tiles."""
        paths = [Path(p) for p in paths]
        missing = [p for p in paths if not p.exists()]
        if missing:
            self.session.error.emit("Cannot open", f"{missing[0]} does not exist.", "")
            return
        if len(paths) == 1 and paths[0].is_dir():
            source: Any = paths[0]
            purpose = "dataset"
        elif len(paths) == 1 and paths[0].suffix.lower() == ".csv":
            source, purpose = paths[0], "csv"
        elif all(p.is_file() and p.suffix.lower() in RASTER_SUFFIXES for p in paths):
            source, purpose = tuple(paths), "tiles"
        else:
            self.session.error.emit(
                "Cannot open these files",
                SclError("Drop one dataset folder, one CSV manifest, or GeoTIFF tiles (.tif).",
                         "A dataset folder holds one sub-folder of images per class."), "")
            return
        self.settings.remember_folder(purpose, paths[0])
        self._start_import(source, str(paths[0]) if len(paths) == 1 else f"{len(paths)} tiles in {paths[0].parent}")

    def import_state(self) -> dict[str, Any] | None:
        """What to import again to show the current dataset and split (None without a dataset)."""
        if self.session.dataset is None:
            return None
        source = self._source
        paths = [] if source is None else [str(p) for p in (source if isinstance(source, tuple) else (source,))]
        return {"paths": paths, "size": self.size_spin.value(), "split": self.split_config().to_json()}

    def restore(self, state: dict[str, Any]) -> bool:
        """Import again what ``import_state`` described, with its split settings; False (with a log line) when
        its files are gone or the state is unusable."""
        try:
            paths = [Path(p) for p in state.get("paths", [])]
            split = SplitConfig.from_json(state["split"])
            size = int(state.get("size", AUTO_SIZE))
        except (SclError, KeyError, TypeError, ValueError) as exc:
            self.session.log.emit(f"The last session could not be restored ({exc}); open a dataset.", "warning")
            return False
        missing = [p for p in paths if not p.exists()]
        if missing:
            self.session.log.emit(f"The last session's dataset {missing[0]} is gone; open another one.", "warning")
            return False
        self._pending_split = split
        if paths:
            self.size_spin.setValue(size)
            self.open_paths(paths)
        else:
            self.open_demo()
        return True

    def reimport(self) -> None:
        if self._source is None and self.session.dataset is None:
            self.open_demo()
            return
        self._start_import(self._source, self._description)

    def _start_import(self, source: Any, description: str) -> None:
        bands = tuple(s.value() for s in self.band_spins)
        band_map = None if 0 in bands else bands
        stretch = (self.stretch_low.value(), self.stretch_high.value())
        size = self.size_spin.value() if self.size_spin.value() != AUTO_SIZE else None
        task = self.session.start_task(
            "Import", lambda token: import_step(source, band_map, stretch, size, token))
        if task is None:
            return
        self._source = source
        self._description = description
        self.source_label.setText(f"Importing {description}…")
        self.progress.reset("Reading images…")
        task.event.connect(self._on_event)
        task.finished.connect(self._import_finished)
        task.failed.connect(lambda *_: self.progress.stop("Import failed; see the message."))
        task.cancelled.connect(lambda *_: self.progress.stop("Import cancelled."))

    def _on_event(self, event: object) -> None:
        self.progress.on_event(event)
        if isinstance(event, Log):
            self.session.log.emit(event.message, event.level)

    def _import_finished(self, dataset: DatasetManifest) -> None:
        n_skipped = len(dataset.report.skipped)
        self.progress.finish(f"Imported {len(dataset.items)} images in {len(dataset.classes)} classes"
                             + (f"; {n_skipped} file(s) skipped (see Import report)." if n_skipped else "."))
        self.session.log.emit(f"Imported {dataset.source}: {len(dataset.items)} images, {len(dataset.classes)} classes, "
                              f"{n_skipped} skipped", "info")
        previous = self.session.dataset
        self.session.set_dataset(dataset)
        pending, self._pending_split = self._pending_split, None
        if pending is not None:  # a restored session: its own split settings
            self.set_split_config(pending)
        elif self._source is None:
            self.set_split_config(demo_split_config())
        elif previous is None or previous.source != dataset.source:  # another dataset: not the last one's numbers
            self.set_split_config(SplitConfig())
        if dataset.items:
            self.build_split(quiet=True)

    # -- showing the dataset -------------------------------------------------------------
    def _show_dataset(self, dataset: DatasetManifest | None) -> None:
        self._thumbs = {}
        self.report.clear()
        if dataset is None:
            self.class_table.setRowCount(0)
            self.chart.set_values({})
            self.split_button.setEnabled(False)
            self._set_preview_item(None)
            return
        self.source_label.setText(f"<b>{dataset.source}</b> — {len(dataset.items)} images, "
                                  f"{len(dataset.classes)} classes, cache size "
                                  + (f"{dataset.size} px" if dataset.size else "chosen by each training"))
        self.split_button.setEnabled(bool(dataset.items))
        self.size_spin.setValue(dataset.size or AUTO_SIZE)
        raster = dataset.raster
        for spin, band in zip(self.band_spins, raster.bands or (0, 0, 0), strict=False):
            spin.blockSignals(True)
            spin.setValue(band)
            spin.blockSignals(False)
        self.class_table.show_dataset(dataset, self._thumbnail)
        self.majority_list.clear()
        for i, name in enumerate(dataset.classes):
            item = QListWidgetItem(name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if i < round(2 * len(dataset.classes) / 3)
                               else Qt.CheckState.Unchecked)
            self.majority_list.addItem(item)
        self.chart.getPlotItem().setTitle("Images per class", size="10pt")
        self.chart.set_values(dataset.counts())
        self._fill_report(dataset)
        has_split_column = any(item.split for item in dataset.items)
        self.protocol.model().item(2).setEnabled(has_split_column)  # type: ignore[attr-defined]
        raster_items = [i for i in dataset.items if i.bands > 3 or i.dtype != "uint8" or i.crs]
        self._set_preview_item(raster_items[0] if raster_items else None)

    def _thumbnail(self, name: str) -> QPixmap | None:
        dataset = self.session.dataset
        if dataset is None:
            return None
        item = next((i for i in dataset.items if i.label == name), None)
        if item is None:
            return None
        try:
            return to_pixmap(read_rgb(item.path, dataset.raster, size=48))
        except SclError:
            return None

    def _fill_report(self, dataset: DatasetManifest) -> None:
        report = dataset.report
        skipped = QTreeWidgetItem([f"Skipped files ({len(report.skipped)})", ""])
        for s in report.skipped:
            skipped.addChild(QTreeWidgetItem([display_path(s.path), s.reason]))
        duplicates = QTreeWidgetItem([f"Identical duplicate files ({len(report.duplicates)} groups)", ""])
        for group in report.duplicates:
            node = QTreeWidgetItem([display_path(group[0]), f"same content as {len(group) - 1} other file(s)"])
            for other in group[1:]:
                node.addChild(QTreeWidgetItem([display_path(other), "duplicate"]))
            duplicates.addChild(node)
        small = QTreeWidgetItem([f"Classes with fewer than 2 images ({len(report.small_classes)})", ""])
        for name in report.small_classes:
            small.addChild(QTreeWidgetItem([name, "too few images to train and test"]))
        counts = QTreeWidgetItem([f"Classes ({len(dataset.classes)}) and images ({len(dataset.items)})", ""])
        for name, n in dataset.counts().items():
            counts.addChild(QTreeWidgetItem([name, f"{n} images"]))
        for node in (skipped, duplicates, small, counts):
            self.report.addTopLevelItem(node)
        skipped.setExpanded(True)
        small.setExpanded(True)
        self.tabs.setTabText(1, f"Import report ({len(report.skipped)} skipped)")

    # -- band mapping preview ------------------------------------------------------------
    def _set_preview_item(self, item: ImageItem | None) -> None:
        self._preview_item = item
        enabled = item is not None
        for spin in self.band_spins:
            spin.setEnabled(enabled)
            if item is not None:
                spin.setMaximum(max(item.bands, 1))
        self.stretch_low.setEnabled(enabled)
        self.stretch_high.setEnabled(enabled)
        self.preview.setVisible(enabled)
        self.preview_caption.setText("" if enabled else "These images are 8-bit RGB: no band mapping or stretch "
                                                        "needed.")
        if item is None:
            self.preview.setPixmap(QPixmap())
            return
        self._update_preview()

    def _update_preview(self) -> None:
        item = self._preview_item
        if item is None:
            return
        bands = tuple(s.value() for s in self.band_spins)
        raster = RasterSettings(bands=None if 0 in bands else bands,
                                stretch=(self.stretch_low.value(), self.stretch_high.value()))
        try:
            rgb = read_rgb(item.path, raster, size=PREVIEW_SIZE - 10)
        except SclError as exc:
            self.preview.setPixmap(QPixmap())
            self.preview.setText(exc.what)
            return
        self.preview.setPixmap(to_pixmap(rgb))
        self.preview_caption.setText(f"{Path(item.path).name}: {item.bands} band(s), {item.dtype}"
                                     + (f", {item.crs}" if item.crs else "")
                                     + ". Preview stretch uses this image; import uses the whole dataset.")

    # -- split ---------------------------------------------------------------------------
    def _protocol_changed(self) -> None:
        ci = self.protocol.currentData() == "ci"
        for widget in self._ci_rows:
            widget.setEnabled(ci)
        self.test_frac.setEnabled(self.protocol.currentData() == "stratified")
        mode = self.majority_mode.currentData()
        self.majority_k.setEnabled(mode == "first")
        self.majority_list.setEnabled(mode == "named")

    def split_config(self) -> Any:
        """The ``SplitConfig`` the split widgets describe."""
        protocol = self.protocol.currentData()
        kwargs: dict[str, Any] = {"protocol": protocol, "val_frac": self.val_frac.value(), "seed": self.seed.value()}
        mode = self.majority_mode.currentData()
        if mode == "first":
            kwargs["majority"] = self.majority_k.value()
        elif mode == "named":
            kwargs["majority_classes"] = tuple(self._ticked_classes())
        if protocol == "ci":
            if self.major_count.value():
                kwargs["major_count"] = self.major_count.value()
            else:
                kwargs["major_frac"] = self.major_frac.value()
            kwargs["s"] = self.s_spin.value()
            kwargs["test_per_class"] = self.test_per_class.value() or None
        elif protocol == "stratified":
            kwargs["test_frac"] = self.test_frac.value()
        return SplitConfig(**kwargs)

    def set_split_config(self, cfg: Any) -> None:
        """Show a ``SplitConfig`` in the split widgets (e.g. the demo data's own split)."""
        self.protocol.setCurrentIndex(max(self.protocol.findData(cfg.protocol), 0))
        if cfg.majority_classes is not None:
            self.majority_mode.setCurrentIndex(self.majority_mode.findData("named"))
            self._tick_classes(cfg.majority_classes)
        elif cfg.majority is not None:
            self.majority_mode.setCurrentIndex(self.majority_mode.findData("first"))
            self.majority_k.setValue(cfg.majority)
        else:
            self.majority_mode.setCurrentIndex(self.majority_mode.findData("auto"))
        self.major_count.setValue(cfg.major_count or 0)
        self.major_frac.setValue(cfg.major_frac if cfg.major_frac is not None else 0.5)
        self.s_spin.setValue(cfg.s)
        self.test_per_class.setValue(cfg.test_per_class or 0)
        self.test_frac.setValue(cfg.test_frac)
        self.val_frac.setValue(cfg.val_frac)
        self.seed.setValue(cfg.seed)

    def _ticked_classes(self) -> list[str]:
        return [self.majority_list.item(i).text() for i in range(self.majority_list.count())
                if self.majority_list.item(i).checkState() == Qt.CheckState.Checked]

    def _tick_classes(self, names: Sequence[str]) -> None:
        chosen = set(names)
        for i in range(self.majority_list.count()):
            item = self.majority_list.item(i)
            item.setCheckState(Qt.CheckState.Checked if item.text() in chosen else Qt.CheckState.Unchecked)

    def build_split(self, quiet: bool = False) -> None:
        """Build the split from the widgets (fast, so it runs right here) and share it."""
        dataset = self.session.dataset
        if dataset is None:
            return
        try:
            split = build_split(dataset, self.split_config())
        except SclError as exc:
            if quiet:
                self.session.log.emit(f"No split yet: {exc}", "warning")
            else:
                self.session.error.emit("Cannot build this split", exc, "")
            self.session.set_split(None)
            return
        for warning in split.config.get("warnings", []):
            self.session.log.emit(warning, "warning")
        self.session.log.emit(f"Split built ({split.protocol}, seed {split.seed}): {len(split.train)} train, "
                              f"{len(split.val)} val, {len(split.test)} test images", "info")
        self.session.set_split(split)

    def _show_split(self, split: SplitManifest | None) -> None:
        self.class_table.show_split(split)
        self.to_encoder.setEnabled(split is not None)
        dataset = self.session.dataset
        if split is None:
            for r in range(3):
                for c in range(3):
                    self.split_summary.setItem(r, c, QTableWidgetItem(""))
            self.split_note.setText("")
            if dataset is not None:
                self.chart.getPlotItem().setTitle("Images per class", size="10pt")
                self.chart.set_values(dataset.counts())
            return
        for c, part in enumerate(("train", "val", "test")):
            counts = split.counts(part)
            for r, role in enumerate((MAJORITY, MINORITY, None)):
                total = sum(n for name, n in counts.items() if role is None or split.roles.get(name) == role)
                item = QTableWidgetItem(str(total))
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.split_summary.setItem(r, c, item)
        n_major, n_minor = len(split.majority_classes()), len(split.minority_classes())
        self.split_note.setText(f"{n_major} majority and {n_minor} minority classes. "
                                f"Roles: {split.config.get('role_rule', '')}.")
        self.chart.getPlotItem().setTitle("Training images per class", size="10pt")
        self.chart.set_values(split.counts("train"), split.roles)

    def _busy_changed(self, busy: bool) -> None:
        self.reimport_button.setEnabled(not busy)


def _spin(lo: int, hi: int, value: int, tip: str, special: str = "") -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(lo, hi)
    spin.setValue(value)
    spin.setToolTip(tip)
    if special:
        spin.setSpecialValueText(special)
    return spin


def _dspin(lo: float, hi: float, value: float, tip: str) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(lo, hi)
    spin.setDecimals(2)
    spin.setSingleStep(0.05)
    spin.setValue(value)
    spin.setToolTip(tip)
    return spin
