"""One writer per run: the lock is held by another real process, refused with its name, freed when it dies."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from scl_desktop.core.errors import ConfigError
from scl_desktop.core.runs.store import RunStore
from tests.core.runs.test_folder import home, make_split  # noqa: F401

pytestmark = pytest.mark.usefixtures("home")

_HOLDER = """
import sys
from scl_desktop.core.runs.folder import Run
with Run(sys.argv[1]).writer(sys.argv[2]):
    print("held", flush=True)
    sys.stdin.read()  # until the parent closes stdin
"""


def hold_in_child(run_path: Path, what: str = "scl train --resume") -> subprocess.Popen:
    """A child process holding the run's writer lock until its stdin is closed (or it is killed)."""
    root = Path(__file__).resolve().parents[3]
    child = subprocess.Popen([sys.executable, "-c", _HOLDER, str(run_path), what], cwd=root, text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(root)})
    assert child.stdout is not None and child.stdout.readline().strip() == "held"
    return child


def release(child: subprocess.Popen) -> None:
    assert child.stdin is not None
    child.stdin.close()
    assert child.wait() == 0


def test_a_second_writer_is_refused_naming_the_holder_then_admitted():
    run = RunStore().create("scl", make_split(), {}, seed=0)
    child = hold_in_child(run.path)
    try:
        with pytest.raises(ConfigError, match=rf"in use by process {child.pid} on .*scl train --resume") as info:
            with run.writer("scl train --resume"):
                pass
        assert "Ctrl+C" in info.value.hint
        with pytest.raises(ConfigError, match="in use by"):
            RunStore().delete(run.id)  # deleting needs the lock too
        assert run.path.exists() and (run.path / "run.json").is_file()
    finally:
        release(child)
    with run.writer("scl fit"):
        pass
    RunStore().delete(run.id)
    assert not run.path.exists() and RunStore().index.get(run.id) is None


def test_the_lock_dies_with_a_killed_holder():
    run = RunStore().create("scl", make_split(), {}, seed=0)
    child = hold_in_child(run.path)
    child.kill()
    child.wait()
    with run.writer("scl train --resume"):  # no stale lock left behind
        pass


def test_one_process_cannot_take_a_run_twice():
    run = RunStore().create("scl", make_split(), {}, seed=0)
    with run.writer("scl train"), pytest.raises(ConfigError, match=rf"process {os.getpid()}"):
        with run.writer("scl fit"):
            pass
