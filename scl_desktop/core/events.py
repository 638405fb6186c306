"""Typed events that long engine steps yield, a cancel token, and helpers to drive them.

A long step is a generator: it yields ``Progress``, ``EpochMetrics``, ``ProbeMetrics`` and
``Log`` events and returns its artifact. It checks its ``CancelToken`` at every yield point and stops cleanly.
The CLI prints the events; the GUI's worker turns each one into a Qt signal.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from scl_desktop.core.errors import Cancelled


@dataclass(frozen=True)
class Progress:
    """``done`` of ``total`` units of ``task`` finished; ``rate`` units/s; ``eta_s`` seconds left."""

    task: str
    done: int
    total: int
    unit: str = "items"
    rate: float | None = None
    eta_s: float | None = None
    message: str = ""


@dataclass(frozen=True)
class StepMetrics:
    """One optimisation step: running loss and learning rate."""

    stage: str
    epoch: int
    step: int
    steps_per_epoch: int
    loss: float
    lr: float


@dataclass(frozen=True)
class EpochMetrics:
    """End of one epoch. Accuracies are percentages; ``per_class`` maps class name to accuracy.

    ``roles`` maps class name to "majority" or "minority" so front ends can colour them.
    """

    stage: str
    epoch: int
    epochs: int
    loss: float
    lr: float
    samples_per_s: float
    eta_s: float | None = None
    per_class: dict[str, float] | None = None
    roles: dict[str, str] | None = None
    majority: float | None = None
    minority: float | None = None
    overall: float | None = None


@dataclass(frozen=True)
class ProbeMetrics:
    """A k-nearest-neighbour probe of the stage-1 encoder after ``epoch``, scored on ``part`` (the validation images).

    Accuracies in percent as in ``EpochMetrics``; ``k`` neighbours voted; ``seconds`` the probe took.
    """

    stage: str
    epoch: int
    epochs: int
    part: str
    k: int
    seconds: float
    per_class: dict[str, float | None]
    roles: dict[str, str]
    majority: float | None
    minority: float | None
    overall: float


@dataclass(frozen=True)
class Log:
    """A message for the log panel / terminal. ``level`` is "info", "warning" or "error"."""

    message: str
    level: str = "info"


Event = Progress | StepMetrics | EpochMetrics | ProbeMetrics | Log
R = TypeVar("R")


class CancelToken:
    """Thread-safe flag a front end sets to ask a running step to stop at its next yield."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        """Ask the step to stop."""
        self._event.set()

    @property
    def cancelled(self) -> bool:
        """True once ``cancel`` was called."""
        return self._event.is_set()

    def raise_if_cancelled(self, what: str = "The step") -> None:
        """Raise ``Cancelled`` if cancellation was requested."""
        if self._event.is_set():
            raise Cancelled(f"{what} was cancelled.", "Work done so far was kept.")


@dataclass
class RateMeter:
    """Tracks throughput and estimates the time left for ``total`` units."""

    total: int
    start: float = field(default_factory=time.perf_counter)
    done: int = 0

    def update(self, done: int) -> tuple[float | None, float | None]:
        """Record ``done`` units finished; return (units/s, seconds left)."""
        self.done = done
        elapsed = time.perf_counter() - self.start
        if done <= 0 or elapsed <= 0:
            return None, None
        rate = done / elapsed
        return rate, max(self.total - done, 0) / rate

    def progress(self, task: str, done: int, unit: str = "items", message: str = "") -> Progress:
        """Update and return a ``Progress`` event."""
        rate, eta = self.update(done)
        return Progress(task=task, done=done, total=self.total, unit=unit, rate=rate, eta_s=eta, message=message)


def drive(step: Generator[Event, None, R], on_event: Callable[[Event], Any] | None = None) -> R:
    """Run a step generator to the end, passing each event to ``on_event``; return its result."""
    while True:
        try:
            event = next(step)
        except StopIteration as stop:
            return stop.value
        if on_event is not None:
            on_event(event)
