"""Dialogs: errors (non-blocking), yes/no questions, settings and About.

``ask`` is the one place the app asks a blocking question, so tests can replace it.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from scl_desktop import __version__
from scl_desktop.core import paths
from scl_desktop.core.errors import SclError
from scl_desktop.gui.settings import DEVICES, AppSettings


def error_text(error: object) -> tuple[str, str]:
    """(message, hint) for an exception or a plain message: what went wrong and what to do."""
    if isinstance(error, SclError):
        return error.what, error.hint
    if isinstance(error, BaseException):
        return f"{type(error).__name__}: {error}", "This is unexpected; the details and the log file say more."
    return str(error), ""


def show_error(parent: QWidget, title: str, error: object, details: str = "") -> QMessageBox:
    """Show a non-blocking error dialog (object name ``errorDialog``) and return it."""
    message, hint = error_text(error)
    box = QMessageBox(QMessageBox.Icon.Critical, title, message, QMessageBox.StandardButton.Ok, parent)
    box.setObjectName("errorDialog")
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    if hint:
        box.setInformativeText(hint)
    if details:
        box.setDetailedText(details)
    box.setWindowModality(Qt.WindowModality.WindowModal)
    box.open()
    return box


def ask(parent: QWidget, title: str, question: str) -> bool:
    """Ask a yes/no question (blocking); True for yes."""
    answer = QMessageBox.question(parent, title, question,
                                  QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                  QMessageBox.StandardButton.No)
    return answer == QMessageBox.StandardButton.Yes


def open_folder(path: str | os.PathLike[str]) -> None:
    """Show a folder in the system file manager."""
    QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))


class SettingsDialog(QDialog):
    """Data and cache locations (shown, openable), default device and CPU threads."""

    def __init__(self, settings: AppSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setObjectName("settingsDialog")
        self._settings = settings
        form = QFormLayout()
        for label, folder in (("Data (runs, demo data, registry)", paths.data_dir()),
                              ("Cache (decoded images, safe to delete)", paths.cache_dir()),
                              ("Settings", paths.config_dir()), ("Logs", paths.log_dir())):
            form.addRow(label, _folder_row(folder))
        self.device = QComboBox()
        self.device.addItems(list(DEVICES))
        self.device.setCurrentText(settings.device)
        self.device.setToolTip("Training device. auto picks a CUDA GPU, then Apple MPS, then the CPU.")
        form.addRow("Default device", self.device)
        self.threads = QSpinBox()
        self.threads.setRange(0, max(os.cpu_count() or 1, 1) * 2)
        self.threads.setSpecialValueText("automatic")
        self.threads.setValue(settings.loader_threads)
        self.threads.setToolTip("CPU threads for training and data loading (automatic: what torch chooses).")
        form.addRow("CPU threads", self.threads)
        note = QLabel("Set the SCL_HOME environment variable to keep all of these folders below one folder "
                      "(portable installs); it takes effect at the next start.")
        note.setWordWrap(True)
        note.setStyleSheet("color: #606060")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(buttons)
        self.resize(640, self.sizeHint().height())

    def apply(self) -> AppSettings:
        """Copy the dialog's values into the settings object and return it."""
        self._settings.device = self.device.currentText()
        self._settings.loader_threads = self.threads.value()
        return self._settings


def _folder_row(folder: Path) -> QWidget:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    line = QLineEdit(str(folder))
    line.setReadOnly(True)
    button = QPushButton("Open")
    button.clicked.connect(lambda: open_folder(folder))
    layout.addWidget(line, 1)
    layout.addWidget(button)
    return row


def show_about(parent: QWidget) -> None:
    """The About box: what the app is for, the method it implements, versions."""
    import PySide6
    import torch

    QMessageBox.about(
        parent,
        "About scl_desktop",
        f"<h3>scl_desktop {__version__}</h3>"
        "<p>Recognise aerial scenes from class-imbalanced training data with two-stage supervised "
        "contrastive learning: a SupCon encoder trained on the imbalanced data, then a re-balanced "
        "linear classifier (class-balanced sampling or cost-sensitive cross-entropy).</p>"
        "<p>Method: Huang et al., <i>A two-stage contrastive learning framework for imbalanced aerial "
        "scene recognition</i>, ICASSP 2022.</p>"
        f"<p>PySide6 {PySide6.__version__} · torch {torch.__version__}</p>"
        "<p>The built-in demo data is synthetic.</p>",
    )
