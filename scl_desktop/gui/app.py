"""`scl-desktop`: the entry point of the desktop application.

``main`` parses the command line, builds the application and the window with
``startup.create_app`` / ``startup.create_main_window`` and runs the event loop. Options: ``--demo`` opens the built-in demo
data (the default on the first launch), ``--version``. Further modes (``--self-test``) plug in
as one more branch in ``main`` before the window is built. Before Qt loads a platform
plugin, ``check_platform`` makes sure one can start (a message instead of Qt's abort).
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import sys
import traceback
from collections.abc import Sequence
from types import TracebackType

from scl_desktop import __version__, configure_process

SMOKE_TIMEOUT_S = 120


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scl-desktop",
        description="Desktop app: two-stage supervised-contrastive learning for imbalanced aerial scene recognition.",
    )
    parser.add_argument("--version", action="version", version=f"scl_desktop {__version__}")
    parser.add_argument("--demo", action="store_true",
                        help="open the built-in synthetic demo dataset (done automatically on the first launch)")
    parser.add_argument("--self-test", action="store_true",
                        help="check this installation (imports, a tiny model, GeoTIFF and CRS, the window), "
                             "print and log a report, exit 0 when every check passed")
    parser.add_argument("--report", metavar="FILE", help="with --self-test: also write the report to FILE")
    parser.add_argument("--smoke", action="store_true",
                        help="start as usual, wait until the main window is shown on screen and what it opened "
                             f"(e.g. --demo) has loaded, then close it and exit 0 (1 if that takes over "
                             f"{SMOKE_TIMEOUT_S} s); for CI on a real or virtual X display")
    return parser


def install_excepthook(window) -> None:  # noqa: ANN001 - MainWindow
    """Route exceptions that escape a Qt slot to the error dialog and the log, instead of crashing."""

    from scl_desktop.logging_setup import uncaught

    previous = sys.excepthook

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        previous(kind, exc, tb)  # the log file keeps the traceback (see scl_desktop.logging_setup)
        if issubclass(kind, KeyboardInterrupt) or not uncaught(exc):
            return
        window.show_error("Unexpected error", exc, "".join(traceback.format_exception(kind, exc, tb)))

    sys.excepthook = hook


def check_platform() -> bool:
    """Check, before Qt loads a platform plugin, that one can start (see ``scl_desktop.qt_platform``).

    When none can, print and log one message naming the missing libraries and how to install
    them, and return False (instead of letting Qt abort the process).
    """
    from scl_desktop.core.errors import SclError
    from scl_desktop.qt_platform import prepare

    log = logging.getLogger("scl_desktop.gui")
    try:
        result = prepare()
    except SclError as exc:
        log.error("cannot open the window: %s", exc, extra={"console": False})  # printed just below
        if sys.stderr is not None:
            print(f"error: scl-desktop cannot open its window. {exc}", file=sys.stderr)
        return False
    log.info("Qt platform: %s", result.detail)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `scl-desktop` GUI script."""
    multiprocessing.freeze_support()  # a worker process of the frozen app runs its task here, then exits
    configure_process()
    from scl_desktop.logging_setup import setup_logging

    setup_logging("scl-desktop", qt_messages=True)
    args = build_parser().parse_args(argv)
    if args.self_test:
        from scl_desktop.self_test import run_self_test

        return run_self_test(args.report)
    if not check_platform():
        return 1
    from scl_desktop.core.errors import SclError
    from scl_desktop.gui.startup import create_app, create_main_window

    app = create_app()

    try:
        window = create_main_window(open_demo=True if args.demo else None)
    except SclError as exc:  # e.g. an SCL_HOME that cannot be written: say so instead of a traceback
        from PySide6.QtWidgets import QMessageBox

        QMessageBox.critical(None, "scl_desktop cannot start", str(exc))
        return 2
    install_excepthook(window)
    window.show()
    if args.smoke:
        return smoke(app, window)
    return int(app.exec())


def smoke(app, window, timeout_s: float = SMOKE_TIMEOUT_S) -> int:  # noqa: ANN001 - QApplication, MainWindow
    """Run the event loop until ``window`` is exposed on screen and idle, then close it; 0 on success."""
    import time

    from PySide6.QtCore import QTimer

    log = logging.getLogger("scl_desktop.gui")
    started = time.monotonic()
    outcome: list[str] = []

    def poll() -> None:
        handle = window.windowHandle()
        shown = window.isVisible() and handle is not None and handle.isExposed()
        if shown and not window.session.busy:
            outcome.append(f"smoke: main window shown on the {app.platformName()!r} platform "
                           f"({window.width()}x{window.height()}), dataset "
                           f"{'loaded' if window.session.dataset is not None else 'none'}, "
                           f"after {time.monotonic() - started:.1f} s; closing")
        elif time.monotonic() - started > timeout_s:
            outcome.append(f"smoke: FAILED, the main window was {'shown' if shown else 'not shown'} and "
                           f"{'busy' if window.session.busy else 'idle'} after {timeout_s:.0f} s")
        else:
            return
        timer.stop()
        window.close()
        app.quit()

    timer = QTimer()
    timer.timeout.connect(poll)
    timer.start(100)
    app.exec()
    ok = bool(outcome) and not outcome[0].startswith("smoke: FAILED")
    message = outcome[0] if outcome else "smoke: FAILED, the event loop ended before the window was shown"
    log.log(logging.INFO if ok else logging.ERROR, message, extra={"console": False})
    if sys.stdout is not None:
        print(message, flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
