"""Terminal output for the CLI: progress bars with ETA on stderr, JSON on stdout."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from scl_desktop.core.events import CancelToken, EpochMetrics, Event, Log, ProbeMetrics, Progress, StepMetrics

STOP_MESSAGE = "Stopping after the current step and saving a checkpoint (press Ctrl-C again to abort at once)."


def format_seconds(seconds: float | None) -> str:
    """"1:02:03" / "2:03" style duration, or "?" when unknown."""
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class EventPrinter:
    """Prints engine events: a redrawn progress bar for ``Progress``, lines for the rest.

    Bars are drawn only for tasks that take over a second; ``quiet`` prints errors only.
    """

    def __init__(self, stream: TextIO | None = None, quiet: bool = False, width: int = 30) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.width = width
        self._bar_task: str | None = None
        self._bar_started = 0.0
        self._last_draw = 0.0
        self._tty = hasattr(self.stream, "isatty") and self.stream.isatty()

    def __call__(self, event: Event) -> None:
        if isinstance(event, Log):
            if self.quiet and event.level != "error":
                return
            self._end_bar()
            prefix = "" if event.level == "info" else f"{event.level}: "
            print(f"{prefix}{event.message}", file=self.stream)
        elif self.quiet:
            return
        elif isinstance(event, Progress):
            self._progress(event)
        elif isinstance(event, EpochMetrics):
            self._end_bar()
            print(self.format_epoch(event), file=self.stream)
        elif isinstance(event, ProbeMetrics):
            self._end_bar()
            print(self.format_probe(event), file=self.stream)
        elif isinstance(event, StepMetrics):
            pass  # the progress bar already shows step progress; epochs get a line

    @staticmethod
    def format_epoch(e: EpochMetrics) -> str:
        """One line per epoch: loss, lr, speed, ETA and accuracies when known."""
        parts = [f"[{e.stage}] epoch {e.epoch}/{e.epochs}", f"loss {e.loss:.4f}", f"lr {e.lr:.4g}",
                 f"{e.samples_per_s:.0f} samples/s"]
        for name in ("majority", "minority", "overall"):
            value = getattr(e, name)
            if value is not None:
                parts.append(f"{name} {value:.1f}%")
        parts.append(f"ETA {format_seconds(e.eta_s)}")
        return "  ".join(parts)

    @staticmethod
    def format_probe(e: ProbeMetrics, weakest: int = 3) -> str:
        """One line per probe: the kNN accuracies on the validation images and the ``weakest`` classes."""
        parts = [f"[{e.stage}] kNN probe after epoch {e.epoch}/{e.epochs} (k={e.k}, {e.part} images)"]
        parts += [f"{name} {value:.1f}%" for name in ("majority", "minority", "overall")
                  if (value := getattr(e, name)) is not None]
        scored = sorted((acc, name) for name, acc in e.per_class.items() if acc is not None)
        if scored:
            parts.append("weakest: " + ", ".join(f"{name} {acc:.0f}%" for acc, name in scored[:weakest]))
        return "  ".join(parts)

    def _progress(self, p: Progress) -> None:
        now = time.perf_counter()
        if p.task != self._bar_task:
            self._end_bar()
            self._bar_task, self._bar_started = p.task, now
        finished = p.total > 0 and p.done >= p.total
        if now - self._bar_started < 1.0 and not finished:
            return
        if now - self._last_draw < 0.1 and not finished:
            return
        self._last_draw = now
        frac = min(p.done / p.total, 1.0) if p.total else 0.0
        filled = int(frac * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        rate = f"{p.rate:.1f} {p.unit}/s" if p.rate else ""
        line = f"{p.task} [{bar}] {p.done}/{p.total} {rate} ETA {format_seconds(p.eta_s)} {p.message}".rstrip()
        if self._tty:
            print("\r" + line + "\x1b[K", end="", file=self.stream, flush=True)
            if finished:
                self._end_bar()
        elif finished:
            print(line, file=self.stream)
            self._bar_task = None

    def _end_bar(self) -> None:
        if self._bar_task is not None and self._tty:
            print(file=self.stream)
        self._bar_task = None


def print_json(obj: Any) -> None:
    """Print one JSON object on stdout."""
    print(json.dumps(obj, indent=2, ensure_ascii=False))


def quiet_broken_pipe(command: Callable[[], int]) -> int:
    """Run ``command`` and flush stdout; when the reader has gone (``scl runs list | head``) end quietly.

    Returns the command's status, or 141 (128 + SIGPIPE) like a Unix tool stopped by a closed pipe.
    """
    try:
        status = command()
        if sys.stdout is not None:
            sys.stdout.flush()
        return status
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python flushes stdout again at exit; let that go nowhere
        os.close(devnull)
        return 141


def printer_for(args: argparse.Namespace) -> tuple[EventPrinter, Callable[[str], None]]:
    """The event printer of a command with ``--quiet`` and ``out(message)`` for its own notes on stderr.

    Both stay silent with ``--quiet`` and, under torchrun, on every rank but 0.
    """
    from scl_desktop.core.training.distributed import DistContext

    quiet = args.quiet or not DistContext.from_env().is_main
    printer = EventPrinter(quiet=quiet)

    def out(message: str) -> None:
        if not quiet:
            print(message, file=sys.stderr)

    return printer, out


@contextlib.contextmanager
def ctrl_c_cancels(token: CancelToken, out: Callable[[str], None], message: str = STOP_MESSAGE) -> Iterator[None]:
    """First Ctrl-C: cancel ``token`` (the step stops cleanly) and ``out(message)``; the second aborts at once.

    Does nothing outside the main thread, where signal handlers cannot be set.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if token.cancelled:
            raise KeyboardInterrupt
        token.cancel()
        out(message)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
