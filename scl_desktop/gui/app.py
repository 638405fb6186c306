"""`scl-desktop`: the app factory and the entry point of the desktop application.

``main`` parses the command line, builds the application and the window with ``create_app`` /
``create_main_window`` and runs the event loop. Options: ``--demo`` opens the built-in demo
data (the default on the first launch), ``--version``. Further modes (``--self-test``) plug in
as one more branch in ``main`` before the window is built.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import traceback
from collections.abc import Sequence
from types import TracebackType

from scl_desktop import __version__, configure_process

APP_NAME = "scl_desktop"


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
    return parser


def create_app(argv: Sequence[str] | None = None):  # noqa: ANN201 - QApplication, imported lazily
    """The QApplication (created once) with the app's name, icon and style sheet."""
    from PySide6.QtWidgets import QApplication

    from scl_desktop.gui import theme

    app = QApplication.instance()
    if app is None:
        app = QApplication([sys.argv[0], *(argv or [])])
    app.setApplicationName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setOrganizationName(APP_NAME)
    app.setWindowIcon(theme.icon("app"))
    app.setStyleSheet(theme.style_sheet())
    return app


def create_main_window(open_demo: bool | None = None):  # noqa: ANN201 - MainWindow, imported lazily
    """Load settings and build the main window.

    ``open_demo``: True opens the demo data, False never, None only on the first launch.
    """
    from scl_desktop.gui.main_window import MainWindow, apply_thread_setting
    from scl_desktop.gui.settings import AppSettings

    settings, warning = AppSettings.load()
    apply_thread_setting(settings)
    window = MainWindow(settings, warning)
    if open_demo or (open_demo is None and not settings.first_launch_done):
        window.pages["dataset"].open_demo()
    if not settings.first_launch_done:
        settings.first_launch_done = True
        window.save_settings()
    return window


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
    app = create_app()
    from scl_desktop.core.errors import SclError

    try:
        window = create_main_window(open_demo=True if args.demo else None)
    except SclError as exc:  # e.g. an SCL_HOME that cannot be written: say so instead of a traceback
        from PySide6.QtWidgets import QMessageBox

        QMessageBox.critical(None, "scl_desktop cannot start", str(exc))
        return 2
    install_excepthook(window)
    window.show()
    return int(app.exec())


if __name__ == "__main__":
    sys.exit(main())
