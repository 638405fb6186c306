"""A confusion-matrix heat map with class names (rows: true class, columns: predicted class).

Cells are shaded by the row-normalised rate and show the count; class names are coloured by role.
Columns carry the class names rotated when there is room, else the row numbers ("1 farmland").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from scl_desktop.core.reports.palette import shade
from scl_desktop.gui import theme


class ConfusionMatrixView(QWidget):
    """Paints ``matrix[true][pred]`` counts; empty until ``set_matrix`` is called."""

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("confusionMatrix")
        self.classes: list[str] = []
        self.matrix: list[list[int]] = []
        self.roles: dict[str, str] = {}
        self.compact = False
        self.cell = 0.0  # the side of a cell at the last paint, and the rows and columns it labelled
        self.shown_rows: list[int] = []
        self.shown_columns: list[int] = []
        self.setMinimumSize(260, 260)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_matrix(self, classes: Sequence[str], matrix: Sequence[Sequence[int]],
                   roles: Mapping[str, str] | None = None) -> None:
        self.classes = list(classes)
        self.matrix = [list(map(int, row)) for row in matrix]
        self.roles = dict(roles or {})
        self.update()

    def clear(self) -> None:
        self.set_matrix([], [])

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(480, 480)

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), QColor("white"))
        if not self.classes:
            painter.setPen(QColor(theme.NEUTRAL))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "No evaluation yet")
            painter.end()
            return
        n = len(self.classes)
        fm = QFontMetrics(self.font())
        names = [f"{i} {c}" for i, c in enumerate(self.classes, start=1)]
        label_w = min(max(fm.horizontalAdvance(c) for c in names) + 12, 200)
        axis_title_h = fm.height() + 4
        left = label_w + axis_title_h
        top = label_w + axis_title_h
        size = min(self.width() - left - 8, self.height() - top - 8)
        self.compact = size / n < 26  # rotated names would squeeze the cells: number the columns instead
        if self.compact:
            top = fm.height() + 6 + axis_title_h
            size = min(self.width() - left - 8, self.height() - top - 8)
        size = max(size, 40)
        cell = size / n
        self.cell = cell
        font = painter.font()

        # axis titles
        painter.setPen(QColor("#303030"))
        painter.drawText(QRectF(left, 0, size, axis_title_h), Qt.AlignmentFlag.AlignCenter, "predicted class")
        painter.save()
        painter.translate(0, top + size)
        painter.rotate(-90)
        painter.drawText(QRectF(0, 0, size, axis_title_h), Qt.AlignmentFlag.AlignCenter, "true class")
        painter.restore()

        # class names: rows on the left, columns rotated on top; where cells are smaller than a line of
        # text only every k-th label is written (thinned evenly), so that labels never run together
        row_step = label_step(cell, fm.height())
        column_step = label_step(cell, fm.horizontalAdvance(str(n)) + 4)
        self.shown_rows = [i for i in range(n) if i % row_step == 0]
        self.shown_columns = [i for i in range(n) if i % column_step == 0] if self.compact else list(range(n))
        for i, name in enumerate(self.classes):
            painter.setPen(theme.role_color(self.roles.get(name)))
            text = fm.elidedText(names[i] if self.compact else name, Qt.TextElideMode.ElideRight, label_w - 6)
            if i in self.shown_rows:
                painter.drawText(QRectF(axis_title_h, top + i * cell + cell / 2 - fm.height() / 2, label_w - 6,
                                        fm.height()), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, text)
            if self.compact:
                if i in self.shown_columns:
                    width = cell * column_step
                    painter.drawText(QRectF(left + i * cell + cell / 2 - width / 2, top - fm.height() - 4, width,
                                            fm.height()), Qt.AlignmentFlag.AlignCenter, str(i + 1))
                continue
            painter.save()
            painter.translate(left + i * cell, top - 4)
            painter.rotate(-90)
            painter.drawText(QRectF(0, 0, label_w - 6, cell), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, text)
            painter.restore()

        # cells
        if cell < 14:
            font.setPointSizeF(max(font.pointSizeF() * 0.6, 5))
        painter.setFont(font)
        for i, row in enumerate(self.matrix):
            total = sum(row) or 1
            for j, count in enumerate(row):
                rate = count / total
                color = _shade(rate, diagonal=i == j)
                rect = QRectF(left + j * cell, top + i * cell, cell, cell)
                painter.fillRect(rect, color)
                if count and cell >= 10:
                    painter.setPen(QColor("white") if rate > 0.55 else QColor("#202020"))
                    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, str(count))
        painter.setPen(QColor("#c0c0c0"))
        painter.drawRect(QRectF(left, top, size, size))
        painter.end()


def label_step(cell: float, label: float) -> int:
    """Write every k-th label so that labels ``label`` pixels long on cells ``cell`` pixels apart do not touch."""
    return max(1, math.ceil(label / max(cell, 1e-6)))


def _shade(rate: float, diagonal: bool) -> QColor:
    """White -> green on the diagonal (correct), white -> red off it (confusions), as in the reports."""
    return QColor(*shade(rate, diagonal))
