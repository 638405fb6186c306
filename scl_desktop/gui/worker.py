"""The one adapter between core step generators and Qt: a worker QObject on a QThread.

``Task`` lives in the GUI thread. It moves a ``_StepWorker`` to a fresh ``QThread``; the worker
iterates the generator a core step returns and emits every event as a signal. The worker's
signals are connected only to ``Task``'s slots (methods of a GUI-thread QObject, so Qt queues
them into the GUI thread); ``Task`` re-emits them as its own signals, which pages may connect
to freely. Cancellation sets the step's ``CancelToken``; the step stops at its next yield.
"""

from __future__ import annotations

import os
import sys
import threading
import traceback
from collections.abc import Callable, Generator
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from scl_desktop.core.errors import Cancelled
from scl_desktop.core.events import CancelToken, Log

StepFactory = Callable[[CancelToken], Generator[Any, None, Any]]

WORKER_NICE = 3
"""How much nicer than the GUI the worker thread runs on Linux (0: as nice as the GUI; see ``lower_priority``).

Measured with ``python -m scl_desktop.benchmarks.gui_stall --contend 0,2 --repeat 2 --worker-nice N`` on 2
cores: +3 keeps the worst GUI stall under two competing busy processes at 31-41 ms (+0: 34-93 ms) at
little cost to training; +10 starves the worker so that it is often descheduled while it holds the
GIL, which the GUI thread then waits for (worst 59-169 ms) and trains 5x slower under load."""


def lower_priority(nice: int | None = None) -> int | None:
    """Make the calling thread ``nice`` steps nicer (Linux: per thread); the new nice value, or None.

    Called first thing in the worker thread, before torch starts its intra-op (OpenMP) threads for
    this thread, so they inherit it: on a busy machine the CPU goes to the GUI thread first, and
    on an idle one training still gets every core. ``QThread.Priority.LowPriority`` alone does
    nothing on Linux (threads of the normal scheduling class have no priority to lower).
    """
    nice = WORKER_NICE if nice is None else nice
    if nice <= 0 or not sys.platform.startswith("linux") or not hasattr(os, "setpriority"):
        return None
    tid = threading.get_native_id()
    try:
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(current + nice, 19))
        return os.getpriority(os.PRIO_PROCESS, tid)
    except OSError:  # not permitted or not supported: run at the normal priority
        return None


class _StepWorker(QObject):
    """Runs in the worker thread: iterates one step generator and reports through signals."""

    event = Signal(object)
    finished = Signal(object)
    failed = Signal(object, str)
    cancelled = Signal(object)

    def __init__(self, factory: StepFactory, token: CancelToken) -> None:
        super().__init__()
        self._factory = factory
        self._token = token

    @Slot()
    def run(self) -> None:
        lower_priority()
        try:
            step = self._factory(self._token)
            while True:
                try:
                    event = next(step)
                except StopIteration as stop:
                    result = stop.value
                    break
                self.event.emit(event)
        except Cancelled as exc:
            self.event.emit(Log(exc.what, "warning"))  # what stopped and what was kept (the hint names CLI commands)
            self.cancelled.emit(exc.kept)  # the step stopped cleanly; what it kept (or None)
            return
        except BaseException as exc:  # noqa: BLE001 - every failure must reach the user, none may kill the app
            self.failed.emit(exc, traceback.format_exc())
            return
        self.finished.emit(result)


class Task(QObject):
    """One core step running in its own thread; emits its events and outcome in the GUI thread.

    Signals: ``event(event)``, ``finished(result)``, ``failed(exception, traceback_text)``,
    ``cancelled(result_or_None)`` and, after any of the last three, ``done()``.
    """

    event = Signal(object)
    finished = Signal(object)
    failed = Signal(object, str)
    cancelled = Signal(object)
    done = Signal()

    def __init__(self, name: str, factory: StepFactory, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.token = CancelToken()
        self._thread = QThread()
        self._thread.setObjectName(f"task:{name}")
        self._worker = _StepWorker(factory, self.token)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        self._worker.event.connect(self._on_event)
        self._worker.finished.connect(self._on_finished)
        self._worker.failed.connect(self._on_failed)
        self._worker.cancelled.connect(self._on_cancelled)
        self._running = False

    @property
    def running(self) -> bool:
        """True from ``start`` until the outcome signal was delivered."""
        return self._running

    def start(self) -> None:
        """Start the step in its thread."""
        self._running = True
        self._thread.start(QThread.Priority.LowPriority)  # the GUI thread wins the CPU where the OS allows

    def cancel(self) -> None:
        """Ask the step to stop at its next yield (it keeps what it has done)."""
        self.token.cancel()

    def wait(self, ms: int = 30000) -> bool:
        """Block until the thread has ended (for shutdown and tests); True if it did."""
        return self._thread.wait(ms)

    @Slot(object)
    def _on_event(self, event: object) -> None:
        self.event.emit(event)

    @Slot(object)
    def _on_finished(self, result: object) -> None:
        self._end()
        self.finished.emit(result)
        self.done.emit()

    @Slot(object, str)
    def _on_failed(self, exc: object, tb: str) -> None:
        self._end()
        self.failed.emit(exc, tb)
        self.done.emit()

    @Slot(object)
    def _on_cancelled(self, result: object) -> None:
        self._end()
        self.cancelled.emit(result)
        self.done.emit()

    def _end(self) -> None:
        self._running = False
        self._thread.quit()
        self._thread.wait()
