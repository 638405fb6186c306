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
from typing import Any

from scl_desktop.core import paths
from scl_desktop.core.errors import SclError

MAX_BYTES = 2 * 1024 * 1024
BACKUPS = 3
FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"

_crash_file = None  # kept open for the life of the process: faulthandler writes to it on a crash


def log_file(program: str = "scl-desktop") -> Path:
    """The current log file of ``program`` ("scl-desktop" or "scl")."""
    return paths.log_dir() / f"{program}.log"


def setup_logging(program: str = "scl-desktop", level: int = logging.INFO, qt_messages: bool = False) -> Path | None:
    """Send the log of this process to ``log_file(program)`` (rotated at 2 MiB, 3 old files kept).

    Records of ``level`` and above go to the file; warnings and errors also go to stderr when
    there is one (not those logged with ``extra={"console": False}``, which the caller prints
    itself). Also logs Python warnings and uncaught exceptions, and writes native crash
    tracebacks to ``<program>-crash.log``. ``qt_messages``: log Qt's messages too (logger "qt"),
    including the fatal one Qt writes before it aborts, e.g. when no platform plugin can be
    loaded. When the log folder cannot be written the log goes to stderr only, with one warning
    saying why, so the program still starts. Calling it again does nothing. Returns the log
    file, or None without one.
    """
    global _crash_file
    root = logging.getLogger()
    for existing in root.handlers:
        if getattr(existing, "scl_program", None):
            return existing.scl_log  # type: ignore[attr-defined]
    path, problem = _writable_log_file(program)
    handlers: list[logging.Handler] = []
    if path is not None:
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS,
                                                       encoding="utf-8", delay=True)
        handler.setFormatter(logging.Formatter(FORMAT))
        handler.setLevel(level)
        handlers.append(handler)
    if sys.stderr is not None:
        console = logging.StreamHandler()
        console.setLevel(logging.WARNING)
        console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        console.addFilter(lambda record: getattr(record, "console", True))  # extra={"console": False}: file only
        handlers.append(console)
    for handler in handlers:
        handler.scl_program, handler.scl_log = program, path  # type: ignore[attr-defined]
        root.addHandler(handler)
    if root.getEffectiveLevel() > level:
        root.setLevel(level)
    logging.captureWarnings(True)
    _chain_excepthook()
    if qt_messages:
        _route_qt_messages()
    if problem is not None:
        logging.getLogger("scl_desktop").warning("No log file: %s %s", problem.what, problem.hint)
    elif not faulthandler.is_enabled():  # pytest or "python -X faulthandler" may have enabled it on stderr
        _crash_file = open(path.with_name(f"{program}-crash.log"), "a", encoding="utf-8")  # noqa: SIM115
        faulthandler.enable(_crash_file)
    return path


def _writable_log_file(program: str) -> tuple[Path | None, SclError | None]:
    """``log_file(program)`` once it is known to open for appending, else None and why not."""
    try:
        path = log_file(program)
        with open(path, "a", encoding="utf-8"):
            pass
    except SclError as exc:
        return None, exc
    except OSError as exc:
        return None, SclError(f"{exc.filename or program} cannot be written ({exc.strerror or exc}).",
                              "Make the log folder writable, or set SCL_HOME to a folder you can write to.")
    return path, None


def _chain_excepthook() -> None:
    """Log an uncaught exception, then hand it to the previous hook (which prints it, if it can).

    Also log what compiled code reports as "exception ignored" (``sys.unraisablehook``). A GDAL
    message with bytes that are not UTF-8 (a Latin-1 file name in a VRT, say) makes rasterio's
    C error callback fail to decode it; Cython then passes that ``UnicodeDecodeError`` to both
    hooks although nothing crashed: it is logged as the GDAL message it was, decoded with
    replacement characters. (An uncaught exception is in ``sys.last_value`` when the hook runs.)
    """
    previous = sys.excepthook

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if not uncaught(exc):
            return  # printed on the way to the unraisable hook
        if not issubclass(kind, KeyboardInterrupt):
            logging.getLogger("scl_desktop").critical("uncaught exception", exc_info=(kind, exc, tb))
        if sys.stderr is not None:
            previous(kind, exc, tb)

    sys.excepthook = hook
    previous_unraisable = sys.unraisablehook

    def unraisable(report: Any) -> None:
        exc = report.exc_value
        if isinstance(exc, UnicodeDecodeError) and str(report.object).startswith("rasterio."):
            logging.getLogger("rasterio").info("GDAL: %s", bytes(exc.object).decode("utf-8", errors="replace"))
            return
        logging.getLogger("scl_desktop").info("exception ignored in %s", report.object,  # stderr: the default hook
                                              exc_info=(report.exc_type, exc, report.exc_traceback))
        if sys.stderr is not None:
            previous_unraisable(report)

    sys.unraisablehook = unraisable


def uncaught(exc: BaseException) -> bool:
    """False for the decode error of a GDAL message that ``sys.excepthook`` receives although nothing
    was raised (see ``_chain_excepthook``); an exception hook shows the others."""
    return not isinstance(exc, UnicodeDecodeError) or getattr(sys, "last_value", None) is exc


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
