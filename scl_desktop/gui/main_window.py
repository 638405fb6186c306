"""The main window: a sidebar with one page per workflow step, a log dock, menus and drag-and-drop.

It wires pages to the shared ``Session`` and shows every error in a dialog and the log panel.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QStackedWidget,
    QWidget,
)

from scl_desktop import __version__
from scl_desktop.core.errors import SclError
from scl_desktop.gui import dialogs, theme
from scl_desktop.gui.messages import for_gui
from scl_desktop.gui.pages.classifier_page import ClassifierPage
from scl_desktop.gui.pages.dataset_page import DatasetPage
from scl_desktop.gui.pages.device_page import DevicePage
from scl_desktop.gui.pages.encoder_page import EncoderPage
from scl_desktop.gui.pages.evaluate_page import EvaluatePage
from scl_desktop.gui.pages.label_page import LabelPage
from scl_desktop.gui.pages.review_page import ReviewPage
from scl_desktop.gui.pages.runs_page import RunsPage
from scl_desktop.gui.session import Session, run_matches
from scl_desktop.gui.settings import AppSettings, window_settings
from scl_desktop.gui.widgets.log_panel import LogPanel
from scl_desktop.logging_setup import log_file

LOG_HEIGHT = 110
"""First-launch height of the log dock in pixels (about six lines)."""


class MainWindow(QMainWindow):
    """The application window. ``pages`` maps a page key to its widget."""

    PAGES = (("dataset", "Dataset"), ("encoder", "Encoder"), ("classifier", "Classifier"),
             ("evaluate", "Evaluate"), ("label", "Label"), ("review", "Review"), ("runs", "Runs"), ("device", "Device"))

    def __init__(self, settings: AppSettings | None = None, settings_warning: str | None = None) -> None:
        super().__init__()
        self.setObjectName("mainWindow")
        self.setWindowTitle(f"scl_desktop {__version__} — imbalanced aerial scene recognition")
        self.setWindowIcon(theme.icon("app"))
        self.setAcceptDrops(True)
        self.settings = settings or AppSettings()
        self.session = Session(self)
        self._close_when_idle = False

        self.log_panel = LogPanel()
        self.log_dock = QDockWidget("Log", self)
        self.log_dock.setObjectName("logDock")
        self.log_dock.setWidget(self.log_panel)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.log_dock)

        self.pages: dict[str, QWidget] = {
            "dataset": DatasetPage(self.session, self.settings),
            "encoder": EncoderPage(self.session, self.settings),
            "classifier": ClassifierPage(self.session, self.settings),
            "evaluate": EvaluatePage(self.session, self.settings),
            "label": LabelPage(self.session, self.settings),
            "review": ReviewPage(self.session, self.settings),
            "runs": RunsPage(self.session, self.settings),
            "device": DevicePage(self.session, self.settings),
        }
        self.sidebar = QListWidget()
        self.sidebar.setObjectName("sidebar")
        self.stack = QStackedWidget()
        for key, title in self.PAGES:
            item = QListWidgetItem(theme.icon(key), title)
            item.setData(Qt.ItemDataRole.UserRole, key)
            self.sidebar.addItem(item)
            self.stack.addWidget(self.pages[key])
        self.sidebar.currentRowChanged.connect(self.stack.setCurrentIndex)
        self.sidebar.currentRowChanged.connect(self._show_drop_hint)
        self.sidebar.setFixedWidth(150)
        central = QWidget()
        layout = QHBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.sidebar)
        layout.addWidget(self.stack, 1)
        self.setCentralWidget(central)
        self._build_menus()

        self.session.log.connect(lambda message, level: self.log_panel.append_message(for_gui(message), level))
        self.session.error.connect(self.show_error)
        self.session.busy_changed.connect(self._on_busy_changed)
        for page in self.pages.values():
            go = getattr(page, "go_to", None)
            if go is not None:
                go.connect(self.show_page)
        self.sidebar.setCurrentRow(0)
        self.resize(1280, 820)
        self._restore_layout()
        self.log_panel.show_earlier(log_file())
        if settings_warning:
            self.log_panel.append_message(settings_warning, "warning")
        self._show_drop_hint()
        self._pending_run: str | None = None
        for signal in (self.session.dataset_changed, self.session.split_changed, self.session.run_changed):
            signal.connect(self._remember_session)

    # -- the session across launches -----------------------------------------------------
    def session_state(self) -> dict[str, Any]:
        """What to restore at the next launch: the Dataset page's import and split, the current run's id."""
        state = self.pages["dataset"].import_state()
        if state is None:
            return {}
        return {**state, "run": self.session.run.id if self.session.run is not None else None}

    def _remember_session(self, *_args: object) -> None:
        if self._pending_run is None:  # not while a restore is still on its way
            self.settings.last_session = self.session_state()
            self.save_settings()

    def restore_session(self) -> bool:
        """Import the last session's dataset again, build its split and make its run current once the split is
        there; False when there is nothing to restore (or its dataset is gone)."""
        state = dict(self.settings.last_session)
        if not state:
            return False
        self._pending_run = state.get("run") or ""
        if not self.pages["dataset"].restore(state):
            self._pending_run = None
            return False
        self.session.split_changed.connect(self._restore_run)
        return True

    def _restore_run(self, split: object) -> None:
        if split is None:
            return
        self.session.split_changed.disconnect(self._restore_run)
        run_id, self._pending_run = self._pending_run, None
        if run_id:
            try:
                run = self.session.store.open(run_id)
            except SclError as exc:
                self.log_panel.append_message(f"The last session's run {run_id} cannot be opened: {exc.what}",
                                              "warning")
            else:
                if run_matches(run, split):
                    self.session.set_run(run)
        self._remember_session()

    # -- navigation ----------------------------------------------------------------------
    def show_page(self, key: str) -> None:
        """Switch to the page ``key`` (one of ``PAGES``)."""
        keys = [k for k, _ in self.PAGES]
        self.sidebar.setCurrentRow(keys.index(key))

    def current_page(self) -> str:
        return self.PAGES[self.stack.currentIndex()][0]

    def _show_drop_hint(self, *_args: object) -> None:
        """Say in the status bar what a drop does on this page (unless a task is running)."""
        if self.session.busy:
            return
        self.statusBar().showMessage({
            "label": "Drop image folders, GeoTIFF tiles or scenes anywhere on the window to label them.",
            "review": "Drop a candidates folder (from `scl mine ... --out DIR`) on the window to review it.",
        }.get(self.current_page(), "Drop a dataset folder, GeoTIFF tiles or a CSV manifest anywhere on the window."))

    def _build_menus(self) -> None:
        dataset: DatasetPage = self.pages["dataset"]  # type: ignore[assignment]
        file_menu = self.menuBar().addMenu("&File")
        for text, slot, shortcut in (("Open dataset &folder…", dataset.choose_folder, QKeySequence.StandardKey.Open),
                                     ("Open &CSV manifest…", dataset.choose_csv, None),
                                     ("Open &GeoTIFF tiles…", dataset.choose_tiles, None),
                                     ("Open &demo data", dataset.open_demo, None)):
            action = QAction(text, self)
            if shortcut is not None:
                action.setShortcut(shortcut)
            action.triggered.connect(slot)
            file_menu.addAction(action)
        file_menu.addSeparator()
        settings_action = QAction("&Settings…", self)
        settings_action.triggered.connect(self.open_settings)
        file_menu.addAction(settings_action)
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        view_menu = self.menuBar().addMenu("&View")
        view_menu.addAction(self.log_dock.toggleViewAction())
        help_menu = self.menuBar().addMenu("&Help")
        device_action = QAction("&Device…", self)
        device_action.triggered.connect(lambda: self.show_page("device"))
        help_menu.addAction(device_action)
        about_action = QAction("&About", self)
        about_action.triggered.connect(lambda: dialogs.show_about(self))
        help_menu.addAction(about_action)

    # -- errors --------------------------------------------------------------------------
    def show_error(self, title: str, error: object, details: str = "") -> None:
        """Log the error and show it in a non-blocking dialog; the app keeps running."""
        message, hint = dialogs.error_text(error)
        self.log_panel.append_message(f"{title}: {message} {hint}".strip(), "error")
        if details:
            self.log_panel.append_message(details.rstrip(), "error")
        dialogs.show_error(self, title, error, details)

    # -- settings ------------------------------------------------------------------------
    def open_settings(self) -> None:
        dialog = dialogs.SettingsDialog(self.settings, self)
        if not dialog.exec():
            return
        moving = dialog.moved_folders()
        try:
            dialog.apply()
        except SclError as exc:
            self.show_error("Cannot use the chosen folder", exc)
        self.save_settings()
        apply_thread_setting(self.settings)
        self.log_panel.append_message(f"Settings saved (device {self.settings.device}, "
                                      f"CPU threads {self.settings.loader_threads or 'automatic'}).")
        moved = {kind: folder for kind, folder in moving.items() if not dialog.folders[kind].changed}
        for kind, folder in moved.items():
            self.log_panel.append_message(f"New work now uses the {kind} folder {folder}. What is in the old "
                                          "folder stays there unless you move it.", "warning")
        if "data" in moved:
            self.session.results_changed.emit()  # the run history now comes from the new data folder

    def save_settings(self) -> None:
        try:
            self.settings.save()
        except Exception as exc:  # noqa: BLE001 - a read-only config folder must not stop the app
            self.show_error("Could not save settings", exc)

    # -- drag and drop -------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt API
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt API
        event.acceptProposedAction() if event.mimeData().hasUrls() else event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt API
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        if self.current_page() == "label":  # images to label, not a dataset
            label: LabelPage = self.pages["label"]  # type: ignore[assignment]
            label.add_inputs(paths)
            return
        if self.current_page() == "review":  # a candidates folder to review
            review: ReviewPage = self.pages["review"]  # type: ignore[assignment]
            review.open_folder(paths[0])
            return
        self.show_page("dataset")
        dataset: DatasetPage = self.pages["dataset"]  # type: ignore[assignment]
        dataset.open_paths(paths)

    # -- busy state and closing ----------------------------------------------------------
    def _on_busy_changed(self, busy: bool) -> None:
        if busy:
            self.statusBar().showMessage(f"Running: {self.session.task.name if self.session.task else ''}")
        else:
            self.statusBar().showMessage("Ready.", 5000)
            if self._close_when_idle:
                self.close()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        if self.session.busy:
            if self._close_when_idle:
                event.ignore()
                return
            task_name = self.session.task.name if self.session.task else "A task"
            if not dialogs.ask(self, "Stop and quit?",
                               f"{task_name} is still running. Stop it and quit? "
                               "Work done so far (the last checkpoint) is kept and can be resumed."):
                event.ignore()
                return
            self._close_when_idle = True
            self.statusBar().showMessage("Stopping… the window closes once the checkpoint is saved.")
            self.session.cancel_task()
            event.ignore()
            return
        self._save_layout()
        self.save_settings()
        for page in self.pages.values():
            shutdown = getattr(page, "shutdown", None)
            if shutdown is not None:
                shutdown()
        event.accept()

    def _save_layout(self) -> None:
        store = window_settings()
        store.setValue("geometry", self.saveGeometry())
        store.setValue("state", self.saveState())
        store.setValue("page", self.current_page())
        store.sync()

    def _restore_layout(self) -> None:
        store = window_settings()
        geometry = store.value("geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        state = store.value("state")
        if isinstance(state, QByteArray):
            self.restoreState(state)
        else:  # first launch: the log a strip at the bottom (View > Log hides it; its edge resizes it)
            self.resizeDocks([self.log_dock], [LOG_HEIGHT], Qt.Orientation.Vertical)
        page = store.value("page")
        if isinstance(page, str) and page in self.pages:
            self.show_page(page)


def apply_thread_setting(settings: AppSettings) -> None:
    """Apply the CPU-thread setting to torch (0 leaves torch's own choice)."""
    if settings.loader_threads > 0:
        import torch

        torch.set_num_threads(settings.loader_threads)
