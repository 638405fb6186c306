"""The labelling results table: a model over ``LabelRow``s, a class/confidence filter, lazy thumbnails.

Built for many rows (a large scene gives tens of thousands): rows arriving during labelling are
buffered and inserted in one go every ``FLUSH_MS``; sorting is done by the model on its Python
list (one ``list.sort`` with a key, not a comparison per pair through Qt); the proxy only filters,
with a cheap check per row; thumbnails are read only for the rows the view paints, a few per
event-loop pass, and kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSize,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView

from scl_desktop.core.labelling.export import class_colours
from scl_desktop.gui.widgets.images import to_pixmap

COLUMNS = ("Image", "Predicted", "Confidence", "Runner-up", "Window", "Centroid (lon, lat)")
COLUMN_WIDTHS = (160, 140, 82, 150, 110, 150)
THUMB = 44
FLUSH_MS = 200
THUMBS_PER_TICK = 24
MAX_WANTED = 200
ROW_ROLE = Qt.ItemDataRole.UserRole + 1

ThumbnailSource = Callable[[Sequence[Any], int], Iterator[np.ndarray]]
"""``LabelResult.thumbnails``: rows and a size -> one ``size x size x 3`` uint8 image per row."""


def colour_hex(rgb: Sequence[int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb[:3])


def class_colour_names(classes: Sequence[str]) -> dict[str, str]:
    """Class -> colour (``#rrggbb``) as in the classification raster (``labelling.export.class_colours``)."""
    return {name: colour_hex(rgb) for name, rgb in zip(classes, class_colours(len(classes)), strict=True)}


def _window_key(row: Any) -> tuple:
    return row.path, -1 if row.cell_row is None else row.cell_row, -1 if row.cell_col is None else row.cell_col


SORT_KEYS: tuple[Callable[[Any], Any], ...] = (
    _window_key,
    lambda r: (r.class_index, -r.confidence),
    lambda r: r.confidence,
    lambda r: (r.top[1][0], -r.top[1][1]) if len(r.top) > 1 else ("", 0.0),
    lambda r: (-1 if r.cell_row is None else r.cell_row, -1 if r.cell_col is None else r.cell_col, r.path),
    lambda r: (r.centroid_lat is None, r.centroid_lat or 0.0, r.centroid_lon or 0.0),
)


class LabelTableModel(QAbstractTableModel):
    """One row per labelled image or window. ``counts[i]``: rows predicted as class ``i``.

    ``start(classes)`` empties it, ``add_rows`` buffers live rows (shown at the next flush),
    ``set_rows`` shows the final rows and enables thumbnails. Emits ``rows_changed`` after each change.
    """

    rows_changed = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[Any] = []
        self.classes: tuple[str, ...] = ()
        self.counts: list[int] = []
        self._swatches: list[QIcon] = []
        self._pending: list[Any] = []
        self._thumbs: dict[int, QPixmap] = {}
        self._wanted: dict[int, Any] = {}
        self._source: ThumbnailSource | None = None
        self._sort: tuple[int, Qt.SortOrder] | None = None
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setInterval(FLUSH_MS)
        self._flush_timer.timeout.connect(self.flush)
        self._thumb_timer = QTimer(self)
        self._thumb_timer.setSingleShot(True)
        self._thumb_timer.setInterval(0)
        self._thumb_timer.timeout.connect(self._load_thumbnails)

    # -- filling -------------------------------------------------------------------------
    def start(self, classes: Sequence[str]) -> None:
        """Empty the table for a new labelling with these classes."""
        self._flush_timer.stop()
        self._pending = []
        self._reset([], classes, None)

    def add_rows(self, rows: Sequence[Any]) -> None:
        """Buffer rows of a finished batch; they appear at the next flush (at most every ``FLUSH_MS``)."""
        self._pending.extend(rows)
        if not self._flush_timer.isActive():
            self._flush_timer.start()

    def flush(self) -> None:
        """Insert the buffered rows now (one insert for all of them)."""
        self._flush_timer.stop()
        if not self._pending:
            return
        new, self._pending = self._pending, []
        first = len(self.rows)
        self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
        self.rows.extend(new)
        self.endInsertRows()
        for row in new:
            self.counts[row.class_index] += 1
        if self._sort is not None:
            self._apply_sort()
        self.rows_changed.emit()

    def set_rows(self, rows: Sequence[Any], classes: Sequence[str], thumbnails: ThumbnailSource | None) -> None:
        """Show exactly ``rows`` (the final result) and read thumbnails with ``thumbnails`` when given."""
        self._flush_timer.stop()
        self._pending = []
        self._reset(list(rows), classes, thumbnails)

    def _reset(self, rows: list[Any], classes: Sequence[str], thumbnails: ThumbnailSource | None) -> None:
        self.beginResetModel()
        self.rows = rows
        self.classes = tuple(classes)
        self.counts = [0] * len(self.classes)
        for row in rows:
            self.counts[row.class_index] += 1
        self._swatches = [swatch_icon(colour) for colour in class_colour_names(self.classes).values()]
        self._thumbs, self._wanted, self._source = {}, {}, thumbnails
        if self._sort is not None:
            self.rows.sort(key=SORT_KEYS[self._sort[0]], reverse=self._sort[1] == Qt.SortOrder.DescendingOrder)
        self.endResetModel()
        self.rows_changed.emit()

    def find(self, path: str, cell_row: int | None, cell_col: int | None) -> int:
        """The row number of the image or window (``path``, cell), or -1."""
        for n, row in enumerate(self.rows):
            if row.cell_row == cell_row and row.cell_col == cell_col and row.path == path:
                return n
        return -1

    def class_counts(self) -> dict[str, int]:
        """Rows per predicted class, in class order (what the histogram shows)."""
        return dict(zip(self.classes, self.counts, strict=True))

    # -- Qt model API --------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole:
            return ("Click to sort. Confidence: the model's probability of the predicted class; runner-up: the "
                    "second most likely class; centroid: window centre in WGS84 (georeferenced inputs only).")
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        row = self.rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return Path(row.path).name
            if col == 1:
                return row.predicted
            if col == 2:
                return f"{100 * row.confidence:.1f} %"
            if col == 3:
                return f"{row.top[1][0]} ({100 * row.top[1][1]:.0f} %)" if len(row.top) > 1 else ""
            if col == 4:
                return "whole image" if row.cell_row is None else f"row {row.cell_row}, col {row.cell_col}"
            if col == 5:
                return "" if row.centroid_lon is None else f"{row.centroid_lon:.5f}, {row.centroid_lat:.5f}"
        elif role == Qt.ItemDataRole.DecorationRole:
            if col == 0:
                return self._thumbnail(row)
            if col == 1:
                return self._swatches[row.class_index]
        elif role == Qt.ItemDataRole.ToolTipRole:
            return _tooltip(row, col)
        elif role == Qt.ItemDataRole.TextAlignmentRole and col == 2:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        elif role == ROW_ROLE:
            return row
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sort the rows by ``column`` (kept for rows added later)."""
        if not 0 <= column < len(COLUMNS):
            return
        self._sort = (column, order)
        self._apply_sort()

    def _apply_sort(self) -> None:
        assert self._sort is not None
        column, order = self._sort
        self.layoutAboutToBeChanged.emit()
        persistent = self.persistentIndexList()
        kept = [self.rows[i.row()] for i in persistent]
        self.rows.sort(key=SORT_KEYS[column], reverse=order == Qt.SortOrder.DescendingOrder)
        if persistent:
            position = {id(r): n for n, r in enumerate(self.rows)}
            self.changePersistentIndexList(persistent, [self.index(position[id(r)], i.column())
                                                        for r, i in zip(kept, persistent, strict=True)])
        self.layoutChanged.emit()

    # -- thumbnails ----------------------------------------------------------------------
    def _thumbnail(self, row: Any) -> QPixmap | None:
        key = id(row)
        pixmap = self._thumbs.get(key)
        if pixmap is None and self._source is not None:
            self._wanted[key] = row
            if not self._thumb_timer.isActive():
                self._thumb_timer.start()
        return pixmap

    def thumbnails_loaded(self) -> int:
        """How many thumbnails have been read so far."""
        return len(self._thumbs)

    def _load_thumbnails(self) -> None:
        """Read the most recently wanted thumbnails (the rows the view shows now), a few per pass."""
        if self._source is None or not self._wanted:
            return
        wanted = list(self._wanted.items())
        batch = wanted[-THUMBS_PER_TICK:]
        self._wanted = dict(wanted[-MAX_WANTED:-THUMBS_PER_TICK]) if len(wanted) > THUMBS_PER_TICK else {}
        rows = [row for _, row in batch]
        try:
            images = list(self._source(rows, THUMB))
        except Exception:  # noqa: BLE001 - one unreadable file: read the others one by one
            images = [self._one(row) for row in rows]
        for (key, _row), image in zip(batch, images, strict=True):
            self._thumbs[key] = to_pixmap(image) if image is not None else _blank()
        if self.rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.rows) - 1, 0),
                                  [Qt.ItemDataRole.DecorationRole])
        if self._wanted:
            self._thumb_timer.start(10)  # let the event loop breathe between batches

    def _one(self, row: Any) -> np.ndarray | None:
        assert self._source is not None
        try:
            return next(iter(self._source([row], THUMB)))
        except Exception:  # noqa: BLE001 - a file removed or changed since labelling: no thumbnail
            return None


def _tooltip(row: Any, col: int) -> str | None:
    if col == 0:
        return row.path
    if col in (1, 2, 3):
        return "\n".join(f"{name}: {100 * p:.1f} %" for name, p in row.top)
    if col == 4:
        return (f"x {row.col_off}, y {row.row_off}, {row.width} × {row.height} px; "
                f"{100 * row.valid_fraction:.0f} % valid pixels")
    if col == 5 and row.crs is not None:
        return f"bounds {row.minx:.2f}, {row.miny:.2f} – {row.maxx:.2f}, {row.maxy:.2f} ({row.crs})"
    return None


def swatch_icon(colour: str) -> QIcon:
    """A small square of ``colour`` (a class's colour in lists and tables)."""
    pixmap = QPixmap(12, 12)
    pixmap.fill(QColor(colour))
    return QIcon(pixmap)


def _blank() -> QPixmap:
    pixmap = QPixmap(THUMB, THUMB)
    pixmap.fill(QColor("#d5d9e0"))
    return pixmap


class LabelFilterProxy(QSortFilterProxyModel):
    """Shows the rows of one predicted class (or all) with at least a minimum confidence.

    Sorting is passed on to the source model (see the module docstring)."""

    def __init__(self, model: LabelTableModel) -> None:
        super().__init__()
        self._model = model
        self.class_index: int | None = None
        self.min_confidence = 0.0
        self.setSourceModel(model)

    def set_filter(self, class_index: int | None, min_confidence: float) -> None:
        """Show only class ``class_index`` (``None``: every class) with confidence >= ``min_confidence`` (0..1)."""
        if (class_index, min_confidence) == (self.class_index, self.min_confidence):
            return
        if hasattr(self, "endFilterChange") and hasattr(QSortFilterProxyModel, "Direction"):  # Qt >= 6.10
            self.beginFilterChange()
            self.class_index, self.min_confidence = class_index, min_confidence
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            self.class_index, self.min_confidence = class_index, min_confidence
            self.invalidateRowsFilter()

    def filterAcceptsRow(self, source_row: int, _parent: QModelIndex | QPersistentModelIndex) -> bool:  # noqa: N802
        row = self._model.rows[source_row]
        return row.confidence >= self.min_confidence and (self.class_index is None
                                                          or row.class_index == self.class_index)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self._model.sort(column, order)


class LabelTableView(QTableView):
    """The table: fixed row heights and column widths (no per-row measuring), sortable by header."""

    def __init__(self, proxy: LabelFilterProxy) -> None:
        super().__init__()
        self.setObjectName("labelTable")
        self.setModel(proxy)
        self.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)  # engine order until a click
        self.setSortingEnabled(True)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setAlternatingRowColors(True)
        self.setIconSize(QSize(THUMB, THUMB))
        self.setWordWrap(False)
        vertical = self.verticalHeader()
        vertical.setVisible(False)
        vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vertical.setDefaultSectionSize(THUMB + 6)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for col, width in enumerate(COLUMN_WIDTHS):
            self.setColumnWidth(col, width)
        header.setStretchLastSection(True)

    def row_at(self, view_row: int) -> Any:
        """The ``LabelRow`` shown at ``view_row``."""
        return self.model().index(view_row, 0).data(ROW_ROLE)
