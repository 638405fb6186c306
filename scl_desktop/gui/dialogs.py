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
    QFileDialog,
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
from scl_desktop.gui.messages import for_gui
from scl_desktop.gui.settings import DEVICES, AppSettings


def error_text(error: object) -> tuple[str, str]:
    """(message, hint) for an exception or a plain message: what went wrong and what to do, in the
    window's terms (``messages.for_gui``: the window's actions instead of `scl` commands)."""
    if isinstance(error, SclError):
        return for_gui(error.what), for_gui(error.hint)
    if isinstance(error, BaseException):
        return f"{type(error).__name__}: {error}", "This is unexpected; the details and the log file say more."
    return for_gui(str(error)), ""


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


FOLDER_LABELS = {"data": "Data (runs, run history, demo data)", "cache": "Cache (decoded images, safe to delete)"}


class FolderChooser(QWidget):
    """A data or cache folder: shown, choosable (``Choose…``), back to the default, openable.

    ``choice`` is the chosen folder or ``None`` for the default; nothing is saved until the
    dialog applies it (``paths.set_folder``).
    """

    def __init__(self, kind: str, movable: bool) -> None:
        super().__init__()
        self.kind = kind
        self.initial: Path | None = paths.chosen_folders().get(kind)
        self.choice = self.initial
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.line = QLineEdit()
        self.line.setReadOnly(True)
        self.choose_button = QPushButton("Choose…")
        self.choose_button.setToolTip(f"Use another {kind} folder for new work.")
        self.choose_button.clicked.connect(self.choose)
        self.default_button = QPushButton("Default")
        self.default_button.setToolTip(f"Go back to the default {kind} folder ({paths.default_dir(kind)}).")
        self.default_button.clicked.connect(lambda: self.set_folder(None))
        for button in (self.choose_button, self.default_button):
            button.setEnabled(movable)
        open_button = QPushButton("Open")
        open_button.clicked.connect(lambda: open_folder(self.folder()))
        layout.addWidget(self.line, 1)
        for button in (self.choose_button, self.default_button, open_button):
            layout.addWidget(button)
        self._show()

    def folder(self) -> Path:
        """The folder in effect once applied."""
        return self.choice if self.choice is not None else paths.default_dir(self.kind)

    @property
    def changed(self) -> bool:
        return self.choice != self.initial

    def choose(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, f"Folder for {FOLDER_LABELS[self.kind].split(' (')[0].lower()}",
                                                  str(self.folder()))
        if folder:
            self.set_folder(Path(folder))

    def set_folder(self, folder: Path | None) -> None:
        """Choose ``folder`` (``None``: the default); saved when the dialog is applied."""
        self.choice = None if folder is None or Path(folder) == paths.default_dir(self.kind) else Path(folder)
        self._show()

    def _show(self) -> None:
        self.line.setText(str(self.folder()))
        self.line.setCursorPosition(0)  # show the start of a long path
        self.line.setToolTip(f"{self.folder()} ({'chosen in Settings' if self.choice is not None else 'the default'})")
        self.default_button.setEnabled(self.choose_button.isEnabled() and self.choice is not None)


class SettingsDialog(QDialog):
    """Data and cache locations (choosable, openable), settings and log folders, default device, CPU threads."""

    def __init__(self, settings: AppSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setObjectName("settingsDialog")
        self._settings = settings
        home = paths.scl_home()
        form = QFormLayout()
        self.folders = {kind: FolderChooser(kind, movable=home is None) for kind in paths.MOVABLE}
        for kind, chooser in self.folders.items():
            form.addRow(FOLDER_LABELS[kind], chooser)
        for label, folder in (("Settings", paths.config_dir()), ("Logs", paths.log_dir())):
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
        if home is None:
            text = ("A new data or cache folder is used for new work from now on (imports, runs, decoded images). "
                    "Existing runs, the run history and the demo data stay where they are unless you move them "
                    "into the new data folder; the cache is rebuilt when needed. Set the SCL_HOME environment "
                    "variable to keep all of these folders below one folder (portable installs).")
        else:
            text = (f"SCL_HOME is set ({home}): every folder is below it, so the data and cache folders cannot be "
                    "chosen here. Unset SCL_HOME (and restart) to choose them.")
        note = QLabel(text)
        note.setObjectName("foldersNote")
        note.setWordWrap(True)
        note.setStyleSheet("color: #606060")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(buttons)
        self.resize(760, self.sizeHint().height())

    def apply(self) -> AppSettings:
        """Copy the dialog's values into the settings object and save changed folders (``paths.set_folder``).

        Raises ``SclError`` when a chosen folder cannot be used (the other values are applied)."""
        self._settings.device = self.device.currentText()
        self._settings.loader_threads = self.threads.value()
        for kind, chooser in self.folders.items():
            if chooser.changed:
                paths.set_folder(kind, chooser.choice)
                chooser.initial = chooser.choice
        return self._settings

    def moved_folders(self) -> dict[str, Path]:
        """The folders whose location this dialog changes: kind -> new folder."""
        return {kind: c.folder() for kind, c in self.folders.items() if c.changed}


def _folder_row(folder: Path) -> QWidget:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    line = QLineEdit(str(folder))
    line.setReadOnly(True)
    line.setCursorPosition(0)
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
