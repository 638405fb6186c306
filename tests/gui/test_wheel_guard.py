"""Scrolling a form never edits it: spin boxes and combo boxes take the wheel only with keyboard focus
(``gui.wheel_guard``), and a wheel over an unfocused one scrolls the page instead."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QDoubleSpinBox,
    QScrollArea,
    QSpinBox,
    QWidget,
)

from tests.gui.conftest import no_errors

NOTCH = 120  # one wheel step


def _boxes(win: QWidget) -> list[QWidget]:
    return [*win.findChildren(QAbstractSpinBox), *win.findChildren(QComboBox)]


def _state(box: QWidget) -> object:
    return box.currentIndex() if isinstance(box, QComboBox) else box.text()


def _send_wheel(box: QWidget, dy: int) -> QWheelEvent:
    """A (synthetic, not propagated) wheel event straight to ``box``."""
    pos = QPointF(box.rect().center())
    event = QWheelEvent(pos, QPointF(box.mapToGlobal(pos)), QPoint(0, 0), QPoint(0, dy), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(box, event)
    return event


def _real_wheel(win: QWidget, box: QWidget, dy: int) -> None:
    """A wheel step over ``box`` as the platform delivers one (focus policy and propagation apply)."""
    QTest.wheelEvent(win.windowHandle(), QPointF(box.mapTo(win, box.rect().center())), QPoint(0, dy))
    QApplication.processEvents()


def test_no_unfocused_box_of_any_page_takes_the_wheel(qtbot, window) -> None:  # noqa: ANN001
    changeable = 0
    for key, _title in window.PAGES:
        window.show_page(key)
        qtbot.wait(10)
        for box in _boxes(window):
            box.ensurePolished()  # Qt polishes a widget before it first shows; some sit on hidden tabs
            assert box.focusPolicy() == Qt.FocusPolicy.StrongFocus, box.objectName() or type(box).__name__
            if box.hasFocus():
                continue
            changeable += box.isEnabled()
            for dy in (NOTCH, -NOTCH):
                before = _state(box)
                event = _send_wheel(box, dy)
                assert _state(box) == before, f"the wheel changed {box.objectName() or box} on page {key}"
                assert not event.isAccepted()  # so Qt passes a real one on to the scroll area
    assert changeable > 10  # enabled boxes that the wheel would change without the guard
    no_errors(window)


def _visible_box_in_scroll_area(win: QWidget) -> tuple[QSpinBox | QDoubleSpinBox, QScrollArea]:
    """An enabled number box above its minimum, shown in a scroll area of the current page that can scroll down."""
    for box in [*win.findChildren(QSpinBox), *win.findChildren(QDoubleSpinBox)]:
        area = box.parentWidget()
        while area is not None and not isinstance(area, QScrollArea):
            area = area.parentWidget()
        if (area is not None and box.isVisible() and box.isEnabled() and box.value() > box.minimum()
                and area.verticalScrollBar().maximum() > 0
                and area.viewport().rect().contains(box.mapTo(area.viewport(), box.rect().center()))):
            return box, area
    raise AssertionError("no number box in a scrolling form")


def test_wheel_over_an_unfocused_box_scrolls_the_form_and_a_focused_box_takes_it(qtbot, window) -> None:  # noqa: ANN001
    window.resize(700, 420)  # short enough that the encoder settings scroll
    window.show_page("encoder")
    qtbot.waitExposed(window)
    qtbot.wait(10)
    box, area = _visible_box_in_scroll_area(window)
    bar = area.verticalScrollBar()
    value, scrolled = box.value(), bar.value()
    _real_wheel(window, box, -NOTCH)
    assert box.value() == value and not box.hasFocus()
    assert bar.value() > scrolled  # the form scrolled instead

    box, area = _visible_box_in_scroll_area(window)  # one shown after scrolling
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    box.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(box.hasFocus)
    value, scrolled = box.value(), area.verticalScrollBar().value()
    _real_wheel(window, box, -NOTCH)
    assert box.value() != value and box.hasFocus()  # focused: the wheel steps the value
    assert area.verticalScrollBar().value() == scrolled  # and the form stays put
    no_errors(window)
