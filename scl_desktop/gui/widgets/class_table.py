"""The class table: thumbnail, name, image count, role and per-split counts of every class."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QBrush, QIcon, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from scl_desktop.core.data.manifest import DatasetManifest, SplitManifest
from scl_desktop.gui import theme

COLUMNS = ("Class", "Images", "Role", "Train", "Val", "Test")
THUMB = 40


class ClassTable(QTableWidget):
    """Fill with ``show_dataset``; ``show_split`` adds roles and per-part counts."""

    def __init__(self) -> None:
        super().__init__(0, len(COLUMNS))
        self.setObjectName("classTable")
        self.setHorizontalHeaderLabels(list(COLUMNS))
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setIconSize(QSize(THUMB, THUMB))
        self.verticalHeader().setDefaultSectionSize(THUMB + 6)
        self.verticalHeader().setVisible(False)
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in range(1, len(COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.setAlternatingRowColors(True)
        self.classes: list[str] = []

    def show_dataset(self, dataset: DatasetManifest, thumbnail: Callable[[str], QPixmap | None]) -> None:
        """One row per class with its count and a thumbnail of its first image."""
        counts = dataset.counts()
        self.classes = list(dataset.classes)
        self.setRowCount(len(self.classes))
        for row, name in enumerate(self.classes):
            pix = thumbnail(name)
            item = QTableWidgetItem(QIcon(pix) if pix is not None else QIcon(), name)
            item.setToolTip(name)
            self.setItem(row, 0, item)
            self._set(row, 1, counts[name])
            for col in range(2, len(COLUMNS)):
                self._set(row, col, "")
        self.resizeColumnsToContents()
        self.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)

    def show_split(self, split: SplitManifest | None) -> None:
        """Fill the role and train/val/test columns (or clear them when ``split`` is None)."""
        parts: Mapping[str, Mapping[str, int]] = (
            {p: split.counts(p) for p in ("train", "val", "test")} if split else {})
        for row, name in enumerate(self.classes):
            role = split.roles.get(name, "") if split else ""
            self._set(row, 2, role, theme.role_color(role) if role else None)
            for col, part in ((3, "train"), (4, "val"), (5, "test")):
                self._set(row, col, parts[part][name] if parts else "")

    def _set(self, row: int, col: int, value: object, color: object = None) -> None:
        item = QTableWidgetItem(str(value))
        if isinstance(value, int):
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if color is not None:
            item.setForeground(QBrush(color))
        self.setItem(row, col, item)

    def column_values(self, column: str) -> Sequence[str]:
        """Texts of one column, top to bottom (for checks and tests)."""
        col = COLUMNS.index(column)
        return [self.item(r, col).text() if self.item(r, col) else "" for r in range(self.rowCount())]
