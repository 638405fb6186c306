"""Build the PyInstaller bundle and run its ``--self-test`` (slow: minutes and several GB).

Run with ``python -m pytest tests/e2e/test_bundle.py -m slow``. The bundle is built into the
project's ``dist/`` (work files in ``build/``, reused by the next build), as ``packaging/build.py`` does.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("scl_bundle_build", ROOT / "packaging" / "build.py")
bundle_build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bundle_build)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]


@pytest.fixture(scope="module")
def executable() -> Path:
    pytest.importorskip("PyInstaller")
    path = bundle_build.build(ROOT / "dist", ROOT / "build")
    assert path.is_file(), f"the build made no {path}"
    return path


def run_self_test(cmd: list[str], tmp_path: Path, qt_platform: str | None) -> str:
    """Run ``cmd --self-test`` (Qt's default platform when ``qt_platform`` is None); returns the report."""
    report = tmp_path / "report.txt"
    environ = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    environ["SCL_HOME"] = str(tmp_path / "home")
    if qt_platform:
        environ["QT_QPA_PLATFORM"] = qt_platform
    done = subprocess.run([*cmd, "--self-test", "--report", str(report)], env=environ, capture_output=True,
                          text=True, timeout=600)
    text = report.read_text(encoding="utf-8") if report.exists() else "(no report)"
    assert done.returncode == 0, f"{text}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert "self-test PASSED: 7/7 checks" in text and "bundle at" in text
    assert (tmp_path / "home" / "log" / "scl-desktop.log").stat().st_size > 0
    return text


def test_version(executable: Path) -> None:
    done = subprocess.run([str(executable), "--version"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.startswith("scl_desktop ")


def test_self_test_offscreen(executable: Path, tmp_path: Path) -> None:
    text = run_self_test([str(executable)], tmp_path, "offscreen")
    assert "Qt platform 'offscreen'" in text
    assert "GDAL_DATA=" in text and "PROJ_DATA=" in text


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Xvfb is a Linux X server")
def test_self_test_under_xvfb(executable: Path, tmp_path: Path) -> None:
    if shutil.which("xvfb-run") is None:
        pytest.skip("xvfb-run is not installed (apt-get install xvfb)")
    text = run_self_test(["xvfb-run", "-a", str(executable)], tmp_path, None)
    assert "Qt platform 'xcb'" in text
