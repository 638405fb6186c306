"""Export buttons for a labelling result (CSV, GeoJSON, classification GeoTIFF, confidence raster)
and the export report: what was written, and what was not and why.

The files are written by ``core.labelling.export.export_outputs`` in a worker task. Outputs a result
cannot give (GeoJSON without georeferenced inputs, rasters without scenes) are disabled with the
reason as tooltip, and left out with the reason when "All to folder…" asks for everything. The CSV
starts with a byte-order mark for spreadsheet programs unless "CSV for spreadsheets" is unticked.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from html import escape
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QFileDialog, QGridLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from scl_desktop.core.events import CancelToken, Log
from scl_desktop.core.labelling import export as geo_export
from scl_desktop.gui import dialogs
from scl_desktop.gui.session import Session
from scl_desktop.gui.settings import AppSettings

EXPORT_BASE = "labels"
BUTTONS = (
    ("csv", "CSV…", "One row per image or window: prediction, confidence, top 3, geometry."),
    ("geojson", "GeoJSON…", "Window footprints in WGS84 (RFC 7946) with the same columns."),
    ("raster", "Classification GeoTIFF…", "Per scene: class index per window, colour table, class names for QGIS "
     "(.aux.xml, .qml)."),
    ("all", "All to folder…", "Every output this result can give, into one folder."),
)
SAVE_AS = {"csv": (".csv", "CSV (*.csv)"), "geojson": (".geojson", "GeoJSON (*.geojson *.json)"),
           "raster": (".tif", "GeoTIFF (*.tif *.tiff)")}


def export_step(result: Any, targets: dict[str, Path], _token: CancelToken,
                csv_bom: bool = True) -> Generator[Any, None, Any]:
    """Write ``targets`` (kind -> path) with ``geo_export.export_outputs`` (``csv_bom``: the CSV starts with
    a UTF-8 byte-order mark); returns its ``ExportReport``. The log names the files really written
    (per-scene rasters under their own names)."""
    yield Log(f"Writing {output_files(targets).describe(result_scenes(result))}")
    return geo_export.export_outputs(result, targets.get("csv"), targets.get("geojson"), targets.get("raster"),
                                     targets.get("confidence"), csv_bom=csv_bom)


def output_files(targets: dict[str, Path | None]) -> geo_export.Outputs:
    """``targets`` (kind -> path or ``None``) as the engine's ``Outputs``."""
    return geo_export.Outputs(targets.get("csv"), targets.get("geojson"), targets.get("raster"),
                              targets.get("confidence"))


def result_scenes(result: Any) -> list[Any]:
    """The ``LabelInput`` of every scene of a ``LabelResult`` (what per-scene file names follow)."""
    return [scene.input for scene in result.scenes]


def export_problems(result: Any) -> dict[str, str]:
    """Outputs a ``LabelResult`` cannot give, with the reason: kind ("csv", "geojson", "raster") -> why."""
    problems = {}
    if not result.rows:
        problems["csv"] = "there are no rows"
    if geo_export.geojson_feature_count(result) == 0:
        problems["geojson"] = geo_export.NO_FOOTPRINTS
    if not result.scenes:
        problems["raster"] = "no input was cut into windows (rasters are made for scenes; use tiling mode grid)"
    return problems


class ExportPanel(QWidget):
    """``set_result(result)`` enables what the result can give; ``report`` shows the last export."""

    def __init__(self, session: Session, settings: AppSettings) -> None:
        super().__init__()
        self.session = session
        self.settings = settings
        self.result: Any = None
        self.problems: dict[str, str] = {}
        self.last_report: geo_export.ExportReport | None = None
        self.buttons: dict[str, QPushButton] = {}
        self._tips: dict[str, str] = {}
        for key, text, tip in BUTTONS:
            button = QPushButton(text)
            button.setObjectName(f"export_{key}")
            button.clicked.connect(lambda _checked=False, k=key: self.choose(k))
            self.buttons[key] = button
            self._tips[key] = tip
        self.with_confidence = QCheckBox("with confidence raster")
        self.with_confidence.setToolTip("Also write the confidence of each window as a float GeoTIFF beside the "
                                        "classification raster (<name>_confidence.tif).")
        self.csv_bom = QCheckBox("CSV for spreadsheets")
        self.csv_bom.setObjectName("csvBom")
        self.csv_bom.setChecked(True)
        self.csv_bom.setToolTip("Start the CSV with a UTF-8 byte-order mark, so that spreadsheet programs show "
                                "non-ASCII class and file names as they are. Untick for plain UTF-8 (for tools "
                                "that do not expect the mark).")
        self.report = QLabel("")
        self.report.setObjectName("exportReport")
        self.report.setWordWrap(True)
        self.report.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.report.setVisible(False)  # shown from the first export on
        rows = QGridLayout()  # two short rows rather than one long one: the page fits a 1280 px screen
        rows.addWidget(QLabel("<b>Export</b>"), 0, 0)
        for column, widget in enumerate((self.buttons["csv"], self.csv_bom, self.buttons["geojson"]), start=1):
            rows.addWidget(widget, 0, column)
        for column, widget in enumerate((self.buttons["raster"], self.with_confidence, self.buttons["all"]), start=1):
            rows.addWidget(widget, 1, column)
        rows.setColumnStretch(4, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(rows)
        layout.addWidget(self.report)
        session.busy_changed.connect(self._update)
        self.set_result(None)

    def set_result(self, result: Any) -> None:
        """The ``LabelResult`` to export (``None``: nothing yet; the report is hidden)."""
        self.result = result
        self.problems = export_problems(result) if result is not None else {}
        if result is None:
            self.report.setVisible(False)
        self._update()

    def _update(self, *_args: object) -> None:
        ready = self.result is not None and not self.session.busy
        for kind, button in self.buttons.items():
            problem = self.problems.get(kind) if ready else None
            button.setEnabled(ready and problem is None)
            button.setToolTip(f"Not available: {problem}." if problem else self._tips[kind])
        self.with_confidence.setEnabled(ready and "raster" not in self.problems)
        self.csv_bom.setEnabled(ready and "csv" not in self.problems)

    # -- choosing where ------------------------------------------------------------------
    def choose(self, kind: str) -> None:
        """Ask where to write output ``kind`` ("csv", "geojson", "raster" or "all"), then write it."""
        if self.result is None:
            return
        scenes = result_scenes(self.result)
        start = Path(self.settings.last_folder("export", Path(scenes[0].path).parent if scenes else None))
        if kind == "all":
            folder = QFileDialog.getExistingDirectory(self, "Folder for the outputs", str(start))
            if not folder:
                return
            targets = self.targets(Path(folder))
            wanted = output_files({k: p for k, p in targets.items() if k not in self.problems})
            existing = [p for _, p in wanted.files(scenes) if p.exists()]
            if existing and not dialogs.ask(self, "Replace files?", f"{len(existing)} file(s) such as {existing[0]} "
                                                                    "exist already. Replace them?"):
                return
            self.settings.remember_folder("export", Path(folder) / EXPORT_BASE)
            self.export(targets)
            return
        suffix, name_filter = SAVE_AS[kind]
        path, _ = QFileDialog.getSaveFileName(self, f"Save the {self.buttons[kind].text().rstrip('…')}",
                                              str(start / f"{EXPORT_BASE}{suffix}"), name_filter)
        if not path:
            return
        target = Path(path) if Path(path).suffix else Path(path).with_suffix(suffix)
        self.settings.remember_folder("export", target)
        targets: dict[str, Path | None] = {kind: target}
        if kind == "raster" and self.with_confidence.isChecked():
            targets["confidence"] = target.with_name(f"{target.stem}_confidence{target.suffix}")
        self.export(targets)

    def targets(self, folder: Path) -> dict[str, Path | None]:
        """Every output, named ``labels*`` in ``folder`` (the confidence raster only when ticked)."""
        return {"csv": folder / f"{EXPORT_BASE}.csv", "geojson": folder / f"{EXPORT_BASE}.geojson",
                "raster": folder / f"{EXPORT_BASE}_classes.tif",
                "confidence": folder / f"{EXPORT_BASE}_confidence.tif" if self.with_confidence.isChecked() else None}

    # -- writing -------------------------------------------------------------------------
    def export(self, targets: dict[str, Path | None]) -> None:
        """Write ``targets`` (kind -> path or ``None``) in a worker; outputs the result cannot give are left
        out and listed with the reason in the report."""
        if self.result is None:
            return
        skipped = {kind: (path, self.problems[kind]) for kind, path in targets.items()
                   if path is not None and kind in self.problems}
        confidence = targets.get("confidence")
        if "raster" in skipped and confidence is not None:
            skipped["confidence"] = (confidence, self.problems["raster"])
        wanted = {kind: path for kind, path in targets.items() if path is not None and kind not in skipped}
        if not wanted:
            self._show_report(geo_export.ExportReport(), skipped)
            return
        result, bom = self.result, self.csv_bom.isChecked()
        task = self.session.start_task("Export", lambda token: export_step(result, wanted, token, bom))
        if task is None:
            return
        task.event.connect(self._on_event)
        task.finished.connect(lambda report: self._show_report(report, skipped))
        task.failed.connect(lambda exc, _tb: self._show_report(geo_export.ExportReport(), skipped,
                                                               failure=dialogs.error_text(exc)[0]))

    def _on_event(self, event: object) -> None:
        if isinstance(event, Log):
            self.session.log.emit(event.message, event.level)

    def _show_report(self, report: geo_export.ExportReport, skipped: dict[str, tuple[Path, str]],
                     failure: str = "") -> None:
        """Say what was written, and what was not and why (``failure``: the error that stopped the export;
        it names the complete files and the missing ones), here and in the log."""
        self.last_report = report
        parts = []
        if failure:
            parts.append(f'<span style="color:#b00020"><b>Export failed:</b> {escape(failure)}</span>')
        if report.written:
            parts.append(f"<b>Written</b> ({len(report.written)}): {_file_list(report.written)}.")
        not_written = [(p, "stopped before it was written") for p in report.not_written] + list(skipped.values())
        if not_written:
            parts.append("<b>Not written</b>: " + "; ".join(f"{escape(Path(p).name)} ({escape(why)})"
                                                            for p, why in not_written) + ".")
        if report.left_out:
            parts.append("<b>Left out of the GeoJSON</b>: " + escape("; ".join(report.left_out)) + ".")
        self.report.setText(" ".join(parts) or "Nothing was written.")
        self.report.setToolTip("\n".join([f"written: {p}" for p in report.written]
                                         + [f"not written: {p} ({why})" for p, why in not_written]))
        self.report.setVisible(True)
        if report.written or not failure:
            self.session.log.emit(f"Export: {report.describe()}" + "".join(f"; {p} not written: {why}"
                                                                           for p, why in skipped.values()),
                                  "warning" if skipped or report.not_written else "info")


def _file_list(files: Sequence[Path]) -> str:
    """``a.csv, b.tif in /folder`` (grouped by folder), HTML-escaped."""
    by_folder: dict[Path, list[str]] = {}
    for path in files:
        by_folder.setdefault(Path(path).parent, []).append(Path(path).name)
    return "; ".join(f"{escape(', '.join(names))} in {escape(str(folder))}" for folder, names in by_folder.items())
