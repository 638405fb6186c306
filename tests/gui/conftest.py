"""Fixtures for the GUI tests: the real main window (offscreen), a tiny dataset, drops, waiting for tasks."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PIL import Image  # noqa: E402
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QDragEnterEvent, QDropEvent  # noqa: E402
from PySide6.QtWidgets import QApplication, QMessageBox  # noqa: E402

TINY_CLASSES = {"a_fields": 24, "b_forest": 24, "c_water": 24, "d_harbour": 14, "e_runway": 14}
TASK_TIMEOUT_MS = 120_000


def _pattern(name: str, index: int, size: int = 32) -> np.ndarray:
    """A distinct, slightly varied texture per class so tiny models can tell them apart."""
    rng = np.random.default_rng(index + 1000 * len(name))
    y, x = np.mgrid[0:size, 0:size]
    base = {"a_fields": (90, 160, 60), "b_forest": (30, 90, 40), "c_water": (40, 80, 160),
            "d_harbour": (150, 150, 160), "e_runway": (110, 110, 110)}[name]
    img = np.zeros((size, size, 3), np.float32) + base
    if name == "a_fields":
        img += 40 * ((x + index) % 8 < 4)[..., None]
    elif name == "e_runway":
        img[:, size // 2 - 3:size // 2 + 3] = 230
    elif name == "d_harbour":
        img[(y % 10) < 3] = (200, 200, 210)
    img += rng.normal(0, 12, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A class-imbalanced folder dataset: 3 large and 2 small classes of 32 px PNGs."""
    root = tmp_path_factory.mktemp("tiny_dataset")
    for name, count in TINY_CLASSES.items():
        (root / name).mkdir()
        for i in range(count):
            Image.fromarray(_pattern(name, i)).save(root / name / f"{name}_{i:03d}.png")
    return root


@pytest.fixture
def window(qtbot) -> Iterator:  # noqa: ANN001 - pytest-qt fixture
    """The real main window, without the demo data, shown offscreen; tasks are stopped afterwards."""
    from scl_desktop.gui.startup import create_app, create_main_window

    create_app()
    win = create_main_window(open_demo=False)
    qtbot.addWidget(win)
    win.show_page("dataset")  # not the page an earlier test's window was closed on (drops depend on the page)
    win.show()
    yield win
    if win.session.busy:
        win.session.cancel_task()
        qtbot.waitUntil(lambda: not win.session.busy, timeout=TASK_TIMEOUT_MS)
    for box in error_dialogs(win):
        box.close()


def drop_paths(target, paths: Sequence[Path]) -> QDropEvent:  # noqa: ANN001 - any QWidget
    """Send a real drag-enter and drop carrying file URLs to ``target``; return the drop event."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = QPointF(target.width() / 2, target.height() / 2)
    args = (Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    try:
        enter = QDragEnterEvent(pos, *args)  # PySide6 >= 6.12 (the QPoint form is deprecated there)
    except TypeError:
        enter = QDragEnterEvent(pos.toPoint(), *args)
    QApplication.sendEvent(target, enter)
    assert enter.isAccepted(), "the window refused the drag"
    drop = QDropEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, drop)
    return drop


def wait_idle(qtbot, win, timeout: int = TASK_TIMEOUT_MS) -> None:  # noqa: ANN001
    """Wait until the window's task has ended (and its outcome was delivered)."""
    qtbot.waitUntil(lambda: not win.session.busy, timeout=timeout)


def error_dialogs(win) -> list[QMessageBox]:  # noqa: ANN001
    return [b for b in win.findChildren(QMessageBox, "errorDialog") if b.isVisible()]


def no_errors(win) -> None:  # noqa: ANN001
    boxes = error_dialogs(win)
    assert not boxes, "unexpected error dialog: " + " | ".join(f"{b.text()} {b.informativeText()}" for b in boxes)


def import_tiny(qtbot, win, folder: Path, size: int = 32) -> None:  # noqa: ANN001
    """Drop ``folder`` on the window at working size ``size`` and wait for the import and the split."""
    win.pages["dataset"].size_spin.setValue(size)
    win.show_page("dataset")  # on the Label page a drop adds images to label instead
    drop_paths(win, [folder])
    assert win.session.busy, "dropping the folder did not start an import"
    wait_idle(qtbot, win)
    no_errors(win)


def tiny_encoder(win, epochs: int = 1, batch: int = 16, image_size: int = 16) -> None:  # noqa: ANN001
    """Set the Encoder page's widgets to a tiny, fast model."""
    form = win.pages["encoder"].form
    for name, value in (("arch", "tiny"), ("image_size", image_size), ("epochs", epochs), ("batch_size", batch),
                        ("device", "cpu"), ("num_threads", 1), ("checkpoint_every", 1), ("amp", False),
                        ("channels_last", False)):
        form.set_field(name, value)


def tiny_classifier(win, epochs: int = 2, balance: str = "cb") -> None:  # noqa: ANN001
    form = win.pages["classifier"].form
    for name, value in (("balance", balance), ("epochs", epochs), ("batch_size", 16), ("device", "cpu"),
                        ("num_threads", 1)):
        form.set_field(name, value)
