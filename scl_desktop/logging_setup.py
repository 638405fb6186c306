"""Where the programs' log goes: a rotating file in ``core.paths.log_dir()``, warnings also on stderr.

A windowed app on Windows has no console (``sys.stdout``/``sys.stderr`` are ``None``), so the
log file is the only trace of what happened: every record of the ``logging`` tree, Python
warnings, uncaught exceptions and, through ``faulthandler``, native crashes (a segfault in a
GPU driver, GDAL or Qt) end up in the log folder.
"""

from __future__ import annotations

import faulthandler
import logging
import logging.handlers
import sys
from pathlib import Path
from types import TracebackType

from scl_desktop.core import paths

MAX_BYTES = 2 * 1024 * 1024
BACKUPS = 3
FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"

_crash_file = None  # kept open for the life of the process: faulthandler writes to it on a crash


def log_file(program: str = "scl-desktop") -> Path:
    """The current log file of ``program`` ("scl-desktop" or "scl")."""
    return paths.log_dir() / f"{program}.log"


def setup_logging(program: str = "scl-desktop", level: int = logging.INFO, qt_messages: bool = False) -> Path:
    """Send the log of this process to ``log_file(program)`` (rotated at 2 MiB, 3 old files kept).

    Records of ``level`` and above go to the file; warnings and errors also go to stderr when
    there is one (not those logged with ``extra={"console": False}``, which the caller prints
    itself). Also logs Python warnings and uncaught exceptions, and writes native crash
    tracebacks to ``<program>-crash.log``. ``qt_messages``: log Qt's messages too (logger "qt"),
    including the fatal one Qt writes before it aborts, e.g. when no platform plugin can be
    loaded. Calling it again does nothing. Returns the log file.
    """
    global _crash_file
    path = log_file(program)
    root = logging.getLogger()
    if any(getattr(h, "scl_program", None) for h in root.handlers):
        return path
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS,
                                                   encoding="utf-8", delay=True)
    handler.scl_program = program  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.setLevel(level)
    root.addHandler(handler)
    if sys.stderr is not None:
        console = logging.StreamHandler()
        console.setLevel(logging.WARNING)
        console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        console.addFilter(lambda record: getattr(record, "console", True))  # extra={"console": False}: file only
        root.addHandler(console)
    if root.getEffectiveLevel() > level:
        root.setLevel(level)
    logging.captureWarnings(True)
    _chain_excepthook()
    if qt_messages:
        _route_qt_messages()
    if not faulthandler.is_enabled():  # pytest or "python -X faulthandler" may have enabled it on stderr
        _crash_file = open(paths.log_dir() / f"{program}-crash.log", "a", encoding="utf-8")  # noqa: SIM115
        faulthandler.enable(_crash_file)
    return path


def _chain_excepthook() -> None:
    """Log an uncaught exception, then hand it to the previous hook (which prints it, if it can)."""
    previous = sys.excepthook

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if not issubclass(kind, KeyboardInterrupt):
            logging.getLogger("scl_desktop").critical("uncaught exception", exc_info=(kind, exc, tb))
        if sys.stderr is not None:
            previous(kind, exc, tb)

    sys.excepthook = hook


def _route_qt_messages() -> None:
    """Log Qt's messages (they would go to stderr, which a windowed app on Windows lacks)."""
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler

    logger = logging.getLogger("qt")
    levels = {QtMsgType.QtDebugMsg: logging.DEBUG, QtMsgType.QtInfoMsg: logging.INFO,
              QtMsgType.QtWarningMsg: logging.WARNING, QtMsgType.QtCriticalMsg: logging.ERROR,
              QtMsgType.QtFatalMsg: logging.CRITICAL}

    def handler(kind: QtMsgType, _context: object, message: str) -> None:
        logger.log(levels.get(kind, logging.WARNING), message)

    qInstallMessageHandler(handler)
