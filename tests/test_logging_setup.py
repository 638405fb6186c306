"""The log: a log folder that cannot be created leaves the programs running, logging to stderr."""

from __future__ import annotations

import os
import subprocess
import sys

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
