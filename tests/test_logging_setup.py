"""The log: a log folder that cannot be created leaves the programs running, logging to stderr."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = "from scl_desktop.logging_setup import setup_logging; print(setup_logging('scl')); print(setup_logging('scl'))"


def _run(args: list[str], home) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SCL_HOME": str(home)}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120, env=env)


def test_unwritable_log_folder_falls_back_to_stderr_with_one_warning(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    out = _run(["-c", PROBE], blocker / "home")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["None", "None"]
    warnings = [line for line in out.stderr.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1 and "No log file" in warnings[0] and "SCL_HOME" in warnings[0], out.stderr
    assert "Traceback" not in out.stderr


def test_cli_with_an_unwritable_scl_home_says_what_to_do(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    out = _run(["-m", "scl_desktop.cli", "runs", "list"], blocker / "home")
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    assert "error: The data folder" in out.stderr and "Set SCL_HOME to a folder you can write to" in out.stderr


GDAL_PROBE = r"""
import sys

import pytest
from pathlib import Path
from scl_desktop.logging_setup import setup_logging
setup_logging("scl")
import rasterio
vrt = Path(sys.argv[1]) / "latin1.vrt"
vrt.write_bytes(b"<VRTDataset rasterXSize='4' rasterYSize='4'><VRTRasterBand dataType='Byte' band='1'>"
                b"<SimpleSource><SourceFilename>caf\xe9.tif</SourceFilename></SimpleSource></VRTRasterBand></VRTDataset>")
with rasterio.open(vrt) as ds:
    print(ds.read().shape)
"""


def test_gdal_message_that_is_not_utf8_is_logged_not_reported_as_a_crash(tmp_path):
    pytest.importorskip("rasterio")
    out = _run(["-W", "ignore", "-c", GDAL_PROBE, str(tmp_path)], tmp_path / "home")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(1, 4, 4)"
    assert out.stderr == ""  # no "Exception ignored", no traceback
    log = (tmp_path / "home" / "log" / "scl.log").read_text(encoding="utf-8")
    assert "GDAL: caf\ufffd.tif: No such file or directory" in log
    assert "uncaught exception" not in log and "UnicodeDecodeError" not in log
