"""The worker adapter: events arrive in the GUI thread in order; results, failures and cancellation."""

from __future__ import annotations

import threading
import time

import pytest

from scl_desktop.core.errors import Cancelled, DatasetError
from scl_desktop.core.events import CancelToken, Log, Progress
from scl_desktop.gui.worker import Task


class Recorder:
    """Collects what a task reports, and the thread each report arrives in."""

    def __init__(self, task: Task) -> None:
        self.events: list[object] = []
        self.outcome: tuple[str, object] | None = None
        self.threads: set[int] = set()
        task.event.connect(self.on_event)
        task.finished.connect(lambda r: self.done("finished", r))
        task.failed.connect(lambda e, tb: self.done("failed", e))
        task.cancelled.connect(lambda r: self.done("cancelled", r))

    def on_event(self, event: object) -> None:
        self.threads.add(threading.get_ident())
        self.events.append(event)

    def done(self, kind: str, value: object) -> None:
        self.threads.add(threading.get_ident())
        self.outcome = (kind, value)


def counting(n: int, token: CancelToken, fail_at: int | None = None, clean_stop: bool = False):
    worker_thread = threading.get_ident()
    for i in range(n):
        if clean_stop and token.cancelled:
            raise Cancelled("Counting was cancelled.", kept="kept")  # the contract: Cancelled carries what it kept
        token.raise_if_cancelled("Counting")
        if fail_at == i:
            raise DatasetError("Broken on purpose.", "Fix it.")
        yield Progress("count", i + 1, n)
        time.sleep(0.002)
    yield Log(f"worker thread {worker_thread}")
    return n


def run_task(qtbot, factory) -> tuple[Task, Recorder]:  # noqa: ANN001
    task = Task("test", factory)
    recorder = Recorder(task)
    with qtbot.waitSignal(task.done, timeout=10_000):
        task.start()
    return task, recorder


def test_events_arrive_in_order_in_the_gui_thread(qtbot) -> None:  # noqa: ANN001
    task, rec = run_task(qtbot, lambda token: counting(20, token))
    assert rec.outcome == ("finished", 20)
    assert [e.done for e in rec.events if isinstance(e, Progress)] == list(range(1, 21))
    assert rec.threads == {threading.get_ident()}, "signals must be delivered in the GUI thread"
    worker = int(rec.events[-1].message.split()[-1])
    assert worker != threading.get_ident(), "the step must run in the worker thread"
    assert not task.running


def test_failure_is_reported_with_the_exception(qtbot) -> None:  # noqa: ANN001
    _task, rec = run_task(qtbot, lambda token: counting(20, token, fail_at=3))
    kind, exc = rec.outcome
    assert kind == "failed" and isinstance(exc, DatasetError)
    assert len(rec.events) == 3


def test_factory_errors_are_reported_too(qtbot) -> None:  # noqa: ANN001
    def broken(token: CancelToken):
        raise ValueError("bad config")

    _task, rec = run_task(qtbot, broken)
    assert rec.outcome[0] == "failed" and "bad config" in str(rec.outcome[1])


@pytest.mark.parametrize("clean_stop", [False, True])
def test_cancel_stops_at_the_next_yield(qtbot, clean_stop: bool) -> None:  # noqa: ANN001
    task = Task("test", lambda token: counting(10_000, token, clean_stop=clean_stop))
    rec = Recorder(task)
    task.event.connect(lambda e: task.cancel() if isinstance(e, Progress) and e.done == 5 else None)
    with qtbot.waitSignal(task.done, timeout=10_000):
        task.start()
    assert rec.outcome == ("cancelled", "kept" if clean_stop else None)
    assert len(rec.events) < 200, "the step kept running long after cancel"
