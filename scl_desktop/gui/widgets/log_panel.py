"""The log panel: every engine ``Log`` event, error and notice; each line also goes to ``logging``
(which ``scl_desktop.logging_setup`` sends to the log folder)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from PySide6.QtGui import QColor, QTextCharFormat
from PySide6.QtWidgets import QPlainTextEdit

LEVEL_COLORS = {"info": "#202020", "warning": "#a35a00", "error": "#b00020"}
EARLIER_COLOR = "#808080"
EARLIER_LINES = 200
_logger = logging.getLogger("scl_desktop.gui")


class LogPanel(QPlainTextEdit):
    """Read-only, coloured by level, bounded to the last 5,000 lines."""

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("logPanel")
        self.setReadOnly(True)
        self.setMaximumBlockCount(5000)
        self.setPlaceholderText("Messages from import, training and evaluation appear here.")

    def append_message(self, message: str, level: str = "info") -> None:
        """Add one line (``level``: info, warning or error) and log it to the file."""
        fmt = QTextCharFormat()
        fmt.setForeground(QColor(LEVEL_COLORS.get(level, LEVEL_COLORS["info"])))
        cursor = self.textCursor()
        cursor.movePosition(cursor.MoveOperation.End)
        prefix = time.strftime("%H:%M:%S")
        if self.document().characterCount() > 1:
            cursor.insertBlock()
        cursor.insertText(f"{prefix}  {message}", fmt)
        self.ensureCursorVisible()
        _logger.log({"warning": logging.WARNING, "error": logging.ERROR}.get(level, logging.INFO), message)

    def show_earlier(self, path: Path, lines: int = EARLIER_LINES) -> None:
        """Show the last ``lines`` lines of the log file ``path`` (earlier sessions), greyed, above what comes
        next; nothing when there is no such file. They are not logged again."""
        try:
            with path.open("rb") as f:
                f.seek(max(0, f.seek(0, 2) - 200 * lines))
                tail = f.read().decode("utf-8", "replace").splitlines()[-lines:]
        except OSError:
            return
        if not tail:
            return
        fmt = QTextCharFormat()
        fmt.setForeground(QColor(EARLIER_COLOR))
        cursor = self.textCursor()
        cursor.movePosition(cursor.MoveOperation.End)
        cursor.insertText("\n".join([f"— earlier, from {path} —", *tail, "— this session —"]), fmt)
        self.ensureCursorVisible()

    def text(self) -> str:
        return self.toPlainText()
