"""The Table-1 breakdown: one row per (run, method) with majority, minority and overall accuracy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from scl_desktop.gui import theme

COLUMNS = ("Method", "Run", "Majority", "Minority", "Overall", "Balanced acc.", "Macro-F1")
KEYS = ("majority", "minority", "overall", "balanced_accuracy", "macro_f1")


@dataclass(frozen=True)
class ResultRow:
    """One result: ``method`` of run ``run_id``; ``evaluation`` is a core ``Evaluation``; ``run_label`` names the
    run in the table (``run_text.run_choice``; the id when empty)."""

    method: str
    run_id: str
    evaluation: Any
    run_label: str = ""


class ResultsTable(QTableWidget):
    """Rows of ``ResultRow``; the best value of each accuracy column is bold (unless told not to mark a winner)."""

    def __init__(self) -> None:
        super().__init__(0, len(COLUMNS))
        self.setObjectName("resultsTable")
        self.setHorizontalHeaderLabels(list(COLUMNS))
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.verticalHeader().setVisible(False)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.setToolTip("Top-1 test accuracy in percent (the paper's Table 1). Majority/minority: over the test "
                        "images of those classes; overall: over all test images.")
        self.rows: list[ResultRow] = []
        for col, key in ((2, "majority"), (3, "minority")):
            item = QTableWidgetItem(COLUMNS[col])
            item.setForeground(QBrush(theme.role_color(key)))
            self.setHorizontalHeaderItem(col, item)

    def set_rows(self, rows: Sequence[ResultRow], mark_best: bool = True) -> None:
        """Show ``rows``; ``mark_best=False`` bolds nothing (results that must not be ranked)."""
        self.rows = list(rows)
        self.setRowCount(len(self.rows))
        best = {k: max((getattr(r.evaluation, k) for r in self.rows if getattr(r.evaluation, k) is not None),
                       default=None) for k in KEYS}
        bold = QFont()
        bold.setBold(True)
        for i, row in enumerate(self.rows):
            method_item = QTableWidgetItem(row.method)
            if row.method.startswith("Plain"):
                method_item.setForeground(QBrush(QColor(theme.NEUTRAL)))
            self.setItem(i, 0, method_item)
            run_item = QTableWidgetItem(row.run_label or row.run_id)
            run_item.setToolTip(row.run_id)
            self.setItem(i, 1, run_item)
            for col, key in enumerate(KEYS, start=2):
                value = getattr(row.evaluation, key)
                item = QTableWidgetItem("—" if value is None else f"{value:.1f}")
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if (mark_best and value is not None and best[key] is not None and abs(value - best[key]) < 1e-9
                        and len(self.rows) > 1):
                    item.setFont(bold)
                self.setItem(i, col, item)

    def selected(self) -> ResultRow | None:
        rows = self.selectionModel().selectedRows()
        return self.rows[rows[0].row()] if rows else None


def short_id(run_id: str) -> str:
    """``20261126-162208-scl-b16f`` -> ``16:22:08 b16f`` (time and random part of a run id)."""
    parts = run_id.split("-")
    if len(parts) >= 4 and len(parts[1]) == 6:
        t = parts[1]
        return f"{t[:2]}:{t[2:4]}:{t[4:]} {parts[-1]}"
    return run_id


class PerClassTable(QTableWidget):
    """Per-class accuracy: one row per class (name coloured by role), one column per result."""

    def __init__(self) -> None:
        super().__init__(0, 0)
        self.setObjectName("perClassTable")
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)

    def set_rows(self, rows: Sequence[ResultRow]) -> None:
        if not rows:
            self.setRowCount(0)
            self.setColumnCount(0)
            return
        first = rows[0].evaluation
        classes = list(first.classes)
        self.setColumnCount(len(rows))
        self.setRowCount(len(classes))
        self.setHorizontalHeaderLabels([f"{r.method}\n{short_id(r.run_id)}" for r in rows])
        self.setVerticalHeaderLabels(classes)
        for i, name in enumerate(classes):
            header = QTableWidgetItem(name)
            header.setForeground(QBrush(theme.role_color(first.roles.get(name))))
            self.setVerticalHeaderItem(i, header)
            for j, row in enumerate(rows):
                value = row.evaluation.per_class.get(name)
                item = QTableWidgetItem("—" if value is None else f"{value:.0f}")
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.setItem(i, j, item)
