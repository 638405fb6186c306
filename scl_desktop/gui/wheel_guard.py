"""Scrolling a form never edits it: spin boxes and combo boxes take the mouse wheel only when focused.

``install(app)`` puts one event filter on the QApplication, so it covers every spin box
(``QAbstractSpinBox``) and combo box of every page, dialog and widget created later. It gives
them ``Qt.StrongFocus`` when they are polished (a wheel does not focus them; a click or Tab
does) and ignores a wheel event over one that has no keyboard focus: not handled by the box,
the event goes on to its parent, so the enclosing scroll area scrolls instead.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QAbstractSpinBox, QApplication, QComboBox

GUARDED = (QAbstractSpinBox, QComboBox)
NAME = "wheelGuard"


class WheelGuard(QObject):
    """The application event filter described in the module docstring."""

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        kind = event.type()
        if kind == QEvent.Type.Wheel:
            if isinstance(obj, GUARDED) and not obj.hasFocus():
                event.ignore()  # not accepted: Qt passes it on to the parent (the scroll area)
                return True
        elif kind == QEvent.Type.Polish and isinstance(obj, GUARDED) and obj.focusPolicy() == Qt.FocusPolicy.WheelFocus:
            obj.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        return False


def install(app: QApplication) -> WheelGuard:
    """Install the guard on ``app`` (once; a second call returns the one installed)."""
    guard = app.findChild(WheelGuard, NAME)
    if guard is None:
        guard = WheelGuard(app)
        guard.setObjectName(NAME)
        app.installEventFilter(guard)
    return guard
