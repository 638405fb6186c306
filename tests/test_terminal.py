"""CLI output: a reader that stops early (``scl runs list | head``) ends the command quietly."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
from scl_desktop.terminal import print_json, quiet_broken_pipe

def command():
    for i in range(20000):
        print_json({"row": i})
    return 0

sys.exit(quiet_broken_pipe(command))
"""


def test_closed_pipe_ends_quietly_like_a_unix_tool():
    proc = subprocess.Popen([sys.executable, "-c", PROBE], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.read(10)  # like `head`: read a little, then go away
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 141
    assert err == ""  # no BrokenPipeError traceback, no "Exception ignored" at exit


def test_status_passes_through():
    from scl_desktop.terminal import quiet_broken_pipe

    assert quiet_broken_pipe(lambda: 3) == 3


def test_scl_output_into_a_closed_pipe_exits_quietly(tmp_path):
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "scl_desktop.cli", "runs", "list"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**__import__("os").environ, "SCL_HOME": str(tmp_path)})
    proc.stdout.close()  # the reader has gone, as with `scl runs list | head -0`
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141 and "Traceback" not in err, err
