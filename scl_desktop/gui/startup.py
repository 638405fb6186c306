"""Building the application object and its main window (used by the app, the self-test, screenshots
and benchmarks); ``app`` is the entry point that starts them."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from scl_desktop import __version__
from scl_desktop.core.paths import APP_NAME


def create_app(argv: Sequence[str] | None = None):  # noqa: ANN201 - QApplication, imported lazily
    """The QApplication (created once) with the app's name, icon, style sheet and wheel guard
    (``wheel_guard``: scrolling a form never changes a spin box or combo box)."""
    from PySide6.QtWidgets import QApplication

    from scl_desktop.gui import theme, wheel_guard

    app = QApplication.instance()
    if app is None:
        app = QApplication([sys.argv[0], *(argv or [])])
    app.setApplicationName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setOrganizationName(APP_NAME)
    app.setWindowIcon(theme.icon("app"))
    app.setStyleSheet(theme.style_sheet())
    wheel_guard.install(app)
    return app


def create_main_window(open_demo: bool | None = None):  # noqa: ANN201 - MainWindow, imported lazily
    """Load settings and build the main window.

    ``open_demo``: True opens the demo data, False never, None only on the first launch (later launches
    restore the last session: its dataset, split and run).
    """
    from scl_desktop.gui.main_window import MainWindow, apply_thread_setting
    from scl_desktop.gui.settings import AppSettings

    settings, warning = AppSettings.load()
    apply_thread_setting(settings)
    window = MainWindow(settings, warning)
    if open_demo or (open_demo is None and not settings.first_launch_done):
        window.pages["dataset"].open_demo()
    elif open_demo is None:  # a later launch: what the window showed when it was closed
        window.restore_session()
    if not settings.first_launch_done:
        settings.first_launch_done = True
        window.save_settings()
    return window
