"""Start / Cancel (/ Resume) buttons with a progress panel, enabled according to the session's busy state."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QVBoxLayout, QWidget

from scl_desktop.gui.session import Session
from scl_desktop.gui.widgets.progress import ProgressPanel
from scl_desktop.gui.worker import Task


class TaskControls(QWidget):
    """Emits ``start_clicked`` / ``resume_clicked``; Cancel cancels the task this widget is tracking."""

    start_clicked = Signal()
    resume_clicked = Signal()

    def __init__(self, session: Session, start_text: str, resume: bool = False,
                 cancelled_text: str = "Cancelled; the last checkpoint was kept.",
                 cancel_tip: str = "Stop at the next step; a checkpoint of the work so far is kept.") -> None:
        super().__init__()
        self.session = session
        self.task: Task | None = None
        self.cancelled_text = cancelled_text
        self.start_button = QPushButton(start_text)
        self.start_button.setObjectName("startButton")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelButton")
        self.cancel_button.setToolTip(cancel_tip)
        self.resume_button = QPushButton("Resume")
        self.resume_button.setObjectName("resumeButton")
        self.resume_button.setToolTip("Continue the current run from its last checkpoint.")
        self.resume_button.setVisible(resume)
        self.resume_available = False
        self.progress = ProgressPanel()
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.resume_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        self.start_button.clicked.connect(self.start_clicked)
        self.resume_button.clicked.connect(self.resume_clicked)
        self.cancel_button.clicked.connect(self.cancel)
        session.busy_changed.connect(self.refresh)
        self.startable = True
        self.refresh()

    def track(self, task: Task | None, message: str = "Starting…") -> bool:
        """Follow ``task`` (as returned by ``Session.start_task``); False when it did not start."""
        if task is None:
            return False
        self.task = task
        self.progress.reset(message)
        task.event.connect(self.progress.on_event)
        task.finished.connect(self._finished)
        task.failed.connect(self._failed)
        task.cancelled.connect(self._cancelled)
        self.refresh()
        return True

    def cancel(self) -> None:
        if self.task is not None and self.task.running:
            self.cancel_button.setEnabled(False)
            self.progress.status.setText("Cancelling at the next step…")
            self.session.cancel_task()

    def set_startable(self, ok: bool, resume: bool | None = None) -> None:
        """Whether Start (and Resume) may be pressed when nothing runs."""
        self.startable = ok
        if resume is not None:
            self.resume_available = resume
        self.refresh()

    def refresh(self, *_args: object) -> None:
        busy = self.session.busy
        mine = self.task is not None and self.task.running
        self.start_button.setEnabled(not busy and self.startable)
        self.resume_button.setEnabled(not busy and self.startable and self.resume_available)
        self.cancel_button.setEnabled(mine)

    def _finished(self, _result: object) -> None:
        self.progress.finish("Finished.")

    def _failed(self, _exc: object, _tb: str) -> None:
        self.progress.stop("Failed; see the message and the log.")

    def _cancelled(self, _result: object) -> None:
        self.progress.stop(self.cancelled_text)
