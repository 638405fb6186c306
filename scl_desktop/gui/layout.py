"""Small layout helpers shared by the pages: a row of buttons, a scrolling wrapper, a filled splitter."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QScrollArea, QSplitter, QWidget


def tool_row(*buttons: QPushButton) -> QHBoxLayout:
    """``buttons`` side by side, left-aligned."""
    row = QHBoxLayout()
    for button in buttons:
        row.addWidget(button)
    row.addStretch(1)
    return row


def scrolled(widget: QWidget) -> QScrollArea:
    """``widget`` in a scroll area that resizes it to the available width and height."""
    scroll = QScrollArea()
    scroll.setWidget(widget)
    scroll.setWidgetResizable(True)
    return scroll


def splitter(orientation: Qt.Orientation, *widgets: QWidget, stretch: Sequence[int] = (),
             sizes: Sequence[int] = ()) -> QSplitter:
    """A splitter holding ``widgets`` in order, with their stretch factors and initial sizes when given."""
    split = QSplitter(orientation)
    for widget in widgets:
        split.addWidget(widget)
    for index, factor in enumerate(stretch):
        split.setStretchFactor(index, factor)
    if sizes:
        split.setSizes(list(sizes))
    return split
