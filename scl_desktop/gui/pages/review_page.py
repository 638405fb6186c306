"""Review page: the chips of a candidate list (`scl mine ... --out DIR`) in a grid, decided from the keyboard.

A or Enter accepts a chip as its proposed class, R rejects it, 1..9 relabel it to that class, U or
Ctrl+Z undo the last decision, the arrow keys move. Every decision goes to the core review session
(``core.mining.review``), which saves it to DIR/review.json at once; "Add to dataset…" writes the
dataset version (``core.mining.dataset_version``) in the background. The page holds no review logic.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QIcon, QKeyEvent, QKeySequence, QPixmap
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from scl_desktop.core.data.manifest import SplitManifest, display_path
from scl_desktop.core.errors import SclError
from scl_desktop.core.events import Log
from scl_desktop.core.mining.dataset_version import DatasetVersion, write_version
from scl_desktop.core.mining.review import ACCEPT, REJECT, RELABEL, ReviewSession
from scl_desktop.gui.layout import tool_row
from scl_desktop.gui.session import Session
from scl_desktop.gui.settings import AppSettings

COLOURS = {ACCEPT: "#cdebd0", RELABEL: "#fbe6b8", REJECT: "#f3c7c7"}
"""A decided chip's background: green accepted, amber relabelled, red rejected."""
CHIP_PX = 112


class ChipGrid(QListWidget):
    """The chips in an icon grid; decision keys emit ``key_action(action, class index)`` (arrows move as usual)."""

    key_action = Signal(str, int)

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("reviewGrid")
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setIconSize(QSize(CHIP_PX, CHIP_PX))
        self.setGridSize(QSize(CHIP_PX + 48, CHIP_PX + 64))
        self.setWordWrap(True)
        self.setSpacing(6)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt API
        key, text = event.key(), event.text().lower()
        if event.matches(QKeySequence.StandardKey.Undo) or text == "u":
            self.key_action.emit("undo", -1)
        elif text == "a" or key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.key_action.emit(ACCEPT, -1)
        elif text == "r":
            self.key_action.emit(REJECT, -1)
        elif text in tuple("123456789"):
            self.key_action.emit(RELABEL, int(text) - 1)
        else:
            super().keyPressEvent(event)


class ReviewPage(QWidget):
    """Open a candidates folder, decide each chip from the keyboard, then write a dataset version."""

    def __init__(self, session: Session, settings: AppSettings) -> None:
        super().__init__()
        self.session = session
        self.settings = settings
        self.review: ReviewSession | None = None
        self.version: DatasetVersion | None = None
        self.folder_label = QLabel("Open a candidates folder (`scl mine RUN INPUT --class NAME --out DIR`) or drop "
                                   "it on the window.")
        self.folder_label.setWordWrap(True)
        self.keys_label = QLabel("")
        self.keys_label.setObjectName("reviewKeys")
        self.keys_label.setWordWrap(True)
        self.progress_label = QLabel("")
        self.progress_label.setObjectName("reviewProgress")
        open_button = QPushButton("Open candidates…")
        open_button.clicked.connect(self.choose_folder)
        self.add_button = QPushButton("Add to dataset…")
        self.add_button.setEnabled(False)
        self.add_button.clicked.connect(lambda: self.add_to_dataset())
        self.grid = ChipGrid()
        self.grid.key_action.connect(self._on_key)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("<b>Review</b> — confirm the candidates before they join the training set"))
        layout.addWidget(self.folder_label)
        layout.addLayout(tool_row(open_button, self.add_button))
        layout.addWidget(self.keys_label)
        layout.addWidget(self.grid, 1)
        layout.addWidget(self.progress_label)

    # -- opening -------------------------------------------------------------------------
    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Candidates folder (holding candidates.csv)",
                                                  self.settings.last_folder("review"))
        if folder:
            self.open_folder(Path(folder))

    def open_folder(self, folder: str | Path) -> bool:
        """Open ``folder`` (or the folder of a candidates.csv dropped) and show its chips with the saved decisions."""
        folder = Path(folder)
        if folder.is_file():
            folder = folder.parent
        try:
            review = ReviewSession.open(folder)
        except SclError as exc:
            self.session.error.emit("Cannot open the candidates", exc, "")
            return False
        self.review, self.version = review, None
        self.settings.remember_folder("review", folder)
        target = f"for {review.target}" if review.target else "by doubt"
        self.folder_label.setText(f"{display_path(review.folder)}: {len(review.candidates)} candidates {target}"
                                  + (f" from run {review.run_id}" if review.run_id else ""))
        numbers = " · ".join(f"<b>{n}</b> {c}" for n, c in enumerate(review.classes[:9], start=1))
        self.keys_label.setText(f"<b>A</b>/Enter accept · <b>R</b> reject · <b>U</b>/Ctrl+Z undo · relabel: {numbers}")
        self.grid.clear()
        for candidate in review.candidates:
            item = QListWidgetItem(QIcon(QPixmap(str(candidate.chip))), "")
            item.setData(Qt.ItemDataRole.UserRole, candidate.rank)
            item.setToolTip(f"{candidate.path}\nwindow {candidate.window}" + (f"\n{candidate.crs}" if candidate.crs
                                                                               else ""))
            self.grid.addItem(item)
            self._show(item)
        first = next((i for i, c in enumerate(review.candidates) if review.decision(c.rank) is None), 0)
        self.grid.setCurrentRow(first)
        self.grid.setFocus()
        self._refresh()
        self.session.log.emit(f"Review of {display_path(review.folder)}: {review.progress_text()}", "info")
        return True

    # -- deciding ------------------------------------------------------------------------
    def _show(self, item: QListWidgetItem) -> None:
        assert self.review is not None
        candidate = self.review.candidate(item.data(Qt.ItemDataRole.UserRole))
        decision = self.review.decision(candidate.rank)
        said = {None: "—", ACCEPT: "✓ accepted", REJECT: "✗ rejected"}.get(
            decision.decision if decision else None, f"→ {decision.label if decision else ''}")
        item.setText(f"#{candidate.rank} {candidate.proposed} {candidate.score:.2f}\n"
                     f"{Path(candidate.path).name}\n{said}")
        item.setBackground(QBrush(QColor(COLOURS[decision.decision])) if decision else QBrush())

    def _refresh(self) -> None:
        review = self.review
        self.progress_label.setText(review.progress_text() if review else "")
        self.add_button.setEnabled(bool(review and review.added()) and not self.session.busy)

    def _on_key(self, action: str, index: int) -> None:
        review, item = self.review, self.grid.currentItem()
        if review is None:
            return
        try:
            if action == "undo":
                rank = review.undo()
                if rank is None:
                    return
                row = next(i for i in range(self.grid.count()) if self.grid.item(i).data(Qt.ItemDataRole.UserRole)
                           == rank)
                self._show(self.grid.item(row))
                self.grid.setCurrentRow(row)
            elif item is not None:
                rank = item.data(Qt.ItemDataRole.UserRole)
                if action == ACCEPT:
                    review.accept(rank)
                elif action == REJECT:
                    review.reject(rank)
                elif index < len(review.classes):
                    review.relabel(rank, review.classes[index])
                else:
                    return
                self._show(item)
                self.grid.setCurrentRow(min(self.grid.row(item) + 1, self.grid.count() - 1))
        except SclError as exc:  # review.json could not be written
            self.session.error.emit("The decision could not be saved", exc, "")
        self._refresh()

    # -- adding ----------------------------------------------------------------------------
    def version_split(self) -> SplitManifest | None:
        """The split the version grows: the run the candidates came from, else the current run's."""
        assert self.review is not None
        if self.review.run_id:
            return self.session.store.open(self.review.run_id).split
        return self.session.run.split if self.session.run is not None else None

    def add_to_dataset(self, out: str | Path | None = None) -> None:
        """Write the dataset version into ``out`` (asked for when None) in the background, and log where."""
        review = self.review
        if review is None:
            return
        if out is None:
            out, _ = QFileDialog.getSaveFileName(self, "New dataset version (a new folder)",
                                                 str(review.folder.parent / f"{review.folder.name}-dataset"))
            if not out:
                return
        try:
            split = self.version_split()
        except SclError as exc:
            self.session.error.emit("The run of the candidates cannot be opened", exc, "")
            return
        if split is None:
            self.session.error.emit("No run", "The candidates do not name their run and no run is open.",
                                    "Open the run on the Runs page, then add again.")
            return
        try:
            decided = ReviewSession.open(review.folder, review.classes)  # the saved decisions, apart from the grid's
        except SclError as exc:
            self.session.error.emit("Cannot read the review", exc, "")
            return
        task = self.session.start_task("Adding to the dataset", lambda token: write_version(decided, split, out, token))
        if task is not None:
            self.add_button.setEnabled(False)
            task.event.connect(self._on_event)
            task.finished.connect(self._on_version)
            task.done.connect(self._refresh)

    def _on_event(self, event: Any) -> None:
        if isinstance(event, Log):
            self.session.log.emit(event.message, event.level)

    def _on_version(self, version: DatasetVersion) -> None:
        self.version = version
        self.session.log.emit(f"Dataset version written to {display_path(version.folder)}; train on it with "
                              f"`scl train {display_path(version.split)}`.", "info")
