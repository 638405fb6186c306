"""`scl-desktop --self-test` in this (normal) install, its report, and the log file set-up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from scl_desktop import __version__, self_test
from scl_desktop.core import paths
from scl_desktop.gui.app import build_parser


def test_self_test_passes_and_writes_its_report(tmp_path: Path) -> None:
    home = os.environ["SCL_HOME"]
    report = tmp_path / "report.txt"
    assert self_test.run_self_test(report) == 0, report.read_text(encoding="utf-8")
    text = report.read_text(encoding="utf-8")
    assert text.startswith(f"scl_desktop {__version__} self-test PASSED: 7/7 checks")
    for name in ("imports", "versions", "loaders", "model", "geotiff", "platform", "window"):
        assert f"[  OK] {name}" in text
    assert (paths.log_dir() / self_test.REPORT_NAME).read_text(encoding="utf-8") == text
    assert (paths.log_dir() / self_test.SCREENSHOT_NAME).stat().st_size > 1000
    assert os.environ["SCL_HOME"] == home, "the self-test must restore SCL_HOME"


def test_failed_check_gives_exit_1_and_the_reason(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    def broken(_folder: Path) -> str:
        raise RuntimeError("PROJ data not found")

    for name in ("check_imports", "check_versions", "check_loaders", "check_model"):
        monkeypatch.setattr(self_test, name, lambda _folder: "fine")
    monkeypatch.setattr(self_test, "check_geotiff", broken)
    report = tmp_path / "sub" / "report.txt"
    assert self_test.run_self_test(report, window=False) == 1
    text = report.read_text(encoding="utf-8")
    assert "self-test FAILED: 4/5 checks passed" in text
    assert "[FAIL] geotiff" in text and "RuntimeError: PROJ data not found" in text
    assert "[  OK] model" in text


def test_missing_x11_library_fails_the_platform_check_and_skips_the_window(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    from scl_desktop import qt_platform

    for name in ("check_imports", "check_versions", "check_loaders", "check_model", "check_geotiff"):
        monkeypatch.setattr(self_test, name, lambda _folder: "fine")
    monkeypatch.setattr(qt_platform, "check", lambda environ=None: qt_platform._missing("xcb", ["libxcb-cursor.so.0"]))
    monkeypatch.setattr(self_test, "check_window", lambda *_: pytest.fail("the window check would abort the process"))
    report = tmp_path / "report.txt"
    assert self_test.run_self_test(report) == 1
    text = report.read_text(encoding="utf-8")
    assert "self-test FAILED: 5/7 checks passed" in text
    assert "[FAIL] platform" in text and "missing libxcb-cursor.so.0" in text
    assert "sudo apt-get install -y libxcb-cursor0" in text
    assert "[FAIL] window" in text and "not run" in text


def test_command_line_options() -> None:
    args = build_parser().parse_args(["--self-test", "--report", "r.txt"])
    assert args.self_test and args.report == "r.txt"
    assert build_parser().parse_args(["--demo", "--smoke"]).smoke


def test_log_goes_to_the_log_folder(tmp_path: Path) -> None:
    code = ("import logging, warnings; from PySide6.QtCore import qWarning; "
            "from scl_desktop.logging_setup import setup_logging; "
            "p = setup_logging('scl', qt_messages=True); setup_logging('scl'); "
            "logging.getLogger('scl_desktop.x').info('hello'); warnings.warn('careful'); qWarning('from Qt'); print(p)")
    env = dict(os.environ, SCL_HOME=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    log = Path(out.stdout.strip())
    assert log == tmp_path / "log" / "scl.log"
    lines = log.read_text(encoding="utf-8").splitlines()
    assert len([line for line in lines if line.endswith("scl_desktop.x: hello")]) == 1  # set up once
    assert any("UserWarning: careful" in line for line in lines)
    assert any(line.endswith("WARNING qt: from Qt") for line in lines)
    assert "careful" in out.stderr and "from Qt" in out.stderr  # warnings still reach the console


def test_a_check_that_ends_the_process_leaves_a_report(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    class Abort(BaseException):  # stands for Qt aborting the process
        pass

    def abort(_folder: Path) -> str:
        raise Abort

    for name in ("check_imports", "check_versions", "check_loaders", "check_model"):
        monkeypatch.setattr(self_test, name, lambda _folder: "fine")
    monkeypatch.setattr(self_test, "check_geotiff", abort)
    report = tmp_path / "report.txt"
    with pytest.raises(Abort):
        self_test.run_self_test(report, window=False)
    text = report.read_text(encoding="utf-8")
    assert "DID NOT FINISH (the process ended during the geotiff check" in text
    assert "[  OK] model" in text and text.rstrip().endswith("[....] geotiff   running")


def test_unwritable_scl_home_still_runs_the_self_test_and_the_app_says_why(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    from PySide6.QtWidgets import QMessageBox

    from scl_desktop.gui import app

    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("SCL_HOME", str(blocker / "home"))
    for name in ("check_imports", "check_versions", "check_loaders", "check_model", "check_geotiff"):
        monkeypatch.setattr(self_test, name, lambda _folder: "fine")
    report = tmp_path / "report.txt"
    assert self_test.run_self_test(report, window=False) == 0  # the log folder's copy fails, is reported
    assert "PASSED" in report.read_text(encoding="utf-8")
    shown = []
    monkeypatch.setattr("scl_desktop.logging_setup.setup_logging", lambda *a, **k: None)  # keep pytest's logging
    monkeypatch.setattr(QMessageBox, "critical", lambda _parent, title, text: shown.append((title, text)))
    assert app.main([]) == 2
    assert shown and "cannot be created" in shown[0][1] and "Set SCL_HOME" in shown[0][1]


def test_gdal_decode_error_printed_by_rasterio_opens_no_error_dialog(monkeypatch) -> None:  # noqa: ANN001
    from scl_desktop.gui.app import install_excepthook

    shown = []
    window = type("Window", (), {"show_error": lambda self, *args: shown.append(args)})()
    monkeypatch.setattr(sys, "excepthook", lambda *args: None)
    install_excepthook(window)
    exc = UnicodeDecodeError("utf-8", b"caf\xe9.tif", 3, 4, "invalid continuation byte")
    sys.excepthook(type(exc), exc, None)  # what rasterio's C callback makes Cython print: nothing was raised
    assert shown == []
    monkeypatch.setattr(sys, "last_value", exc, raising=False)  # really uncaught
    sys.excepthook(type(exc), exc, None)
    assert len(shown) == 1


def test_smoke_launch_shows_the_demo_and_closes(tmp_path: Path) -> None:
    """`scl-desktop --demo --smoke` (what .ci/run runs on a real X server), here on the offscreen platform."""
    env = dict(os.environ, SCL_HOME=str(tmp_path), QT_QPA_PLATFORM="offscreen")
    done = subprocess.run([sys.executable, "-m", "scl_desktop.gui.app", "--demo", "--smoke"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "smoke: main window shown on the 'offscreen' platform" in done.stdout and "dataset loaded" in done.stdout
