"""A progress bar with a status line: task, step, samples/s and time left (ETA)."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QProgressBar, QVBoxLayout, QWidget

from scl_desktop.core.events import EpochMetrics, Progress, StepMetrics
from scl_desktop.terminal import format_seconds


class ProgressPanel(QWidget):
    """Feed it engine events with ``on_event``; it shows the latest progress and speed."""

    def __init__(self) -> None:
        super().__init__()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.bar.setFormat("idle")
        self.bar.setTextVisible(True)
        self.status = QLabel("Not started.")
        self.status.setObjectName("progressStatus")
        layout.addWidget(self.bar)
        layout.addWidget(self.status)
        self._rate = ""

    def reset(self, message: str = "Starting…") -> None:
        self.bar.setRange(0, 0)  # busy indicator until the first Progress arrives
        self.bar.setFormat("")
        self.status.setText(message)
        self._rate = ""

    def on_event(self, event: object) -> None:
        if isinstance(event, Progress):
            total = max(event.total, 1)
            self.bar.setRange(0, total)
            self.bar.setValue(min(event.done, total))
            self.bar.setFormat(f"{event.task}: %v / %m {event.unit} (%p%)")
            parts = [event.message or event.task]
            if event.rate:
                self._rate = f"{event.rate:,.1f} {event.unit}/s"
                parts.append(self._rate)
            if event.eta_s is not None:
                parts.append(f"ETA {format_seconds(event.eta_s)}")
            self.status.setText(" · ".join(p for p in parts if p))
        elif isinstance(event, EpochMetrics):
            parts = [f"epoch {event.epoch}/{event.epochs}", f"loss {event.loss:.4f}",
                     f"{event.samples_per_s:,.1f} samples/s"]
            if event.eta_s is not None:
                parts.append(f"ETA {format_seconds(event.eta_s)}")
            self.status.setText(" · ".join(parts))
        elif isinstance(event, StepMetrics) and self.bar.maximum() == 0:
            self.status.setText(f"epoch {event.epoch} · step {event.step}/{event.steps_per_epoch} · loss {event.loss:.4f}")

    def finish(self, message: str) -> None:
        if self.bar.maximum() == 0:
            self.bar.setRange(0, 1)
        self.bar.setValue(self.bar.maximum())
        self.bar.setFormat("%p%")
        self.status.setText(message)

    def stop(self, message: str) -> None:
        if self.bar.maximum() == 0:
            self.bar.setRange(0, 1)
            self.bar.setValue(0)
        self.bar.setFormat("stopped")
        self.status.setText(message)
